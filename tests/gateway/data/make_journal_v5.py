"""Writes tests/gateway/data/journal-v5.db: a small journal of schema 5 (the last schema
before master data was journaled), kept as the file that gateway wrote.

Run at a commit whose gateway/schema.py has SCHEMA_VERSION = 5 (the file is checked in;
running it with a newer gateway writes a newer schema and the test of the file says so):
    PYTHONPATH=$PWD python tests/gateway/data/make_journal_v5.py
The plant is tests/gateway/plant.py's; the events are EVENTS below. Pages of 512 bytes
keep the file a few KB.
"""

from __future__ import annotations

import pathlib
import sqlite3
import sys
import tempfile

from gateway.config import load_config
from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from tests.gateway.plant import ev, write_plant

OUT = pathlib.Path(__file__).with_name("journal-v5.db")
EVENTS = [
    ev("v5-r1", "receipt", item="A", qty=40, location="L1", unit_price=2.10, po="PO-1"),
    ev("v5-r2", "receipt", item="B", qty=10, location="L2", unit_price=1.20, po="PO-2"),
    ev("v5-r3", "receipt", item="C", qty=30, location="L2", unit_price=0.50),
    ev("v5-w1", "wo_release", work_order="WO-S1", item="S", qty=10, line="WC1"),
    ev("v5-c1", "completion", work_order="WO-S1", qty=10, location="L2"),
    ev("v5-x1", "wo_close", work_order="WO-S1"),
    ev("v5-w2", "wo_release", work_order="WO-F1", item="F", qty=4, line="WC2"),
    ev("v5-i1", "issue", work_order="WO-F1", item="B", qty=4),
    ev("v5-c2", "completion", work_order="WO-F1", qty=3, location="FG"),
]


def main() -> int:
    return make(OUT, [EVENTS])


def make(out: pathlib.Path, halves: list[list], change=None) -> int:
    """The plant's journal after each list of events in `halves`, a writer opening it for
    each; `change(master_folder)` runs between them (edits the master data, or the journal
    in var/ beside it). Kept as `out`."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_plant(pathlib.Path(tmp))
        (pathlib.Path(tmp) / "var").mkdir()
        db = str(pathlib.Path(tmp) / load_config(cfg).gateway.db)
        results = []
        for i, events in enumerate(halves):
            if i and change is not None:
                change(pathlib.Path(tmp) / "master")
            j = Journal(db, load_master(load_config(cfg)))
            try:
                results += j.submit([Submission(e) for e in events])
            finally:
                j.close()
        bad = [r for r in results if r.status != "applied"]
        if bad:
            print(f"not applied: {bad}", file=sys.stderr)
            return 1
        keep(db, out)
    return 0


def keep(db: str, out: pathlib.Path) -> None:
    """`db` compacted (one file, small pages) and copied to `out`."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA page_size=512")
    conn.execute("VACUUM")
    version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    conn.close()
    out.write_bytes(pathlib.Path(db).read_bytes())
    print(f"{out}: schema {version[0]}, {out.stat().st_size} bytes")


if __name__ == "__main__":
    sys.exit(main())
