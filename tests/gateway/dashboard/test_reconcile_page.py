"""Reconciliation page: upload an ERP CSV, read the report (largest |value| first),
download it as CSV; bad files are refused line by line with the raw text."""

from __future__ import annotations

import csv
import io

import aiohttp
import pytest


ERP = ("sku,category,qty\n"
       "RAW-STEEL,available,900\n"      # gateway 904.5 → +4.5 × 10.00 = +45.00
       "RAW-STEEL,unavailable,12\n"     # in sync
       "FG-BRACKET,available,130\n")    # gateway 120 → −10 × 25.00 = −250.00
# FG-BRACKET unavailable is missing in the ERP: gateway 3 damaged → +75.00


async def upload(d, token: str, text: str, name: str = "erp.csv"):
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("erp", text.encode(), filename=name, content_type="text/csv")
    return await d.client.post("/reconcile", data=form, headers={"Origin": d.origin},
                               allow_redirects=False)


@pytest.fixture
async def sam(dashboard):
    d = await dashboard()
    assert (await d.login("sam")).status == 303
    return d, await d.csrf("/reconcile")


async def test_upload_shows_the_report_and_downloads_it(sam):
    d, token = sam
    resp = await upload(d, token, ERP)
    assert resp.status == 303 and resp.headers["Location"] == "/reconcile"
    html = await (await d.client.get("/reconcile")).text()
    assert "3 rows out of sync" in html
    body = html[html.index('id="reconcile-report"'):]
    order = [body.index(s) for s in (">\u2212250.00<", ">+75.00<", ">+45.00<")]
    assert order == sorted(order)  # largest |value| first
    assert "gateway lower" in body and "gateway higher" in body
    assert ">\u2212130.00<" in body  # net: −250 + 75 + 45
    download = await d.client.get("/reconcile/report.csv")
    assert download.status == 200
    assert download.headers["Content-Disposition"].startswith('attachment; filename="reconciliation-')
    rows = list(csv.DictReader(io.StringIO(await download.text())))
    assert [(r["sku"], r["category"], r["diff_value"], r["direction"]) for r in rows] == [
        ("FG-BRACKET", "available", "-250.00", "-"),
        ("FG-BRACKET", "unavailable", "75.00", "+"),
        ("RAW-STEEL", "available", "45.00", "+")]
    assert float(rows[2]["diff_qty"]) == 4.5 and float(rows[2]["gateway_qty"]) == 904.5


async def test_a_bad_file_is_refused_line_by_line(sam):
    d, token = sam
    resp = await upload(d, token, "sku,category,qty\nRAW-STEEL,availble,900\nFG,available,ten\n",
                        name="march.csv")
    assert resp.status == 400
    html = await resp.text()
    assert "march.csv: line 2: category: &#39;availble&#39; is not one of available, unavailable" in html
    assert "march.csv: line 3: qty: &#39;ten&#39; is not a number: &#39;FG,available,ten&#39;" in html
    assert "rows out of sync" not in html


async def test_no_file_and_no_report_yet(sam):
    d, token = sam
    assert (await d.client.get("/reconcile/report.csv")).status == 404
    resp = await d.post("/reconcile", {}, token=token)
    assert resp.status == 400 and "erp: no file uploaded" in await resp.text()
