"""Growable typed columns: engine state kept as numpy arrays the kernels can take.

Columns grow by half (not double): a replay's line and effect columns hold millions
of rows, and the unused tail of a doubled buffer would be most of the peak memory.
"""

from __future__ import annotations

import bisect

import numpy as np


class Column:
    """An append-only numpy column; `.a` is the live view of the first `n` values."""

    __slots__ = ("buf", "n")  # buf: the backing array; its first n values are the column

    def __init__(self, dtype, fill=0):
        self.buf = np.full(16, fill, dtype)
        self.n = 0

    @property
    def a(self) -> np.ndarray:
        return self.buf[:self.n]

    def append(self, value) -> int:
        n, buf = self.n, self.buf
        if n == len(buf):
            grown = np.empty(n * 3 // 2 + 16, buf.dtype)
            grown[:n] = buf
            self.buf = buf = grown
        buf[n] = value
        self.n = n + 1
        return n

    def extend(self, values) -> None:
        values = np.asarray(values, self.buf.dtype)
        need = self.n + len(values)
        if need > len(self.buf):
            grown = np.empty(max(need, len(self.buf) * 3 // 2 + 16), self.buf.dtype)
            grown[:self.n] = self.buf[:self.n]
            self.buf = grown
        self.buf[self.n:need] = values
        self.n = need

    def reserve(self, extra: int) -> np.ndarray:
        """Room for `extra` more values without moving; returns the whole buffer (a
        kernel may write past `n`, the caller then sets `n`)."""
        need = self.n + extra
        if need > len(self.buf):
            grown = np.full(max(need, len(self.buf) * 3 // 2 + 16), 0, self.buf.dtype)
            grown[:self.n] = self.buf[:self.n]
            self.buf = grown
        return self.buf

    def pop(self) -> None:
        self.n -= 1

    def __getitem__(self, k):
        if type(k) is int and 0 <= k < self.n:  # the common case, without a view
            return self.buf[k]
        return self.buf[:self.n][k]

    def __setitem__(self, k, value):
        if type(k) is int and 0 <= k < self.n:
            self.buf[k] = value
        else:
            self.buf[:self.n][k] = value

    def __len__(self) -> int:
        return self.n


class MemoryBlocks:
    """Where `SpillColumn`s put their old rows by default: immutable bytes in memory.

    Compact (no growth slack, one bytes object per block) but still memory. costing/ does
    no I/O: a caller that wants old rows on disk passes `Engine(blocks=...)` a factory of
    objects with this interface (`write`, `read`, `close`), as the gateway does with a
    spill file beside its journal (gateway.spill).
    """

    __slots__ = ("_chunks", "_starts", "end")

    def __init__(self):
        self._chunks: list[bytes] = []
        self._starts: list[int] = []
        self.end = 0

    def write(self, data: np.ndarray) -> int:
        """Keep `data`'s bytes; returns their offset."""
        offset, raw = self.end, np.ascontiguousarray(data).tobytes()
        self._chunks.append(raw)
        self._starts.append(offset)
        self.end = offset + len(raw)
        return offset

    def read(self, offset: int, nbytes: int) -> bytes:
        k = bisect.bisect_right(self._starts, offset) - 1
        parts, done = [], 0
        while done < nbytes:
            if k < 0 or k >= len(self._chunks):
                raise ValueError("read past the end of the spilled rows")
            at = offset + done - self._starts[k]
            part = self._chunks[k][at:at + nbytes - done]
            parts.append(part)
            done += len(part)
            k += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        self._chunks.clear()
        self._starts.clear()


class SpillColumn:
    """An append-only column whose rows beyond the newest `2 * block` go to a block store
    (`MemoryBlocks`, or what the caller injected).

    Same appending interface as `Column`; reading is by range (`read(start, end)`, a
    copy), which is all a reversal or `lines_of` needs. `.a` reads the whole column
    back (tests, small engines).
    """

    __slots__ = ("block", "blocks", "cold_n", "dtype", "hot", "store")

    def __init__(self, dtype, store, block: int = 1 << 16):
        self.dtype = np.dtype(dtype)
        self.hot = Column(self.dtype)
        self.cold_n = 0  # rows on disk: blocks of `block` rows, oldest first
        self.blocks: list[int] = []  # file offset of each block
        self.store = store
        self.block = block

    @property
    def n(self) -> int:
        return self.cold_n + self.hot.n

    def __len__(self) -> int:
        return self.n

    def append(self, value) -> int:
        k = self.n
        self.hot.append(value)
        if self.hot.n >= 2 * self.block:
            self._spill()
        return k

    def extend(self, values) -> None:
        self.hot.extend(values)
        if self.hot.n >= 2 * self.block:
            self._spill()

    def _spill(self) -> None:
        """Move whole blocks to disk, keeping the newest `block` rows or more in memory."""
        hot, b = self.hot, self.block
        k = (hot.n - b) // b  # blocks to move
        buf = hot.buf
        for m in range(k):
            self.blocks.append(self.store.write(buf[m * b:(m + 1) * b]))
        moved = k * b
        rest = hot.n - moved
        buf[:rest] = buf[moved:hot.n]
        hot.n = rest
        self.cold_n += moved
        if len(buf) > 4 * b:  # one large extend grew it: give the room back
            hot.buf = buf[:max(rest, 2 * b)].copy()

    def read(self, start: int, end: int) -> np.ndarray:
        """Rows [start, end) as a new array."""
        end = min(end, self.n)
        if start >= end:
            return np.empty(0, self.dtype)
        if start >= self.cold_n:
            return self.hot.buf[start - self.cold_n:end - self.cold_n].copy()
        out = np.empty(end - start, self.dtype)
        b, size = self.block, self.dtype.itemsize
        k = start
        while k < min(end, self.cold_n):
            blk, off = divmod(k, b)
            stop = min(end, (blk + 1) * b)
            raw = self.store.read(self.blocks[blk] + off * size, (stop - k) * size)
            out[k - start:stop - start] = np.frombuffer(raw, self.dtype)
            k = stop
        if end > self.cold_n:
            out[k - start:] = self.hot.buf[k - self.cold_n:end - self.cold_n]
        return out

    @property
    def a(self) -> np.ndarray:
        return self.read(0, self.n)

    def __getitem__(self, k: int):
        if type(k) is int and self.cold_n <= k < self.n:
            return self.hot.buf[k - self.cold_n]
        if type(k) is not int:
            return self.a[k]
        if k < 0:
            k += self.n
        if not 0 <= k < self.n:
            raise IndexError(k)
        return self.read(k, k + 1)[0]
