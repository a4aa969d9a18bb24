"""`read_sound`: the fast reading of a batch exactly as a gateway writes it, else None.

A gateway writes amounts with exactly the currency's decimals ("1234.50"), so a batch
is decoded by msgspec straight into typed structs, its amounts checked by a pattern in
the decoder, and turned into minor units without the general parser. Anything this
reading does not accept (a wrong type, another amount format, a batch that does not
balance) returns None, and `batch.identify`/`batch.judge` read it again slowly to name
the field and the reason. So this path can only accept what the slow one would, with
the same result; it never refuses anything itself.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated

import msgspec

from gateway.plant.batch import Batch, Identity, Line

__all__ = ["read_sound"]

Text = str | None


@functools.cache
def _decoder(decimals: int) -> msgspec.json.Decoder:
    amount = Annotated[str, msgspec.Meta(pattern=rf"^[0-9]+\.[0-9]{{{decimals}}}$" if decimals
                                         else r"^[0-9]+$")]

    # defstruct: the amount pattern depends on the currency's decimals
    line = msgspec.defstruct("WireLine", [
        ("account", Annotated[str, msgspec.Meta(min_length=1)]), ("debit", amount),
        ("credit", amount), ("work_center", Text, None), ("work_order", Text, None),
        ("item", Text, None), ("memo", Text, None), ("entry", int | None, None)])
    totals = msgspec.defstruct("WireTotals", [("debit", amount), ("credit", amount)])
    batch = msgspec.defstruct("WireBatch", [
        ("batch_id", str), ("seq", Annotated[int, msgspec.Meta(ge=1)]),
        ("period", Annotated[str, msgspec.Meta(min_length=1)]), ("currency", str),
        ("created_at", str), ("lines", Annotated[list[line], msgspec.Meta(min_length=1)]),
        ("totals", totals | None, None)])
    return msgspec.json.Decoder(batch)


def read_sound(body: bytes, currency: str, decimals: int) -> tuple[Identity, Batch] | None:
    """Identity and batch in minor units when the batch is sound and well formed, else None."""
    try:
        doc = _decoder(decimals).decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    suffix = f"-{doc.seq}"
    if doc.currency != currency or not doc.batch_id.endswith(suffix) \
            or len(doc.batch_id) <= len(suffix):
        return None
    try:
        created_at = datetime.fromisoformat(doc.created_at)
    except ValueError:
        return None
    if created_at.tzinfo is None:
        return None
    minor = (lambda s: int(s.replace(".", "", 1))) if decimals else int  # noqa: E731
    lines = tuple(Line(x.account, x.work_center, x.work_order, x.item, x.memo, x.entry,
                       minor(x.debit), minor(x.credit)) for x in doc.lines)
    debit = sum(x.debit for x in lines)
    credit = sum(x.credit for x in lines)
    if debit != credit or doc.totals is not None and (
            minor(doc.totals.debit) != debit or minor(doc.totals.credit) != credit):
        return None
    gateway = doc.batch_id[: -len(suffix)]
    return (Identity(gateway, doc.batch_id, doc.seq, None),
            Batch(gateway, doc.batch_id, doc.seq, doc.period, currency, created_at, lines,
                  debit, credit))
