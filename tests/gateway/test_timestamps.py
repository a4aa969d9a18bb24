"""RFC 3339 timestamps: every accepted form gives the datetime its fields say, whichever
parser builds it, and an offset out of range is refused even where Python's own
parser would take it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gateway.timestamps import TimestampError, parse_rfc3339


def _by_fields(date: str, time: str, frac: str, offset: str) -> datetime:
    y, mo, d = map(int, date.split("-"))
    h, mi, s = map(int, time.split(":"))
    micro = int((frac + "000000")[:6]) if frac else 0
    tz = timezone.utc if offset == "Z" else timezone(
        (1 if offset[0] == "+" else -1) * timedelta(hours=int(offset[1:3]),
                                                    minutes=int(offset[4:6])))
    return datetime(y, mo, d, h, mi, s, micro, tzinfo=tz)


@pytest.mark.parametrize("offset", ["Z", "+00:00", "-00:00", "+02:00", "-05:30", "+23:59",
                                    "-23:59", "+05:07"])
@pytest.mark.parametrize("frac", ["", "1", "625252", "123456789"])
@pytest.mark.parametrize("date,time", [("2026-12-07", "15:32:31"), ("0001-01-01", "00:00:00"),
                                       ("9999-12-31", "23:59:59"), ("2028-02-29", "12:00:00")])
def test_a_timestamp_is_the_datetime_of_its_fields(date, time, frac, offset):
    text = f"{date}T{time}{'.' + frac if frac else ''}{offset}"
    got = parse_rfc3339(text)
    want = _by_fields(date, time, frac, offset)
    assert got == want and got.utcoffset() == want.utcoffset()
    assert got.isoformat() == want.isoformat()


@pytest.mark.parametrize("text,says", [
    ("2026-12-07T15:32:31+22:60", "offset out of range"),  # fromisoformat: +23:00
    ("2026-12-07T15:32:31-00:60", "offset out of range"),
    ("2026-12-07T15:32:31+24:00", "offset out of range"),
    ("2026-12-07T15:32:60+01:00", "second must be in 0..59"),
    ("2026-02-30T15:32:31-01:00", "day is out of range for month"),
    ("2026-12-07T15:32:31+0100", "not an RFC 3339 timestamp"),
])
def test_a_field_out_of_range_is_refused_naming_it(text, says):
    with pytest.raises(TimestampError, match=says):
        parse_rfc3339(text)
