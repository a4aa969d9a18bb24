"""Hostile producers through the real `gateway ingest`: every bad line is kept in the
exceptions table with a reason, every valid line around it is applied, the books balance
and no figure goes beyond what int64 money holds."""

from __future__ import annotations

import collections
import json
import sqlite3

import pytest

from tests.gateway.plant import GATEWAY_TOML, ev, gateway, write_events, write_plant
from tests.e2e.test_run_mqtt import MQTT as RUN_MQTT
from tests.support.mosquitto import mosquitto, mosquitto_tls_files  # noqa: F401 (fixtures)

TS = "2026-11-20T08:00:00Z"


def receipt(id_: str, **over) -> dict:
    return {**ev(id_, "receipt", item="A", qty=10, location="RM", unit_price=2.10,
                 po="PO-1"), **over}


def labor(id_: str, **over) -> dict:
    return {**ev(id_, "labor", work_order="WO-F", operation=20, hours=1.0), **over}


def raw_receipt(id_: str, field: str, literal: str) -> str:
    """A receipt whose `field` is written as a raw JSON literal (numbers JSON allows but
    Python's json would not write, e.g. 1e400)."""
    body = receipt(id_)
    body[field] = "@@"
    return json.dumps(body).replace('"@@"', literal)


DEEP = 30_000  # nested arrays that still fit under the 64 KiB payload cap

BAD = {
    # numeric magnitudes
    "qty 1e20": receipt("n1", qty=1e20),
    "qty 1e30": receipt("n2", qty=1e30),
    "qty 1e308": receipt("n3", qty=1e308),
    "qty 1e400 (inf)": raw_receipt("n4", "qty", "1e400"),
    "unit_price 1e17": receipt("n5", unit_price=1e17),
    "qty 2e17 at 0.42": receipt("n6", qty=2e17, unit_price=0.42),
    "qty 2^53+1": receipt("n7", qty=2 ** 53 + 1),
    "qty 1e-300": receipt("n8", qty=1e-300),
    "qty 0": receipt("n9", qty=0),
    "qty -1": receipt("n10", qty=-1),
    "qty NaN": raw_receipt("n11", "qty", "NaN"),
    "qty as text": receipt("n12", qty="10"),
    "qty true": receipt("n13", qty=True),
    "unit_price -0.5": receipt("n14", unit_price=-0.5),
    "qty x unit_price beyond max_amount": receipt("n15", qty=9e8, unit_price=9e6),
    "hours 1e9": labor("n16", hours=1e9),
    "hours 1e-300": labor("n17", hours=1e-300),
    "operation 2^64": labor("n18", operation=2 ** 64),
    "operation 1e7": labor("n19", operation=10 ** 7),
    "counted_qty 1e-300": ev("n20", "count", item="A", location="RM", counted_qty=1e-300),
    "counted_qty 1e12": ev("n21", "count", item="A", location="RM", counted_qty=1e12),
    # timestamps
    "ts basic format": receipt("t1", ts="20261121T070000Z"),
    "ts week date": receipt("t2", ts="2026-W47-6"),
    "ts date only": receipt("t3", ts="2026-11-21"),
    "ts no offset": receipt("t4", ts="2026-11-21T07:00:00"),
    "ts space for T": receipt("t5", ts="2026-11-21 07:00:00Z"),
    "ts year 0001": receipt("t6", ts="0001-01-01T00:00:00Z"),
    "ts year 9999": receipt("t7", ts="9999-12-31T23:59:59Z"),
    "ts 2 days ahead": receipt("t8", ts="2099-01-01T00:00:00+01:00"),
    "ts Feb 30": receipt("t9", ts="2026-02-30T00:00:00Z"),
    "ts hour 25": receipt("t10", ts="2026-11-21T25:00:00Z"),
    "ts offset +25:00": receipt("t11", ts="2026-11-21T07:00:00+25:00"),
    "ts number": receipt("t12", ts=1763700000),
    "ts empty": receipt("t13", ts=""),
    "ts before the journal's period": receipt("t14", ts="2026-10-31T23:59:59Z"),
    "ts lower-case t and z": receipt("t15", ts="2026-11-21t07:00:00z"),
    # nesting
    "100,000 [ inside an object": ('{"id":"d1","type":"receipt","lot":' + "[" * 100_000
                                   + "]" * 100_000 + "}"),
    "30,000 [ inside an object": ('{"id":"d2","type":"receipt","lot":' + "[" * DEEP
                                  + "]" * DEEP + "}"),
    "30,000 [ at the top": "[" * DEEP + "]" * DEEP,
    "30,000 { at the top": '{"a":' * DEEP + "1" + "}" * DEEP,
    # sizes
    "1 MB id": receipt("x" * 1_000_000),
    "200-character id": receipt("y" * 200),
    "1 MB source": receipt("s1", source="s" * 1_000_000),
    "10 MB lot": receipt("s2", lot="L" * 10_000_000),
    "100-character lot": receipt("s3", lot="L" * 100),
    "300-character status": receipt("s4", status="q" * 300),
    "300-character item": receipt("s5", item="I" * 300),
    # shape
    "unknown type": ev("f1", "teleport", item="A"),
    "unknown field": receipt("f2", colour="red"),
    "not an object": '"just a string"',
    "truncated JSON": '{"id": "f3", "type": "receipt", ',
    "binary garbage": "\u0000\u00ff\u00fe{{{",
}


