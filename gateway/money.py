"""Money at the edges: integer minor units inside, decimal strings outside."""

from __future__ import annotations


def to_str(minor: int, decimals: int) -> str:
    """12300, 2 -> "123.00"; -5, 2 -> "-0.05". Exact: no float on the way."""
    return _text(minor, decimals, "")


def to_people(minor: int, decimals: int, *, minus: str = "-", plus: str = "") -> str:
    """Thousands separators for tables: 1234567 -> "12,345.67"; `minus` and `plus`
    are the signs written before a negative and a positive amount."""
    minor = int(minor)
    text = _text(abs(minor), decimals, ",")
    return minus + text if minor < 0 else plus + text if minor > 0 else text


def _text(minor: int, decimals: int, thousands: str) -> str:
    # The digits cut in two as text: about half the CPU of divmod and two formats, and a
    # batch of the upstream batcher formats two amounts for every line it sends.
    minor = int(minor)
    digits = str(-minor if minor < 0 else minor)
    if decimals:
        digits = digits.rjust(decimals + 1, "0")
        whole, frac = digits[:-decimals], "." + digits[-decimals:]
    else:
        whole, frac = digits, ""
    if thousands:
        whole = f"{int(whole):{thousands}}"  # "," : a format spec
    return "-" + whole + frac if minor < 0 else whole + frac


def from_str(text: str, decimals: int) -> int:
    """"12.3" -> 1230 (exact decimal parse; refuses more decimals than the currency has)."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("+-").partition(".")
    if len(frac) > decimals or not (whole or frac) or not (whole + frac).isdigit():
        raise ValueError(f"not an amount with at most {decimals} decimals: {text!r}")
    return sign * (int(whole or "0") * 10**decimals + int(frac.ljust(decimals, "0") or "0"))
