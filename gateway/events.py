"""The canonical event form (see docs/architecture.md): decoded and type-checked with msgspec.

`decode_event(raw)` either returns one of the event structs or raises `EventError`
naming the field and the value. Business checks that need state (unknown item, closed
work order, ...) are the cost engine's; this module only checks shape and sign.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Union

import msgspec

Qty = Annotated[float, msgspec.Meta(gt=0)]
NonNeg = Annotated[float, msgspec.Meta(ge=0)]
Id = Annotated[str, msgspec.Meta(min_length=1)]


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type",
             forbid_unknown_fields=True):
    id: Id
    ts: str  # RFC 3339; recorded, never used for ordering
    # What the payload says sent it: a claim only. The journal stores the channel as the
    # actor and moves this to claimed_source (gateway.provenance).
    source: str | None = None
    claimed_source: str | None = None
    # The tag, as a plain class attribute (set below for each event class): read several
    # times per event on the write path, where a property's call showed in profiles.
    type: ClassVar[str]


class Receipt(_Event, tag="receipt"):
    item: Id
    qty: Qty
    location: Id
    unit_price: NonNeg
    po: str | None = None
    lot: str | None = None
    status: str | None = None


class Issue(_Event, tag="issue"):
    work_order: Id
    item: Id
    qty: Qty
    location: str | None = None
    lot: str | None = None


class WoRelease(_Event, tag="wo_release"):
    work_order: Id
    item: Id
    qty: Qty
    line: Id
    order: str | None = None  # the sales order a make-to-order work order is made for


class WoStart(_Event, tag="wo_start"):
    """A work-order barcode scanned at a line: that order runs there from now on."""

    work_order: Id
    line: Id


class Completion(_Event, tag="completion"):
    work_order: Id
    qty: Qty
    location: Id


class Scrap(_Event, tag="scrap"):
    work_order: Id
    qty: Qty
    operation: int


class Labor(_Event, tag="labor"):
    work_order: Id
    operation: int
    hours: Qty


class Shipment(_Event, tag="shipment"):
    item: Id
    qty: Qty
    location: Id
    unit_price: NonNeg
    order: str | None = None
    lot: str | None = None


class Count(_Event, tag="count"):
    item: Id
    location: Id
    counted_qty: NonNeg
    lot: str | None = None
    status: str | None = None


class Transfer(_Event, tag="transfer"):
    item: Id
    qty: Qty
    from_location: Id
    to_location: Id
    from_status: str | None = None
    to_status: str | None = None
    lot: str | None = None


class WoClose(_Event, tag="wo_close"):
    work_order: Id


class Reversal(_Event, tag="reversal"):
    reverses: Id


class SupplierInvoice(_Event, tag="supplier_invoice"):
    """One line of a supplier's invoice, matched against its PO line and receipts."""

    invoice: Id  # the supplier's number; several lines may share it
    po: Id
    item: Id
    qty: Qty
    unit_price: NonNeg
    supplier: str | None = None
    # who approved a price outside the tolerance (set when a held line is approved)
    approved_by: str | None = None


class Payment(_Event, tag="payment"):
    """Pays a supplier invoice (all its lines), up to its open balance."""

    invoice: Id
    amount: Qty


class CustomerPayment(_Event, tag="customer_payment"):
    """Settles what shipments on a sales order put on AR, up to what is open."""

    order: Id
    amount: Qty


Event = Union[
    Receipt, Issue, WoRelease, Completion, Scrap, Labor, Shipment, Count, Transfer,
    WoClose, Reversal, SupplierInvoice, Payment, CustomerPayment, WoStart,
]
EVENT_TYPES: dict[str, type] = {
    cls.__struct_config__.tag: cls
    for cls in (Receipt, Issue, WoRelease, Completion, Scrap, Labor, Shipment, Count,
                Transfer, WoClose, Reversal, SupplierInvoice, Payment, CustomerPayment,
                WoStart)
}
for _tag, _cls in EVENT_TYPES.items():
    _cls.type = _tag


class EventError(ValueError):
    """An event that cannot be decoded: `field` names the culprit (or None)."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


_decoder = msgspec.json.Decoder(Event)
_encoder = msgspec.json.Encoder(order="sorted")


def decode_event(raw: bytes | str) -> Event:
    """Decode one canonical JSON event, or raise EventError naming field and value."""
    try:
        event = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise EventError(_explain(str(exc), raw), _field_of(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise EventError(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise EventError("payload: nested too deeply to be an event", "payload") from None
    return event


def convert_event(obj: dict) -> Event:
    """Same as decode_event, from an already-parsed mapping (e.g. MQTT payload dict)."""
    try:
        event = msgspec.convert(obj, Event)
    except msgspec.ValidationError as exc:
        raise EventError(_explain(str(exc), obj), _field_of(str(exc))) from None
    except RecursionError:
        raise EventError("payload: nested too deeply to be an event", "payload") from None
    return event


def encode_event(event: Event) -> bytes:
    """Canonical bytes (sorted keys, no defaults dropped): the idempotency comparison."""
    return _encoder.encode(event)


def encode_events(events: list[Event]) -> list[bytes]:
    """encode_event of each, in one encoder call (canonical JSON holds no raw newline)."""
    return _encoder.encode_lines(events).split(b"\n")[:-1] if events else []


def payload_of(event: Event) -> dict:
    return msgspec.to_builtins(event)


def _keys_of(raw: bytes | str) -> dict:
    try:
        obj = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _field_of(message: str) -> str | None:
    # msgspec says e.g. "Expected `float`, got `str` - at `$.qty`"
    if "at `$." in message:
        return message.rsplit("at `$.", 1)[1].rstrip("`").split("[")[0].split(".")[0]
    if "unknown field `" in message:
        return message.split("unknown field `", 1)[1].split("`")[0]
    if "missing required field `" in message:
        return message.split("missing required field `", 1)[1].split("`")[0]
    return None


def _explain(message: str, raw: object) -> str:
    field = _field_of(message)
    if field is None:
        return message
    obj = raw if isinstance(raw, dict) else _keys_of(raw)
    what = message.split(" - at ")[0]
    for vendor, ours in (("Expected `float` > 0.0", "must be > 0"),
                         ("Expected `float` >= 0.0", "must be >= 0"),
                         ("Expected `str` of length >= 1", "must not be empty"),
                         ("Object missing required field", "missing required field"),
                         ("Object contains unknown field", "unknown field")):
        what = what.replace(vendor, ours)
    if field in obj and "unknown field" not in what:
        got = repr(obj[field])
        return f"{field}: {what} (got {got if len(got) <= 80 else got[:77] + '...'})"
    return f"{field}: {what}"
