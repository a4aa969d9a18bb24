"""The few statistics the rules use, as small pure functions over numbers and arrays."""

from __future__ import annotations

import math

import numpy as np


def rate_pct(part: float, whole: float) -> float:
    """part as a percentage of whole; 0 when whole is 0."""
    return 100.0 * part / whole if whole > 0 else 0.0


def deviation_pct(observed: float, expected: float) -> float:
    """How far observed lies above expected, in % of expected (negative: below)."""
    if expected <= 0:
        return math.inf if observed > 0 else 0.0
    return 100.0 * (observed - expected) / expected


def mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); std 0 for fewer than two values."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return 0.0, 0.0
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return mean, std


def welford_add(n: int, mean: float, m2: float, x: float) -> tuple[int, float, float]:
    """(n, mean, M2) after one more value x: the history kept incrementally, one row a
    work center and operation, without keeping every closed order's figure."""
    n += 1
    delta = x - mean
    mean += delta / n
    m2 += delta * (x - mean)
    return n, mean, m2


def welford_std(n: int, m2: float) -> float:
    """Sample standard deviation from (n, M2); 0 for fewer than two values."""
    return math.sqrt(max(m2, 0.0) / (n - 1)) if n > 1 else 0.0


def sigma_limit(mean: float, std: float, k: float, floor: float) -> float:
    """mean + k x std, the std taken as at least `floor` (a steady line has std ~0 and
    would otherwise alarm on its first unit of noise)."""
    return mean + k * max(std, floor)


def tail_share(qty: np.ndarray, n: float) -> np.ndarray:
    """How much of each count (oldest first) lies within the last `n` units: the newest
    counts whole, the one that crosses the window's edge in part, the older ones 0."""
    qty = np.asarray(qty, dtype=np.float64)
    newer = np.cumsum(qty[::-1])[::-1] - qty  # units counted after each one
    return np.minimum(np.maximum(n - newer, 0.0), qty)


def tail_shares(qty: list[float], n: float) -> list[float]:
    """`tail_share` as a list, in plain Python: the same values to the bit (numpy's
    cumsum adds one after the other, as here), without an array's cost on a short
    window."""
    out = [0.0] * len(qty)
    acc = 0.0
    for i in range(len(qty) - 1, -1, -1):
        q = qty[i]
        acc += q
        out[i] = min(max(n - (acc - q), 0.0), q)
    return out


def array_sum(values: list[float], start: int = 0, stop: int | None = None) -> float:
    """float(np.sum(values[start:stop])) to the bit, in plain Python: numpy's pairwise
    summation (eight running sums over blocks of up to 128, halves above that)."""
    stop = len(values) if stop is None else stop
    n = stop - start
    if n < 8:
        res = 0.0
        for i in range(start, stop):
            res += values[i]
        return res
    if n <= 128:
        r = values[start:start + 8]
        i = start + 8
        end = stop - n % 8
        while i < end:
            for j in range(8):
                r[j] += values[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for i in range(end, stop):
            res += values[i]
        return res
    half = n // 2
    half -= half % 8
    return array_sum(values, start, start + half) + array_sum(values, start + half, stop)
