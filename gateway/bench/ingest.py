"""Ingest stage: MQTT publisher → Mosquitto → MQTT driver → Gateway → committed journal.

Three processes, as on a site: a real broker (simulators.mosquitto), the gateway
(`python -m gateway.bench.ingest serve CONFIG N OUT`: what `gateway run` serves — the
MqttDevices driver, the Gateway runtime, the batcher and forwarder (to a file sink) and
the dashboard, all sharing the journal's write lock — over a plant written out as
gateway.toml + CSVs), and a publisher (`... publish ...`) sending with QoS 1 one of two
kinds of message, as `gateway run` receives them:
- "events": canonical events (the synthetic plant's mix) on the events topic;
- "devices": device readings (`{"device", "line", "kind": "good"|"scrap", "value", "id",
  "seq", "ts"}`) on device topics `bench/lines/<device>/readings`, which the site's
  `[[devices]]` entry binds and the mapping turns into completions and scraps of the
  order running on the reading's line (one order per line, released with its material
  received on the events topic and committed before the clock starts: `setup_events`).
Each payload's `ts` is its publish time; the gateway process records when the transaction
holding it committed, so latency is publish → commit, on the same host clock.

The publisher runs two phases back to back: `n_fixed` readings at a fixed offered rate
(latency p50/p99 are taken over these) and then `n_flood` as fast as it can; the
sustained rate is what the gateway committed from the start of the flood to its last
commit, i.e. while readings were waiting for it.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import secrets
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np

from gateway.bench.synth import EventStream, make_master, write_master_csv

TOPIC = "bench/events"
DEVICE_TOPICS = "bench/lines/+/readings"
KINDS = ("events", "devices")
WINDOW = 20_000  # publishes awaiting their PUBACK
IDLE_S = 10.0  # the gateway process stops when nothing committed for this long: what the
               # broker dropped never arrives, and the journal then says what is missing
GATEWAY_ID = "bench"
USER_ENV, PASSWORD_ENV = "GATEWAY_BENCH_MQTT_USER", "GATEWAY_BENCH_MQTT_PASSWORD"

SITE_TOML = """\
[gateway]
id = "{gateway_id}"
db = "{db}"
master_data = "master"
currency = "EUR"
currency_decimals = 2
synchronous = "{synchronous}"

[costing]
method = "standard"

[accounts]
wip = "1400"
grni = "2100"
ppv = "5210"
material_usage_variance = "5220"
material_price_variance = "5230"
labor_efficiency_variance = "5240"
overhead_efficiency_variance = "5250"
applied_labor = "5310"
applied_overhead = "5320"
scrap = "5400"
cogs = "5000"
revenue = "4000"
ar = "1200"
inventory_adjustment = "5500"
rounding = "5900"

[accounts.inventory]
raw = "1310"
semi = "1320"
finished = "1330"

[reconcile.categories]
available = ["available"]
unavailable = ["quality", "damaged", "pending_putaway"]

# As in production: the batcher and forwarder (to a file, the cheapest sink) and the
# dashboard run beside the journal and share its write lock.
[upstream]
sink = "file"
path = "var/upstream.jsonl"

[dashboard]
listen = "127.0.0.1:0"
users_file = "users.toml"
secure_cookies = false

[mqtt]
url = "{url}"
username_env = "{user_env}"
password_env = "{password_env}"
events_topic = "{topic}"
"""

# The lines' devices: the device is a level of its topic, its reading names its line, the
# line's active order is what it books to (gateway/binding.py).
DEVICES_TOML = """
[[devices]]
id = "bench-lines"
driver = "mqtt"
topic = "{device_topics}"
"""


def write_site(folder: pathlib.Path, items: int, depth: int, url: str,
               db: str = "var/gateway.db", synchronous: str = "FULL",
               gateway_id: str = GATEWAY_ID, devices: bool = False) -> pathlib.Path:
    """gateway.toml + master CSVs of the synthetic plant; returns the config path.

    `devices`: with the `[[devices]]` entry of the lines' device topics."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "master" / "items.csv").exists():
        write_master_csv(make_master(items, depth), folder / "master")
    (folder / "var").mkdir(exist_ok=True)
    cfg = folder / f"gateway-{pathlib.Path(db).stem}.toml"
    users = folder / "users.toml"
    if not users.exists():  # the dashboard refuses to start without users
        from gateway.users import UserStore

        store = UserStore(users)
        store.add("bench", "viewer", secrets.token_urlsafe(16))
        store.save()
    cfg.write_text(SITE_TOML.format(gateway_id=gateway_id, db=db, synchronous=synchronous,
                                    url=url, user_env=USER_ENV, password_env=PASSWORD_ENV,
                                    topic=TOPIC) +
                   (DEVICES_TOML.format(device_topics=DEVICE_TOPICS) if devices else ""))
    return cfg


