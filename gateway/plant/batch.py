"""A GL batch as a gateway sends it (see docs/architecture.md), judged without I/O.

`identify` finds who sent it and where it sits in that gateway's sequence (the batch id
is `<gateway>-<seq>`); `judge` checks the rest and turns amounts into integer minor
units. Both return errors as values: a `Problem` names the field, the value and why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from gateway.money import from_str

__all__ = ["Batch", "Identity", "Line", "Problem", "digest", "identify", "judge"]


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str      # unreadable | unbalanced | invalid | unknown_gateway | sequence_gap ...
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Identity:
    gateway: str
    batch_id: str
    seq: int
    doc: dict | None   # None when read by the fast path (gateway.plant.wire)


@dataclass(frozen=True, slots=True)
class Line:
    account: str
    work_center: str | None
    work_order: str | None
    item: str | None
    memo: str | None
    entry: int | None
    debit: int
    credit: int


@dataclass(frozen=True, slots=True)
class Batch:
    gateway: str
    batch_id: str
    seq: int
    period: str
    currency: str
    created_at: datetime
    lines: tuple[Line, ...]
    debit: int
    credit: int


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def identify(body: bytes) -> Identity | Problem:
    """Gateway, batch id and sequence number of a batch, or why they cannot be known."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Problem("unreadable", "", f"not a JSON batch: {exc}")
    if not isinstance(doc, dict):
        return Problem("unreadable", "", f"expected a JSON object, got {type(doc).__name__}")
    batch_id, seq = doc.get("batch_id"), doc.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return Problem("invalid", "seq", f"expected a positive integer, got {seq!r}")
    if not isinstance(batch_id, str) or not batch_id.endswith(f"-{seq}") \
            or len(batch_id) <= len(f"-{seq}"):
        return Problem("invalid", "batch_id",
                       f"expected '<gateway>-{seq}' (the batch's seq), got {batch_id!r}")
    return Identity(batch_id[: -len(f"-{seq}")], batch_id, seq, doc)


def judge(ident: Identity, currency: str, decimals: int) -> Batch | Problem:
    """The whole batch in minor units, or the first thing wrong with it."""
    doc = ident.doc
    period = doc.get("period")
    if not isinstance(period, str) or not period:
        return Problem("invalid", "period", f"expected a period like '2024-05', got {period!r}")
    if doc.get("currency") != currency:
        return Problem("invalid", "currency",
                       f"the plant keeps its books in {currency}, got {doc.get('currency')!r}")
    created = doc.get("created_at")
    try:
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            raise ValueError("no time zone")
    except (TypeError, ValueError):
        return Problem("invalid", "created_at", f"expected an ISO 8601 time with zone, got {created!r}")
    raw_lines = doc.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        return Problem("invalid", "lines", "expected a non-empty list of lines")
    lines = []
    for i, raw in enumerate(raw_lines):
        line = _line(raw, i, decimals)
        if isinstance(line, Problem):
            return line
        lines.append(line)
    debit = sum(x.debit for x in lines)
    credit = sum(x.credit for x in lines)
    if debit != credit:
        return Problem("unbalanced", "lines",
                       f"debit {debit} != credit {credit} (minor units) over {len(lines)} lines")
    totals = doc.get("totals")
    if isinstance(totals, dict):
        for side, total in (("debit", debit), ("credit", credit)):
            stated = _amount(totals.get(side), f"totals.{side}", decimals)
            if isinstance(stated, Problem):
                return stated
            if stated != total:
                return Problem("unbalanced", f"totals.{side}",
                               f"states {totals.get(side)!r}, the lines sum to {total} minor units")
    return Batch(ident.gateway, ident.batch_id, ident.seq, period, currency, created_at,
                 tuple(lines), debit, credit)


def _amount(value, where: str, decimals: int) -> int | Problem:
    if not isinstance(value, str):
        return Problem("invalid", where, f"expected a decimal string, got {value!r}")
    try:
        minor = from_str(value, decimals)
    except ValueError as exc:
        return Problem("invalid", where, str(exc))
    if minor < 0:
        return Problem("invalid", where, f"must not be negative, got {value!r}")
    return minor


def _text(raw: dict, key: str, where: str) -> str | None | Problem:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    return Problem("invalid", f"{where}.{key}", f"expected a string, got {value!r}")


def _line(raw, i: int, decimals: int) -> Line | Problem:
    where = f"lines[{i}]"
    if not isinstance(raw, dict):
        return Problem("invalid", where, f"expected an object, got {raw!r}")
    account = raw.get("account")
    if not isinstance(account, str) or not account:
        return Problem("invalid", f"{where}.account", f"expected an account, got {account!r}")
    values = []
    for key in ("work_center", "work_order", "item", "memo"):
        v = _text(raw, key, where)
        if isinstance(v, Problem):
            return v
        values.append(v)
    entry = raw.get("entry")
    if entry is not None and (not isinstance(entry, int) or isinstance(entry, bool)):
        return Problem("invalid", f"{where}.entry", f"expected an integer, got {entry!r}")
    debit = _amount(raw.get("debit"), f"{where}.debit", decimals)
    if isinstance(debit, Problem):
        return debit
    credit = _amount(raw.get("credit"), f"{where}.credit", decimals)
    if isinstance(credit, Problem):
        return credit
    return Line(account, *values, entry, debit, credit)
