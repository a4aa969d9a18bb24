"""Supervisor actions from the dashboard (the `act` seam of gateway.dashboard.state).

Each action that books something is an event with a stable id, committed in the same
transaction as the resolution of the exception it settles; a dismissal is recorded on
the exception (who, when, why). Acting twice on one exception is refused, never applied
twice: the booked event's id comes from the original reading.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from gateway.dashboard.state import ActionRefused
from gateway.journal import Journal, SideEffects, Submission
from gateway.mapping import Mapper
from gateway.provenance import supervisor_source


def _open_exception(journal: Journal, exc_id: int, kind: str) -> dict:
    row = journal.conn.execute("SELECT kind, raw, status FROM exceptions WHERE id=?",
                               (int(exc_id),)).fetchone()
    if row is None:
        raise ActionRefused(f"exception {exc_id} does not exist")
    found, raw, status = row
    if status != "open":
        raise ActionRefused(f"exception {exc_id} is already {status}")
    if found != kind:
        raise ActionRefused(f"exception {exc_id} is a {found}, not a {kind}")
    return json.loads(raw)


def assign_count(journal: Journal, mapper: Mapper, exception_id: int, work_order: str,
                 user: str) -> str:
    """Book an unassigned counter delta to a work order (as the count would have been)."""
    reading = _open_exception(journal, exception_id, "unassigned_count")
    if reading.get("kind") != "counter":
        raise ActionRefused(f"a {reading.get('kind')} reading cannot be assigned here")
    a = reading["attrs"]
    event = {"id": a["event_id"], "ts": reading["ts"], "source": reading["device"],
             "work_order": work_order, "qty": a["delta"]}
    if a.get("counter_kind") == "scrap":
        event.update(type="scrap", operation=int(a.get("operation") or 0))
    else:
        event.update(type="completion",
                     location=mapper.output_location(work_order, a.get("line") or ""))
    return _book(journal, exception_id, event, reading, user,
                 f"assigned to {work_order} by {user}")


def confirm_po(journal: Journal, exception_id: int, po: str, user: str) -> str:
    """Price a receipt that had no PO line from the PO line the supervisor names."""
    draft = _open_exception(journal, exception_id, "no_po")["draft"]
    line = next((p for p in journal.master.purchase_orders
                 if p.po == po and p.sku == draft["item"]), None)
    if line is None:
        raise ActionRefused(f"PO {po} has no line for {draft['item']}")
    event = {**draft, "po": po, "unit_price": line.unit_price}
    return _book(journal, exception_id, event, None, user, f"received on {po} by {user}")


def approve_invoice(journal: Journal, exception_id: int, user: str) -> str:
    """Post a held invoice line whose price is off the PO's: the draft again, with
    `approved_by`, so the price check is skipped (the quantity check never is)."""
    row = journal.conn.execute("SELECT field FROM exceptions WHERE id=?",
                               (int(exception_id),)).fetchone()
    held = _open_exception(journal, exception_id, "invoice_mismatch")
    if row[0] != "unit_price":
        raise ActionRefused(f"exception {exception_id} is a {row[0]} mismatch: only a price"
                            " mismatch can be approved; it matches when receipts cover it,"
                            " or dismiss it with a reason")
    event = {**held["draft"], "approved_by": user}
    return _book(journal, exception_id, event, None, user, f"price approved by {user}")


def dismiss(journal: Journal, exception_id: int, reason: str, user: str) -> str:
    dismiss_many(journal, [exception_id], reason, user)
    return f"exception {exception_id} dismissed"


def dismiss_many(journal: Journal, exception_ids: list[int], reason: str, user: str) -> str:
    """Dismiss every one of `exception_ids` with one reason, in one transaction, or none."""
    ids = sorted({int(i) for i in exception_ids})
    if not ids:
        raise ActionRefused("no exception selected")
    for exc_id in ids:
        row = journal.conn.execute("SELECT status FROM exceptions WHERE id=?",
                                   (exc_id,)).fetchone()
        if row is None or row[0] != "open":
            raise ActionRefused(f"exception {exc_id} is not open")
    if not reason.strip():
        raise ActionRefused("a dismissal needs a reason")
    journal.submit([], side=SideEffects(resolutions=[(exc_id, "dismissed", reason.strip(), user)
                                                     for exc_id in ids]))
    return f"{len(ids)} exceptions dismissed"


def _book(journal: Journal, exc_id: int, event: dict, reading: dict | None, user: str,
          resolution: str) -> str:
    side = SideEffects(resolutions=[(int(exc_id), "resolved", resolution, user)])
    [res] = journal.submit([Submission(event, source=supervisor_source(user), reading=reading)],
                           side=side)
    if res.status == "rejected":
        # The booking did not happen: the exception stays open (its resolution is undone).
        journal.conn.execute("UPDATE exceptions SET status='open', resolution=NULL,"
                             " resolved_by=NULL, resolved_at=NULL WHERE id=?", (int(exc_id),))
        raise ActionRefused(res.reason or "rejected")
    return f"{event['type']} {event['id']} booked; exception {exc_id} resolved"


def alert_action(journal: Journal, action: str, key: str, note: str, user: str,
                 routes=()) -> str:
    """Acknowledge or resolve an alert on the journal's connection; a refusal says why."""
    from gateway.alerts.store import AlertRefused, acknowledge, resolve

    try:
        alert = (acknowledge if action == "ack_alert" else resolve)(
            journal.conn, key, user, note, routes)
    except AlertRefused as exc:
        raise ActionRefused(str(exc)) from None
    return f"alert {alert['key']} {alert['state']}"


def make_act(journal: Journal, mapper: Mapper, run: Callable[[Callable[[], str]], Awaitable[str]],
             retry_batch: Callable[[int], str] | None = None, alert_routes=()):
    """The dashboard's `act(action, user=..., **kw)`. `run` executes journal work on the
    gateway's single journal thread, so actions never race the committer."""

    async def act(action: str, *, user: str, **kw: Any) -> str:
        if action == "assign_count":
            return await run(lambda: assign_count(journal, mapper, int(kw["exception_id"]),
                                                  kw["work_order"], user))
        if action == "confirm_po":
            return await run(lambda: confirm_po(journal, int(kw["exception_id"]), kw["po"], user))
        if action == "approve_invoice":
            return await run(lambda: approve_invoice(journal, int(kw["exception_id"]), user))
        if action == "dismiss":
            return await run(lambda: dismiss(journal, int(kw["exception_id"]), kw["reason"], user))
        if action == "dismiss_many":
            return await run(lambda: dismiss_many(journal, list(kw["exception_ids"]),
                                                  kw["reason"], user))
        if action in ("ack_alert", "resolve_alert"):
            return await run(lambda: alert_action(journal, action, kw["key"], kw["note"], user,
                                                  alert_routes))
        if action == "retry_batch" and retry_batch is not None:
            return await run(lambda: retry_batch(int(kw["batch_seq"])))
        raise ActionRefused(f"unknown action {action!r}")

    return act
