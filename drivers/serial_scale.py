"""A serial scale driver that emits exactly one Reading per weighing.

`SerialScale` reads one of the protocols in `drivers.scale_protocols` from a serial
port (command-driven protocols are polled), and `Weighings` turns the frame stream
into weighings: when the load settles stable with a positive net weight, one
`Reading(kind="weight")` is emitted; further stable frames of the same load emit
nothing; the next weighing needs the load to change — back to about zero (or
below: removing a tared container), or to a different stable value beyond a small
tolerance. Dynamic, busy, over/under-load and error frames never emit.

The scale counts as "down" (one TransportError) when it sends nothing for
`silence` seconds (default max(2 s, 10 poll intervals)) although the port is fine —
switched off behind a USB adapter — and "connected" again on its first byte.

Reading attrs: station, weighing (1, 2, ... per driver instance), session (when
this driver instance started, so device+session+weighing is unique across
restarts), protocol, basis ("net" | "gross": gross when the scale had no tare).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from drivers.base import DecodeError, Reading
from drivers.scale_protocols import PARSERS, TOLEDO_FRAME_LEN, FrameError, ScaleFrame
from drivers.serial_port import (
    Frame, LineFramer, LineSettings, SerialDriver, SerialPort, StxFramer,
)

__all__ = ["SerialScale", "Weighings", "DRIVER", "POLL_COMMANDS"]

_TO_KG = {"kg": 1.0, "g": 0.001, "lb": 0.45359237}

# Command-driven protocols are asked for the weight; the others stream on their own.
POLL_COMMANDS = {
    "mt-sics": b"SI\r\n",     # weight immediately, stable or dynamic
    "sbi": b"\x1bP\r\n",      # ESC P: print the current weight
}


class Weighings:
    """Decides which frames are new weighings: one per settled, non-zero load.

    `zero_divisions`: a stable weight within this many display divisions of zero
    (or negative) means the scale is empty. `tolerance`: relative change of a
    stable load (e.g. 0.005 = 0.5 %) that counts as a different load.
    """

    def __init__(self, zero_divisions: int = 2, tolerance: float = 0.005):
        self.zero_divisions = zero_divisions
        self.tolerance = tolerance
        self._last_kg: float | None = None  # the load last emitted; None = re-armed

    def observe(self, frame: ScaleFrame) -> bool:
        """True when `frame` starts a new weighing (emit it)."""
        if frame.status != "stable" or frame.weight is None or frame.unit not in _TO_KG:
            return False
        division = 10.0 ** -frame.decimals
        if frame.weight <= self.zero_divisions * division:
            self._last_kg = None
            return False
        kg = frame.weight * _TO_KG[frame.unit]
        if self._last_kg is not None:
            band = max(self.tolerance * self._last_kg, division * _TO_KG[frame.unit])
            if abs(kg - self._last_kg) <= band:
                return False
        self._last_kg = kg
        return True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class SerialScale(SerialDriver):
    """A scale on a serial port; never raises out of its loop (see module doc)."""

    def __init__(self, id: str, port: str, baudrate: int = 9600, protocol: str = "mt-sics",
                 station: str = "mix", poll_interval: float = 0.2, *,
                 zero_divisions: int = 2, tolerance: float = 0.005,
                 silence: float | None = None, bytesize: int = 8, parity: str = "N",
                 stopbits: float = 1, backoff_first: float = 0.2, backoff_cap: float = 5.0):
        if protocol not in PARSERS:
            raise ValueError(f"protocol: {protocol!r} is not one of {sorted(PARSERS)}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval: {poll_interval!r} must be > 0")
        super().__init__(backoff_first, backoff_cap,
                         LineSettings(bytesize, parity, stopbits))
        self.id = id
        self.port = str(port)
        self.baudrate = baudrate
        self.protocol = protocol
        self.station = station
        self.poll_interval = poll_interval
        self.silence = silence
        self.weighings = Weighings(zero_divisions, tolerance)
        self.session = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        self.count = 0               # weighings emitted
        self.last_frame: ScaleFrame | None = None  # what the scale last said (dashboard)
        self._parse = PARSERS[protocol]

    def _framer(self):
        return StxFramer(TOLEDO_FRAME_LEN) if self.protocol == "toledo" else LineFramer()

    def _poller(self):
        return self._poll if self.protocol in POLL_COMMANDS else None

    def _silence_timeout(self) -> float:
        # Polled scales answer every poll and continuous ones stream several frames a
        # second; this long without a byte means the scale is off.
        return max(2.0, 10 * self.poll_interval) if self.silence is None else self.silence

    async def _poll(self, port: SerialPort) -> None:
        command = POLL_COMMANDS[self.protocol]
        while True:
            port.write(command)  # a failure here ends the connection: reconnect
            await asyncio.sleep(self.poll_interval)

    async def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, DecodeError):
            await self._deliver_problem(DecodeError(f"{self.id}: {frame}", raw=frame.raw))
            return
        parsed = self._parse(frame)
        if isinstance(parsed, FrameError):
            await self._deliver_problem(DecodeError(f"{self.id}: {parsed.reason}",
                                                    raw=parsed.raw))
            return
        self.last_frame = parsed
        if not self.weighings.observe(parsed):
            return
        self.count += 1
        await self._deliver_reading(Reading(
            device=self.id, kind="weight", value=parsed.weight, ts=_now(), unit=parsed.unit,
            attrs={"station": self.station, "weighing": self.count, "session": self.session,
                   "protocol": self.protocol, "basis": parsed.basis},
            received=time.monotonic()))


DRIVER = SerialScale
