"""Numbers for people: money from integer minor units, quantities, ages — never floats for money."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from markupsafe import Markup, escape

from gateway.money import to_people, to_str

__all__ = ["money", "money_plain", "unit_cost", "qty", "age", "oldest", "short_ts", "visible"]

MINUS = "\u2212"  # a real minus sign: reads better than a hyphen in a table


def money(minor: int | None, decimals: int = 2, *, sign: bool = False) -> str:
    """`123456, 2` → `1,234.56`; negative with a minus sign; `sign=True` adds `+`."""
    if minor is None:
        return ""
    return to_people(minor, decimals, minus=MINUS, plus="+" if sign else "")


def money_plain(minor: int, decimals: int = 2) -> str:
    """Machine form for CSV: `-1234.56` (decimal string, currency decimals, see docs/operations.md)."""
    return to_str(minor, decimals)


def unit_cost(value: float | None, decimals: int = 2) -> str:
    """A unit cost to two more places than the currency has: sub-cent costs stay visible."""
    if value is None:
        return ""
    text = f"{abs(value):,.{decimals + 2}f}"
    return (MINUS + text) if value < 0 and float(text.replace(",", "")) else text


def qty(value: float | int | None, places: int = 3) -> str:
    """Quantities: thousands separators, up to `places` decimals, no trailing zeros."""
    if value is None:
        return ""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    text = f"{abs(value):,.{places}f}".rstrip("0").rstrip(".")
    if text in ("0", ""):
        return "0"
    return (MINUS + text) if value < 0 else text


def _parse(ts: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def age(ts: str | None, now: datetime | None = None) -> str:
    """`12 s ago`, `4 min ago`, `3 h ago`, `2 d ago`; '' when unknown."""
    t = _parse(ts) if ts else None
    if t is None:
        return ""
    s = max(0, int(((now or datetime.now(timezone.utc)) - t).total_seconds()))
    if s < 90:
        return f"{s} s ago"
    if s < 90 * 60:
        return f"{s // 60} min ago"
    if s < 36 * 3600:
        return f"{s // 3600} h ago"
    return f"{s // 86400} d ago"


def short_ts(ts: str | None) -> str:
    """`2026-11-22 04:01:10` (UTC) from RFC 3339; the input unchanged if it is not one."""
    t = _parse(ts) if ts else None
    if t is None:
        return ts or ""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def oldest(ts: str | None) -> str:
    """The outbox's oldest waiting batch, for a card's subtitle."""
    return f"oldest {age(ts)}" if ts else "none waiting"


_CONTROL_NAMES = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 "
                  "DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US").split()


def visible(raw: str | None) -> Markup:
    """Raw input as safe HTML with each control character shown as a named token
    (`<GS>`, `<STX>`, `<CR>`), so a GS1 separator or a scale's framing is seen, not
    lost or drawn as a box; everything else is escaped text, unchanged."""
    if raw is None:
        return Markup("")
    out = []
    for c in raw:
        code = ord(c)
        if code < 32 or code == 127:
            name = _CONTROL_NAMES[code] if code < 32 else "DEL"
            out.append(Markup('<span class="ctl">{}</span>').format(name))
            if c == "\n":
                out.append(Markup("\n"))
        else:
            out.append(escape(c))
    return Markup("").join(out)
