"""The margin rule: a sales order's shipped margin % = (revenue - cost of sales) / revenue
from its shipments' journal lines, judged against min_pct as each shipment is booked.

F costs 61.50 a unit at standard (tests/gateway/plant.py), so every figure is by hand."""

from __future__ import annotations

import pytest

from costing.master import Accounts
from gateway.alerts import AlertsSection
from gateway.commands.replay import replay
from gateway.subledgers import margins
from tests.gateway.alerts.conftest import section

F_STOCK = ("receipt", 0, {"item": "F", "qty": 20, "location": "FG", "unit_price": 61.5})


def ship(price, order="SO-1", minute=1, qty=1):
    return ("shipment", minute, {"item": "F", "qty": qty, "location": "FG",
                                 "unit_price": price, "order": order})


def test_margin_fires_below_the_limit_not_at_it_keeps_one_alert_and_clears(plant_for):
    p = plant_for(section(margin={"min_pct": 25}))
    p.send(F_STOCK)
    p.send(ship(82.0))                    # 82.00 - 61.50 = 20.50 of 82.00 = 25.0 %: at it
    assert p.alerts() == []
    p.send(ship(80.0, minute=2))          # 39.00 of 162.00 = 24.07 % < 25
    [a] = p.alerts()
    assert (a["key"], a["rule"], a["subject"], a["state"], a["severity"]) == \
        ("margin:SO-1", "margin", "SO-1", "open", "warning")
    assert (round(a["observed"], 2), a["expected"], a["threshold"]) == (24.07, 25.0, 25.0)
    assert a["message"] == "margin 24.1 % on SO-1 (revenue 162.00, cost 123.00); limit 25 %"
    assert a["first_seen"] == a["last_seen"] == p.ts(2)
    p.send(ship(70.0, minute=3))          # 47.50 of 232.00 = 20.47 %: the same alert
    p.send(("customer_payment", 4, {"order": "SO-1", "amount": 100.0}))  # not a margin
    [a] = p.alerts()
    assert (a["state"], round(a["observed"], 2), a["last_seen"]) == ("open", 20.47, p.ts(3))
    assert a["message"] == "margin 20.5 % on SO-1 (revenue 232.00, cost 184.50); limit 25 %"
    codes = {role: getattr(p.journal.master.accounts, role) for role in Accounts.ROLES}
    [so1] = margins(p.journal.conn, codes)  # `gateway margin` tells the same figure
    assert (so1["revenue"], so1["cogs"], so1["margin_pct"]) == (23200, 18450, 20.5)
    p.send(("reversal", 5, {"reverses": "e4"}))  # the 70.00 taken back: 24.07 % again
    [a] = p.alerts()
    assert (a["state"], round(a["observed"], 2), a["last_seen"]) == ("open", 24.07, p.ts(5))
    p.send(ship(90.0, minute=6))          # 67.50 of 252.00 = 26.79 %: recovered
    [a] = p.alerts()
    assert (a["state"], a["resolved_by"], a["resolved_at"]) == ("resolved", "gateway", p.ts(6))
    assert a["resolution"] == "margin back within its limit"
    assert p.journal.conn.execute("SELECT * FROM alert_sales").fetchall() == \
        [("SO-1", 25200, 18450)]


def test_margin_per_order_default_limit_a_loss_is_critical_and_no_order_no_alert(plant_for):
    p = plant_for()                       # min_pct 15.0
    p.send(F_STOCK, ship(72.0, "SO-1"), ship(100.0, "SO-2"), ship(10.0, None))
    [a] = p.alerts()                      # SO-1: 10.50 of 72.00 = 14.58 %; SO-2: 38.5 %
    assert (a["key"], a["severity"]) == ("margin:SO-1", "warning")
    assert a["message"] == "margin 14.6 % on SO-1 (revenue 72.00, cost 61.50); limit 15 %"
    p.send(ship(50.0, "SO-2", minute=2))  # SO-2: 88.50 of 150.00 = 59 %: still fine
    p.send(ship(20.0, "SO-1", minute=3))  # SO-1: -31.00 of 92.00: a loss
    [a] = p.alerts()
    assert (a["severity"], round(a["observed"], 2)) == ("critical", -33.7)
    p.send(("reversal", 4, {"reverses": "e2"}), ("reversal", 4, {"reverses": "e6"}))
    [a] = p.alerts()                      # nothing shipped left on SO-1: nothing to judge
    assert (a["state"], a["resolved_at"]) == ("resolved", p.ts(4))


def test_margin_disabled_judges_nothing(plant_for):
    p = plant_for(section(margin={"enabled": False}))
    p.send(F_STOCK, ship(62.0))
    assert p.alerts() == []


@pytest.mark.parametrize("chunk", [1, 1000])
def test_replay_gives_the_same_margin_alerts(plant_for, master, tmp_path, chunk):
    p = plant_for()
    p.send(F_STOCK)
    p.send(ship(72.0, "SO-1"), ship(100.0, "SO-2"))   # SO-1 opens
    p.send(ship(100.0, "SO-1", minute=2))             # 49.00 of 172.00 = 28.5 %: resolved
    p.send(ship(30.0, "SO-2", minute=3), ("reversal", 3, {"reverses": "e5"}))  # in a batch
    p.send(ship(40.0, "SO-3", minute=4))              # a loss, still open
    live = p.alerts()
    assert [(a["key"], a["state"]) for a in live] == [("margin:SO-1", "resolved"),
                                                      ("margin:SO-2", "resolved"),
                                                      ("margin:SO-3", "open")]
    p.journal.close()
    out = replay(p.path, master, str(tmp_path / f"re-{chunk}.db"), chunk=chunk,
                 alerts=AlertsSection())
    assert out.differences() == []
    [alerts] = [t for t in out.tables if t.name == "alerts"]
    assert alerts.live == alerts.rebuilt == 3
    p.journal = type(p.journal)(p.path, master)  # for the fixture's close