def site_env(user: str, password: str) -> dict:
    return {**os.environ, USER_ENV: user, PASSWORD_ENV: password}


# -- the gateway process ----------------------------------------------------------------

async def serve(config_path: str, expected: int, out: str, timeout: float) -> None:
    """Run the real Gateway until `expected` submissions committed; write the record."""
    from gateway.commands.run import serve as run_serve
    from gateway.config import load_config
    from gateway.masterdata import load_master

    cfg = load_config(config_path)
    master = load_master(cfg)
    made: list = []
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # (commit time, publish ts of each submission, results) per transaction; expanded
    # after the run, so the bookkeeping does not take the GIL from the gateway's threads.
    records: list[tuple[float, list, list]] = []
    seen = 0
    submit = None

    def recording_submit(subs, side=None):
        nonlocal seen
        results = submit(subs, side=side)
        now = time.time()  # the transaction is durable from here on
        records.append((now, [s.raw.get("ts", "") if type(s.raw) is dict else "" for s in subs],
                        results))
        seen += len(subs)
        if seen >= expected:
            loop.call_soon_threadsafe(stop.set)
        return results

    def record_commits(gateway) -> None:
        nonlocal submit
        made.append(gateway)
        submit = gateway.journal.submit
        gateway.journal.submit = recording_submit
    # A commit that fails raises the gateway's alarm and holds its inputs (it retries
    # until the cause goes away); the bench stops at once and says why instead of
    # waiting out the timeout for readings that will never commit.
    failures: list[BaseException] = []

    async def watch_alarms() -> None:
        while not stop.is_set():
            bad = [a for a in gw.alarms if a.startswith(("commit failed", "disk full"))]
            if bad:
                failures.append(RuntimeError(bad[0]))
                stop.set()
                return
            if records and time.time() - records[-1][0] > IDLE_S:
                stop.set()  # the rest is not coming
                return
            await asyncio.sleep(0.05)

    # `gateway run`'s own serve: journal, drivers, batcher + forwarder, dashboard
    runner = asyncio.create_task(run_serve(cfg, master, stop=stop, on_gateway=record_commits))
    deadline = loop.time() + 30
    while not made:
        if runner.done() or loop.time() > deadline:
            stop.set()
            await runner
            raise RuntimeError("gateway did not start")
        await asyncio.sleep(0.01)
    gw = made[0]
    watcher = asyncio.create_task(watch_alarms())
    while not stop.is_set() and not all(s.state == "connected" for s in gw.status.values()):
        if runner.done() or loop.time() > deadline:
            stop.set()
            await runner
            raise RuntimeError(f"gateway never connected: {gw.devices()}")
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    cpu0 = time.process_time()
    try:
        await asyncio.wait_for(stop.wait(), timeout)
    except asyncio.TimeoutError:
        stop.set()
    try:
        await runner
    except BaseException:
        if not failures:
            raise
    cpu = time.process_time() - cpu0  # every thread of the gateway, from ready to stop
    watcher.cancel()
    if failures:
        raise RuntimeError(f"a commit failed: {failures[0]}") from failures[0]
    statuses = {"applied": 0, "duplicate": 0, "rejected": 0}
    published: list[float] = []
    committed: list[float] = []
    for now, stamps, results in records:
        published.extend(_epoch(str(ts)) for ts in stamps)
        committed.extend([now] * len(stamps))
        for res in results:
            statuses[res.status] += 1
    np.savez(out, published=np.array(published), committed=np.array(committed))
    print(json.dumps({"committed": len(committed), "cpu_s": cpu, **statuses}), flush=True)


def _epoch(ts: str) -> float:
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("nan")


# -- the publisher process ----------------------------------------------------------------

def device_line(k: int) -> str:
    """The device of line `k` (one per work center)."""
    return f"dev-{k:02d}"


