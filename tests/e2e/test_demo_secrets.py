"""No configured secret leaks from a full `gateway demo` run: the broker password, the
dashboard users' passwords and a session id are searched for in the logs, in every file
of the scratch folder (the journal database and its WAL, the broker's log), in `/metrics`,
in the live stream and in every dashboard page reachable from the overview."""

from __future__ import annotations

import html
import http.cookiejar
import os
import pathlib
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from gateway.commands.demo import LOGINS
from simulators.plc import free_port
from tests.e2e.procs import reaped
from tests.e2e.test_demo import ROOT, _readings_total

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
HREF_RE = re.compile(r'href="(/[^"#]*)"')
PAGES_MAX = 150


def _hits(text: str, secrets_: dict[str, str]) -> list[str]:
    return [name for name, value in secrets_.items() if value in text]


class _Browser:
    """A urllib client with cookies, CSRF-aware login and no redirect following."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, limit: int | None = None) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=10) as resp:
                return resp.status, resp.read(limit or -1).decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def login(self, name: str, password: str) -> int:
        _, page = self.get("/login")
        token = html.unescape(CSRF_RE.search(page).group(1))
        body = urllib.parse.urlencode({"csrf": token, "name": name, "password": password,
                                       "next": "/"}).encode()
        req = urllib.request.Request(self.base + "/login", data=body,
                                     headers={"Origin": self.base})
        try:
            with self.opener.open(req, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def session_id(self) -> str:
        [sid] = [c.value for c in self.jar if c.value and "session" in c.name.lower()]
        return sid

    def crawl(self) -> dict[str, str]:
        """Every same-origin page reachable from the overview (bounded), by path."""
        seen: dict[str, str] = {}
        todo = ["/"]
        while todo and len(seen) < PAGES_MAX:
            path = todo.pop(0)
            if path in seen:
                continue
            status, text = self.get(path)
            assert status < 500, f"{path}: {status}\n{text[:500]}"
            seen[path] = text
            for link in HREF_RE.findall(text):
                link = html.unescape(link)
                if link.startswith("/static/") or link in seen or link == "/logout":
                    continue
                todo.append(link)
        return seen


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_no_secret_in_logs_database_metrics_or_any_page_of_a_demo_run(tmp_path):
    port = free_port()
    broker_password = "mqtt-" + secrets.token_urlsafe(12)
    typed_into_name = "oops-" + secrets.token_urlsafe(9)  # a password typed as the name
    wrong_password = "wrong-" + secrets.token_urlsafe(9)
    env = {**os.environ, "GATEWAY_DEMO_MQTT_PASSWORD": broker_password,
           "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--port", str(port),
                             "--tick", "0.2", "--keep"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(proc):
        banner: list[str] = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("Scratch folder: ") for line in banner):
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, \
                f"demo exited early: {banner} {proc.stderr.read()}"
            banner.append(line.rstrip("\n"))
        [folder] = [line.split(": ", 1)[1] for line in banner if line.startswith("Scratch")]
        url = f"http://127.0.0.1:{port}/"
        while _readings_total(url) == 0:
            assert time.monotonic() < deadline, "no readings within 60 s"
            time.sleep(0.5)

        hostile = _Browser(url)
        assert hostile.login(typed_into_name, LOGINS[0][2]) == 401
        assert hostile.login(LOGINS[0][0], wrong_password) == 401
        browser = _Browser(url)
        assert browser.login(LOGINS[0][0], LOGINS[0][2]) == 200  # redirected to /
        sid = browser.session_id()
        secrets_ = {"broker password": broker_password, "session id": sid,
                    "password typed as a name": typed_into_name,
                    "wrong password": wrong_password,
                    **{f"{name} password": pw for name, _, pw in LOGINS}}

        pages = browser.crawl()
        assert len(pages) >= 20, sorted(pages)
        assert {"/", "/orders", "/stock", "/alerts", "/exceptions", "/ledger",
                "/audit"} <= set(pages), sorted(pages)
        assert any(p.startswith("/orders/") for p in pages), sorted(pages)
        leaks = {path: _hits(text, secrets_) for path, text in pages.items()}
        assert not {p: h for p, h in leaks.items() if h}, leaks
        status, metrics = browser.get("/metrics")
        assert status == 200 and "gateway_readings_total" in metrics
        assert not _hits(metrics, secrets_)
        status, stream = browser.get("/events", limit=512)
        assert status == 200 and "data:" in stream
        assert not _hits(stream, secrets_)

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        out, err = proc.stdout.read(), proc.stderr.read()

    assert "login failed" in err  # the failed logins were logged, and the test saw the log
    assert not _hits(err, secrets_), err
    # The demo prints its own logins on purpose, on the one banner line; nothing else.
    printed = [line for line in [*banner, *out.splitlines()] if _hits(line, secrets_)]
    assert [line for line in printed if not line.startswith("Login: ")] == [], printed
    files = [p for p in pathlib.Path(folder).rglob("*") if p.is_file()]
    assert any(p.name == "demo.db" for p in files), files
    assert any(p.name == "mosquitto.log" for p in files), files
    for path in files:
        data = path.read_bytes()
        hits = [name for name, value in secrets_.items() if value.encode() in data]
        assert not hits, f"{path}: {hits}"
