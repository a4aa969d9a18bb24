"""Money rounding the engine and its kernels agree on to the last minor unit.

Amounts are integers in minor units. A float amount becomes minor units by scaling,
snapping float noise at 1e-6 of a minor unit, then rounding half-to-even; the numba
kernels use the very same expression, so kernel and reference agree exactly.
"""

from __future__ import annotations

import math

import numpy as np


def scale_of(decimals: int) -> float:
    return 10.0 ** decimals


def to_minor(amount: float, scale: float) -> int:
    """Major units (12.345) -> minor units (1234, half-to-even after snapping noise)."""
    return int(np.rint(np.round(amount * scale, 6)))


def round_minor(minor: float) -> int:
    """An already-scaled float amount (e.g. q * value / qty) -> whole minor units."""
    return int(np.rint(np.round(minor, 6)))


def allocate(total: int, weights: list[float]) -> list[int]:
    """Split `total` minor units over `weights`, largest remainder, summing exactly.

    Weights may be negative (a row driven short); a zero weight sum puts everything on
    the first weight so that the total is never lost.
    """
    if len(weights) < 2:  # one row takes it all, whatever its weight (as below, faster)
        return [total] if weights else []
    wsum = math.fsum(weights)
    if abs(wsum) < 1e-9 or not math.isfinite(wsum):
        return [total] + [0] * (len(weights) - 1)
    shares = [total * w / wsum for w in weights]
    floors = [math.floor(s) for s in shares]
    left = total - sum(floors)
    if abs(left) > len(weights):  # offsetting signed rows lost precision: keep it exact
        floors[0] += left
        return floors
    if not left:
        return floors
    # Largest fractional part first; ties (to 1e-9, so float noise cannot break
    # them differently on a replay) go to the earlier, older row (the sort is stable).
    behind = [-round(s - f, 9) for s, f in zip(shares, floors)]
    order = sorted(range(len(weights)), key=behind.__getitem__)
    step = 1 if left >= 0 else -1
    k = 0
    while left != 0:
        floors[order[k % len(order)]] += step
        left -= step
        k += 1
    return floors
