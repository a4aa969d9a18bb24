"""Fixtures: a real SQLite plant database, a real users file, and the dashboard served by
aiohttp's TestServer on a loopback port, driven by its TestClient."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.audit import AuditLog
from gateway.dashboard import ActionRefused, DashboardSettings, DashboardState, create_app
from gateway.metrics import Metrics
from gateway.users import UserStore

from . import sample_plant


@pytest.fixture(scope="session")
def users_template(tmp_path_factory) -> Path:
    # scrypt is deliberately slow: hash the test users once per session.
    path = tmp_path_factory.mktemp("users") / "users.toml"
    store = UserStore(path)
    store.add("sam", "supervisor", sample_plant.PASSWORD["sam"])
    store.add("vic", "viewer", sample_plant.PASSWORD["vic"])
    store.add("carla", "controller", sample_plant.PASSWORD["carla"])
    return path


@pytest.fixture
def db_path(tmp_path) -> Path:
    return sample_plant.build(tmp_path / "gateway.db")


@dataclass
class ActRecorder:
    """The act seam as the gateway implements it: record, then resolve in the database."""

    db_path: Path
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refuse_with: str | None = None

    async def __call__(self, action: str, *, user: str, **kw: Any) -> str:
        self.calls.append((action, {"user": user, **kw}))
        if self.refuse_with:
            raise ActionRefused(self.refuse_with)
        if action == "dismiss":
            sample_plant.resolve_in_db(self.db_path, kw["exception_id"], "dismissed", kw["reason"], user)
        if action == "dismiss_many":
            for exc_id in kw["exception_ids"]:
                sample_plant.resolve_in_db(self.db_path, exc_id, "dismissed", kw["reason"], user)
        elif action in ("assign_count", "confirm_po", "approve_invoice"):
            what = kw.get("work_order") or kw.get("po") or "approved"
            sample_plant.resolve_in_db(self.db_path, kw["exception_id"], "resolved", f"-> {what}", user)
        return f"{action} done"


@pytest.fixture
def act(db_path) -> ActRecorder:
    return ActRecorder(db_path)


@pytest.fixture
def make_state(tmp_path, users_template, db_path, act):
    opened: list[AuditLog] = []

    def make(**settings) -> DashboardState:
        users = tmp_path / "users.toml"
        shutil.copy(users_template, users)
        devices = [
            {"id": "plc-assy", "driver": "opcua", "state": "connected",
             "last_reading_ts": "2026-11-22T03:59:58Z", "readings_per_s": 4.5, "alarms": []},
            {"id": "scale-mix", "driver": "serial_scale", "state": "disconnected",
             "last_reading_ts": None, "readings_per_s": 0.0, "alarms": ["port /dev/ttyUSB0 gone"],
             "reason": "/dev/ttyUSB0: open failed: no such file"},
        ]
        defaults = dict(gateway_id="plant1-line1", secure_cookies=False, sse_interval_s=0.05,
                        account_names={"2100": "Goods received not invoiced",
                                       "1400": "Work in process"})
        audit = AuditLog(db_path)
        opened.append(audit)
        return DashboardState(db_path=db_path, users=UserStore(users),
                              settings=DashboardSettings(**(defaults | settings)),
                              metrics=Metrics(), devices=lambda: devices, act=act, audit=audit)
    yield make
    for audit in opened:
        audit.close()


class Dashboard:
    """A TestClient with login and CSRF-aware POST helpers."""

    def __init__(self, client: TestClient, state: DashboardState):
        self.client = client
        self.state = state
        self.origin = str(client.make_url("/")).rstrip("/")

    async def csrf(self, path: str = "/") -> str:
        resp = await self.client.get(path)
        text = await resp.text()
        m = sample_plant.CSRF_RE.search(text)
        assert m, f"no CSRF token in {path} ({resp.status})"
        return m.group(1)

    async def login(self, name: str, password: str | None = None):
        token = await self.csrf("/login")
        return await self.client.post(
            "/login", data={"csrf": token, "name": name, "next": "/",
                            "password": password or sample_plant.PASSWORD[name]},
            headers={"Origin": self.origin}, allow_redirects=False)

    async def post(self, path: str, data: dict, *, token: str | None = None, origin: bool = True):
        form = dict(data)
        if token is not None:
            form["csrf"] = token
        headers = {"Origin": self.origin} if origin else {}
        return await self.client.post(path, data=form, headers=headers, allow_redirects=False)


@pytest.fixture
async def dashboard(make_state):
    async def start(**settings) -> Dashboard:
        state = make_state(**settings)
        client = TestClient(TestServer(create_app(state), host="127.0.0.1"))
        await client.start_server()
        started.append(client)
        return Dashboard(client, state)

    started: list[TestClient] = []
    yield start
    for c in started:
        await c.close()
