"""`/events`: a server-sent-event stream of the numbers on screen, sent when they change.

Each message is `event: snapshot` with `data: {"values": {key: text}}`; the page's
script puts each text into the elements marked `data-live="key"`. Values are formatted
here (money with separators and decimals), so the browser never does arithmetic. Keys
starting `html:` carry markup rendered here (the latest events' rows, a line's chart)
for elements marked `data-live-html` (`html:order:<order>:output`: a running order's
output chart on its page); charts are redrawn at most every
`chart_interval_s`. The stream ends when the session expires or logs out.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from gateway.dashboard import fmt, lines, queries
from gateway.dashboard.auth import follow_users_file
from gateway.dashboard.keys import LIVE, SESSIONS, STATE, STREAMS
from gateway.dashboard.render import session_of
from gateway.dashboard.state import DashboardState, DatabaseUnavailable
from gateway.dashboard.views.overview import device_rows

routes = web.RouteTableDef()

CHART_KEYS = ("html:line:", "html:order:")  # redrawn every chart_interval_s, kept between


def _pct(x: float) -> str:
    return f"{x:.1f}"


async def snapshot(state: DashboardState, with_charts: bool = True) -> dict[str, str]:
    """Every live value as display text, keyed as the templates' data-live attributes
    (and data-live-html: `html:recent`; `html:line:<line>` and
    `html:order:<order>:output` when `with_charts`)."""
    d = state.settings.currency_decimals
    v: dict[str, str] = {}
    try:
        live = await state.db.run(queries.live_counts)
        v["html:recent"] = str(lines.recent_rows(await state.db.run(queries.recent_events)))
        if with_charts:
            drawn = await state.db.run(lambda c: lines.line_charts(c, state.settings.line_rates))
            v |= {f"html:line:{k}": str(m) for k, m in drawn.items()}
            outputs = await state.db.run(lines.running_outputs)
            v |= {f"html:order:{k}:output": str(m) for k, m in outputs.items()}
    except DatabaseUnavailable:
        live = None
    if live is not None:
        box = live["outbox"]
        v |= {"events": f"{live['events']:,}", "exceptions_open": str(live["exceptions_open"]),
              "alerts_open": str(live["alerts_open"]),
              "exceptions_max_id": str(live["exceptions_max_id"]),
              "orders_count": str(len(live["orders"])),
              "wip_total": fmt.money(live["wip_total"], d),
              "stock_value": fmt.money(live["stock_value"], d),
              "outbox_depth": str(box["depth"]), "outbox_quarantined": str(box["quarantined"]),
              "outbox_oldest": fmt.oldest(box["oldest"]),
              "last_ack": fmt.age(box["last_ack"]) or "never",
              "unbatched_lines": f"{box['unbatched_lines']:,}"}
        for o in live["orders"]:
            k = f"wo:{o['work_order']}"
            scale = max(o["planned"] or 0.0, o["good"] + o["scrap"], 1e-9)
            v |= {f"{k}:good": fmt.qty(o["good"]), f"{k}:scrap": fmt.qty(o["scrap"]),
                  f"{k}:wip": fmt.money(o["wip"], d), f"{k}:status": o["status"],
                  f"{k}:progress": f"{100.0 * o['good'] / o['planned']:.0f}%" if o["planned"] else "",
                  f"{k}:bar_good": _pct(min(100.0, 100.0 * o["good"] / scale)),
                  f"{k}:bar_scrap": _pct(min(100.0, 100.0 * o["scrap"] / scale))}
    for dev in device_rows(state):
        k = f"dev:{dev['id']}"
        v |= {f"{k}:state": dev["state"], f"{k}:last": fmt.age(dev["last_reading_ts"]) or "never",
              f"{k}:rate": f"{dev['readings_per_s']:.1f}",
              f"{k}:reason": dev["problem"],
              f"{k}:alarms": ", ".join(dev["alarms"]) or "none"}
    return v


class SharedSnapshot:
    """One database read per tick, however many screens are watching: every stream asks
    here, and a snapshot younger than `max_age_s` is handed out again."""

    def __init__(self, state: DashboardState, max_age_s: float):
        self.state = state
        self.max_age_s = max_age_s
        self._lock = asyncio.Lock()
        self._value: dict[str, str] | None = None
        self._at = 0.0
        self._charts_at = float("-inf")

    async def get(self) -> dict[str, str]:
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if self._value is None or now - self._at >= self.max_age_s:
                # charts read many events: redrawn only every chart_interval_s
                redraw = now - self._charts_at >= self.state.settings.chart_interval_s
                value = await snapshot(self.state, with_charts=redraw)
                if redraw:
                    self._charts_at = now
                elif self._value is not None:
                    value = {k: t for k, t in self._value.items()
                             if k.startswith(CHART_KEYS)} | value
                self._value, self._at = value, now
            return self._value


def encode(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@routes.get("/events", name="events")
async def events(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    sessions = request.app[SESSIONS]
    session = session_of(request)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    streams = request.app[STREAMS]
    task = asyncio.current_task()
    streams.add(task)
    loop = asyncio.get_running_loop()
    interval, keepalive = state.settings.sse_interval_s, state.settings.sse_keepalive_s
    last: dict[str, str] | None = None
    last_write = loop.time()
    try:
        await resp.write(b"retry: 3000\n\n")
        while True:
            follow_users_file(sessions, state.users)  # a stream is a session in use too
            if not sessions.alive(session):
                break
            values = await request.app[LIVE].get()
            if values != last:
                # Only what changed goes out after the first message: keeps a wall
                # tablet's traffic tiny while nothing happens on the line.
                changed = values if last is None else {
                    k: t for k, t in values.items() if last.get(k) != t}
                await resp.write(encode("snapshot", {"values": changed}))
                last, last_write = values, loop.time()
            elif loop.time() - last_write >= keepalive:
                await resp.write(b": keepalive\n\n")
                last_write = loop.time()
            await asyncio.sleep(interval)
        await resp.write(encode("expired", {}))
    except ConnectionResetError:
        pass  # the browser went away; nothing to clean up but the task entry
    finally:
        streams.discard(task)
    return resp
