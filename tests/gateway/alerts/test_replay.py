"""Replay rebuilds the alerts the live journal judged, whatever the batch sizes."""

from __future__ import annotations

import pytest

from gateway.alerts import AlertsSection
from gateway.commands.replay import replay
from tests.gateway.alerts.test_rules import STOCK, good, release, scrap


@pytest.mark.parametrize("chunk", [1, 1000])
def test_replay_gives_the_same_alerts(plant_for, master, tmp_path, chunk):
    p = plant_for()
    p.send(STOCK)
    for n, lost in enumerate((1, 6, 0)):  # an alert that opens and one that resolves
        wo = f"WO-{n}"
        p.send(release(wo, minute=10 * n))
        for k in range(30):
            p.send(good(1, wo, 10 * n + k / 10), *([scrap(1, wo, 10 * n + k / 10)]
                                                    if k < lost else []))
        p.send(("wo_close", 10 * n + 5, {"work_order": wo}))
    p.send(release("WO-9", minute=50),
           ("receipt", 51, {"item": "A", "qty": 1, "location": "QA", "unit_price": 2.0}))
    live = p.alerts()
    assert {(a["rule"], a["state"]) for a in live} == {("scrap_rate", "resolved")}
    p.journal.close()
    out = replay(p.path, master, str(tmp_path / f"re-{chunk}.db"), chunk=chunk,
                 alerts=AlertsSection())
    assert out.differences() == []
    [alerts] = [t for t in out.tables if t.name == "alerts"]
    assert alerts.live == alerts.rebuilt == len(live)
    p.journal = type(p.journal)(p.path, master)  # for the fixture's close


def test_replay_tells_an_alert_the_events_do_not_give(plant_for, master, tmp_path):
    p = plant_for()
    p.send(STOCK, release(), good(18), scrap(3))
    p.journal.conn.execute("UPDATE alerts SET message='edited'")
    out = replay(p.path, master, str(tmp_path / "re.db"), alerts=AlertsSection())
    assert any(line.startswith("alerts:") for line in out.differences())