def valid(n: int) -> dict:
    return receipt(f"ok{n}", qty=n + 1)


def _lines() -> tuple[list, dict[int, str], dict[int, str]]:
    """Valid and bad lines interleaved; (lines, valid id by line no, bad case by line no)."""
    lines: list = [ev("w1", "wo_release", work_order="WO-F", item="F", qty=5, line="WC2")]
    good = {1: "w1"}
    bad = {}
    for n, (case, line) in enumerate(BAD.items()):
        lines.append(valid(n))
        good[len(lines)] = f"ok{n}"
        lines.append(line)
        bad[len(lines)] = case
    lines.append(valid(len(BAD)))
    good[len(lines)] = f"ok{len(BAD)}"
    return lines, good, bad


def _ingest(tmp_path, lines, toml=GATEWAY_TOML):
    cfg = write_plant(tmp_path, toml)
    path = write_events(tmp_path / "events.jsonl", lines)
    proc = gateway("ingest", "-c", str(cfg), str(path), "--batch", "500")
    conn = sqlite3.connect(tmp_path / "var" / "gateway.db")
    return proc, conn


def test_every_bad_line_is_kept_with_a_reason_and_every_valid_line_applies(tmp_path):
    lines, good, bad = _lines()
    proc, conn = _ingest(tmp_path, lines)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 1
    applied = {i for (i,) in conn.execute("SELECT id FROM events")}
    assert applied == set(good.values())
    kept = {src.split()[0]: (reason, raw) for src, reason, raw in conn.execute(
        "SELECT source, reason, raw FROM exceptions WHERE kind='rejected'")}
    missing = [case for no, case in bad.items() if f"file:events.jsonl:{no}" not in kept]
    assert missing == []
    for no, case in bad.items():
        reason, raw = kept[f"file:events.jsonl:{no}"]
        assert reason, case
        assert len(raw.encode()) < 5 * 1024, case  # a prefix + length + hash, not the frame
    assert f"{len(BAD)} rejected" in proc.stderr
    # the books balance and the stock is exactly the valid receipts
    debit, credit = conn.execute("SELECT SUM(debit), SUM(credit) FROM journal_lines").fetchone()
    assert debit == credit
    qty = conn.execute("SELECT SUM(qty) FROM stock WHERE item='A'").fetchone()[0]
    assert qty == sum(n + 1 for n in range(len(BAD) + 1))
    periods = {p for (p,) in conn.execute("SELECT DISTINCT period FROM journal_lines")}
    assert periods == {"2026-11"}


def test_a_rejection_names_the_field_the_value_and_the_bound(tmp_path):
    proc, conn = _ingest(tmp_path, [receipt("ok"), receipt("big", qty=1e20),
                                    labor("lab", hours=1e9), receipt("wk", ts="2026-W47-6")])
    reasons = dict(conn.execute("SELECT event_id, reason FROM exceptions"))
    assert reasons["big"] == "qty: 1e+20 is outside the plausible range (< 1e+09)"
    assert reasons["lab"] == "hours: 1000000000.0 is outside the plausible range " \
                             "(1e-06 <= hours < 8784)"
    assert reasons["wk"].startswith("ts: not an RFC 3339 timestamp")


def test_a_large_rejected_frame_keeps_its_prefix_length_and_hash(tmp_path):
    import hashlib
    line = json.dumps(receipt("big", lot="L" * 10_000_000))
    proc, conn = _ingest(tmp_path, [line])
    (raw,) = conn.execute("SELECT raw FROM exceptions").fetchone()
    assert raw.startswith(line[:4096])
    assert f"{len(line)} bytes in all" in raw
    assert hashlib.sha256(line.encode()).hexdigest() in raw


