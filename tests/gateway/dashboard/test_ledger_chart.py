"""The ledger's WIP and inventory value over the day, on the hand-made trace stream
(tests/gateway/trace_plant.py: ten events ten minutes apart from 08:00)."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.gateway import trace_plant

from .test_pages import page

INVENTORY = ("1310", "1320", "1330")


@pytest.fixture
def db_path(tmp_path):
    trace_plant.build(tmp_path)
    return tmp_path / "var" / "gateway.db"


async def test_wip_and_inventory_value_per_quarter_hour(dashboard, db_path):
    d = await dashboard(wip_account="1400", inventory_accounts=INVENTORY)
    await d.login("vic")
    html = await page(d, "/ledger")
    chart = html[html.index('id="chart-values"'):]
    chart = chart[:chart.index("</section>")]
    # postings at 08:00 08:10 | 08:20 | 08:40 | 09:00 09:10 | 09:20 | 09:30: six quarters
    stock = re.findall(r'class="pt pt-stock"[^>]*><title>([^<]*)<', chart)
    wip = re.findall(r'class="pt pt-wip"[^>]*><title>([^<]*)<', chart)
    assert [t.split(":")[0] + ":" + t.split(":")[1] for t in stock] == [
        "11/20 08:00", "11/20 08:15", "11/20 08:30", "11/20 09:00", "11/20 09:15", "11/20 09:30"]
    assert len(wip) == 6 and wip[-1].endswith("wip 0.00")  # WO-S done even, WO-F closed
    conn = sqlite3.connect(db_path)
    (on_hand,) = conn.execute("SELECT sum(debit - credit) FROM journal_lines WHERE account IN"
                              " ('1310', '1320', '1330')").fetchone()
    conn.close()
    assert stock[-1].endswith(f"stock {on_hand // 100:,}.{on_hand % 100:02d}")
    assert stock[0].endswith("stock 260.00")  # 100 A at 2.00 (standard) + 50 B at 1.20
    # 09:00, WO-F: 5 F relieved at 61.50 ahead of their WC3 labor (5 x 0.5 h x 80 = 200.00,
    # never reported) with B issued at 1.20 against 1.00 standard (+1.00): -199.00
    assert wip[3].endswith("wip \u2212199.00")
