"""Views per role: where each lands after login, what its navigation lists, what it may
do. A supervisor lands on the lines and sees exceptions next; a controller lands on
ledger, variances and margin and may act like a supervisor; a viewer acts on nothing."""

from __future__ import annotations

import re

import pytest

CONTROLLER_PASSWORD = "controller-pass-1"


def nav(html: str) -> list[str]:
    block = re.search(r'<nav class="nav">(.*?)</nav>', html, re.S).group(1)
    return [" ".join(re.sub(r"<[^>]+>", " ", a).split())
            for a in re.findall(r"<a [^>]*>(.*?)</a>", block, re.S)]


@pytest.fixture
async def as_role(dashboard):
    async def start(name: str):
        d = await dashboard()
        if name == "cleo":
            d.state.users.add("cleo", "controller", CONTROLLER_PASSWORD)
        resp = await d.login(name, CONTROLLER_PASSWORD if name == "cleo" else None)
        assert resp.status == 303
        return d, resp.headers["Location"]
    return start


async def test_supervisor_lands_on_the_lines_with_exceptions_next(as_role):
    d, landing = await as_role("sam")
    assert landing == "/"
    html = await (await d.client.get(landing)).text()
    assert nav(html)[:3] == ["Overview", "Exceptions", "Alerts"]
    assert "Audit" in nav(html)
    assert "Running on the lines" in html
    assert (await d.post("/exceptions/3/dismiss", {"reason": "noise"},
                         token=await d.csrf("/exceptions"))).status == 303


async def test_controller_lands_on_ledger_variances_and_margin_and_may_act(as_role):
    d, landing = await as_role("cleo")
    assert landing == "/money"
    resp = await d.client.get(landing)
    html = await resp.text()
    assert resp.status == 200
    assert nav(html)[:2] == ["Variances &amp; margin", "Ledger"]
    # the sample plant's closed WO-0: usage +12.34, price -5.67, labor +8.90, overhead 0
    variances = re.search(r'id="variances">(.*?)</section>', html, re.S).group(1)
    assert re.findall(r'class="num[^"]*">([^<]+)</td>', variances) == [
        "+12.34", "\u22125.67", "+8.90", "0.00"]
    assert re.search(r'data-live="tb">balanced<', html)
    assert "Nothing shipped yet." in html
    assert (await d.client.get("/audit")).status == 200
    assert "/ledger/batches/2/retry" in await (await d.client.get("/ledger")).text()
    exceptions = await (await d.client.get("/exceptions")).text()
    assert "/exceptions/3/dismiss" in exceptions and "You are logged in as a viewer" not in exceptions
    resp = await d.post("/exceptions/3/dismiss", {"reason": "noise"},
                        token=await d.csrf("/exceptions"))
    assert resp.status == 303
    assert d.state.act.calls[-1] == ("dismiss", {"user": "cleo", "exception_id": 3,
                                                 "reason": "noise"})


async def test_a_page_asked_for_wins_over_the_landing_page(as_role, dashboard):
    d = await dashboard()
    token = await d.csrf("/login")
    resp = await d.client.post("/login", data={"csrf": token, "name": "sam", "next": "/stock",
                                               "password": "supervisor-pass-1"},
                               headers={"Origin": d.origin}, allow_redirects=False)
    assert resp.headers["Location"] == "/stock"


async def test_viewer_sees_without_acting_and_without_the_audit_log(as_role):
    d, landing = await as_role("vic")
    assert landing == "/"
    html = await (await d.client.get("/")).text()
    assert "Audit" not in nav(html) and "Overview" in nav(html)
    assert (await d.client.get("/audit")).status == 403
    assert "/retry" not in await (await d.client.get("/ledger")).text()
    assert (await d.client.get("/money")).status == 200
    resp = await d.post("/exceptions/3/dismiss", {"reason": "noise"},
                        token=await d.csrf("/exceptions"))
    assert resp.status == 403
    assert d.state.act.calls == []
