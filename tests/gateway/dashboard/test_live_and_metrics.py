"""The live stream pushes changes as the journal commits; /metrics speaks Prometheus to a
scraper with the bearer token or a logged-in user (tests/gateway/dashboard/test_transport.py
has `metrics_public` and the Host check)."""

from __future__ import annotations

import asyncio
import json
import socket

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer

from gateway.dashboard import create_app

from . import sample_plant


async def next_event(resp, timeout: float = 5.0) -> tuple[str, dict]:
    """The next `event:`/`data:` message of an SSE stream (comments skipped)."""
    async def read():
        event, data = "message", None
        while True:
            line = (await resp.content.readline()).decode()
            if line == "":
                raise EOFError("stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                return event, data
    return await asyncio.wait_for(read(), timeout)


async def test_stream_sends_an_update_when_the_database_changes(dashboard, db_path):
    d = await dashboard()
    await d.login("vic")
    resp = await d.client.get("/events")
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    event, first = await next_event(resp)
    assert event == "snapshot"
    v = first["values"]
    assert v["events"] == "3" and v["wo:WO-1:good"] == "120" and v["exceptions_open"] == "3"
    assert v["wip_total"] == "456.78" and v["dev:plc-assy:state"] == "connected"
    assert v["orders_count"] == "2" and v["outbox_oldest"].startswith("oldest ")
    sample_plant.add_events(db_path, 5)  # the journal commits while the page is open
    for _ in range(20):
        event, msg = await next_event(resp)
        if "events" in msg["values"]:
            break
    assert msg["values"]["events"] == "8" and msg["values"]["wo:WO-1:good"] == "125"
    assert "wip_total" not in msg["values"]  # only what changed is sent
    resp.close()


async def test_stream_ends_when_the_session_does(dashboard):
    d = await dashboard()
    await d.login("vic")
    resp = await d.client.get("/events")
    await next_event(resp)
    token = await d.csrf("/")
    await d.post("/logout", {}, token=token)
    while True:
        event, _ = await next_event(resp)
        if event == "expired":
            break
    resp.close()


async def test_metrics_with_the_bearer_token(dashboard):
    d = await dashboard(metrics_token="scrape-me-0123456789")
    d.state.metrics.readings.labels(device="plc-assy").inc(7)
    d.state.metrics.events.labels(device="plc-assy", type="completion").inc(3)
    d.state.metrics.reject("unknown_item")
    d.state.metrics.journal_commit_seconds.observe(0.004)
    # loopback alone earns nothing (a proxy on this host would make it everyone), nor
    # does a wrong token
    for headers in ({}, {"Authorization": "Bearer scrape-me-wrong"},
                    {"Authorization": "Basic scrape-me-0123456789"}):
        resp = await d.client.get("/metrics", headers=headers)
        assert resp.status == 401, headers
        assert "metrics_token_env" in await resp.text()
    resp = await d.client.get("/metrics",
                              headers={"Authorization": "Bearer scrape-me-0123456789"})
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    for line in ['gateway_readings_total{device="plc-assy"} 7.0',
                 'gateway_events_total{device="plc-assy",type="completion"} 3.0',
                 'gateway_rejects_total{reason="unknown_item"} 1.0',
                 "gateway_exceptions_open 3.0",  # read from the database at scrape
                 "gateway_outbox_depth 2.0",
                 'gateway_journal_commit_seconds_bucket{le="0.005"} 1.0',
                 "gateway_upstream_errors_total 0.0",
                 'gateway_device_connected{device="plc-assy"} 1.0',
                 'gateway_device_connected{device="scale-mix"} 0.0']:
        assert line in text, line
    age = next(x for x in text.splitlines() if x.startswith("gateway_outbox_oldest_age_seconds "))
    assert float(age.split()[1]) > 0  # the pending batch of 03:05 is waiting
    assert "python_gc" not in text  # a registry of our own, not the global one


def non_loopback_address() -> str:
    # Connecting a UDP socket sends nothing; it only picks the outbound interface.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))
        addr = s.getsockname()[0]
    assert not addr.startswith("127."), "this test needs a non-loopback IPv4 interface"
    return addr


async def test_metrics_from_another_host_needs_login(make_state):
    state = make_state()
    addr = non_loopback_address()
    server = TestServer(create_app(state), host=addr)
    client = TestClient(server)
    await client.start_server()
    try:
        resp = await client.get("/metrics")
        assert resp.status == 401 and "or log in" in await resp.text()
        assert not (await resp.text()).startswith("# HELP")
        # Logged in, the same client may scrape.
        login = await client.get("/login")
        token = sample_plant.CSRF_RE.search(await login.text()).group(1)
        await client.post("/login", data={"csrf": token, "name": "vic",
                                          "password": sample_plant.PASSWORD["vic"]},
                          headers={"Origin": f"http://{addr}:{server.port}"})
        resp = await client.get("/metrics")
        assert resp.status == 200 and "gateway_exceptions_open 3.0" in await resp.text()
    finally:
        await client.close()


async def test_stream_refuses_without_login(dashboard):
    d = await dashboard()
    async with ClientSession() as s:
        resp = await s.get(d.client.make_url("/events"))
        assert resp.status == 401


async def test_many_screens_share_one_database_read_per_tick(dashboard, monkeypatch):
    from gateway.dashboard import queries

    d = await dashboard(sse_interval_s=0.2)
    await d.login("vic")
    reads = []
    real = queries.live_counts
    monkeypatch.setattr(queries, "live_counts", lambda conn: reads.append(1) or real(conn))
    streams = [await d.client.get("/events") for _ in range(4)]
    for s in streams:
        await next_event(s)
    await asyncio.sleep(0.5)
    for s in streams:
        s.close()
    assert 1 <= len(reads) <= 5  # ~one per 0.2 s tick, not one per screen per tick
