"""A webhook that fails, then recovers, gets each alert transition once by key; the
journal commits meanwhile. A real aiohttp server on loopback plays the receiver."""

from __future__ import annotations

import random

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.alerts.routes import AlertRoutes, sinks_from_config
from gateway.journal import connect
from tests.gateway.alerts.conftest import section
from tests.gateway.alerts.test_rules import STOCK, good, release, scrap


class Receiver:
    """Answers 503 to the first `failures` requests, then keeps each key once."""

    def __init__(self, failures: int):
        self.failures = failures
        self.tries = 0
        self.kept: dict[str, dict] = {}

    async def handle(self, request: web.Request) -> web.Response:
        self.tries += 1
        if self.tries <= self.failures:
            return web.Response(status=503, text="down for maintenance")
        body = await request.json()
        key = request.headers["Idempotency-Key"]
        assert key == body["idempotency_key"]
        if key in self.kept:
            return web.Response(status=409, text="already have it")
        self.kept[key] = body
        return web.Response(status=200)


@pytest.fixture
async def receiver():
    r = Receiver(failures=3)
    app = web.Application()
    app.router.add_post("/hook", r.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    r.url = str(server.make_url("/hook"))
    yield r
    await server.close()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_webhook_down_then_up_gets_each_transition_once(plant_for, receiver):
    cfg = section(route=[{"rules": ["scrap_rate"], "webhook": receiver.url}])
    p = plant_for(cfg)
    p.send(STOCK, release(), good(18), scrap(3))        # opens (3 of 21)
    clock = Clock()
    conn = connect(p.path)
    routes = AlertRoutes(conn, sinks_from_config(type("C", (), {"alerts": cfg})()),
                         backoff_base=1.0, backoff_cap=8.0, rng=random.Random(7), clock=clock)
    waits = []
    for _ in range(3):                                  # three 503s, each backs off longer
        assert await routes.send_due() == 0
        next_at = conn.execute("SELECT next_at FROM alert_deliveries").fetchone()[0]
        waits.append(next_at - clock.now)
        assert await routes.send_due() == 0             # not before its backoff is over
        clock.now = next_at
    assert [0.5 <= waits[0] <= 1, 1 <= waits[1] <= 2, 2 <= waits[2] <= 4] == [True] * 3
    p.send(good(50, minute=5))                          # 3 of 71: resolved, journal not held
    assert await routes.send_due() == 1                 # the open one, then
    assert await routes.send_due() == 1                 # the resolution
    assert await routes.send_due() == 0
    first = p.ts(2)
    assert list(receiver.kept) == [f"scrap_rate:WO-1:op10:open:{first}",
                                   f"scrap_rate:WO-1:op10:resolved:{first}"]
    opened = receiver.kept[f"scrap_rate:WO-1:op10:open:{first}"]
    assert opened["message"].startswith("scrap 14.3 % on WO-1 op 10 (3 of 21)")
    # a delivery sent again (say its ack was lost in a crash) is dropped by key
    conn.execute("UPDATE alert_deliveries SET state='pending'")
    assert await routes.send_due() == 1 and await routes.send_due() == 1
    assert len(receiver.kept) == 2 and receiver.tries == 3 + 2 + 2
    await routes.sinks["0:webhook"].close()
    conn.close()
