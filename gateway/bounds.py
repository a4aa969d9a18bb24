"""Plausible ranges for what an event may carry, checked before the engine values it.

The `[limits]` table of gateway.toml sets them; the defaults are far beyond what a real
plant books in one event and far below what int64 money could not hold. A value outside
is a rejection naming the field, the value and the bound (`EventError`).

Why the books cannot wrap: an event's money is at most `max_amount` minor units per line
(qty <= max_qty and unit_price <= max_unit_price cap what the event says; `max_amount`
caps their product and the hours times the master-data rates), a micro-batch holds at
most a few thousand events, and the journal refuses a batch whose debits sum to 2^62 or
more or that leaves any book value at 2^62 or beyond. Starting below 2^62 and adding
less than 2^62 in one batch stays below 2^63, so int64 never wraps unseen.
"""

from __future__ import annotations

import functools
import math
from typing import Annotated

import msgspec

from gateway.events import Event, EventError

# A micro-batch's debits and any book value stay below this (int64 holds < 2^63).
MONEY_CEILING = 2 ** 62

_QTY_FIELDS = ("qty", "counted_qty")
_ID_FIELDS = ("id", "reverses", "work_order", "item", "location", "from_location",
              "to_location", "line", "po", "order", "invoice")
_LOT_FIELDS = ("lot",)

Pos = Annotated[float, msgspec.Meta(gt=0)]
PosInt = Annotated[int, msgspec.Meta(gt=0)]


class Limits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The `[limits]` table; every field has a default."""

    max_qty: Pos = 1e9                # per event, in the item's unit of measure
    min_qty: Pos = 1e-6               # smallest quantity that books anything
    max_unit_price: Pos = 1e9         # minor units per unit
    max_hours: Pos = 24 * 366         # labor hours per event
    max_amount: Pos = 1e13            # minor units an event may move (qty x price)
    max_operation: PosInt = 1_000_000  # highest routing operation number an event may name
    max_id_length: PosInt = 128       # ids, items, locations, orders, POs
    max_lot_length: PosInt = 64       # characters of a lot number
    max_text_length: PosInt = 256     # any other text (statuses, source, ...)
    max_payload_bytes: PosInt = 64 * 1024   # refused before decoding
    exception_raw_bytes: PosInt = 4 * 1024  # kept of a rejected frame (+ length, sha256)
    max_ahead_seconds: Pos = 86400.0  # ts at most this far ahead of the gateway clock
    not_before: str = "2000-01-01T00:00:00Z"  # floor when the journal has no events yet


DEFAULT = Limits()


def _reject(field: str, value: object, bound: str) -> EventError:
    return EventError(f"{field}: {value!r} is outside the plausible range ({bound})", field)


def _cap(name: str, limits: Limits) -> int:
    """The most characters a text field `name` may hold."""
    return (limits.max_id_length if name in _ID_FIELDS else
            limits.max_lot_length if name in _LOT_FIELDS else limits.max_text_length)


@functools.lru_cache(maxsize=256)
def _fields(cls: type, limits: Limits) -> tuple[tuple[str, int], ...]:
    """(field, its text cap) of an event class, in field order."""
    return tuple((name, _cap(name, limits)) for name in cls.__struct_fields__)


def check_event(event: Event, limits: Limits = DEFAULT, decimals: int = 2) -> None:
    """Raise EventError for the first field of `event` outside `limits`."""
    for name, cap in _fields(type(event), limits):
        value = getattr(event, name)
        if value is None:
            continue
        t = type(value)  # the exact types first: a subclass takes the isinstance path
        if t is str:
            if len(value) > cap:
                raise _too_long(name, value, cap)
        elif t is float or (t is not int and isinstance(value, float)):
            _check_number(name, value, limits)
        elif t is int or (isinstance(value, int) and not isinstance(value, bool)):
            if not 0 <= value <= limits.max_operation:
                raise _reject(name, value, f"0..{limits.max_operation}")
        elif isinstance(value, str):
            if len(value) > cap:
                raise _too_long(name, value, cap)
    paid = getattr(event, "amount", None)  # a payment's amount, major units
    if paid is not None and paid * 10 ** decimals > limits.max_amount:
        raise _reject("amount", paid, f"at most {limits.max_amount / 10 ** decimals:.6g}")
    price = getattr(event, "unit_price", None)
    if price is None:
        return
    if price * 10 ** decimals >= limits.max_unit_price:
        raise _reject("unit_price", price, f"< {limits.max_unit_price:g} minor units per unit"
                      f" = {limits.max_unit_price / 10 ** decimals:g} per unit")
    qty = getattr(event, "qty", None)
    if qty is not None:
        amount = qty * price * 10 ** decimals
        if amount > limits.max_amount:
            raise _reject("unit_price", price, f"qty x unit_price = {amount:.6g} minor units,"
                          f" at most {limits.max_amount:.6g}")


def _too_long(name: str, value: str, cap: int) -> EventError:
    return EventError(f"{name}: {len(value)} characters, at most {cap} allowed"
                      f" (starts {value[:32]!r})", name)


def _check_number(name: str, value: float, limits: Limits) -> None:
    if not math.isfinite(value):
        raise _reject(name, value, "must be a finite number")
    if name in _QTY_FIELDS:
        if value >= limits.max_qty:
            raise _reject(name, value, f"< {limits.max_qty:g}")
        if 0 < value < limits.min_qty or (value == 0 and name == "qty"):
            raise _reject(name, value, f">= {limits.min_qty:g}, the smallest quantity booked")
    elif name == "hours":
        if not limits.min_qty <= value < limits.max_hours:
            raise _reject(name, value, f"{limits.min_qty:g} <= hours < {limits.max_hours:g}")
    if value < 0:
        raise _reject(name, value, ">= 0")

