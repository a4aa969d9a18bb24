"""Versions of the master data in the journal: every stored event is valued, and valued
again on every rebuild and replay, against the master data in force when it was
committed.

A writer that opens the journal with master data whose content differs from the last
version records a new one (`master_versions`: number, the seq of the first event it
values, loaded_at, sha256 of the content, the content zlib-compressed, what changed
against the version before). A version is in force from its `from_seq` until the next
version's: the events carry no column of their own, the commit path does not change,
and a version only ever starts at a writer's open, past every event then stored.

The content is the master data as the engine takes it (costing.master.MasterData, as
JSON). Its rows keep the positions they had in the version before (`align`): items,
work centers and PO lines are added at the end, and a PO line dropped from the CSVs
stays (receipts against it are held as `no_po`, as for any line the CSVs do not have),
since the engine's state is indexed by those positions (costing.remaster).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import zlib
from typing import Any, NamedTuple

import msgspec

from costing.master import MasterData

# the key of a row in each table of the master data
_KEYS = {
    "items": lambda r: r.sku,
    "boms": lambda r: f"{r.parent}/{r.component}/op {r.operation}",
    "routings": lambda r: f"{r.parent}/op {r.operation}",
    "work_centers": lambda r: r.id,
    "locations": lambda r: r.id,
    "purchase_orders": lambda r: f"{r.po}/{r.sku}",
}


class Version(NamedTuple):
    number: int
    from_seq: int  # the first event it values
    sha256: str


class VersionError(RuntimeError):
    """A version of the master data is missing, is not what was recorded, or cannot
    value the events from `seq` (the first it values) on."""

    def __init__(self, message: str, seq: int = 0):
        super().__init__(message)
        self.seq = seq


def encode(master: MasterData) -> bytes:
    return msgspec.json.encode(master)


def digest(master: MasterData) -> str:
    """The sha256 of the master data's content, as recorded."""
    return hashlib.sha256(encode(master)).hexdigest()


def align(master: MasterData, previous: MasterData | None) -> MasterData:
    """`master` with the rows `previous` had kept at their positions, new rows after
    them; PO lines no longer in `master` are kept. Items and work centers no longer in
    `master` are left out (the engine then refuses the switch if it holds them)."""
    if previous is None:
        return master

    def keep(old: tuple, new: tuple, key, retain: bool) -> tuple:
        by_key = {key(r): r for r in new}
        kept = [by_key.pop(key(r), r if retain else None) for r in old]
        return tuple(r for r in kept if r is not None) + tuple(by_key.values())

    return dataclasses.replace(
        master,
        items=keep(previous.items, master.items, _KEYS["items"], False),
        work_centers=keep(previous.work_centers, master.work_centers,
                          _KEYS["work_centers"], False),
        purchase_orders=keep(previous.purchase_orders, master.purchase_orders,
                             _KEYS["purchase_orders"], True))


def _plain(row: Any) -> Any:
    return msgspec.to_builtins(row)


def changes(previous: MasterData | None, master: MasterData) -> dict[str, Any]:
    """Per table, the rows added, removed and changed (field: [before, after])."""
    if previous is None:
        return {"first": True, **{t: len(getattr(master, t)) for t in _KEYS}}
    out: dict[str, Any] = {}
    for table, key in _KEYS.items():
        old = {key(r): _plain(r) for r in getattr(previous, table)}
        new = {key(r): _plain(r) for r in getattr(master, table)}
        diff: dict[str, Any] = {}
        added = [k for k in new if k not in old]
        removed = [k for k in old if k not in new]
        changed = {k: {f: [old[k][f], new[k].get(f)] for f in old[k] if old[k][f] != new[k].get(f)}
                   for k in new if k in old and old[k] != new[k]}
        if added:
            diff["added"] = added
        if removed:
            diff["removed"] = removed
        if changed:
            diff["changed"] = changed
        if diff:
            out[table] = diff
    rest_old = {f.name: _plain(getattr(previous, f.name)) for f in dataclasses.fields(previous)
                if f.name not in _KEYS}
    rest_new = {f.name: _plain(getattr(master, f.name)) for f in dataclasses.fields(master)
                if f.name not in _KEYS}
    settings = {k: [rest_old[k], v] for k, v in rest_new.items() if rest_old[k] != v}
    if settings:
        out["settings"] = settings
    return out


def versions(conn: sqlite3.Connection) -> list[Version]:
    return [Version(*r) for r in conn.execute(
        "SELECT version, from_seq, sha256 FROM master_versions ORDER BY version")]


