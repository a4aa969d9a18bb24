"""The dashboard in headless Chromium: log in, watch a count rise live, resolve an
exception as supervisor, be refused as viewer, reconcile against an ERP CSV.
Screenshots of every page go to test-artifacts/ for people to look at."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from gateway import schema
from gateway.dashboard import DashboardSettings, DashboardState, create_app
from gateway.metrics import Metrics
from gateway.users import UserStore

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORDS = {"sam": "sam-supervises-1", "vic": "vic-only-looks-1"}


def ago(minutes: float) -> str:
    """A timestamp `minutes` before now, so the pages' "x min ago" read like a live shift."""
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat(timespec="seconds")


def build_plant(path: Path) -> None:
    """A line mid-shift: one running order, stock in three places, three exceptions."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    schema.create(conn)
    with conn:
        for seq, typ in enumerate(["receipt", "receipt", "wo_release", "issue", "completion"], 1):
            conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,NULL)",
                         (seq, f"ev-{seq}", typ, "2026-11-22T06:00:00Z", "plc-assy", "{}",
                          ago(40 - 5 * seq)))
        conn.executemany(  # a line's event id and period are its entry's
            "INSERT INTO entries(entry, event_seq, event_id, ts, period) VALUES (?,?,?,?,?)",
            [(seq, seq, f"ev-{seq}", "2026-11-22T06:00:00Z", "2026-11") for seq in (1, 4, 5)])
        conn.executemany(
            "INSERT INTO journal_lines(entry, event_id, period, account, debit, credit,"
            " work_order, item) VALUES (?,?,?,?,?,?,?,?)",
            [(1, "ev-1", "2026-11", "1310", 2_450_000, 0, None, "STEEL-2MM"),
             (1, "ev-1", "2026-11", "2100", 0, 2_450_000, None, "STEEL-2MM"),
             (4, "ev-4", "2026-11", "1400", 812_550, 0, "WO-1001", "STEEL-2MM"),
             (4, "ev-4", "2026-11", "1310", 0, 812_550, "WO-1001", "STEEL-2MM"),
             (5, "ev-5", "2026-11", "1330", 640_000, 0, "WO-1001", "BRACKET-A"),
             (5, "ev-5", "2026-11", "1400", 0, 640_000, "WO-1001", "BRACKET-A")])
        conn.executemany("INSERT INTO stock VALUES (?,?,?,?,?,?)", [
            ("STEEL-2MM", "RM", "available", "H-2291", 1637.45, 1_637_450),
            ("STEEL-2MM", "RM", "quality", "H-2290", 40.0, 40_000),
            ("BRACKET-A", "FG", "available", "", 320.0, 640_000),
            ("BRACKET-A", "FG", "damaged", "", 6.0, 12_000)])
        conn.executemany("INSERT INTO item_costs VALUES (?,?,?,?,?)", [
            ("STEEL-2MM", "standard", 1677.45, 1_677_450, 10.0),
            ("BRACKET-A", "standard", 326.0, 652_000, 20.0)])
        conn.execute("INSERT INTO work_orders(work_order, item, line, planned, status, good, scrap,"
                     " wip, released_seq) VALUES ('WO-1001','BRACKET-A','WC-ASSY',800,'open',320,7,"
                     "172550,3)")
        conn.execute("INSERT INTO active_orders VALUES ('WC-ASSY','WO-1001',3)")
        conn.executemany(
            "INSERT INTO exceptions(id, created_at, kind, source, event_id, field, reason, raw)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [(1, ago(12), "unassigned_count", "plc-pack", None, "work_order",
              "12 good units on WC-PACK with no active work order",
              json.dumps({"device": "plc-pack", "node": "ns=2;s=Pack.Good", "value": 4512})),
             (2, ago(9), "no_po", "scanner-dock", None, "po",
              "no open PO line for STEEL-2MM", "]C1\x1d0104012345000019\x1d10H-2292"),
             (3, ago(4), "decode_error", "scale-mix", None, None,
              "MT-SICS: unknown response 'S X'", "S X   12.5 kg")])
        conn.executemany(
            "INSERT INTO batches(seq, batch_id, period, created_at, payload, debit, credit, state,"
            " attempts, last_error, acked_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(1, "line1-1", "2026-11", ago(34), "{}", 2_450_000, 2_450_000,
              "acked", 1, None, ago(33.9)),
             (2, "line1-2", "2026-11", ago(21), "{}", 812_550, 812_550,
              "quarantined", 6, "400 Bad Request: unknown cost center WC-ASSY", None)])
    conn.close()


def commit_completions(path: Path, n: int, first_seq: int) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for seq in range(first_seq, first_seq + n):
            conn.execute("INSERT INTO events VALUES (?,?,'completion','2026-11-22T06:30:00Z',"
                         "'plc-assy','{}','2026-11-22T06:30:00Z',NULL)", (seq, f"live-{seq}"))
        conn.execute("UPDATE work_orders SET good = good + ? WHERE work_order='WO-1001'", (n,))
    conn.close()


class Seam:
    """The act seam as the gateway implements it: journal (here: record) and resolve."""

    def __init__(self, db: Path):
        self.db, self.calls = db, []

    def __call__(self, action: str, *, user: str, **kw) -> str:
        self.calls.append((action, user, kw))
        conn = sqlite3.connect(self.db)
        with conn:
            status = "dismissed" if action == "dismiss" else "resolved"
            conn.execute("UPDATE exceptions SET status=?, resolution=?, resolved_by=?,"
                         " resolved_at='2026-11-22T06:40:00Z' WHERE id=?",
                         (status, kw.get("reason") or kw.get("work_order") or kw.get("po"),
                          user, kw["exception_id"]))
        conn.close()
        return f"Exception #{kw['exception_id']} {status}."


def plant_state(tmp_path: Path, devices: list[dict], **settings) -> tuple:
    """The mid-shift plant, its two users and the act seam behind a dashboard state:
    (state, database path, seam)."""
    db = tmp_path / "gateway.db"
    build_plant(db)
    users = UserStore(tmp_path / "users.toml")
    users.add("sam", "supervisor", PASSWORDS["sam"])
    users.add("vic", "viewer", PASSWORDS["vic"])
    seam = Seam(db)
    state = DashboardState(db_path=db, users=users, metrics=Metrics(), devices=lambda: devices,
                           act=seam, settings=DashboardSettings(
                               gateway_id="plant1-line1", sse_interval_s=0.2, **settings))
    return state, db, seam


@pytest.fixture
async def site(tmp_path):
    devices = [
        {"id": "plc-assy", "driver": "opcua", "state": "connected",
         "last_reading_ts": ago(0.05), "readings_per_s": 3.2, "alarms": []},
        {"id": "scale-mix", "driver": "serial_scale", "state": "connected",
         "last_reading_ts": ago(0.3), "readings_per_s": 0.5, "alarms": []},
        {"id": "scanner-dock", "driver": "serial_scanner", "state": "disconnected",
         "last_reading_ts": ago(32), "readings_per_s": 0.0,
         "alarms": ["/dev/ttyUSB1 unplugged"]},
    ]
    state, db, seam = plant_state(tmp_path, devices, secure_cookies=False)
    server = TestServer(create_app(state), host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}", db, seam
    await server.close()


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./setup.sh (apt-get install chromium)")
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


async def log_in(browser, base: str, name: str):
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = await ctx.new_page()
    await page.goto(base + "/")
    assert "/login" in page.url
    await shot(page, "login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORDS[name])
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/")
    return ctx, page


async def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


async def assert_fits(page, width: int = 800) -> None:
    """No horizontal scroll at `width`: the page is no wider than the viewport, naming the
    first elements of main that stick out."""
    wide = await page.evaluate("document.documentElement.scrollWidth")
    culprits = await page.evaluate("""(w) => [...document.querySelectorAll('main *')]
        .filter(e => e.getBoundingClientRect().right > w).slice(0, 3)
        .map(e => e.tagName + '.' + e.className + ' ' + (e.id || ''))""", width)
    assert wide <= width, f"{page.url}: {wide} px wide at a {width} px viewport: {culprits}"


async def test_supervisor_watches_live_counts_resolves_and_reconciles(site, browser):
    from playwright.async_api import expect

    base, db, seam = site
    ctx, page = await log_in(browser, base, "sam")
    await expect(page.locator('[data-live="events"]')).to_have_text("5")
    await expect(page.locator("[data-live-indicator]")).to_have_attribute("data-on", "1")
    await shot(page, "overview")

    commit_completions(db, 4, first_seq=100)  # the line keeps producing
    await expect(page.locator('[data-live="events"]')).to_have_text("9", timeout=10_000)
    await expect(page.locator('[data-live="wo:WO-1001:good"]').first).to_have_text("324")

    await page.click("nav >> text=Work orders")
    await expect(page.locator("#wo-WO-1001 [data-live='wo:WO-1001:good']")).to_have_text("324")
    commit_completions(db, 6, first_seq=200)
    await expect(page.locator("#wo-WO-1001 [data-live='wo:WO-1001:good']")).to_have_text(
        "330", timeout=10_000)
    await expect(page.locator("#wo-WO-1001 [data-live='wo:WO-1001:progress']")).to_have_text("41%")
    await shot(page, "orders")

    await page.click("nav >> text=Stock")
    await expect(page.locator("tr.held").first).to_be_visible()
    await shot(page, "stock")

    await page.click("nav >> text=Exceptions")
    await expect(page.locator("pre.raw").first).to_be_visible()
    await shot(page, "exceptions")
    card = page.locator("#exc-1")
    await card.locator("select[name=work_order]").select_option("WO-1001")
    await card.locator("text=Assign count").click()
    await expect(page.locator(".flash-ok")).to_have_text("Exception #1 resolved.")
    await expect(page.locator("#exc-1")).to_have_count(0)
    await page.locator("#exc-3 input[name=reason]").fill("scale recalibrated, frame was noise")
    await page.locator("#exc-3 >> text=Dismiss").click()
    await expect(page.locator(".flash-ok")).to_have_text("Exception #3 dismissed.")
    await expect(page.locator('nav [data-live="exceptions_open"]')).to_have_text("1", timeout=10_000)
    await expect(page.locator(".stale")).to_be_hidden()
    conn = sqlite3.connect(db)  # a new problem arrives while the supervisor looks
    with conn:
        conn.execute("INSERT INTO exceptions(created_at, kind, source, reason, raw)"
                     " VALUES (?, 'rejected', 'manual', ?, ?)",
                     (ago(0), "unknown item 'BRKT-X'", '{"item": "BRKT-X"}'))
    conn.close()
    await expect(page.locator(".stale")).to_be_visible(timeout=10_000)
    await page.click(".stale >> text=Refresh")
    await expect(page.locator("text=unknown item 'BRKT-X'")).to_be_visible()
    assert seam.calls == [("assign_count", "sam", {"exception_id": 1, "work_order": "WO-1001"}),
                          ("dismiss", "sam", {"exception_id": 3,
                                              "reason": "scale recalibrated, frame was noise"})]

    await page.click("nav >> text=Ledger")
    await expect(page.locator("text=line1-2").first).to_be_visible()
    await shot(page, "ledger")

    await page.click("nav >> text=Reconciliation")
    await page.set_input_files("input[name=erp]", files=[{
        "name": "erp-2026-11-22.csv", "mimeType": "text/csv",
        "buffer": b"sku,category,qty\nSTEEL-2MM,available,1650\nSTEEL-2MM,unavailable,40\n"
                  b"BRACKET-A,available,310\nBRACKET-A,unavailable,6\n"}])
    await page.click("button:has-text('Reconcile')")
    rows = page.locator("#reconcile-report tbody tr")
    await expect(rows).to_have_count(2)
    # STEEL: 1637.45 − 1650 = −12.55 × 10.00 = −125.50; BRACKET: +10 × 20.00 = +200.00
    assert (await rows.nth(0).locator("td").all_inner_texts())[:6] == [
        "BRACKET-A", "available", "310", "320", "10", "+200.00"]
    assert (await rows.nth(1).locator("td").all_inner_texts())[:6] == [
        "STEEL-2MM", "available", "1,650", "1,637.45", "\u221212.55", "\u2212125.50"]
    async with page.expect_download() as info:
        await page.click("text=Download CSV")
    download = await info.value
    text = Path(await download.path()).read_text()
    assert text.splitlines()[1:] == ["BRACKET-A,available,310.0,320.0,10.0,200.00,+",
                                     "STEEL-2MM,available,1650.0,1637.45,-12.55,-125.50,-"]
    await shot(page, "reconcile")
    await ctx.close()


async def test_viewer_sees_but_is_refused(site, browser):
    base, db, seam = site
    ctx, page = await log_in(browser, base, "vic")
    await page.goto(base + "/exceptions")
    assert await page.locator("form[action$='/dismiss']").count() == 0
    await shot(page, "exceptions-viewer")
    await page.set_viewport_size({"width": 800, "height": 1280})  # a tablet, portrait
    await page.goto(base + "/orders")
    await shot(page, "orders-tablet")
    # Forge the POST a supervisor's form would send, with this session's own token.
    token = await page.locator("input[name=csrf]").first.get_attribute("value")
    status = await page.evaluate(
        """async (token) => {
             const body = new URLSearchParams({csrf: token, reason: "viewer tries"});
             const r = await fetch("/exceptions/3/dismiss", {method: "POST", body});
             return [r.status, await r.text()];
           }""", token)
    assert status[0] == 403 and "vic is a viewer" in status[1]
    assert seam.calls == []
    await ctx.close()