LOOSE = GATEWAY_TOML + """
[limits]
max_qty = 1e19
max_amount = 1e22
max_unit_price = 1e12
"""


def test_sums_beyond_int64_reject_the_event_that_would_wrap_not_the_batch(tmp_path):
    # With the bounds loosened on purpose each receipt books 2e18 minor units: the third
    # would take A's book value past 2^62, so it alone is rejected.
    lines = [receipt("v1"), receipt("h1", qty=1e16, unit_price=2.0),
             receipt("h2", qty=1e16, unit_price=2.0), receipt("v2"),
             receipt("h3", qty=1e16, unit_price=2.0), receipt("h4", qty=1e18, unit_price=2.0),
             receipt("v3")]
    proc, conn = _ingest(tmp_path, lines, LOOSE)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    applied = {i for (i,) in conn.execute("SELECT id FROM events")}
    assert applied == {"v1", "h1", "h2", "v2", "v3"}
    reasons = dict(conn.execute("SELECT event_id, reason FROM exceptions"))
    assert set(reasons) == {"h3", "h4"}
    assert "beyond what the books can hold" in reasons["h3"]
    debit, credit = conn.execute("SELECT SUM(debit), SUM(credit) FROM journal_lines").fetchone()
    assert debit == credit
    assert gateway("trial-balance", "-c", str(tmp_path / "gateway.toml")).returncode == 0


def test_the_actor_is_the_channel_and_a_payload_source_is_only_a_claim(tmp_path):
    import getpass
    lines = [receipt("forged", source="supervisor:alice"), receipt("plain"),
             receipt("claimed", claimed_source="erp")]
    proc, conn = _ingest(tmp_path, lines)
    rows = {i: (src, json.loads(p)) for i, src, p in conn.execute(
        "SELECT id, source, payload FROM events")}
    user = getpass.getuser()
    for no, eid in enumerate(("forged", "plain", "claimed"), start=1):
        src, payload = rows[eid]
        assert src == f"file:events.jsonl:{no} user:{user}"
        assert payload["source"] is None
    assert rows["forged"][1]["claimed_source"] == "supervisor:alice"
    assert rows["plain"][1]["claimed_source"] is None
    assert rows["claimed"][1]["claimed_source"] == "erp"
    actors = [s for (s,) in conn.execute("SELECT source FROM events")]
    assert not any(a.startswith("supervisor:") for a in actors)


def test_a_receipt_on_an_unknown_po_is_held_for_a_supervisor(tmp_path):
    lines = [receipt("ok"), receipt("p1", po="PO-9999"), receipt("p2", po="PO-2")]
    proc, conn = _ingest(tmp_path, lines)
    assert {i for (i,) in conn.execute("SELECT id FROM events")} == {"ok"}
    held = {eid: (kind, json.loads(raw)) for eid, kind, raw in conn.execute(
        "SELECT event_id, kind, raw FROM exceptions")}
    assert set(held) == {"p1", "p2"}  # PO-2 exists but has no line for item A
    kind, kept = held["p1"]
    assert kind == "no_po" and kept["draft"]["po"] == "PO-9999"
    assert "held for a supervisor" in kept["reason"]


def test_unknown_po_accept_books_at_the_event_price(tmp_path):
    toml = GATEWAY_TOML.replace('method = "standard"', 'method = "standard"\nunknown_po = "accept"')
    proc, conn = _ingest(tmp_path, [receipt("p1", po="PO-9999")], toml)
    assert [i for (i,) in conn.execute("SELECT id FROM events")] == ["p1"]


MQTT = RUN_MQTT + 'line = "WC2"\n'  # the e2e config, its device bound to line 2

READING_TS = "2026-11-20T08:00:05Z"


def _device(device: str, topic_device: str, n: int, **extra) -> tuple[str, bytes]:
    body = {"device": device, "kind": "good", "value": 2, "ts": READING_TS,
            "id": f"{device}:good:{n}", **extra}
    return f"plant/line2/{topic_device}/readings", json.dumps(body).encode()


BAD_READINGS = {
    "device named on another device's topic": _device("press-9", "press-1", 1),
    "supervisor as the device": _device("supervisor:alice", "press-1", 2),
    "another order into QA": _device("press-1", "press-1", 3, work_order="WO-P2",
                                     location="QA"),
    "another line": _device("press-1", "press-1", 4, line="WC3"),
    "1 MB reading": _device("press-1", "press-1", 5, note="n" * 1_000_000),
}


