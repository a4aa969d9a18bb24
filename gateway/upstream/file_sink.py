"""`FileSink`: one JSON line per batch, on disk (fsync) before it is acknowledged.

A batch already in the file (by batch_id — e.g. the process died between the write and
recording the ack) is not appended again. A torn last line (the process died mid-write)
is cut off on open: that batch was never acknowledged and will be written whole again.
"""

from __future__ import annotations

import asyncio
import json
import os

from gateway.upstream.sink import Ack, Retry, Verdict

__all__ = ["FileSink"]


class FileSink:
    """Appends batches to a JSON-lines file, durably and at most once per batch_id."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._fd: int | None = None
        self._ids: set[str] = set()
        self._writing: asyncio.Future | None = None

    def __repr__(self) -> str:
        return f"FileSink({self.path!r})"

    def _open(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        ids: set[str] = set()
        keep = 0                              # end of the last complete line
        with os.fdopen(os.dup(fd), "rb") as f:
            for raw in f:                     # streamed: the file may be large
                if not raw.endswith(b"\n"):
                    break                     # a torn last line
                keep += len(raw)
                try:
                    ids.add(json.loads(raw)["batch_id"])
                except (ValueError, KeyError, TypeError):
                    continue  # a foreign line is left alone, it just is not one of ours
        if keep != os.fstat(fd).st_size:
            os.ftruncate(fd, keep)
            os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_END)
        self._fd, self._ids = fd, ids

    def _append(self, batch: dict) -> Verdict:
        if self._fd is None:
            try:
                self._open()
            except OSError as exc:   # missing folder, permissions, disk: try again later
                return Retry(f"cannot open {self.path}: {exc}")
        batch_id = str(batch["batch_id"])
        if batch_id in self._ids:
            return Ack("already in file")
        line = json.dumps(batch, separators=(",", ":")).encode() + b"\n"
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError as exc:      # ENOSPC, EIO: cut the partial line, try again later
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                pass
            return Retry(f"cannot write {self.path}: {exc}")
        self._ids.add(batch_id)
        return Ack("written")

    async def send(self, batch: dict) -> Verdict:
        # Shielded: a cancelled send finishes its write before close() may free the fd
        # (a reused fd number would otherwise receive the rest of the line).
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._append, batch))
        return await asyncio.shield(self._writing)

    async def close(self) -> None:
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
            self._writing = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
