"""Writes tests/gateway/data/journal-v8.db: a small journal of schema 8 (the last schema
whose journal lines repeat their entry's event id and period), kept as the file that
gateway wrote.

Run at a commit whose gateway/schema.py has SCHEMA_VERSION = 8 (the file is checked in):
    PYTHONPATH=$PWD python tests/gateway/data/make_journal_v8.py
The plant is tests/gateway/plant.py's and the events are make_journal_v5's, then two
more in another period; the batcher puts the first events' lines in batches of a few
lines, so the file holds batched lines and lines not batched yet.
"""

from __future__ import annotations

import pathlib
import sqlite3
import sys

from gateway.upstream.batcher import Batcher
from tests.gateway.data.make_journal_v5 import EVENTS, make
from tests.gateway.plant import ev

OUT = pathlib.Path(__file__).with_name("journal-v8.db")
LATER = [ev("v8-r4", "receipt", item="A", qty=5, location="L1", unit_price=2.0,
            ts="2026-12-01T08:00:00Z"),
         ev("v8-r5", "receipt", item="C", qty=8, location="L2", unit_price=0.5,
            ts="2026-12-01T09:00:00Z")]


def main() -> int:
    return make(OUT, [EVENTS, LATER], change=_batch_what_is_there)


def _batch_what_is_there(master: pathlib.Path) -> None:
    conn = sqlite3.connect(master.parent / "var" / "gateway.db", isolation_level=None)
    while Batcher(conn, "test-plant", "EUR", 2, max_lines=4).run_once(force=True):
        pass
    conn.close()


if __name__ == "__main__":
    sys.exit(main())
