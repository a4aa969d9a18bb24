"""Capped exponential backoff: the one rule every retry loop waits by (device reconnects,
serial ports, the upstream outbox, alert routes).

After n failures in a row the wait is first·2^(n−1), capped; with a random source, equal
jitter (half of it fixed, half random), so many gateways retrying one upstream do not
arrive together. It lives beside the drivers because they may not import the gateway;
the gateway's own loops use it from here."""

from __future__ import annotations

import random

__all__ = ["Backoff", "backoff_delay"]


def backoff_delay(failures: int, first: float, cap: float,
                  rng: random.Random | None = None) -> float:
    """The wait after `failures` in a row; 0 before any failure."""
    if failures <= 0:
        return 0.0
    ceiling = min(cap, first * 2 ** min(failures - 1, 62))
    return ceiling if rng is None else ceiling / 2 + rng.random() * ceiling / 2


class Backoff:
    """Counts failures in a row: `next()` after each, `reset()` after a success."""

    def __init__(self, first: float = 0.2, cap: float = 5.0, rng: random.Random | None = None):
        self.first, self.cap, self.rng = first, cap, rng
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        return backoff_delay(self.failures, self.first, self.cap, self.rng)

    def reset(self) -> None:
        self.failures = 0