def master_of(conn: sqlite3.Connection, version: Version) -> MasterData:
    """The content of `version`, checked against its recorded sha256."""
    row = conn.execute("SELECT content FROM master_versions WHERE version=?",
                       (version.number,)).fetchone()
    why = None
    raw = b""
    if row is None or row[0] is None:
        why = "its content is missing"
    else:
        try:
            raw = zlib.decompress(row[0])
        except zlib.error as exc:
            why = f"its content cannot be read ({exc})"
    if why is None and hashlib.sha256(raw).hexdigest() != version.sha256:
        why = (f"its content's sha256 {hashlib.sha256(raw).hexdigest()[:12]} is not the"
               f" recorded {version.sha256[:12]}")
    if why is not None:
        raise VersionError(f"master data version {version.number}: {why}")
    try:
        return msgspec.json.decode(raw, type=MasterData)
    except msgspec.ValidationError as exc:
        raise VersionError(f"master data version {version.number}: {exc}") from None


def record(conn: sqlite3.Connection, master: MasterData, previous: MasterData | None,
           loaded_at: str, as_loaded: MasterData | None = None) -> Version:
    """Record `master` (aligned already) as the next version, in force from the next
    event; the first version of a journal values every event (a journal made before
    versions were kept is valued against the master data it was first opened with).
    Its changes are those of `as_loaded` (the CSVs as read: a PO line they dropped is
    said removed, though the version keeps it)."""
    raw = encode(master)
    sha = hashlib.sha256(raw).hexdigest()
    conn.execute("BEGIN IMMEDIATE")
    try:
        last = conn.execute("SELECT max(version) FROM master_versions").fetchone()[0]
        number = (last or 0) + 1
        from_seq = 1 if last is None else conn.execute(
            "SELECT coalesce(max(seq), 0) + 1 FROM events").fetchone()[0]
        conn.execute(
            "INSERT INTO master_versions(version, from_seq, loaded_at, sha256, content,"
            " changes) VALUES (?,?,?,?,?,?)",
            (number, from_seq, loaded_at, sha, zlib.compress(raw, 6),
             json.dumps(changes(previous, as_loaded or master), sort_keys=True)))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Version(number, from_seq, sha)


def segments(found: list[Version], after: int = 0) -> list[tuple[Version, int | None]]:
    """(version, last seq it values or None: to the end) for each version that values
    an event past `after`, in order; versions that value none are left out."""
    out: list[tuple[Version, int | None]] = []
    for k, v in enumerate(found):
        until = found[k + 1].from_seq - 1 if k + 1 < len(found) else None
        if until is not None and (until < v.from_seq or until <= after):
            continue
        out.append((v, until))
    return out


def current_after(found: list[Version], seq: int) -> list[Version]:
    """The versions an engine may have been over right after the event at `seq`: the one
    that valued it and those recorded after it, before the next event."""
    return [v for k, v in enumerate(found)
            if v.from_seq <= seq + 1 and (k + 1 == len(found) or found[k + 1].from_seq > seq)]


class Masters:
    """The versions of one journal and their master data, read once each."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.versions: list[Version] = []
        self._content: dict[int, MasterData] = {}
        self.refresh()

    def refresh(self) -> None:
        try:
            self.versions = versions(self.conn)
        except sqlite3.OperationalError:  # a journal of schema 5 opened read-only
            self.versions = []

    def get(self, version: Version) -> MasterData:
        master = self._content.get(version.number)
        if master is None:
            master = self._content[version.number] = master_of(self.conn, version)
        return master

    def at(self, seq: int) -> Version | None:
        """The version that values the event at `seq`."""
        found = [v for v in self.versions if v.from_seq <= seq]
        return found[-1] if found else None

    def switch(self, engine, version: Version):
        """`engine` over `version`'s master data (itself when it is over it already)."""
        from costing.remaster import MasterSwitchError, switch_master

        if digest(engine.master) == version.sha256:
            return engine
        try:
            return switch_master(engine, self.get(version))
        except VersionError as exc:
            raise VersionError(str(exc), version.from_seq) from None
        except MasterSwitchError as exc:
            raise VersionError(f"master data version {version.number} cannot value the"
                               f" events from seq {version.from_seq}: {exc}",
                               version.from_seq) from None

    def first(self):
        """The master data of the first version (an engine's start)."""
        try:
            return self.get(self.versions[0])
        except VersionError as exc:
            raise VersionError(str(exc), self.versions[0].from_seq) from None
