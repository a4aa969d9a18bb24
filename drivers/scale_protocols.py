"""Scale wire formats decoded into `ScaleFrame` values; a parser never raises.

Every parser takes the bytes of exactly one frame (the framer in
`drivers.serial_port` cut them out of the stream, terminator removed) and returns
either a `ScaleFrame` or a `FrameError` carrying the raw bytes, so garbage on the
line becomes a counted, stored decode error instead of an exception.

Protocols (see docs/architecture.md):

    mt-sics   Mettler Toledo Standard Interface Command Set, answers to `SI`:
              `S S      100.00 g` stable, `S D ...` dynamic, `S I` busy,
              `S +`/`S -` over/under load, `ES`/`ET`/`EL` errors.
    toledo    Toledo continuous output: STX, status words A/B/C, 6-digit weight,
              6-digit tare, CR, checksum (7-bit two's complement of the byte sum).
    sbi       Sartorius SBI print: `+    123.56 g  `; blank unit = unstable;
              `High`/`Low` over/under load; optional 6-char ID (`N`, `G#`, `T`).
    generic   indicator form `ST,GS,  18.000kg`, `US,NT,...`, `OL`.

Statuses: stable, dynamic, overload, underload, busy, error, other (a frame that
is well formed but carries no net weight, e.g. an SBI tare line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

__all__ = [
    "ScaleFrame", "FrameError", "PARSERS", "UNITS",
    "parse_mt_sics", "parse_toledo", "parse_sbi", "parse_generic", "toledo_checksum",
]

UNITS = ("kg", "g", "lb")


@dataclass(frozen=True, slots=True)
class ScaleFrame:
    """One decoded scale frame. `weight` is the NET weight in `unit` when known."""

    status: str
    weight: float | None = None
    unit: str | None = None
    decimals: int = 0          # digits after the point, i.e. the display resolution
    basis: str = "net"         # "net" | "gross": gross when the scale applied no tare
    tare: float | None = None
    message: str = ""          # the scale's own error text (ES, EL, Err 101, ...)


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame that is not the protocol: why, and the bytes exactly as received."""

    reason: str
    raw: bytes


def _text(raw: bytes) -> str | None:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def _number(token: str) -> tuple[float, int] | None:
    """A decimal weight token and its number of decimals, or None."""
    if not _NUMBER.match(token):
        return None
    decimals = len(token.partition(".")[2])
    return float(token), decimals


def _unit(token: str) -> str | None:
    unit = token.strip().lower()
    if unit in ("lbs",):
        unit = "lb"
    return unit if unit in UNITS else None


# --- MT-SICS -------------------------------------------------------------------

_MT_ERRORS = {
    "ES": "ES syntax error: command not recognised",
    "ET": "ET transmission error",
    "EL": "EL logical error: command cannot be executed",
}


def parse_mt_sics(raw: bytes) -> ScaleFrame | FrameError:
    """Decode one MT-SICS response line (CR LF removed)."""
    text = _text(raw)
    if text is None:
        return FrameError("mt-sics: not printable ASCII", raw)
    tokens = text.split()
    if not tokens:
        return FrameError("mt-sics: empty line", raw)
    if len(tokens) == 1 and tokens[0] in _MT_ERRORS:
        return ScaleFrame("error", message=_MT_ERRORS[tokens[0]])
    if tokens[0] != "S" or len(tokens) < 2:
        return FrameError(f"mt-sics: unexpected response {text.strip()!r}", raw)
    kind = tokens[1]
    if len(tokens) == 2:
        simple = {"I": "busy", "+": "overload", "-": "underload"}.get(kind)
        if simple is None:
            return FrameError(f"mt-sics: unknown status {kind!r}", raw)
        return ScaleFrame(simple, message=f"S {kind}")
    if kind not in ("S", "D") or len(tokens) != 4:
        return FrameError(f"mt-sics: malformed weight response {text.strip()!r}", raw)
    number = _number(tokens[2])
    if number is None:
        return FrameError(f"mt-sics: weight {tokens[2]!r} is not a number", raw)
    unit = _unit(tokens[3])
    if unit is None:
        return FrameError(f"mt-sics: unit {tokens[3]!r} is not one of {UNITS}", raw)
    status = "stable" if kind == "S" else "dynamic"
    return ScaleFrame(status, number[0], unit, number[1])


# --- Toledo continuous -----------------------------------------------------------

STX, CR = 0x02, 0x0D
TOLEDO_FRAME_LEN = 18  # STX + A B C + 6 weight + 6 tare + CR + checksum

# Status word A bits 0-2: where the decimal point sits. Values 0 and 1 mean the
# display counts in tens/hundreds ("X0", "X00"); we return a multiplier and decimals.
_TOLEDO_POINT = {0: (100.0, 0), 1: (10.0, 0), 2: (1.0, 0), 3: (0.1, 1), 4: (0.01, 2),
                 5: (0.001, 3), 6: (0.0001, 4), 7: (0.00001, 5)}


def toledo_checksum(body: bytes) -> int:
    """Checksum byte for STX..CR: two's complement of the 7-bit byte sum, & 0x7F."""
    return (-sum(b & 0x7F for b in body)) & 0x7F


def _digits(field: str) -> int | None:
    # Some indicators blank leading zeros; anything else non-digit is corruption.
    stripped = field.lstrip(" ")
    if not stripped:
        return 0
    return int(stripped) if stripped.isdigit() else None


