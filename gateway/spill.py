"""A spill file: where the cost engine's old rows go, beside the journal, not in memory.

The engine keeps every accepted event's journal lines, effects and record so that any
past event can be reversed exactly (see docs/accounting.md), but only a reversal reads them again.
`Engine(master, blocks=spill_files(folder))` moves all but the newest rows into an
unlinked file in `folder`: the resident set stays flat over months of running and over a
replay of millions of events (~0.4 KB per event on disk instead of in memory). The file
is in the journal's own folder, so the disk-nearly-full alarm watches its filesystem,
and it disappears with the process (it is rebuilt from the journal at every start).
"""

from __future__ import annotations

import os
import tempfile
import weakref
from typing import Callable

import numpy as np


class SpillFile:
    """Blocks of bytes appended to an unlinked file; read back by (offset, size)."""

    __slots__ = ("__weakref__", "_close", "end", "fd", "folder")

    def __init__(self, folder: str):
        self.folder = folder
        self.fd = -1  # opened on the first write: a small engine never needs the file
        self.end = 0
        self._close = None

    def _open(self) -> None:
        fd, path = tempfile.mkstemp(prefix=".engine-spill-", dir=self.folder)
        os.unlink(path)  # gone from the directory now, from the disk when closed
        self.fd = fd
        self._close = weakref.finalize(self, os.close, fd)

    def write(self, data: np.ndarray) -> int:
        """Append `data`'s bytes; returns their offset."""
        if self.fd == -1:
            self._open()
        offset, raw = self.end, memoryview(np.ascontiguousarray(data)).cast("B")
        done = 0
        while done < len(raw):
            done += os.pwrite(self.fd, raw[done:], offset + done)
        self.end = offset + done
        return offset

    def read(self, offset: int, nbytes: int) -> bytes:
        parts, done = [], 0
        while done < nbytes:
            part = os.pread(self.fd, nbytes - done, offset + done)
            if not part:
                raise OSError("spill file shorter than written")
            parts.append(part)
            done += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        if self._close is not None:
            self._close()


def spill_files(folder: str | os.PathLike | None = None) -> Callable[[], SpillFile]:
    """A `blocks` factory for `costing.engine.Engine`: spill files in `folder`
    (the system's temporary folder when None)."""
    where = os.fspath(folder) if folder is not None else tempfile.gettempdir()
    return lambda: SpillFile(where)
