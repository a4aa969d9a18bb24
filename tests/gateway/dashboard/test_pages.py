"""Each page shows the numbers that are in the database, formatted for people."""

from __future__ import annotations

import re
import sqlite3

import pytest


async def page(d, path: str) -> str:
    resp = await d.client.get(path)
    assert resp.status == 200, path
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
    return await resp.text()


def cells(html: str) -> list[str]:
    """Text of every table cell, tags stripped, whitespace collapsed."""
    found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in found]


@pytest.fixture
async def viewer(dashboard):
    d = await dashboard()
    assert (await d.login("vic")).status == 303
    return d


async def test_overview(viewer):
    html = await page(viewer, "/")
    assert re.search(r'data-live="events">3<', html)
    assert re.search(r'data-live="exceptions_open">3<', html)
    assert re.search(r'data-live="wip_total">456\.78<', html)  # open WO-1 only
    assert re.search(r'data-live="stock_value">12,238\.22<', html)
    assert re.search(r'data-live="outbox_depth">2<', html)  # pending + quarantined
    c = cells(html)
    assert ["plc-assy", "opcua", "connected"] == c[c.index("plc-assy"):c.index("plc-assy") + 3]
    assert "4.5" in c and "port /dev/ttyUSB0 gone" in c and "never" in c
    # why a device is down, next to when it last read something
    i = c.index("scale-mix")
    assert c[i + 3:i + 6] == ["never", "0.0", "/dev/ttyUSB0: open failed: no such file"], c
    assert "WO-1" in c and "120" in c  # running on WC-ASSY with 120 good
    assert "completion" in html and "plc-assy-good-7" not in c  # recent events by type


async def test_work_orders(viewer):
    html = await page(viewer, "/orders")
    wo1 = html[html.index('id="wo-WO-1"'):html.index('id="wo-WO-0"')]
    assert re.search(r'wo:WO-1:good">120<', wo1) and re.search(r'wo:WO-1:scrap">4<', wo1)
    assert re.search(r'wo:WO-1:wip">456\.78<', wo1)
    assert ">3,456.78<" in wo1  # charged: debits to WIP account 1400 for WO-1
    assert ">3,000.00<" in wo1  # standard of good output: 120 × 25.00
    assert ">+456.78<" in wo1  # variance so far = 3,456.78 − 3,000.00
    assert '<svg class="bar"' in wo1 and 'width="24.0"' in wo1  # 120 of 500 planned
    assert re.search(r'wo:WO-1:progress">24%<', wo1)
    wo0 = html[html.index('id="wo-WO-0"'):]
    assert ">+15.57<" in wo0  # closed: the four variances sum 12.34 − 5.67 + 8.90
    assert cells(wo0)[-4:] == ["+12.34", "\u22125.67", "+8.90", "0.00"]


async def test_stock(viewer):
    html = await page(viewer, "/stock")
    c = cells(html)
    i = c.index("L1")
    assert c[i - 1:i + 4] == ["RAW-STEEL", "L1", "available", "904.5", "9,043.22"]
    assert re.search(r'<tr class="held">\s*<td class="strong"><a class="item-link" href="/items/RAW-STEEL">RAW-STEEL</a></td><td>L2</td>', html)
    assert html.count('<tr class="held">') == 2 + 2  # two held lines + two held statuses
    assert ">195.00<" in html  # on hold: 120.00 quality + 75.00 damaged
    assert "12,238.22" in html


async def test_exceptions_show_the_raw_input_escaped(viewer):
    html = await page(viewer, "/exceptions")
    assert "count of 5 on WC-PACK with no active work order" in html
    assert "{&#34;node&#34;: &#34;ns=2;s=Pack.Good&#34;, &#34;value&#34;: 5}" in html
    assert ("]C1<span class=\"ctl\">GS</span>0109501101530003<span class=\"ctl\">GS</span>3103000125"
            in html)  # the GS separators are shown, not swallowed
    assert "bad Toledo checksum 0x41" in html
    assert (await viewer.client.get("/exceptions?status=bogus")).status == 400


async def test_ledger(viewer):
    html = await page(viewer, "/ledger")
    c = cells(html)
    i = c.index("1310")
    assert c[i:i + 4] == ["1310", "12,500.00", "3,456.78", "9,043.22"]
    i = c.index("2100 Goods received not invoiced")  # the chart of accounts' name
    assert c[i:i + 4] == ["2100 Goods received not invoiced", "0.00", "12,500.00", "\u221212,500.00"]
    assert ["Total", "18,956.78", "18,956.78", "balanced"] == c[c.index("Total"):c.index("Total") + 4]
    assert "plant1-line1-2" in c and "422 Unprocessable Entity: account 1400 is closed" in c
    assert re.search(r'data-live="outbox_quarantined">1<', html)
    assert re.search(r'data-live="unbatched_lines">2<', html)  # entry 3 not yet batched
    assert "Retry" not in html  # a viewer sees the quarantine, not the button


async def test_pages_say_so_when_the_database_is_missing(viewer, db_path):
    db_path.unlink()
    for p in ("-wal", "-shm"):
        db_path.with_name(db_path.name + p).unlink(missing_ok=True)
    resp = await viewer.client.get("/ledger")
    assert resp.status == 503 and "does not exist yet" in await resp.text()


async def test_the_dashboard_reads_through_a_read_only_connection(viewer):
    conn = viewer.state.db.connect()
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM events")
    finally:
        conn.close()


async def test_a_database_without_tables_yet_is_a_503_not_a_crash(viewer, db_path):
    import sqlite3 as sq

    db_path.unlink()
    for p in ("-wal", "-shm"):
        db_path.with_name(db_path.name + p).unlink(missing_ok=True)
    sq.connect(db_path).close()  # the file exists, the schema does not
    resp = await viewer.client.get("/orders")
    assert resp.status == 503 and "no such table: work_orders" in await resp.text()


async def test_an_exception_seen_many_times_shows_its_count_and_last_time(viewer, db_path):
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE exceptions SET occurrences=17, last_seen='2026-11-22T03:40:00Z'"
                     " WHERE id=3")
    html = await page(viewer, "/exceptions")
    card = html[html.index('id="exc-3"'):]
    card = card[:card.index("</article>")]
    assert re.search(r"17 times, last [^<]*03:40", card), card
    assert "times, last" not in html[html.index('id="exc-1"'):][:html[html.index('id="exc-1"'):].index("</article>")]
