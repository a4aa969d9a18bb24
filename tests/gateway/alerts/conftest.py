"""A journal of the small test plant (tests/gateway/plant.py) judged by an AlertBook."""

from __future__ import annotations

import msgspec
import pytest

from gateway.alerts import AlertBook, AlertsSection
from gateway.config import load_config
from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from tests.gateway.plant import write_plant


@pytest.fixture
def master(tmp_path):
    return load_master(load_config(write_plant(tmp_path)))


def section(**rules) -> AlertsSection:
    """[alerts] with some rule settings changed, e.g. scrap_rate={"min_units": 20}."""
    return msgspec.convert(rules, AlertsSection)


class Plant:
    """Events in, alerts out: a real journal file, minutes as timestamps."""

    def __init__(self, path, master, alerts: AlertsSection):
        self.path = str(path)
        self.journal = Journal(self.path, master, alerts=AlertBook(alerts, master))
        self.n = 0

    def ts(self, minute: float) -> str:
        return f"2026-11-20T{8 + int(minute) // 60:02d}:{int(minute) % 60:02d}:{round(minute % 1 * 60):02d}Z"

    def send(self, *events: tuple) -> None:
        """(type, minute, fields) tuples, one micro-batch."""
        subs = []
        for type_, minute, fields in events:
            self.n += 1
            subs.append(Submission({"id": f"e{self.n}", "type": type_, "ts": self.ts(minute),
                                    **fields}, source="test"))
        results = self.journal.submit(subs)
        assert all(r.accepted for r in results), results

    def alerts(self, rule: str | None = None) -> list[dict]:
        cur = self.journal.conn.execute(
            "SELECT * FROM alerts WHERE ? IS NULL OR rule = ? ORDER BY id", (rule, rule))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur]


@pytest.fixture
def plant_for(tmp_path, master):
    made = []

    def make(alerts: AlertsSection = AlertsSection(), name: str = "j.db") -> Plant:
        p = Plant(tmp_path / name, master, alerts)
        made.append(p)
        return p

    yield make
    for p in made:
        p.journal.close()
