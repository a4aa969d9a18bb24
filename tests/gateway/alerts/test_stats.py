"""The alert statistics against figures worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gateway.alerts.stats import (
    array_sum, deviation_pct, mean_std, rate_pct, sigma_limit, tail_share, tail_shares,
    welford_add, welford_std,
)


def test_rate_and_deviation():
    assert rate_pct(42, 460) == pytest.approx(9.130434782)  # the example: 9.1 %
    assert rate_pct(3, 0) == 0.0
    assert deviation_pct(9, 8) == 12.5
    assert deviation_pct(7, 8) == -12.5
    assert deviation_pct(1, 0) == math.inf and deviation_pct(0, 0) == 0.0


def test_mean_std_by_hand():
    # 2, 3, 2, 3, 2: mean 2.4; squared deviations 0.16 x 3 + 0.36 x 2 = 1.2; / 4 = 0.3
    mean, std = mean_std(np.array([2.0, 3.0, 2.0, 3.0, 2.0]))
    assert mean == pytest.approx(2.4) and std == pytest.approx(math.sqrt(0.3))
    assert mean_std(np.array([4.0])) == (4.0, 0.0)
    assert mean_std(np.array([])) == (0.0, 0.0)


def test_welford_matches_the_array_form():
    values = [2.0, 3.0, 2.0, 3.0, 2.0, 9.5]
    n, mean, m2 = 0, 0.0, 0.0
    for x in values:
        n, mean, m2 = welford_add(n, mean, m2, x)
    want_mean, want_std = mean_std(np.array(values))
    assert (n, mean) == (6, pytest.approx(want_mean))
    assert welford_std(n, m2) == pytest.approx(want_std)
    assert welford_std(1, 0.0) == 0.0


def test_sigma_limit_floors_the_std():
    assert sigma_limit(2.3, 1.1, 3.0, 1.0) == pytest.approx(5.6)
    assert sigma_limit(4.0, 0.0, 3.0, 1.0) == pytest.approx(7.0)  # a steady line


def test_tail_share_of_the_last_n_units():
    counts = [18, 3, 19, 10]                              # oldest first
    assert tail_share(counts, 40).tolist() == [8, 3, 19, 10]   # 10 + 19 + 3 + 8 of the 18
    assert tail_share(counts, 100).tolist() == counts           # fewer than n: all of them
    assert tail_share(counts, 5).tolist() == [0, 0, 0, 5]
    assert tail_share([], 40).tolist() == []


def test_plain_shares_and_sum_are_numpys_to_the_bit():
    rng = np.random.default_rng(7)
    for size in [0, 1, 7, 8, 9, 15, 16, 17, 127, 128, 129, 300, 1000]:
        for _ in range(20):
            qty = (rng.random(size) * rng.choice([1e-3, 1.0, 37.0, 1e4], size)).tolist()
            n = float(rng.random() * sum(qty)) if qty else 5.0
            share = tail_share(qty, n)
            assert tail_shares(qty, n) == share.tolist()
            assert array_sum(share.tolist()) == float(share.sum())
            assert array_sum(qty, 3, size - 2) == float(np.sum(qty[3:size - 2]))
