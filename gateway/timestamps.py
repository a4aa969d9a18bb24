"""Event timestamps: strict RFC 3339 and the window the gateway accepts around its clock.

Only `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` is a timestamp here: no week dates, no basic
format, no date alone, no missing offset, no space for `T`. A period (`YYYY-MM`) is only
ever taken from a timestamp that passed this parser.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})\Z")


class TimestampError(ValueError):
    pass


def parse_rfc3339(text: str) -> datetime:
    """An aware datetime, or TimestampError saying what is wrong with `text`."""
    return _parsed(text) if type(text) is str else _parse(text)


# An event's ts is parsed three times on its way into the journal (checked when decoded,
# against the window, by the alert rules): the same string, so the last few are kept
# (a datetime is immutable; an error is raised again each time, never kept).
@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> datetime:
    return _parse(text)


def _parse(text) -> datetime:
    m = _RFC3339.match(text) if isinstance(text, str) and len(text) <= 40 else None
    if m is None:
        raise TimestampError(f"ts: not an RFC 3339 timestamp YYYY-MM-DDTHH:MM:SS[.frac]"
                             f"(Z|+HH:MM) (got {text[:64]!r})")
    year, month, day, hour, minute, second, frac, offset = m.groups()
    # An offset in range (the C parser would take +22:60 as +23:00): it builds the same
    # datetime, ~4x faster than the fields below (`isoformat()` writes +00:00, not Z).
    if offset == "Z" or (offset[1:3] <= "23" and offset[4:] <= "59"):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # a field out of range: the message below says which
    if offset == "Z":
        tz = timezone.utc
    else:
        oh, om = int(offset[1:3]), int(offset[4:6])
        if oh > 23 or om > 59:
            raise TimestampError(f"ts: offset out of range (got {text!r})")
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=oh, minutes=om))
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute),
                        int(second), micro, tzinfo=tz)
    except ValueError as exc:  # 2026-02-30, 25:00, second 60 ...
        raise TimestampError(f"ts: {exc} (got {text!r})") from None


def check_window(text: str, now: datetime, not_before: datetime,
                 max_ahead: timedelta) -> datetime:
    """Parse `text` and refuse it outside [not_before, now + max_ahead]."""
    when = parse_rfc3339(text)
    if when > now + max_ahead:
        raise TimestampError(f"ts: {text!r} is more than {max_ahead} ahead of the gateway "
                             f"clock ({now.isoformat(timespec='seconds')})")
    if when < not_before:
        raise TimestampError(f"ts: {text!r} is before the earliest accepted time "
                             f"{not_before.isoformat(timespec='seconds')}")
    return when


def period_of(text: str) -> str:
    """`YYYY-MM` of a timestamp that passed parse_rfc3339 (local date as written)."""
    return text[:7]
