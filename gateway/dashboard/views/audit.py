"""The audit log on the dashboard: `note` appends an entry for what a user just did, and
/audit shows the latest entries to supervisors and controllers (viewers are refused)."""

from __future__ import annotations

import logging

from aiohttp import web

from gateway import audit
from gateway.audit import AuditEntry
from gateway.dashboard.keys import STATE
from gateway.dashboard.peers import client_address
from gateway.dashboard.render import render, session_of

log = logging.getLogger("gateway.dashboard.audit")
routes = web.RouteTableDef()
PAGE_ROWS = 500


async def note(request: web.Request, action: str, target: str = "", detail: str = "", *,
               actor: str | None = None, address: str | None = None) -> None:
    """Append to the audit log: `actor` (default: the session's user) did `action` from
    `address` (default: the client's)."""
    s = session_of(request)
    entry = AuditEntry(actor or (s.user if s and s.user else "-"),
                       address or client_address(request) or "?", action, target, detail)
    write = request.app[STATE].audit
    if write is None:
        return
    try:
        await write(entry)
    except Exception as exc:  # noqa: BLE001 - the audit must not turn a login into a 500
        log.error("audit log: could not record %s by %s: %s", action, entry.actor, exc)


@routes.get("/audit", name="audit")
async def audit_page(request: web.Request) -> web.Response:
    # who may read it: gateway.dashboard.roles.PAGE_ROLES, checked at the gate
    actor = request.query.get("actor") or None
    rows = await request.app[STATE].db.run(
        lambda c: audit.read(c, limit=PAGE_ROWS, actor=actor))
    return render(request, "audit.html", page="audit", rows=rows, actor=actor,
                  limit=PAGE_ROWS)
