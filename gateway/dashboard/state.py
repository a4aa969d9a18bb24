"""What the dashboard is given by the gateway: the database, settings, users, metrics,
live device status and the one seam through which supervisors change anything.

The act seam
------------
`act(action, *, user, **kw)` is called once per supervisor action, after the dashboard
has checked login, role (supervisor), CSRF token, Origin and the form fields. It may be
a plain function or a coroutine function. It must record the action durably (the
gateway wires it to the journal, so the action is an event with a stable id) and update
the `exceptions` / `batches` rows it concerns. It returns a short message for the
supervisor, or raises `ActionRefused(message)` when the action cannot be applied (e.g.
the work order was closed in the meantime) — the dashboard shows the message and changes
nothing. Any other exception is a bug: logged, and answered with 500.

| action          | keyword arguments                          | meaning                                     |
|-----------------|--------------------------------------------|---------------------------------------------|
| `assign_count`  | exception_id: int, work_order: str         | book an unassigned counter delta to an order |
| `confirm_po`    | exception_id: int, po: str                 | price a receipt that had no PO from this PO  |
| `approve_invoice` | exception_id: int                        | post a held invoice line despite its price   |
| `dismiss`       | exception_id: int, reason: str             | close an exception without a booking         |
| `retry_batch`   | batch_seq: int                             | put a quarantined batch back in the outbox   |
| `ack_alert`     | key: str, note: str                        | acknowledge the open alert of this key       |
| `resolve_alert` | key: str, note: str                        | close the alert of this key by hand          |

Every call also gets `user` (the supervisor's name) for the audit trail.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from costing.master import MasterData
from gateway.metrics import Metrics
from gateway.users import UserStore

__all__ = ["ACTIONS", "Act", "ActionRefused", "DashboardSettings", "DashboardState",
           "ReadOnlyDb", "DatabaseUnavailable"]

ACTIONS: dict[str, tuple[str, ...]] = {
    "assign_count": ("exception_id", "work_order"),
    "confirm_po": ("exception_id", "po"),
    "approve_invoice": ("exception_id",),
    "dismiss": ("exception_id", "reason"),
    "dismiss_many": ("exception_ids", "reason"),
    "retry_batch": ("batch_seq",),
    "ack_alert": ("key", "note"),
    "resolve_alert": ("key", "note"),
}

T = TypeVar("T")


class ActionRefused(Exception):
    """The gateway declined a supervisor action; the message says why, for people."""


class Act(Protocol):
    def __call__(self, action: str, *, user: str, **kw: Any) -> str | Awaitable[str]: ...


DeviceStatus = Mapping[str, Any]  # {id, driver, state, last_reading_ts, readings_per_s, alarms}


def _default_categories() -> dict[str, list[str]]:
    return {"available": ["available"],
            "unavailable": ["quality", "damaged", "pending_putaway"]}


@dataclass(frozen=True)
class DashboardSettings:
    """Config-derived knobs; the defaults are the production-safe ones."""

    gateway_id: str = "gateway"
    currency: str = "EUR"
    currency_decimals: int = 2
    wip_account: str = "1400"  # [accounts].wip: what an order has been charged
    # [accounts].applied_labor / applied_overhead: their credits split an order's charges
    labor_account: str = "5310"
    overhead_account: str = "5320"
    revenue_account: str = "4000"  # [accounts].revenue / cogs: the margin on /money
    cogs_account: str = "5000"
    ap_account: str = "2000"  # [accounts].ap / ar: the open invoices and orders on /money
    ar_account: str = "1200"
    # [accounts] by key (Accounts.by_key): the variance and scrap accounts the margin per
    # sales order on /money takes off; without them it shows the margin before those
    accounts: dict[str, str] = field(default_factory=dict)
    # parent item -> what reaches WIP after its completions ("RM-RESIN issues", "WC3
    # labor"), gateway.dashboard.wip.charged_later: says why an open order's WIP is negative
    charged_later: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # work center -> item -> standard units an hour (gateway.dashboard.lines.line_rates):
    # the plan on the overview's per-line output charts
    line_rates: dict[str, dict[str, float]] = field(default_factory=dict)
    # parent item -> hand-issued component -> standard a unit (gateway.alerts.rules.
    # issue_standards): the standard on a consumption alert's chart
    issue_standards: dict[str, dict[str, float]] = field(default_factory=dict)
    item_uoms: dict[str, str] = field(default_factory=dict)  # sku -> unit: stock totals per unit
    chart_interval_s: float = 10.0  # the live stream redraws charts at most this often
    # account code -> its name in the chart of accounts ("1400" -> "Work in process")
    account_names: dict[str, str] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=_default_categories)
    inventory_accounts: tuple[str, ...] = ()  # [accounts.inventory]: the stock-value chart
    # work center -> its line-side location, where backflush draws (the lot trace)
    work_center_locations: dict[str, str] = field(default_factory=dict)
    secure_cookies: bool = True  # the plain-http demo turns this off (and says so)
    session_ttl_s: float = 8 * 3600  # idle expiry
    session_max_s: float = 12 * 3600  # absolute life of a login, however busy
    login_max_failures: int = 5  # per name and per client address ...
    login_window_s: float = 15 * 60  # ... within this window, then locked for:
    login_lockout_s: float = 5 * 60
    # a locked name may still log in from an address with no recent failure, this much later
    login_locked_name_delay_s: float = 3.0
    sse_interval_s: float = 1.0
    sse_keepalive_s: float = 15.0
    allowed_origins: tuple[str, ...] = ()  # extra Origins (e.g. behind a TLS proxy)
    # peers (addresses / CIDRs) whose X-Forwarded-Proto and -For are believed
    trusted_proxies: tuple[str, ...] = ()
    # names a Host header may carry besides IP literals and localhost (DNS rebinding)
    server_names: tuple[str, ...] = ()
    metrics_token: str | None = None  # bearer token that may scrape /metrics
    metrics_public: bool = False  # /metrics open to whoever reaches it
    max_upload_bytes: int = 5 * 1024 * 1024


@dataclass
class DashboardState:
    db_path: Path
    users: UserStore
    settings: DashboardSettings = field(default_factory=DashboardSettings)
    metrics: Metrics | None = None
    devices: Callable[[], Sequence[DeviceStatus]] = lambda: ()
    act: Act | None = None  # None: actions answer 503 "not wired"
    # reconcile(conn, categories, erp_rows, decimals) -> rows; None = gateway.reconcile
    reconcile: Callable[..., list[dict]] | None = None
    # audit(gateway.audit.AuditEntry) -> awaitable: appends to the audit log (an AuditLog);
    # None: entries are only logged
    audit: Callable[[Any], Awaitable[None]] | None = None
    # the plant's items, BOMs and routings: the item page's cost roll-up tree and the
    # quantities backflush drew; None: the page says the master data was not given
    master: MasterData | None = None

    def __post_init__(self) -> None:
        self.db = ReadOnlyDb(Path(self.db_path))
        self._std: dict[str, float] | None = None

    def standard_costs(self) -> dict[str, float]:
        """The rolled standard cost per sku (costing.rollup), computed once; {} without
        master data."""
        if self._std is None:
            from costing.rollup import roll_up

            self._std = roll_up(self.master).std if self.master is not None else {}
        return self._std


class DatabaseUnavailable(RuntimeError):
    """The gateway database cannot be opened (not created yet, or unreadable)."""


class ReadOnlyDb:
    """Read-only connections to the gateway database, used off the event loop.

    `mode=ro` means the dashboard can never write, and WAL lets the gateway commit while
    a page is being read.
    """

    def __init__(self, path: Path):
        self.path = path

    def connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise DatabaseUnavailable(f"database {self.path} does not exist yet")
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=5.0)
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"database {self.path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        return conn

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self.connect()
        try:
            return fn(conn)
        finally:
            conn.close()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self.read, fn)
