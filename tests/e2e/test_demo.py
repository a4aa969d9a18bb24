"""`gateway demo` as a new user runs it: one command, a URL, a login page, live numbers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import nats
import nats.js.errors

from gateway.plant.config import load_plant_config
from simulators.plc import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _readings_total(url: str) -> float:
    text = urllib.request.urlopen(url + "metrics", timeout=5).read().decode()
    return sum(float(v) for v in re.findall(r'^gateway_readings_total\{[^}]*\} (\S+)$', text,
                                            flags=re.M))


def _alert_deliveries(db: str) -> dict:
    """The MQTT alert route's rows by state, and the errors it met (read-only)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute("SELECT state, last_error FROM alert_deliveries"
                            " WHERE route = '0:mqtt'").fetchall()
    out: dict = {"errors": sorted({e for _, e in rows if e})}
    for state, _ in rows:
        out[state] = out.get(state, 0) + 1
    return out


def _count(db: str, query: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute(query).fetchone()[0]


def test_demo_prints_url_serves_login_and_counts_rise():
    port = free_port()
    with subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--port", str(port),
                           "--tick", "0.2"], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        code = _drive(proc, port)
    assert code == 0


def _drive(proc: subprocess.Popen, port: int) -> int:
    books = ""
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

        # The trouble moment's alerts leave on the demo broker's plant/alerts (the broker
        # took them: a row is 'sent' only on its PUBACK), none refused or failing.
        db = os.path.join(os.path.dirname(books), "demo.db")
        deadline = time.monotonic() + 60
        while not (routed := _alert_deliveries(db)).get("sent") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert routed.get("sent") and not routed.get("rejected"), routed
        assert not routed.get("errors"), routed

        # A work-order scan at the mixing station is an event like the others: replay of
        # the live journal, scans included, rebuilds the same books and active orders.
        deadline = time.monotonic() + 60
        while not _count(db, "SELECT count(*) FROM events WHERE type = 'wo_start'") and \
                time.monotonic() < deadline:
            time.sleep(0.5)
        assert _count(db, "SELECT count(*) FROM events WHERE type = 'wo_start'")
        rp = subprocess.run([sys.executable, "-m", "gateway", "replay", "-c", books], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
        assert rp.returncode == 0 and "replay identical" in rp.stdout, rp.stdout + rp.stderr

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
    rest, console = proc.stdout.read(), proc.stderr.read()
    assert code == 0, console
    # Stopped, it says where its books went: the scratch folder named in the command it
    # printed is gone, and --keep is how to keep it.
    folder = os.path.dirname(books)
    assert rest.splitlines()[-2:] == [
        f"demo stopped. Its scratch folder {folder} (journal, broker store, users file) "
        "was removed with its books;",
        "  gateway demo --keep keeps them, for reports after the demo."], rest
    assert not os.path.exists(folder)
    # The console holds our lines only (timestamp, level, our logger: message); the
    # libraries' expected warnings about the deliberately open demo are dropped.
    ours = re.compile(r"\d{4}-\d\d-\d\d [\d:,]+ (INFO|WARNING|ERROR) (gateway|drivers)[\w.]*: ")
    assert all(ours.match(line) for line in console.splitlines()), console
    return code


def test_demo_with_nats_upstream_publishes_batches_to_its_own_jetstream():
    port = free_port()
    with subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--port", str(port),
                           "--tick", "0.2", "--upstream", "nats"], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            said = _lines_until(proc, r"Ctrl-C stops everything.*\n")
            url, stream, subject = re.search(
                r"^Upstream: NATS JetStream (nats://\S+), stream (\S+), subject (\S+)$",
                said, flags=re.M).groups()
            plant = re.search(r"gateway consolidate -c (\S+)$", said, flags=re.M).group(1)
            assert (stream, subject) == ("GL", "gl.demo.demo-line")
            cfg = load_plant_config(plant)     # the plant.toml it wrote is one the
            assert cfg.nats.servers == [url]   # consolidator takes, for this stream
            assert (cfg.nats.stream, cfg.plant.gateways) == ("GL", ["demo-line"])
            first = asyncio.run(_first_batch(url, stream, timeout=45))
            assert first.subject == subject
            assert json.loads(first.data)["batch_id"] == "demo-line-1"
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=30)
    assert code == 0, proc.stderr.read()


def _lines_until(proc: subprocess.Popen, pattern: str, timeout: float = 60) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, f"demo exited early: {proc.stderr.read()}"
        seen += line
        if re.fullmatch(pattern, line):
            return seen
    raise AssertionError(f"demo did not say {pattern!r} within {timeout} s:\n{seen}")


async def _first_batch(url: str, stream: str, timeout: float):
    deadline = time.monotonic() + timeout
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        while True:
            try:
                return await js.get_msg(stream, 1)
            except nats.js.errors.NotFoundError:   # no stream yet, or no batch in it yet
                assert time.monotonic() < deadline, f"no batch in stream {stream} in {timeout} s"
                await asyncio.sleep(0.5)
    finally:
        await nc.close()


def test_a_kept_demo_says_how_to_report_on_the_books_it_kept(tmp_path):
    from gateway.commands.demo import exit_hint, write_config

    books = write_config(tmp_path, 8080)  # the gateway.toml the demo writes, journal inside
    hint = exit_hint(tmp_path, keep=True)
    assert hint[0] == f"demo stopped. Its books are kept in {tmp_path}; reports on them:"
    assert hint[1].startswith(f"  gateway trial-balance -c {books}   ")
    assert hint[2] == f"Remove the folder when done: rm -r {tmp_path}"
    assert f'db = "{tmp_path / "demo.db"}"' in books.read_text()