def setup_events(master, id_prefix: str) -> list:
    """What the device readings book to: one open work order per work center, of an item
    one level above raw material, and its components received where the line takes them
    (plenty for the run: a line with no material books every completion into
    negative stock, an exception storm no plant runs in)."""
    from gateway.events import Receipt, WoRelease

    ts = datetime.now(timezone.utc).isoformat()
    kind = "semi" if any(it.kind == "semi" for it in master.items) else "finished"
    level_one = sorted(it.sku for it in master.items if it.kind == kind)
    op_wc = {(r.parent, r.operation): r.work_center for r in master.routings}
    wc_loc = {wc.id: wc.location for wc in master.work_centers}
    po = {line.sku: line for line in master.purchase_orders}
    receipts, orders = {}, []
    for k, wc in enumerate(master.work_centers):
        item = level_one[k % len(level_one)]
        orders.append(WoRelease(id=f"{id_prefix}rel-{wc.id}", ts=ts,
                                work_order=f"WO-BENCH-{wc.id}", item=item, qty=100_000.0,
                                line=wc.id, source="erp"))
        for b in master.boms:
            if b.parent == item and b.component in po:
                at = wc_loc[op_wc[(item, b.operation)]]
                line = po[b.component]
                receipts[(b.component, at)] = Receipt(
                    id=f"{id_prefix}rcv-{b.component}-{at}", ts=ts, item=b.component,
                    qty=1_000_000.0, location=at, unit_price=line.unit_price, po=line.po,
                    source="erp")
    return [*receipts.values(), *orders]


def _messages(kind: str, master, total: int, id_prefix: str):
    """make(k, ts) -> (MQTT topic field, payload) of the k-th message of this kind."""
    import msgspec

    from gateway.events import encode_event

    if kind in ("events", "setup"):
        if kind == "setup":
            events = setup_events(master, id_prefix)
        else:
            stream = EventStream(master, seed=23)
            events = [msgspec.structs.replace(ev, id=id_prefix + ev.id) if ev.type != "reversal"
                      else msgspec.structs.replace(ev, id=id_prefix + ev.id,
                                                   reverses=id_prefix + ev.reverses)
                      for ev in stream.take(total)]
        topic = _mqtt_str(TOPIC)
        return lambda k, ts: (topic, encode_event(msgspec.structs.replace(events[k], ts=ts)))
    if kind != "devices":
        raise ValueError(f"kind: {kind!r}, not one of events, devices, setup")
    # A counter device per line: mostly good units, a scrap now and then; its own `id`
    # and `seq` (what docs/devices.md asks of a device that wants exactly-once).
    lines = [wc.id for wc in master.work_centers]
    topics = [_mqtt_str(DEVICE_TOPICS.replace("+", device_line(j))) for j in range(len(lines))]
    encode = msgspec.json.Encoder().encode

    def make(k: int, ts: str) -> tuple[bytes, bytes]:
        j, n = k % len(lines), k // len(lines)
        scrap = k % 10 == 9
        return topics[j], encode({"device": device_line(j), "line": lines[j],
                                  "kind": "scrap" if scrap else "good",
                                  "value": 1 if scrap else 1 + k % 5,
                                  "id": f"{id_prefix}d-{k:08d}", "seq": n, "ts": ts})
    return make


