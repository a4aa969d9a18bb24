"""The dashboard over TLS in headless Chromium, which trusts the test server's key alone
(pinned by its SPKI hash; without the pin it refuses the test CA with
ERR_CERT_AUTHORITY_INVALID): log in with a Secure, HttpOnly cookie, get HSTS, watch a
count rise over the live stream, and see a device reason full of markup shown as text,
with no script run and no element injected."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.dashboard import create_app
from gateway.tls import server_context
from simulators.certs import make_tls
from tests.e2e.test_dashboard_browser import (ARGS, CHROMIUM, PASSWORDS, commit_completions,
                                              plant_state, shot)

pytestmark = pytest.mark.browser

MARKUP = '<script>alert("reason")</script>"><img src=x onerror=alert(2)>'


def spki_pin(cert_file: Path) -> str:
    """base64(sha256(SubjectPublicKeyInfo)): the form Chromium's pin list takes."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture
async def tls_site(tmp_path):
    devices = [{"id": "scanner-dock", "driver": "serial_scanner", "state": "down",
                "last_reading_ts": None, "readings_per_s": 0.0, "alarms": [MARKUP],
                "reason": MARKUP}]
    state, db, _ = plant_state(tmp_path, devices, secure_cookies=True)
    tls = make_tls(tmp_path / "tls")
    runner = web.AppRunner(create_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0,
                       ssl_context=server_context(str(tls.server.cert), str(tls.server.key)))
    await site.start()
    try:
        yield f"https://localhost:{runner.addresses[0][1]}", db, spki_pin(Path(tls.server.cert))
    finally:
        await runner.cleanup()


async def test_tls_dashboard_in_chromium_logs_in_streams_and_shows_markup_as_text(tls_site):
    from playwright.async_api import async_playwright, expect

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./setup.sh (apt-get install chromium)")
    base, db, pin = tls_site
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=[*ARGS, f"--ignore-certificate-errors-spki-list={pin}"])
        try:
            ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await ctx.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            first = await page.goto(base + "/login")
            assert first.status == 200
            assert first.headers["strict-transport-security"] == "max-age=31536000"
            assert await page.evaluate("location.protocol") == "https:"
            await page.fill("input[name=name]", "sam")
            await page.fill("input[name=password]", PASSWORDS["sam"])
            await page.click("button[type=submit]")
            await page.wait_for_url(base + "/")
            [cookie] = [c for c in await ctx.cookies() if c["name"] == "gw_session"]
            assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] in ("Strict",
                                                                                     "Lax")

            # The live stream runs over TLS as well.
            await expect(page.locator('[data-live="events"]')).to_have_text("5")
            commit_completions(db, 3, first_seq=100)
            await expect(page.locator('[data-live="events"]')).to_have_text("8", timeout=10_000)

            # Markup in a device's reason and alarm: text on the page, nothing run or built.
            reason = page.locator('[data-live="dev:scanner-dock:reason"]')
            await expect(reason).to_have_text(MARKUP)
            await expect(page.locator('[data-live="dev:scanner-dock:alarms"]')).to_have_text(
                MARKUP)
            assert await page.locator("main img, main script").count() == 0
            await page.wait_for_timeout(500)  # a live update repaints the cells meanwhile
            assert dialogs == []
            await shot(page, "overview-tls")
        finally:
            await browser.close()
