"""Barcode text decoded into scan attributes; never raises, errors are values.

`decode_scan(text, separator=None)` returns `Scan(attrs)` or `ScanError(reason, raw)`.

Which rule applies:

- The text starts with a GS1 symbology identifier (`]C1` GS1-128, `]d2` GS1
  DataMatrix, `]Q3` GS1 QR, `]e0` GS1 DataBar, `]J1` GS1 DotCode), or contains the
  FNC1 separator (GS 0x1D, or the `separator` the scanner is configured to send in
  its place): it is a GS1 element string, parsed with `biip`. Any problem — an
  unknown AI, a malformed field, a bad GTIN/SSCC/GLN check digit (which biip reports
  in `*_error` fields instead of raising) — is a ScanError with the raw text.
  attrs: symbology, gtin (AI 01, else 02), lot (10), expiry (17, ISO date),
  serial (21), sscc (00), count (37, else 30), net_kg (310n), work_order (None),
  and `ais`: every AI and its raw value.
- Otherwise a work-order barcode is the plain code `WO:<id>` (e.g. `WO:WO-1042`):
  attrs {symbology, work_order: "<id>"}. An empty id is a ScanError.
- A GS1 Digital Link URI (`https://id.gs1.org/01/09506000134352/10/ABC`, as QR
  codes on retail packs carry) gives the same attrs as a GS1 element string, plus
  digital_link: True; a bad check digit in it is a ScanError.
- Any other plain code: attrs {symbology, code: text}; for EAN/UPC symbologies
  (`]E0`, `]E4`, ...) with a valid check digit also gtin.
- A code with control characters other than GS is line noise (wrong baud rate,
  a binary dump): ScanError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import biip
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_messages import GS1Message

__all__ = ["Scan", "ScanError", "decode_scan", "GS", "WORK_ORDER_PREFIX", "GS1_SYMBOLOGIES"]

GS = "\x1d"
WORK_ORDER_PREFIX = "WO:"
GS1_SYMBOLOGIES = ("]C1", "]d2", "]Q3", "]e0", "]J1")
_SYMBOLOGY = re.compile(r"^\][A-Za-z][0-9A-Za-z]")


@dataclass(frozen=True, slots=True)
class Scan:
    attrs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScanError:
    reason: str
    raw: str


def _symbology(text: str) -> tuple[str | None, str]:
    if _SYMBOLOGY.match(text):
        return text[:3], text[3:]
    return None, text


def decode_scan(text: str, separator: str | None = None) -> Scan | ScanError:
    """Decode one scanned code (terminator removed); see the module doc for the rules."""
    if not text:
        return ScanError("empty scan", text)
    symbology, payload = _symbology(text)
    if separator:
        payload = payload.replace(separator, GS)
    bad = next((c for c in payload if c != GS and not c.isprintable()), None)
    if bad is not None:
        # Line noise, a wrong baud rate or a binary dump: not something a label says.
        return ScanError(f"control character {ord(bad):#04x} in code", text)
    if symbology in GS1_SYMBOLOGIES or (symbology is None and GS in payload):
        return _decode_gs1(text, symbology, payload)
    if payload.startswith(WORK_ORDER_PREFIX):
        work_order = payload[len(WORK_ORDER_PREFIX):].strip()
        if not work_order:
            return ScanError("work-order code 'WO:' without an id", text)
        return Scan({"symbology": symbology, "work_order": work_order})
    if payload.startswith(("https://", "http://", "HTTPS://", "HTTP://")):
        linked = _decode_digital_link(text, symbology, payload)
        if linked is not None:
            return linked
    attrs: dict[str, Any] = {"symbology": symbology, "code": payload}
    if symbology is not None and symbology[1] == "E":
        gtin = _plain_gtin(text)
        if isinstance(gtin, ScanError):
            return gtin
        attrs["gtin"] = gtin
    return Scan(attrs)


def _plain_gtin(text: str) -> str | ScanError:
    try:
        result = biip.parse(text)
    except Exception as exc:  # biip promises values, but a library bug must not kill a driver
        return ScanError(f"EAN/UPC: {exc}", text)
    if result.gtin is None:
        return ScanError(f"EAN/UPC: {result.gtin_error or 'not a GTIN'}", text)
    return result.gtin.as_gtin_14()


_FIELD_ERRORS = ("gtin_error", "sscc_error", "gln_error")


def _decode_gs1(raw: str, symbology: str | None, payload: str) -> Scan | ScanError:
    # Some scanners send FNC1 in first position as a GS right after the identifier.
    payload = payload.lstrip(GS)
    if not payload:
        return ScanError("GS1: no element string after the symbology identifier", raw)
    try:
        message = GS1Message.parse(payload)
    except Exception as exc:  # biip raises ParseError on malformed element strings
        return ScanError(f"GS1: {exc}", raw)
    return _gs1_attrs(raw, symbology, message.element_strings)


def _decode_digital_link(raw: str, symbology: str | None, uri: str) -> Scan | ScanError | None:
    """A GS1 Digital Link URI as GS1 attrs; None when the URL is not one."""
    try:
        link = GS1DigitalLinkURI.parse(uri)
    except Exception:  # an ordinary URL: a plain code
        return None
    return _gs1_attrs(raw, symbology, link.element_strings, digital_link=True)


def _gs1_attrs(raw: str, symbology: str | None, element_strings,
               digital_link: bool = False) -> Scan | ScanError:
    attrs: dict[str, Any] = {
        "symbology": symbology, "gtin": None, "lot": None, "expiry": None, "serial": None,
        "sscc": None, "count": None, "net_kg": None, "work_order": None, "ais": {}}
    if digital_link:
        attrs["digital_link"] = True
    for es in element_strings:
        ai = es.ai.ai
        for name in _FIELD_ERRORS:
            error = getattr(es, name, None)
            if error:
                return ScanError(f"GS1 AI ({ai}): {error}", raw)
        attrs["ais"][ai] = es.value
        if ai == "00":
            attrs["sscc"] = es.value
        elif ai == "01" or (ai == "02" and attrs["gtin"] is None):
            attrs["gtin"] = es.value
        elif ai == "10":
            attrs["lot"] = es.value
        elif ai == "17":
            attrs["expiry"] = es.date.isoformat() if es.date else None
        elif ai == "21":
            attrs["serial"] = es.value
        elif ai == "37" or (ai == "30" and attrs["count"] is None):
            attrs["count"] = int(es.value)
        elif ai.startswith("310") and es.decimal is not None:
            attrs["net_kg"] = float(es.decimal)
    return Scan(attrs)
