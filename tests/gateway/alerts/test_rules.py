"""Each rule fires exactly when its hand-computed threshold is crossed, keeps one alert
while the condition persists and resolves it when the condition clears."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from tests.gateway.alerts.conftest import section

STOCK = ("receipt", 0, {"item": "A", "qty": 5000, "location": "L1", "unit_price": 2.0})


def release(wo="WO-1", item="S", qty=100, line="WC1", minute=1):
    return ("wo_release", minute, {"work_order": wo, "item": item, "qty": qty, "line": line})


def good(qty, wo="WO-1", minute=2, location="L1"):
    return ("completion", minute, {"work_order": wo, "qty": qty, "location": location})


def scrap(qty, wo="WO-1", minute=2, op=10):
    return ("scrap", minute, {"work_order": wo, "qty": qty, "operation": op})


def test_scrap_rate_fires_above_max_pct_once_and_resolves(plant_for):
    p = plant_for()  # defaults: max_pct 5.0, min_units 20, no history yet
    p.send(STOCK, release())
    p.send(good(18), scrap(1))           # 1 of 19 = 5.3 %, but fewer than 20 units
    assert p.alerts() == []
    p.send(good(1, minute=3))            # 1 of 20 = 5.0 %: at the limit, not above
    assert p.alerts() == []
    p.send(scrap(1, minute=4))           # 2 of 21 = 9.5 % > 5.0
    [a] = p.alerts()
    assert (a["key"], a["state"], a["severity"]) == ("scrap_rate:WO-1:op10", "open", "warning")
    assert a["message"] == ("scrap 9.5 % on WO-1 op 10 (2 of 21);"
                            " limit 5.0 % (work center history: 0 closed orders)")
    assert a["first_seen"] == a["last_seen"] == p.ts(4)
    p.send(good(10, minute=5))           # 2 of 31 = 6.5 %: the same alert, updated
    [a] = p.alerts()
    assert a["state"] == "open" and round(a["observed"], 2) == 6.45
    assert (a["first_seen"], a["last_seen"]) == (p.ts(4), p.ts(5))
    p.send(good(9, minute=6))            # 2 of 40 = 5.0 %: at the limit, but an open
    [a] = p.alerts()                     # alert clears only below 0.9 x 5.0 = 4.5 %
    assert a["state"] == "open" and a["observed"] == 5.0
    p.send(good(5, minute=7))            # 2 of 45 = 4.4 %: cleared
    [a] = p.alerts()
    assert (a["state"], a["resolved_by"], a["resolved_at"]) == ("resolved", "gateway", p.ts(7))
    assert a["resolution"] == "scrap back within its limit"


def test_scrap_rate_over_the_last_window_units_not_the_whole_order(plant_for):
    p = plant_for(section(scrap_rate={"window_units": 40}))  # max_pct 5.0, min_units 20
    p.send(STOCK, release())
    p.send(good(100))
    p.send(scrap(2, minute=3))           # last 40: 2 scrap + 38 good = 5.0 %, at the limit
    assert p.alerts() == []              # (the whole order: 2 of 102 = 2.0 %)
    p.send(scrap(1, minute=4))           # last 40: 3 + 37 good = 7.5 % > 5.0
    [a] = p.alerts()                     # (the whole order, 3 of 103 = 2.9 %, would not)
    assert (a["state"], a["observed"], a["threshold"]) == ("open", 7.5, 5.0)
    assert a["message"] == ("scrap 7.5 % on WO-1 op 10 (3 of the last 40 units);"
                            " limit 5.0 % (work center history: 0 closed orders)")
    p.send(good(37, minute=5))           # last 40: 37 good + the 3 scrap: still 7.5 %
    [a] = p.alerts()
    assert (a["state"], a["observed"], a["last_seen"]) == ("open", 7.5, p.ts(5))
    p.send(good(1, minute=6))            # 38 good + 2 of the 3 scrap = 5.0 %: an open
    [a] = p.alerts()                     # alert clears only below 4.5 %
    assert (a["state"], a["observed"]) == ("open", 5.0)
    p.send(good(1, minute=7))            # 39 good + 1 scrap = 2.5 %: cleared
    [a] = p.alerts()
    assert (a["state"], a["resolved_at"]) == ("resolved", p.ts(7))
    [(counts,)] = p.journal.conn.execute("SELECT counts FROM alert_window").fetchall()
    assert json.loads(counts) == [[10, 3], [0, 39]]  # only what the window still holds
    p.send(("wo_close", 8, {"work_order": "WO-1"}))
    assert p.journal.conn.execute("SELECT count(*) FROM alert_window").fetchone() == (0,)


def test_a_reversed_scrap_leaves_the_window(plant_for):
    p = plant_for(section(scrap_rate={"window_units": 40}))
    p.send(STOCK, release(), good(30), scrap(4))  # 4 of 34 = 11.8 %: open
    assert [a["state"] for a in p.alerts()] == ["open"]
    p.send(("reversal", 3, {"reverses": "e4"}))   # the scrap of 4 taken back: 0 of 30
    [a] = p.alerts()
    assert (a["state"], a["resolution"]) == ("resolved", "scrap back within its limit")


def test_scrap_rate_against_the_work_center_norm(plant_for):
    p = plant_for(section(scrap_rate={"sigma_floor_pct": 0.5}))
    p.send(STOCK)
    # five closed orders of 100 units: 2, 3, 2, 3, 2 % scrap -> norm 2.4 % ± 0.548
    for n, lost in enumerate((2, 3, 2, 3, 2)):
        wo = f"H{n}"
        p.send(release(wo, minute=n), good(100 - lost, wo, n), scrap(lost, wo, n),
               ("wo_close", n, {"work_order": wo}))
    assert p.alerts() == []               # 3 % never above 5 % while there was no norm
    row = p.journal.conn.execute("SELECT n, mean FROM alert_history").fetchone()
    assert row[0] == 5 and round(row[1], 6) == 2.4
    # limit = 2.4 + 3 x 0.5477 = 4.04 %
    p.send(release("WO-6", minute=10), good(96, "WO-6", 11), scrap(4, "WO-6", 11))
    assert p.alerts() == []               # 4 of 100 = 4.0 %
    p.send(scrap(1, "WO-6", 12))          # 5 of 101 = 4.95 %
    [a] = p.alerts()
    assert a["message"] == ("scrap 5.0 % on WO-6 op 10 (5 of 101);"
                            " work center norm 2.4 % ± 0.5, limit 4.0 %")
    assert round(a["threshold"], 3) == 4.043 and round(a["expected"], 6) == 2.4
    p.send(("wo_close", 13, {"work_order": "WO-6"}))
    [a] = p.alerts()
    assert (a["state"], a["resolution"]) == ("resolved", "order closed")


def test_consumption_above_standard(plant_for):
    p = plant_for(section(consumption={"max_pct": 12.5}))
    # F: 1 B per unit, issued; planned 8 -> standard 8 until more than 8 are made
    p.send(("receipt", 0, {"item": "B", "qty": 50, "location": "L2", "unit_price": 1.0}),
           release("WO-F", "F", 8, "WC2"))
    p.send(("issue", 2, {"work_order": "WO-F", "item": "B", "qty": 9, "location": "L2"}))
    assert p.alerts("consumption") == []  # 9 vs 8 = +12.5 %: at the limit
    p.send(("issue", 3, {"work_order": "WO-F", "item": "B", "qty": 0.25, "location": "L2"}))
    [a] = p.alerts("consumption")          # 9.25 vs 8 = +15.6 %
    assert a["message"] == ("B issued 9.25 to WO-F, standard 8 (+15.6 %, limit +12.5 %)")
    assert a["threshold"] == 9.0
    p.send(good(10, "WO-F", 4, "L2"))       # 10 made: standard 10, 9.25 is -7.5 %
    [a] = p.alerts("consumption")
    assert a["state"] == "resolved"


def test_stock_out_when_released_orders_need_more(plant_for):
    p = plant_for()
    p.send(release("WO-S", "S", 10, "WC1"))  # needs 2 A a unit: 20
    p.send(("receipt", 1, {"item": "A", "qty": 15, "location": "L1", "unit_price": 2.0}))
    [a] = p.alerts("stock_out")
    assert a["message"] == "A: 15 available, released orders need 20 more (1 open orders)"
    assert a["severity"] == "warning"
    p.send(good(5, "WO-S", 2))                # 10 A used, 5 left; 5 units left need 10
    [a] = p.alerts("stock_out")
    assert a["state"] == "open" and a["observed"] == 5 and a["expected"] == 10
    p.send(("receipt", 3, {"item": "A", "qty": 5, "location": "L1", "unit_price": 2.0}))
    [a] = p.alerts("stock_out")               # 10 available, 10 needed
    assert a["state"] == "resolved"


def test_stock_out_after_a_reversal_in_the_same_batch(plant_for):
    p = plant_for()
    p.send(release("WO-F", "F", 10, "WC2"),   # issues 1 B a unit: needs 10
           ("receipt", 1, {"item": "B", "qty": 12, "location": "L1", "unit_price": 1.0}),
           ("issue", 2, {"work_order": "WO-F", "item": "B", "qty": 8, "location": "L1"}),
           ("reversal", 3, {"reverses": "e3"}),  # the 8 back: 10 needed again
           ("count", 4, {"item": "B", "location": "L1", "counted_qty": 5}))
    [a] = p.alerts("stock_out")
    assert a["message"] == "B: 5 available, released orders need 10 more (1 open orders)"
    assert a["state"] == "open"


def test_stalled_on_the_timer(plant_for):
    p = plant_for()
    p.send(STOCK, release())
    released = datetime(2026, 11, 20, 8, 1, tzinfo=timezone.utc)
    p.journal.check_alert_timers(released + timedelta(minutes=14, seconds=59))
    assert p.alerts() == []
    p.journal.check_alert_timers(released + timedelta(minutes=15))
    p.journal.check_alert_timers(released + timedelta(minutes=20))
    [a] = p.alerts()
    assert a["key"] == "stalled:WO-1" and a["message"] == (
        "WO-1 on WC1: no count for 20 min (limit 15 min)")
    p.send(good(1, minute=30))
    [a] = p.alerts()
    assert (a["state"], a["resolution"]) == ("resolved", "counts again")


def test_an_acknowledged_alert_stays_the_one_alert(plant_for):
    p = plant_for()
    p.send(STOCK, release(), good(18), scrap(3))
    p.journal.conn.execute("UPDATE alerts SET state='acknowledged', acked_by='ann'")
    p.send(scrap(1, minute=3))
    [a] = p.alerts()
    assert (a["state"], a["acked_by"], a["last_seen"]) == ("acknowledged", "ann", p.ts(3))
