"""Snapshots of the cost engine beside the journal: a restart replays only what follows.

`<journal>.snapshot` holds the engine's state after the event at `seq` (costing.snapshot:
plain arrays, and the bytes of its spilled rows), written to a temporary file, synced
and renamed over the old one, so a crash leaves the old snapshot or the new one, never
half of one. Its header records what it is only valid with:

- the journal it covers: the number of events up to `seq` and the id and the sha256 of
  the payload of the event at `seq` (a journal cut back, rebuilt or replaced refuses it);
- the master data the engine was over (the sha256 of its version's content,
  gateway.master_versions: it must be a version in force right after `seq`) and the
  engine's code (its sha256: changed, the events are valued again from the start);
- a CRC-32 of every byte after the header (a damaged file is refused). It guards against
  damage, not forgery (the file is the gateway's own, beside its journal): zlib's CRC
  runs ~3x faster than sha256 over the hundreds of MB a long journal's snapshot holds,
  and the restore reads every byte once for it.

A refused snapshot is never used: `load` raises `SnapshotRefused` with the reason and the
journal replays every event. The start-up checks read the event at `seq`, not the
events before it: `gateway replay --from-snapshot` compares the snapshot with a full replay.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import zlib
import os
import pathlib
import sqlite3
import struct
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

import costing
from costing.master import MasterData
from gateway import master_versions

if TYPE_CHECKING:  # loaded by what takes or restores a state (see gateway.journal)
    from costing.engine import Engine

MAGIC = b"GWSNAP01"
ALIGN = 64
_HEAD = struct.Struct("<8sQ")


class SnapshotRefused(Exception):
    """A snapshot that must not be used; the message says why."""


def snapshot_path(journal_path: str) -> str:
    return f"{journal_path}.snapshot"


def code_digest() -> str:
    """The engine's source: a snapshot taken by other code is not this engine's state."""
    h = hashlib.sha256()
    for path in sorted(pathlib.Path(costing.__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def journal_mark(conn: sqlite3.Connection, seq: int) -> dict[str, Any]:
    """What a snapshot after the event at `seq` is valid with: the events up to it."""
    # all events less those after `seq`: a count of all of them reads the smallest index
    # (the ids'), one up to `seq` would read the whole table (its payloads) by seq
    count = (conn.execute("SELECT count(*) FROM events").fetchone()[0]
             - conn.execute("SELECT count(*) FROM events WHERE seq > ?", (seq,)).fetchone()[0])
    row = conn.execute("SELECT id, CAST(payload AS BLOB) FROM events WHERE seq = ?",
                       (seq,)).fetchone()
    if row is None:
        return {"seq": seq, "events": count, "event_id": None, "event_sha256": None}
    return {"seq": seq, "events": count, "event_id": row[0],
            "event_sha256": hashlib.sha256(row[1]).hexdigest()}


def _pad(n: int) -> int:
    return -n % ALIGN


def write(path: str, engine: Engine, mark: dict[str, Any], master: MasterData,
          spill_block: int) -> int:
    """Write the engine's state as the snapshot at `path`, atomically; returns its size."""
    from costing.snapshot import engine_state

    state = engine_state(engine, copy=False)  # written before the engine goes on
    sections, offset = [], 0
    pieces: list[tuple[str, Any]] = []
    for name, arr in state.arrays.items():
        arr = np.ascontiguousarray(arr)
        sections.append([name, arr.dtype.str, list(arr.shape), offset, arr.nbytes])
        pieces.append(("array", arr))
        offset += arr.nbytes + _pad(arr.nbytes)
    for name, store in state.stores.items():
        sections.append([name, "|u1", [store.nbytes], offset, store.nbytes])
        pieces.append(("store", store))
        offset += store.nbytes + _pad(store.nbytes)
    tmp = f"{path}.tmp"
    crc = 0
    with open(tmp, "wb") as fh:
        header = {"mark": mark, "master": master_versions.digest(master), "code": code_digest(),
                  "spill_block": spill_block, "sections": sections, "crc32": 0xFFFFFFFF}
        head_len = len(json.dumps(header).encode()) + 256  # room for the real CRC
        body_at = _HEAD.size + head_len + _pad(_HEAD.size + head_len)
        fh.seek(body_at)

        def put(data) -> None:
            nonlocal crc
            crc = zlib.crc32(data, crc)
            fh.write(data)
        for kind, piece in pieces:
            if kind == "array":
                put(memoryview(piece).cast("B") if piece.nbytes else b"")
                size = piece.nbytes
            else:
                for chunk in piece.chunks():
                    put(chunk)
                size = piece.nbytes
            put(b"\0" * _pad(size))
        header["crc32"] = crc
        raw = json.dumps(header).encode().ljust(head_len)
        fh.seek(0)
        fh.write(_HEAD.pack(MAGIC, len(raw)) + raw)
        fh.flush()
        os.fsync(fh.fileno())
        size = fh.seek(0, os.SEEK_END)
    os.replace(tmp, path)
    folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return size


