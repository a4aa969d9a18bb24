"""Writes tests/gateway/data/journal-v6.db: a small journal of schema 6 (master data
journaled as versions; lines still stored as text), kept as the file that gateway wrote.

Run at a commit whose gateway/schema.py has SCHEMA_VERSION = 6 (the file is checked in):
    PYTHONPATH=$PWD python tests/gateway/data/make_journal_v6.py
The plant is tests/gateway/plant.py's and the events are make_journal_v5's; between the
two halves the standard of A changes, so the file holds two master data versions.
"""

from __future__ import annotations

import pathlib
import sqlite3
import sys
import tempfile

from gateway.config import load_config
from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from tests.gateway.data.make_journal_v5 import EVENTS
from tests.gateway.plant import ev, write_plant

OUT = pathlib.Path(__file__).with_name("journal-v6.db")
LATER = [ev("v6-r4", "receipt", item="A", qty=5, location="L1", unit_price=2.0)]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_plant(pathlib.Path(tmp))
        (pathlib.Path(tmp) / "var").mkdir()
        config = load_config(cfg)
        db = str(pathlib.Path(tmp) / config.gateway.db)
        results = _submit(db, config, EVENTS)
        items = pathlib.Path(tmp) / "master" / "items.csv"
        items.write_text(items.read_text().replace("A,Steel,kg,raw,standard,2.00",
                                                   "A,Steel,kg,raw,standard,2.40"))
        results += _submit(db, load_config(cfg), LATER)
        bad = [r for r in results if r.status != "applied"]
        if bad:
            print(f"not applied: {bad}", file=sys.stderr)
            return 1
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA page_size=512")
        conn.execute("VACUUM")
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        conn.close()
        OUT.write_bytes(pathlib.Path(db).read_bytes())
    print(f"{OUT}: schema {version[0]}, {OUT.stat().st_size} bytes")
    return 0


def _submit(db: str, config, events) -> list:
    j = Journal(db, load_master(config))
    try:
        return j.submit([Submission(e) for e in events])
    finally:
        j.close()


if __name__ == "__main__":
    sys.exit(main())
