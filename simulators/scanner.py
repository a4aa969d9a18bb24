"""A simulated barcode scanner on a pseudo-terminal: one code per line, like the real one.

`gs1_element_string(...)` builds a valid GS1 element string (check digits computed,
fixed-length AIs first, FNC1 after every variable-length field that is not last);
`check_digit(body)` is the GS1 mod-10 check digit.

`ScannerSimulator(path)` writes to a `VirtualSerialPort`; its methods are
synchronous and non-blocking (callable from the event loop or a plain test), except
`scan_split`, which pauses between the pieces of one code and so is a coroutine:

    scan(text)                 raw code text + terminator (CR LF by default)
    scan_gs1(gtin=..., lot=..., ...)   a GS1 code with a symbology identifier
    scan_work_order("WO-7")    the plain work-order code `WO:WO-7`
    garbage(data)              raw bytes on the line
    unplug() / replug()        the pty disappears / returns at the same path
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os

from simulators.pty import VirtualSerialPort

__all__ = ["ScannerSimulator", "gs1_element_string", "check_digit", "GS"]

GS = "\x1d"


def check_digit(body: str) -> str:
    """GS1 mod-10 check digit of a digit string (weights 3,1,3,... from the right)."""
    if not body.isdigit():
        raise ValueError(f"body: {body!r} must be digits")
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def _with_check(value: str, length: int, field: str, bad: bool) -> str:
    """`length` digits as given, or a shorter body padded and completed with its check."""
    if not value.isdigit() or len(value) > length:
        raise ValueError(f"{field}: {value!r} must be at most {length} digits")
    if len(value) == length:
        return value
    body = value.rjust(length - 1, "0")
    digit = check_digit(body)
    if bad:
        digit = str((int(digit) + 1) % 10)
    return body + digit


def gs1_element_string(*, gtin: str | None = None, lot: str | None = None,
                       serial: str | None = None, expiry: dt.date | None = None,
                       sscc: str | None = None, count: int | None = None,
                       net_kg: float | None = None, contained: bool = False,
                       separator: str = GS, bad_check_digit: bool = False) -> str:
    """A GS1 element string without symbology identifier.

    gtin: 14 digits taken as is (so a test can send a wrong check digit), or a body
    of up to 13 digits, zero-padded, whose check digit is computed (and made wrong
    with `bad_check_digit`). sscc: 18 digits as is, or a body of up to 17.
    contained: put the GTIN in AI 02 (content of a logistic unit) instead of 01.
    """
    fixed: list[str] = []
    variable: list[str] = []
    if sscc is not None:
        fixed.append("00" + _with_check(sscc, 18, "sscc", bad_check_digit))
    if gtin is not None:
        fixed.append(("02" if contained else "01") + _with_check(gtin, 14, "gtin",
                                                                 bad_check_digit))
    if expiry is not None:
        fixed.append("17" + expiry.strftime("%y%m%d"))
    if net_kg is not None:
        for decimals in (3, 2, 1, 0):
            scaled = round(net_kg * 10 ** decimals)
            if 0 <= scaled <= 999_999:
                fixed.append(f"310{decimals}{scaled:06d}")
                break
        else:
            raise ValueError(f"net_kg: {net_kg!r} does not fit AI 310n")
    if lot is not None:
        variable.append("10" + lot)
    if serial is not None:
        variable.append("21" + serial)
    if count is not None:
        variable.append(("37" if contained or sscc else "30") + str(int(count)))
    if not fixed and not variable:
        raise ValueError("gs1_element_string needs at least one element")
    return "".join(fixed) + separator.join(variable)


class ScannerSimulator:
    """A scanner behind a pty at `path` (see module doc)."""

    def __init__(self, path: str | os.PathLike = "ttyScanner", *, terminator: bytes = b"\r\n",
                 separator: str = GS):
        if terminator not in (b"\r", b"\r\n"):
            raise ValueError(f"terminator: {terminator!r} must be CR or CR LF")
        self.path = path
        self.terminator = terminator
        self.separator = separator
        self.port = VirtualSerialPort(path)
        self.sent: list[str] = []

    def close(self) -> None:
        self.port.unplug()

    def __enter__(self) -> "ScannerSimulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def scan(self, text: str) -> str:
        """Send one code as the scanner would; returns the text sent."""
        self.port.write(text.encode("latin-1") + self.terminator)
        self.sent.append(text)
        return text

    def scan_gs1(self, *, symbology: str = "]C1", **elements) -> str:
        """Scan a GS1 code; `elements` as for `gs1_element_string`."""
        elements.setdefault("separator", self.separator)
        return self.scan(symbology + gs1_element_string(**elements))

    def scan_work_order(self, work_order: str) -> str:
        return self.scan(f"WO:{work_order}")

    async def scan_split(self, text: str, parts: int = 3, delay: float = 0.05) -> str:
        """One code written in `parts` pieces with pauses: the driver must reassemble."""
        data = text.encode("latin-1") + self.terminator
        size = -(-len(data) // parts)
        for i in range(0, len(data), size):
            self.port.write(data[i:i + size])
            await asyncio.sleep(delay)
        self.sent.append(text)
        return text

    def garbage(self, data: bytes = b"\x00\x07\xfe\xff#\r\n") -> None:
        self.port.write(data)

    def unplug(self) -> None:
        self.port.unplug()

    def replug(self) -> None:
        self.port.replug()