def read_header(path: str) -> tuple[dict[str, Any], int]:
    """The header of the snapshot at `path` and where its body starts."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD.size)
        if len(head) < _HEAD.size:
            raise SnapshotRefused(f"snapshot {path}: shorter than its header")
        magic, n = _HEAD.unpack(head)
        if magic != MAGIC:
            raise SnapshotRefused(f"snapshot {path}: not a snapshot of this format ({magic!r})")
        try:
            header = json.loads(fh.read(n))
        except ValueError as exc:
            raise SnapshotRefused(f"snapshot {path}: header unreadable ({exc})") from None
    return header, _HEAD.size + n + _pad(_HEAD.size + n)


def load(path: str, conn: sqlite3.Connection,
         masters_after: Callable[[int], dict[str, MasterData]], spill_block: int,
         blocks: Callable[[], Any]) -> tuple[Engine, int]:
    """The engine the snapshot at `path` holds and the seq it covers, or SnapshotRefused
    saying why it cannot be used with this journal, master data and code.
    `masters_after(seq)`: the master data an engine right after the event at seq may be
    over, by digest."""
    from costing.snapshot import engine_from_state

    if not os.path.exists(path):
        raise SnapshotRefused(f"no snapshot at {path}")
    header, body = read_header(path)
    mark = header["mark"]
    if header.get("code") != code_digest():
        raise SnapshotRefused(f"snapshot {path}: taken by another version of the engine")
    master = masters_after(int(mark["seq"])).get(header.get("master"))
    if master is None:
        raise SnapshotRefused(f"snapshot {path}: taken with master data that is not the"
                              f" journal's at seq {mark['seq']}")
    if header.get("spill_block") != spill_block:
        raise SnapshotRefused(f"snapshot {path}: spill block {header.get('spill_block')},"
                              f" the journal uses {spill_block}")
    now = journal_mark(conn, mark["seq"])
    if now != mark:
        raise SnapshotRefused(
            f"snapshot {path} does not match the journal at seq {mark['seq']}: it covers"
            f" {mark['events']} events ending with {mark['event_id']!r} (payload sha256"
            f" {str(mark['event_sha256'])[:12]}), the journal has {now['events']} ending with"
            f" {now['event_id']!r} ({str(now['event_sha256'])[:12]})")
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size <= body:
            raise SnapshotRefused(f"snapshot {path}: no body")
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mm)[body:]
    if zlib.crc32(view) != header.get("crc32"):
        raise SnapshotRefused(f"snapshot {path}: damaged (its checksum does not match)")
    parts = {}
    for name, dtype, shape, offset, nbytes in header["sections"]:
        arr = np.frombuffer(view, np.dtype(dtype), int(np.prod(shape, dtype=np.int64)),
                            offset)
        parts[name] = arr.reshape(shape)
    try:
        engine = engine_from_state(master, parts, spill_block, blocks)
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotRefused(f"snapshot {path}: does not fit this engine ({exc})") from None
    return engine, int(mark["seq"])


def verify(path: str, conn: sqlite3.Connection, master: MasterData, spill_block: int,
           blocks: Callable[[], Any]) -> tuple[bool, str]:
    """Whether the snapshot at `path`, with the events after it, gives the engine a full
    replay of the journal gives (True), and a sentence saying so or why not; each event
    valued against its version of the master data (`master`: a journal that has none)."""
    from costing.engine import Engine
    from costing.snapshot import engine_state, state_differences
    from gateway.master_versions import Masters, current_after
    from gateway.replay import replay_versions

    masters = Masters(conn)

    def after(seq: int) -> dict[str, MasterData]:
        if not masters.versions:
            return {master_versions.digest(master): master}
        return {v.sha256: masters.get(v) for v in current_after(masters.versions, seq)}

    try:
        restored, seq = load(path, conn, after, spill_block, blocks)
    except SnapshotRefused as exc:
        return False, f"refused: {exc}"
    start = masters.first() if masters.versions else master
    full, _ = replay_versions(conn, Engine(start, spill_block, blocks), masters)
    restored, rest = replay_versions(conn, restored, masters, after=seq)
    total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    diff = state_differences(engine_state(restored), engine_state(full))
    if diff:
        shown = ", ".join(diff[:8]) + (f" and {len(diff) - 8} more" if len(diff) > 8 else "")
        return False, (f"snapshot at seq {seq:,} differs from a full replay of {total:,}"
                       f" events: {shown}")
    return True, (f"snapshot at seq {seq:,} verified: it and the {rest:,} events after it"
                  f" give the engine state a full replay of all {total:,} events gives")
