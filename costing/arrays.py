"""Growable typed columns: engine state kept as numpy arrays the kernels can take.

Columns grow by half (not double): a replay's line and effect columns hold millions
of rows, and the unused tail of a doubled buffer would be most of the peak memory.
"""

from __future__ import annotations

import numpy as np


class Column:
    """An append-only numpy column; `.a` is the live view of the first `n` values."""

    __slots__ = ("_buf", "n")

    def __init__(self, dtype, fill=0):
        self._buf = np.full(16, fill, dtype)
        self.n = 0

    @property
    def a(self) -> np.ndarray:
        return self._buf[:self.n]

    def append(self, value) -> int:
        if self.n == len(self._buf):
            grown = np.empty(len(self._buf) * 3 // 2 + 16, self._buf.dtype)
            grown[:self.n] = self._buf
            self._buf = grown
        self._buf[self.n] = value
        self.n += 1
        return self.n - 1

    def extend(self, values) -> None:
        values = np.asarray(values, self._buf.dtype)
        need = self.n + len(values)
        if need > len(self._buf):
            grown = np.empty(max(need, len(self._buf) * 3 // 2 + 16), self._buf.dtype)
            grown[:self.n] = self._buf[:self.n]
            self._buf = grown
        self._buf[self.n:need] = values
        self.n = need

    def reserve(self, extra: int) -> np.ndarray:
        """Room for `extra` more values without moving; returns the whole buffer (a
        kernel may write past `n`, the caller then sets `n`)."""
        need = self.n + extra
        if need > len(self._buf):
            grown = np.full(max(need, len(self._buf) * 3 // 2 + 16), 0, self._buf.dtype)
            grown[:self.n] = self._buf[:self.n]
            self._buf = grown
        return self._buf

    def pop(self) -> None:
        self.n -= 1

    def __getitem__(self, k):
        if type(k) is int and 0 <= k < self.n:  # the common case, without a view
            return self._buf[k]
        return self._buf[:self.n][k]

    def __setitem__(self, k, value):
        if type(k) is int and 0 <= k < self.n:
            self._buf[k] = value
        else:
            self._buf[:self.n][k] = value

    def __len__(self) -> int:
        return self.n
