"""Money text: to_str and to_people agree with Decimal's exact formatting for every amount."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gateway.money import from_str, to_people, to_str

amounts = st.one_of(st.integers(-10**6, 10**6), st.integers(-2**63, 2**63 - 1))   # SQLite integers


@given(minor=amounts, decimals=st.integers(0, 4))
def test_to_str_is_the_exact_decimal_and_parses_back(minor, decimals):
    assert to_str(minor, decimals) == f"{Decimal(minor).scaleb(-decimals):.{decimals}f}"
    assert from_str(to_str(minor, decimals), decimals) == minor


@given(minor=amounts, decimals=st.integers(0, 4))
def test_to_people_groups_thousands_and_signs_as_asked(minor, decimals):
    text = f"{Decimal(abs(minor)).scaleb(-decimals):,.{decimals}f}"
    assert to_people(minor, decimals, minus="(", plus="+") == (
        "(" + text if minor < 0 else "+" + text if minor > 0 else text)


def test_small_amounts_keep_their_leading_zeros():
    assert (to_str(-5, 2), to_str(12300, 2), to_str(0, 2), to_str(-7, 0)) == ("-0.05", "123.00", "0.00", "-7")
