"""The one backoff rule: doubling to a cap, equal jitter when given a random source."""

from __future__ import annotations

import random

from drivers.backoff import Backoff, backoff_delay


def test_jittered_waits_stay_between_half_and_the_whole_ceiling():
    rng = random.Random(7)
    for failures, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (9, 30.0), (200, 30.0)):
        waits = [backoff_delay(failures, 0.5, 30.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), (failures, min(waits), max(waits))
        assert max(waits) - min(waits) > ceiling / 4       # really jittered
    assert backoff_delay(0, 0.5, 30.0, rng) == 0.0


def test_backoff_counts_failures_until_reset():
    b = Backoff(1.0, 4.0)
    assert [b.next() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0] and b.failures == 4
    b.reset()
    assert (b.failures, b.next()) == (0, 1.0)
