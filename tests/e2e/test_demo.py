"""`gateway demo` as a new user runs it: one command, a URL, a login page, live numbers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from simulators.plc import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _readings_total(url: str) -> float:
    text = urllib.request.urlopen(url + "metrics", timeout=5).read().decode()
    return sum(float(v) for v in re.findall(r'^gateway_readings_total\{[^}]*\} (\S+)$', text,
                                            flags=re.M))


def test_demo_prints_url_serves_login_and_counts_rise():
    port = free_port()
    with subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--port", str(port),
                           "--tick", "0.2"], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        code = _drive(proc, port)
    assert code == 0


def _drive(proc: subprocess.Popen, port: int) -> int:
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"demo exited early: {proc.stderr.read()}"
            if re.fullmatch(r"http://127\.0\.0\.1:\d+/\n", line):
                url = line.strip()
        assert url == f"http://127.0.0.1:{port}/"
        books = None
        while books is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"demo exited early: {proc.stderr.read()}"
            m = re.fullmatch(r"  gateway trial-balance -c (\S+)   .*\n", line)
            books = m and m.group(1)

        # Every page wants a login; the login page is what a new user meets.
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(url, timeout=5)
            raise AssertionError("/ answered without a login")
        except urllib.error.HTTPError as exc:
            assert exc.code in (302, 303) and "/login" in exc.headers["Location"]
        page = urllib.request.urlopen(url + "login", timeout=5).read().decode()
        assert 'type="password"' in page

        # Live production within 30 s, and still rising after that.
        first = _readings_total(url)
        deadline = time.monotonic() + 30
        while (first := _readings_total(url)) == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)
        second = _readings_total(url)
        assert second > first > 0, (first, second)

        # The command the demo printed reads the books the dashboard shows.
        tb = subprocess.run([sys.executable, "-m", "gateway", "journal", "-c", books,
                             "--format", "jsonl"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
        assert tb.returncode == 0 and tb.stdout.strip(), tb.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("demo did not stop on Ctrl-C within 30 s")
    assert code == 0, proc.stderr.read()
    return code
