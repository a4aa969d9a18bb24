"""What the engine returns for each event: its journal lines, stock moves and alerts.

Amounts are integers in minor units (cents). `Outcome.ok` is False for a rejected
event, with `field` and `reason` naming what is wrong; a rejected event changes no
state. Alerts (e.g. "negative stock") accompany an accepted event: production happened,
so it posts, and a supervisor is told.

Line, StockMove and Outcome are NamedTuples: immutable like a frozen dataclass, and
built four times faster (~0.6 µs against ~2.5), which counts at several lines an event
on the journal's write path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

MISMATCH = "invoice_mismatch"  # the exception kind an invoice line that does not match is held as


class Line(NamedTuple):
    account: str
    debit: int  # minor units, >= 0; exactly one of debit/credit is non-zero
    credit: int
    item: str | None = None
    work_order: str | None = None
    work_center: str | None = None
    memo: str = ""


class StockMove(NamedTuple):
    """A quantity change at one stock row (item, location, status, lot)."""

    item: str
    location: str
    status: str
    lot: str | None
    qty: float


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # "negative stock", "rounding", ...
    message: str


class Outcome(NamedTuple):
    event_id: str
    ok: bool
    lines: tuple[Line, ...] = ()
    moves: tuple[StockMove, ...] = ()
    alerts: tuple[Alert, ...] = ()
    field: str | None = None
    reason: str | None = None
    hold: str | None = None  # refused for now: the exception kind it is held as

    @staticmethod
    def reject(event_id: str, field: str | None, reason: str,
               hold: str | None = None) -> Outcome:
        return Outcome(event_id, False, field=field, reason=reason, hold=hold)


class Reject(Exception):
    """An event the engine refuses: raised while it is checked, before any state moved."""

    def __init__(self, field: str | None, reason: str, hold: str | None = None):
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.hold = hold  # e.g. "invoice_mismatch": held for a user to act on, not wrong

    def outcome(self, event_id: str) -> Outcome:
        """The rejected outcome, its reason prefixed with the field it names."""
        return Outcome.reject(event_id, self.field, f"{self.field}: {self.reason}"
                              if self.field else self.reason, self.hold)
