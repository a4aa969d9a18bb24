"""Typed application keys: the one place the dashboard's shared objects are named."""

from __future__ import annotations

import asyncio

import jinja2
from aiohttp import web

from gateway.dashboard.auth import Session, SessionStore
from gateway.dashboard.state import DashboardState
from gateway.dashboard.throttle import LoginThrottle

STATE = web.AppKey("state", DashboardState)
SESSIONS = web.AppKey("sessions", SessionStore)
THROTTLE = web.AppKey("throttle", LoginThrottle)
JINJA = web.AppKey("jinja", jinja2.Environment)
STREAMS = web.AppKey("streams", set[asyncio.Task])
LIVE = web.AppKey("live", object)  # sse.SharedSnapshot (typed loosely: sse imports keys)
SESSION = web.RequestKey("session", Session)  # set by the gate on every request
