"""The alert book's reads of open alerts go through an index, whatever the journal holds:
a scan of every open alert costs milliseconds a commit once a history has thousands."""

from __future__ import annotations

from tests.gateway.alerts.conftest import section
from tests.gateway.alerts.test_margin import F_STOCK, ship
from tests.gateway.alerts.test_rules import STOCK, good, release, scrap


def test_every_read_of_open_alerts_searches_an_index(plant_for):
    p = plant_for(section(margin={"min_pct": 25}))
    p.send(STOCK, F_STOCK, release())
    reads: list[str] = []
    p.journal.conn.set_trace_callback(
        lambda sql: reads.append(sql) if "FROM alerts WHERE" in sql else None)
    p.send(good(18), scrap(1), ship(80.0, minute=3))  # orders, stock and margin rules read
    p.journal.conn.set_trace_callback(None)
    assert any("work_order IN" in sql for sql in reads)  # the rules' two kinds of read
    assert any("subject IN" in sql for sql in reads)
    for sql in reads:
        plan = " ".join(row[-1] for row in p.journal.conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SEARCH alerts USING INDEX alerts_open_" in plan, (sql, plan)
