"""The engine's negative-stock notices on the exceptions page: one open episode per stock
row, counting its occurrences, not one exception per event that drew it short."""

from __future__ import annotations

import sqlite3

import pytest

from gateway.config import load_config
from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from tests.gateway.plant import ev, write_plant


@pytest.fixture
def journal(tmp_path):
    cfg = load_config(write_plant(tmp_path))
    j = Journal(str(tmp_path / "j.db"), load_master(cfg))
    yield j
    j.close()


def _open(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT kind, event_id, reason, occurrences FROM exceptions WHERE status='open'"
            " ORDER BY id").fetchall()


def _ship(n: int, qty: float, location: str = "RM") -> dict:
    return ev(f"s{n}", "shipment", item="A", qty=qty, location=location, unit_price=3.0)


def test_short_shipments_of_one_stock_row_are_one_episode(journal, tmp_path):
    db = tmp_path / "j.db"
    journal.submit([Submission(ev("r1", "receipt", item="A", qty=1, location="RM",
                                  unit_price=2.0), source="t")])
    # three draws beyond stock, two in one batch, one in the next: one open exception
    journal.submit([Submission(_ship(1, 2), source="t"), Submission(_ship(2, 0.5), source="t")])
    journal.submit([Submission(_ship(3, 0.25), source="t")])
    # two subjects, each once with three occurrences and the latest figure: the stock
    # row drawn short, and the item valued beyond the plant's stock
    assert _open(db) == [
        ("negative_stock", "s1", "A at RM (lot -): short by 0.25", 3),
        ("negative_stock", "s1", "A: 0.25 beyond plant stock, valued at last known cost", 3)]
    # another stock row is its own episode (the plant-wide one counts on)
    journal.submit([Submission(_ship(4, 1, "L1"), source="t")])
    assert [(r[1], r[2].split(":")[0], r[3]) for r in _open(db)] == [
        ("s1", "A at RM (lot -)", 3), ("s1", "A", 4), ("s4", "A at L1 (lot -)", 1)]
    # once dismissed, the next shortage of that row opens a new episode
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE exceptions SET status='dismissed' WHERE event_id='s1'")
    journal.submit([Submission(_ship(5, 1), source="t")])
    assert [(r[1], r[2].split(":")[0], r[3]) for r in _open(db)] == [
        ("s4", "A at L1 (lot -)", 1), ("s5", "A at RM (lot -)", 1), ("s5", "A", 1)]