def _mqtt_str(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def publish(url: str, user: str, password: str, items: int, depth: int,
            phases: list[tuple[float, int]], id_prefix: str, kind: str = "events") -> dict:
    """Publish each phase (rate/s, count; rate 0 = flat out) with QoS 1; wait for PUBACKs.

    `kind`: "events" (canonical events on the events topic), "devices" (device readings
    on device topics) or "setup" (`setup_events`, on the events topic; the phases' count
    is ignored).

    MQTT 3.1.1 on a plain socket (its own few packets, no code shared with the gateway's
    driver, so a wire bug cannot cancel out), not paho: paho
    spends ~110 µs of CPU per QoS 1 publish (two threads on one GIL, a callback per
    PUBACK), so on this 2-core machine the publisher took as much CPU as the gateway it
    measures and, at full size, offered hardly more than the gateway committed. This
    one writes each packet as it is stamped (a flood writes up to 64 per send) and
    reads PUBACKs as they come: same broker, same QoS 1, same messages, ~10 µs each.
    """
    import select
    import socket

    host, port = url.split("://", 1)[1].rsplit(":", 1)
    master = make_master(items, depth)
    if kind == "setup":
        phases = [(0.0, len(setup_events(master, id_prefix)))]
    total = sum(n for _, n in phases)
    make = _messages(kind, master, total, id_prefix)
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    mqtt_str = _mqtt_str
    # CONNECT: protocol "MQTT" level 4, clean session + user + password, no keepalive
    connect = mqtt_str("MQTT") + bytes([4, 0x02 | 0x80 | 0x40, 0, 0]) + \
        mqtt_str(f"bench-pub-{os.getpid()}") + mqtt_str(user) + mqtt_str(password)
    sock.sendall(b"\x10" + _varint(len(connect)) + connect)
    connack = b""
    while len(connack) < 4:
        chunk = sock.recv(4 - len(connack))
        if not chunk:
            raise RuntimeError("broker closed the connection before CONNACK")
        connack += chunk
    if connack[0] != 0x20 or connack[3] != 0:
        raise RuntimeError(f"broker refused the publisher: CONNACK {connack!r}")
    acked = 0
    inbuf = bytearray()

    def read_acks(wait: float) -> None:
        """Count PUBACKs that arrived (waiting up to `wait` s for the first)."""
        nonlocal acked
        if wait and not select.select([sock], [], [], wait)[0]:
            return
        while True:
            try:
                chunk = sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if not chunk:
                raise RuntimeError(f"broker closed the connection ({acked} acknowledged)")
            inbuf.extend(chunk)
            if len(chunk) < 65536:
                break
        whole = len(inbuf) - len(inbuf) % 4
        for i in range(0, whole, 4):  # the broker sends us PUBACKs only: 0x40 0x02 mid
            if inbuf[i] != 0x40 or inbuf[i + 1] != 2:
                raise RuntimeError(f"unexpected packet from the broker: {bytes(inbuf[i:i + 4])!r}")
        acked += whole // 4
        del inbuf[:whole]

    marks = []
    k = 0
    pending: list[bytes] = []
    for rate, count in phases:
        t0 = time.time()
        marks.append(t0)
        for j in range(count):
            if rate:
                ahead = t0 + j / rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
            # MQTT packet ids are 16 bits: more than 65,535 unacknowledged messages
            # would reuse ids still in flight, so at most WINDOW are outstanding.
            deadline = time.monotonic() + 60
            while k - acked >= WINDOW:
                if pending:
                    sock.sendall(b"".join(pending))
                    pending.clear()
                read_acks(1.0)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"broker stopped acknowledging publishes ({k} sent)")
            now = time.time()
            ts = datetime.fromtimestamp(now, timezone.utc).isoformat()
            topic, payload = make(k, ts)
            mid = k % 65535 + 1
            body = topic + mid.to_bytes(2, "big") + payload
            pending.append(b"\x32" + _varint(len(body)) + body)
            k += 1
            if rate or len(pending) >= 64:
                sock.sendall(b"".join(pending))
                pending.clear()
                read_acks(0)
        if pending:
            sock.sendall(b"".join(pending))
            pending.clear()
        marks.append(time.time())
    deadline = time.monotonic() + 60
    while acked < k:  # every message acknowledged by the broker
        read_acks(1.0)
        if time.monotonic() > deadline:
            raise RuntimeError(f"broker stopped acknowledging publishes ({acked} of {k})")
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    return {"marks": marks}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    what = argv.pop(0)
    if what == "serve":
        config_path, expected, out, timeout = argv
        asyncio.run(serve(config_path, int(expected), out, float(timeout)))
    elif what == "publish":
        # the login comes in the environment: a command line is visible to all in `ps`
        url, items, depth, phases, prefix, *kind = argv
        user, password = os.environ[USER_ENV], os.environ[PASSWORD_ENV]
        plan = [(float(r), int(n)) for r, n in (p.split(":") for p in phases.split(","))]
        print(json.dumps(publish(url, user, password, int(items), int(depth), plan, prefix,
                                 *kind)))
    else:
        raise SystemExit(f"unknown mode {what!r}: serve | publish")
    return 0


# -- the stage, run from the bench process ---------------------------------------------------

def start_gateway(config: pathlib.Path, env: dict, expected: int, record: pathlib.Path,
                  timeout: float) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gateway.bench.ingest", "serve", str(config), str(expected),
           str(record), str(timeout)]
    profile = os.environ.get("GATEWAY_BENCH_PYSPY")
    if profile:  # a folded-stack profile of the gateway process (docs/performance.md)
        cmd = ["py-spy", "record", "--format", "raw", "--threads", "-r", "250", "-o",
               f"{profile}.{record.parent.name}.txt", "--", *cmd]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "(nothing on stderr)"