def parse_toledo(raw: bytes) -> ScaleFrame | FrameError:
    """Decode one Toledo continuous-output frame, STX through checksum."""
    if len(raw) != TOLEDO_FRAME_LEN:
        return FrameError(f"toledo: frame is {len(raw)} bytes, expected {TOLEDO_FRAME_LEN}", raw)
    # Bit 7 is the parity bit when the port runs 7E1 as 8N1: never part of the data.
    b = bytes(x & 0x7F for x in raw)
    if b[0] != STX or b[16] != CR:
        return FrameError("toledo: frame does not start with STX and end with CR", raw)
    expected = toledo_checksum(b[:17])
    if b[17] != expected:
        return FrameError(f"toledo: checksum {b[17]:#04x}, expected {expected:#04x}", raw)
    swa, swb, swc = b[1], b[2], b[3]
    # Bits 5 (always 1) and 6 (always 0) of each status word are vendor constants:
    # masked, never checked, so indicators that differ there still decode.
    weight_digits = _digits(b[4:10].decode("ascii"))
    tare_digits = _digits(b[10:16].decode("ascii"))
    if weight_digits is None or tare_digits is None:
        return FrameError("toledo: weight or tare field is not 6 digits", raw)
    multiplier, decimals = _TOLEDO_POINT[swa & 0x07]
    is_net = bool(swb & 0x01)
    negative = bool(swb & 0x02)
    over_range = bool(swb & 0x04)
    motion = bool(swb & 0x08)
    unit_code = swc & 0x07
    if unit_code == 0:
        unit = "kg" if swb & 0x10 else "lb"
    elif unit_code == 1:
        unit = "g"
    else:
        return FrameError(f"toledo: status word C unit code {unit_code} is not kg/lb/g", raw)
    weight = round(weight_digits * multiplier, decimals) * (-1 if negative else 1)
    tare = round(tare_digits * multiplier, decimals)
    if over_range:
        return ScaleFrame("underload" if negative else "overload", unit=unit)
    net = weight if is_net else round(weight - tare, decimals)
    return ScaleFrame("dynamic" if motion else "stable", net, unit, decimals,
                      "net" if is_net or tare else "gross", tare)


# --- Sartorius SBI ---------------------------------------------------------------

_SBI = re.compile(
    r"^(?:(?P<id>[A-Za-z][A-Za-z#]{0,5})\s+)?"
    r"(?P<sign>[+-])?\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]{1,3})?\s*$"
)
_SBI_LIMIT = re.compile(r"^(?:(?P<id>[A-Za-z][A-Za-z#]{0,5})\s+)?(?P<word>High|Low|H|L)\s*$")
_SBI_ERR = re.compile(r"^\s*(?:Err|ERR)\s*(?P<code>\d+)\s*$")


def parse_sbi(raw: bytes) -> ScaleFrame | FrameError:
    """Decode one Sartorius SBI print line (CR LF removed)."""
    text = _text(raw)
    if text is None:
        return FrameError("sbi: not printable ASCII", raw)
    line = text.strip()
    if not line:
        return FrameError("sbi: empty line", raw)
    if m := _SBI_ERR.match(line):
        return ScaleFrame("error", message=f"Err {m['code']}")
    if m := _SBI_LIMIT.match(line):
        return ScaleFrame("overload" if m["word"].startswith("H") else "underload")
    m = _SBI.match(line)
    if m is None:
        return FrameError(f"sbi: not a weight line {line!r}", raw)
    ident = (m["id"] or "N").upper()
    number = _number((m["sign"] or "") + m["num"])
    if number is None:  # pragma: no cover - the regex admits only numbers
        return FrameError(f"sbi: weight {m['num']!r} is not a number", raw)
    if m["unit"] is None:
        # SBI blanks the unit while the weight is not stable.
        return ScaleFrame("dynamic", number[0], None, number[1])
    unit = _unit(m["unit"])
    if unit is None:
        return FrameError(f"sbi: unit {m['unit']!r} is not one of {UNITS}", raw)
    if ident.startswith("N"):
        return ScaleFrame("stable", number[0], unit, number[1])
    if ident.startswith("G"):
        return ScaleFrame("stable", number[0], unit, number[1], basis="gross")
    return ScaleFrame("other", number[0], unit, number[1], message=f"SBI {ident} line")


# --- generic indicator -------------------------------------------------------------

_GENERIC = re.compile(
    r"^(?P<stab>ST|US|OL)(?:,(?P<mode>GS|NT|TR|TA|GR))?"
    r"(?:,\s*(?P<sign>[+-])?\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]{1,3}))?\s*$"
)


def parse_generic(raw: bytes) -> ScaleFrame | FrameError:
    """Decode one generic indicator line such as `ST,GS,  18.000kg` (CR LF removed)."""
    text = _text(raw)
    if text is None:
        return FrameError("generic: not printable ASCII", raw)
    m = _GENERIC.match(text.strip())
    if m is None:
        return FrameError(f"generic: not an indicator line {text.strip()!r}", raw)
    if m["stab"] == "OL":
        negative = m["sign"] == "-"
        return ScaleFrame("underload" if negative else "overload")
    if m["num"] is None:
        return FrameError(f"generic: {m['stab']} line without a weight", raw)
    number = _number((m["sign"] or "") + m["num"])
    unit = _unit(m["unit"])
    if number is None or unit is None:
        return FrameError(f"generic: unit {m['unit']!r} is not one of {UNITS}", raw)
    mode = m["mode"] or "GS"
    if mode in ("TR", "TA"):
        return ScaleFrame("other", number[0], unit, number[1], message="tare line")
    status = "stable" if m["stab"] == "ST" else "dynamic"
    basis = "net" if mode == "NT" else "gross"
    return ScaleFrame(status, number[0], unit, number[1], basis)


PARSERS: dict[str, Callable[[bytes], ScaleFrame | FrameError]] = {
    "mt-sics": parse_mt_sics,
    "toledo": parse_toledo,
    "sbi": parse_sbi,
    "generic": parse_generic,
}
