"""Money rounding: half-to-even in minor units, after snapping float noise.

`to_minor(12.345, 2)` is 1234 (half to even), and `to_minor(2.675, 2)` is 268 as a
person computing in decimals expects, although 2.675 is 2.67499999... in binary: the
amount is first snapped to 6 decimals of a minor unit, then rounded half-to-even.
The numba kernels use the same expression (`np.rint(np.round(x * scale, 6))`).
"""

from __future__ import annotations

import numpy as np


def to_minor(amount: float, decimals: int) -> int:
    """Currency amount -> integer minor units, half-to-even."""
    return int(np.rint(np.round(float(amount) * 10.0**decimals, 6)))