def wait_line(proc: subprocess.Popen, want: str, timeout: float) -> None:
    """Block until the child prints `want` (or dies, naming what it said)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == want:
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"gateway child did not say {want!r}: {proc.stderr.read()[-3000:]}")


def run_stage(folder: pathlib.Path, broker, items: int, depth: int, offered: float,
              n_fixed: int, n_flood: int, timeout: float = 600, kind: str = "events") -> dict:
    """One run of `kind` ("events" or "devices") messages; counted in the journal."""
    # A gateway id (so MQTT client ids) of its own per kind: runs on one broker must not
    # resume each other's persistent sessions (and the messages those still hold).
    config = write_site(folder, items, depth, broker.url, gateway_id=f"{GATEWAY_ID}-{kind}",
                        devices=kind == "devices")
    env = site_env(broker.username, broker.password)
    record = folder / "ingest-record.npz"
    db = folder / "var" / "gateway.db"
    total = n_fixed + n_flood
    master = make_master(items, depth)
    lines = len(master.work_centers) if kind == "devices" else 0
    setup = len(setup_events(master, "ing-")) if kind == "devices" else 0
    gw = start_gateway(config, env, total + setup, record, timeout)

    def publisher(phases: str, what: str) -> subprocess.CompletedProcess:
        pub = subprocess.run([sys.executable, "-m", "gateway.bench.ingest", "publish",
                              broker.url, str(items), str(depth), phases, "ing-", what],
                             env=env, capture_output=True, text=True, timeout=timeout)
        if pub.returncode:
            raise RuntimeError(f"publisher failed: {pub.stderr[-3000:]}")
        return pub

    try:
        wait_line(gw, "ready", 60)
        if setup:  # what the readings book to, committed before the clock starts
            publisher("0:0", "setup")
            _wait_active(db, lines, gw, 60)
        pub = publisher(f"{offered}:{n_fixed},0:{n_flood}", kind)
        out, err = gw.communicate(timeout=timeout)
    finally:
        if gw.poll() is None:
            gw.kill()
            gw.wait()
    if gw.returncode:
        raise RuntimeError(f"gateway child exited {gw.returncode}: {_last_line(err)}\n"
                           f"{err[-3000:]}")
    counts = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
    journaled = _journaled(db, "ing-") - setup
    marks = json.loads(pub.stdout)["marks"]
    data = np.load(record)
    published, committed = data["published"], data["committed"]
    fixed = (published >= marks[0]) & (published <= marks[1])
    latency_ms = (committed[fixed] - published[fixed]) * 1000.0
    flood_start = marks[2]
    in_flood = committed >= flood_start
    span = committed.max() - flood_start if in_flood.any() else 0.0
    fixed_span = marks[1] - marks[0]
    flood_span = marks[3] - marks[2]
    return {
        "kind": kind,
        "offered_per_s": offered,
        "readings_per_s": round(int(in_flood.sum()) / span, 1) if span > 0 else 0.0,
        "p50_ms": round(float(np.percentile(latency_ms, 50)), 2) if fixed.any() else None,
        "p99_ms": round(float(np.percentile(latency_ms, 99)), 2) if fixed.any() else None,
        "max_ms": round(float(latency_ms.max()), 2) if fixed.any() else None,
        "fixed_rate_readings": int(fixed.sum()),
        "achieved_offered_per_s": round(n_fixed / fixed_span, 1) if fixed_span > 0 else None,
        "flood_readings": n_flood,
        # what the publisher offered during the flood: if it is not well above
        # readings_per_s, the sustained figure measures the publisher, not the gateway
        "flood_offered_per_s": round(n_flood / flood_span, 1) if flood_span > 0 else None,
        # CPU the gateway process spent per committed reading (all its threads, from
        # connected to done): what the figure would be on a core of its own, whatever
        # else the machine was running
        "gateway_cpu_us_per_reading": round(counts["cpu_s"] * 1e6 / max(counts["committed"], 1),
                                            1),
        "applied": counts["applied"] - setup, "duplicate": counts["duplicate"],
        "rejected": counts["rejected"],
        # counted in the journal: every published id is an event or an exceptions row
        "published": total, "journaled": journaled, "lost": total - journaled,
        # what else the run wrote to the exceptions table (negative stock, alerts...), by kind
        "exceptions": _exception_kinds(db),
    }


def _exception_kinds(db: pathlib.Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT kind, count(*) FROM exceptions GROUP BY kind"
                                 " ORDER BY kind"))


def _wait_active(db: pathlib.Path, lines: int, gw: subprocess.Popen, timeout: float) -> None:
    """Until the journal has an active order on each of `lines` lines."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and gw.poll() is None:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            if conn.execute("SELECT count(*) FROM active_orders").fetchone()[0] >= lines:
                return
        time.sleep(0.05)
    if gw.poll() is not None:
        raise RuntimeError(f"the bench's gateway exited ({gw.returncode}) before the {lines}"
                           " work orders the device readings book to became active")
    raise RuntimeError(f"the {lines} work orders the device readings book to did not "
                       f"become active in the journal within {timeout:.0f} s")


def _journaled(db: pathlib.Path, prefix: str) -> int:
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM (SELECT id FROM events WHERE id LIKE ? || '%' "
            "UNION SELECT event_id FROM exceptions WHERE event_id LIKE ? || '%')",
            (prefix, prefix)).fetchone()[0]


if __name__ == "__main__":
    raise SystemExit(main())
