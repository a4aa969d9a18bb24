"""A serial barcode-scanner driver: one Reading per scanned code, one code per line.

Scanners send one code per line ended by CR or CR LF. Each line is decoded by
`drivers.gs1.decode_scan` (GS1 element strings, `WO:<id>` work-order codes, plain
codes; see there). A decoded code becomes `Reading(kind="scan", value=<raw text>,
attrs={"station", "symbology", ...})`; a code that cannot be decoded (e.g. a GS1
string with a bad check digit) becomes `DecodeError(reason, raw=<line bytes>)`
through `sink.problem`, and the driver keeps reading. It never raises out of its
loop; unplug and replug are handled by `drivers.serial_port.SerialPort`.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from drivers.base import DecodeError, Reading
from drivers.gs1 import ScanError, decode_scan
from drivers.serial_port import Frame, LineFramer, LineSettings, SerialDriver

__all__ = ["SerialScanner", "DRIVER"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _text(raw: bytes) -> str:
    # Barcodes are ASCII in practice; a scanner set to a Latin-1 keyboard table
    # still yields text we keep verbatim rather than reject.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class SerialScanner(SerialDriver):
    """A barcode scanner on a serial port (see module doc).

    `separator`: the printable stand-in the scanner sends for FNC1 when it cannot
    send GS (0x1D), e.g. "|" or "~"; GS itself is always understood.
    """

    def __init__(self, id: str, port: str, baudrate: int = 9600, station: str = "line",
                 separator: str | None = None, *, bytesize: int = 8, parity: str = "N",
                 stopbits: float = 1, backoff_first: float = 0.2, backoff_cap: float = 5.0):
        if separator is not None and not separator:
            raise ValueError("separator: '' must be a non-empty string or None")
        super().__init__(backoff_first, backoff_cap,
                         LineSettings(bytesize, parity, stopbits))
        self.id = id
        self.port = str(port)
        self.baudrate = baudrate
        self.station = station
        self.separator = separator
        self.count = 0  # codes delivered

    def _framer(self):
        return LineFramer()

    async def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, DecodeError):
            await self._deliver_problem(DecodeError(f"{self.id}: {frame}", raw=frame.raw))
            return
        text = _text(frame)
        decoded = decode_scan(text, self.separator)
        if isinstance(decoded, ScanError):
            await self._deliver_problem(DecodeError(f"{self.id}: {decoded.reason}", raw=frame))
            return
        self.count += 1
        await self._deliver_reading(Reading(
            device=self.id, kind="scan", value=text, ts=_now(),
            attrs={"station": self.station, **decoded.attrs}, received=time.monotonic()))


DRIVER = SerialScanner
