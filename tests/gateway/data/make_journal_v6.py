"""Writes tests/gateway/data/journal-v6.db: a small journal of schema 6 (master data
journaled as versions; lines still stored as text), kept as the file that gateway wrote.

Run at a commit whose gateway/schema.py has SCHEMA_VERSION = 6 (the file is checked in):
    PYTHONPATH=$PWD python tests/gateway/data/make_journal_v6.py
The plant is tests/gateway/plant.py's and the events are make_journal_v5's; between the
two halves the standard of A changes, so the file holds two master data versions.
"""

from __future__ import annotations

import pathlib
import sys

from tests.gateway.data.make_journal_v5 import EVENTS, make
from tests.gateway.plant import ev

OUT = pathlib.Path(__file__).with_name("journal-v6.db")
LATER = [ev("v6-r4", "receipt", item="A", qty=5, location="L1", unit_price=2.0)]


def main() -> int:
    return make(OUT, [EVENTS, LATER], change=_new_standard_for_a)


def _new_standard_for_a(master: pathlib.Path) -> None:
    items = master / "items.csv"
    items.write_text(items.read_text().replace("A,Steel,kg,raw,standard,2.00",
                                               "A,Steel,kg,raw,standard,2.40"))


if __name__ == "__main__":
    sys.exit(main())
