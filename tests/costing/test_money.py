"""The one rule that splits an amount over stock rows: largest remainder, exact sum."""

from hypothesis import given
from hypothesis import strategies as st

from costing.money import allocate

totals = st.integers(-(2 ** 50), 2 ** 50)
weights = st.floats(0, 1e6, allow_nan=False, allow_subnormal=False)


@given(totals, st.lists(weights, min_size=1, max_size=12))
def test_shares_sum_to_the_total_and_each_is_within_a_unit_of_its_exact_share(total, ws):
    shares = allocate(total, ws)
    assert len(shares) == len(ws) and sum(shares) == total
    wsum = sum(ws)
    if wsum > 1e-6:
        for share, w in zip(shares, ws):
            assert abs(share - total * w / wsum) <= 1 + abs(total) * 1e-12


@given(totals, st.floats(-1e6, 1e6, allow_nan=False))
def test_one_row_takes_it_all_whatever_its_weight(total, w):
    assert allocate(total, [w]) == [total]


def test_no_row_no_share_and_a_zero_sum_goes_to_the_first():
    assert allocate(5, []) == []
    assert allocate(7, [0.0, 0.0, 0.0]) == [7, 0, 0]
    assert allocate(10, [1.0, 1.0, 1.0]) == [4, 3, 3]  # the remainder to the older row