async def _wait(fn, want, proc, timeout=60.0):
    import asyncio
    import time
    deadline = time.monotonic() + timeout
    while (got := fn()) != want:
        assert time.monotonic() < deadline, f"waited for {want!r}, have {got!r}"
        assert proc.poll() is None, f"gateway exited {proc.returncode}: {proc.stderr.read()}"
        await asyncio.sleep(0.2)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_the_same_hostile_lines_over_mqtt(tmp_path, mosquitto):
    import os
    import signal
    import subprocess
    import sys

    from simulators.mqtt_devices import MqttDeviceSimulator
    from tests.e2e.procs import journal_rows, reaped
    from tests.gateway.plant import ROOT

    cfg = write_plant(tmp_path, GATEWAY_TOML + MQTT.format(url=mosquitto.url))
    db = str(tmp_path / "var" / "gateway.db")

    def q(sql):
        return journal_rows(db, sql)

    env = {**os.environ, "T_MQTT_USER": mosquitto.username,
           "T_MQTT_PASSWORD": mosquitto.password}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(cfg)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    lines, good, bad = _lines()
    async with MqttDeviceSimulator(mosquitto.url, mosquitto.username, mosquitto.password,
                                   client_id="hostile") as erp:
        with reaped(proc):
            import asyncio
            import time
            deadline = time.monotonic() + 60
            while q("SELECT id FROM events") != [("w1",)]:  # the release, resent until seen
                assert time.monotonic() < deadline and proc.poll() is None, "no release"
                await erp.event(lines[0])
                await asyncio.sleep(0.5)
            for line in lines[1:]:
                await erp.raw("plant/events", (line if isinstance(line, str)
                                               else json.dumps(line)).encode())
            for topic, payload in BAD_READINGS.values():
                await erp.raw(topic, payload)
            topic, payload = _device("press-1", "press-1", 99)
            await erp.raw(topic, payload)  # the one reading its topic allows
            want = sorted([(i,) for i in good.values()] + [("press-1:good:99",)])
            await _wait(lambda: sorted(q("SELECT id FROM events")), want, proc)
            expected = len(bad) + len(BAD_READINGS)
            # (the valid completion also raises negative-stock alerts, and the release,
            # made with no stock, a short_components one: not rejections)
            await _wait(lambda: q("SELECT COUNT(*) FROM exceptions WHERE kind NOT IN"
                                  " ('negative_stock', 'short_components')")[0][0],
                        expected, proc)
            await asyncio.sleep(1.0)  # nothing more arrives late
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
            err = proc.stderr.read()
            assert code == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    rows = q("SELECT kind, source, event_id, reason, LENGTH(raw) FROM exceptions"
             " WHERE kind NOT IN ('negative_stock', 'short_components')")
    assert q("SELECT event_id FROM exceptions WHERE kind='short_components'") == [("w1",)]
    assert len(rows) == len(bad) + len(BAD_READINGS)
    assert all(reason and size < 5 * 1024 for _, _, _, reason, size in rows), rows
    kinds = collections.Counter(k for k, *_ in rows)
    assert kinds["unbound_device"] == 4 and kinds["decode_error"] >= 1
    short_ids = {line["id"] for line in map(lambda n: lines[n - 1], bad)
                 if isinstance(line, dict) and isinstance(line.get("id"), str)
                 and len(line["id"]) <= 128 and
                 len(json.dumps(line)) <= 64 * 1024}
    assert short_ids <= {eid for _, _, eid, _, _ in rows}
    actors = {s for (s,) in q("SELECT source FROM events WHERE id LIKE 'ok%'")}
    assert actors == {"mqtt:plant/events via:mqtt-events"}
    (reading_actor,) = q("SELECT source FROM events WHERE id='press-1:good:99'")[0]
    assert reading_actor == "press-1"
    debit, credit = q("SELECT SUM(debit), SUM(credit) FROM journal_lines")[0]
    assert debit == credit


def test_an_invoice_line_that_does_not_match_is_held_with_its_draft(tmp_path):
    inv = {"id": "i1", "type": "supplier_invoice", "ts": receipt("x")["ts"], "invoice": "INV-1",
           "po": "PO-1", "item": "A", "qty": 1.0, "unit_price": 3.0}
    proc, conn = _ingest(tmp_path, [receipt("r1", po="PO-1", unit_price=2.1), inv])
    assert {i for (i,) in conn.execute("SELECT id FROM events")} == {"r1"}
    ((kind, field, raw),) = conn.execute("SELECT kind, field, raw FROM exceptions")
    kept = json.loads(raw)
    assert (kind, field) == ("invoice_mismatch", "unit_price")
    assert kept["draft"]["unit_price"] == 3.0
    assert "% over PO-1's 2.10 (tolerance 2 %)" in kept["reason"]
