"""Calling the act seam: one place that awaits it, turns a refusal into a message for the
supervisor and never lets a half-checked action through."""

from __future__ import annotations

import inspect
import logging

from aiohttp import web

from gateway.dashboard.keys import STATE
from gateway.dashboard.render import flash, session_of
from gateway.dashboard.state import ACTIONS, ActionRefused
from gateway.dashboard.views.audit import note
from gateway.users import refusal

log = logging.getLogger("gateway.dashboard.actions")


async def perform(request: web.Request, action: str, back: str, **kw) -> web.StreamResponse:
    """Run `action` through the seam, flash the outcome, and redirect to `back`."""
    assert set(kw) == set(ACTIONS[action]), (action, kw)  # the seam's documented signature
    state = request.app[STATE]
    if state.act is None:
        raise web.HTTPServiceUnavailable(text="supervisor actions are not wired to the gateway")
    s = session_of(request)
    user = s.user
    why = refusal(user, s.role, action)  # e.g. an invoice price is the controller's
    if why is not None:
        log.warning("action %s by %s refused: %s", action, user, why)
        await note(request, action, _target(kw), f"refused: {why}; {_detail(kw)}")
        raise web.HTTPForbidden(text=f"refused: {why}")
    try:
        result = state.act(action, user=user, **kw)
        if inspect.isawaitable(result):
            result = await result
    except ActionRefused as exc:
        log.info("action %s by %s refused: %s", action, user, exc)
        await note(request, action, _target(kw), f"refused: {exc}; {_detail(kw)}")
        flash(request, f"Not done: {exc}", "error")
    else:
        log.info("action %s by %s: %s", action, user, kw)
        await note(request, action, _target(kw), f"{result or 'done'}; {_detail(kw)}")
        flash(request, str(result or "Done."), "ok")
    raise web.HTTPSeeOther(back)


def _target(kw: dict) -> str:
    if "batch_seq" in kw:
        return f"batch {kw['batch_seq']}"
    if "exception_ids" in kw:
        return "exceptions " + ",".join(str(i) for i in kw["exception_ids"])
    if "key" in kw:
        return f"alert {kw['key']}"
    return f"exception {kw['exception_id']}"


def _detail(kw: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in kw.items()
                     if k not in ("batch_seq", "exception_id", "exception_ids", "key"))


def refuse(request: web.Request, back: str, message: str) -> web.StreamResponse:
    """A form value that cannot be acted on: say which field and value, change nothing."""
    flash(request, message, "error")
    raise web.HTTPSeeOther(back)


async def form_text(request: web.Request, field: str) -> str:
    """A form field, stripped; '' when absent or not text."""
    form = await request.post()
    value = form.get(field)
    return value.strip() if isinstance(value, str) else ""
