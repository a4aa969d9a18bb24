"""A simulated scale on a pseudo-terminal that speaks the real wire formats.

Frame builders (pure, also used by the round-trip tests):

    mt_sics_frame("S", 100.0, "g", 2)   -> b"S S      100.00 g\\r\\n"
    toledo_frame(12.34, tare=0.5, ...)  -> STX A B C wwwwww tttttt CR checksum
    sbi_frame(123.56, "g", 2)           -> b"+    123.56 g  \\r\\n"
    generic_frame(18.0, "kg", 3)        -> b"ST,GS,  18.000kg\\r\\n"

`ScaleSimulator(protocol, path)` runs in the asyncio event loop (reader callback on
the pty master plus one writer task; call its methods from the loop):

    mt-sics   answers what it receives: SI (weight now), S (stable weight), Z, @;
              anything else gets `ES`
    sbi       answers ESC P with a print line
    toledo, generic   stream continuously every `interval` seconds

    place(w)        put a load on: `settle_frames` dynamic frames, then stable
    remove()        take it off (settles back to 0)
    overload() / underload()   until the next place/remove
    error(code)     the next answer is an error frame (mt-sics ES/ET/EL, sbi Err)
    garbage(data)   raw bytes on the line now
    split_next(n)   the next frame goes out in n writes with pauses between them
    unplug() / replug()   the pty disappears / comes back at the same path
    power_off() / power_on()   the scale goes quiet, the port stays (USB adapter)
"""

from __future__ import annotations

import asyncio
import os

from simulators.pty import VirtualSerialPort

__all__ = ["ScaleSimulator", "mt_sics_frame", "toledo_frame", "sbi_frame", "generic_frame",
           "PROTOCOLS"]

PROTOCOLS = ("mt-sics", "toledo", "sbi", "generic")


# --- frame builders ----------------------------------------------------------------

def mt_sics_frame(status: str, weight: float | None = None, unit: str = "g",
                  decimals: int = 2) -> bytes:
    """`status`: "S" stable, "D" dynamic, "I" busy, "+"/"-" over/under, or ES/ET/EL."""
    if status in ("ES", "ET", "EL"):
        return f"{status}\r\n".encode()
    if status in ("I", "+", "-"):
        return f"S {status}\r\n".encode()
    if status not in ("S", "D") or weight is None:
        raise ValueError(f"status: {status!r} needs a weight and must be S or D")
    return f"S {status} {weight:>10.{decimals}f} {unit}\r\n".encode()


def _toledo_checksum(body: bytes) -> int:
    return (-sum(body)) & 0x7F


def toledo_frame(weight: float, tare: float = 0.0, unit: str = "kg", decimals: int = 2, *,
                 motion: bool = False, net: bool = False, over: bool = False) -> bytes:
    """One Toledo continuous-output frame, checksum included."""
    if not 0 <= decimals <= 5:
        raise ValueError(f"decimals: {decimals} must be 0..5")
    swa = 0x20 | 0x08 | (decimals + 2)          # bit5 constant, increment x1, point
    swb = 0x20 | (0x01 if net else 0) | (0x02 if weight < 0 else 0) | (0x04 if over else 0) \
        | (0x08 if motion else 0) | (0x10 if unit in ("kg", "g") else 0)
    swc = 0x20 | (0x01 if unit == "g" else 0)
    if unit not in ("kg", "g", "lb"):
        raise ValueError(f"unit: {unit!r} must be kg, g or lb")
    w = round(abs(weight) * 10 ** decimals)
    t = round(abs(tare) * 10 ** decimals)
    if w > 999_999 or t > 999_999:
        raise ValueError(
            f"weight {weight} / tare {tare} do not fit 6 digits at {decimals} decimals")
    body = bytes([0x02, swa, swb, swc]) + f"{w:06d}{t:06d}".encode() + b"\r"
    return body + bytes([_toledo_checksum(body)])


def sbi_frame(weight: float | None, unit: str | None = "g", decimals: int = 2, *,
              ident: str | None = None, limit: str | None = None) -> bytes:
    """A 16-char SBI line (22 with `ident`); `unit=None` = unstable; `limit` High/Low."""
    if limit is not None:
        body = f"{limit:^16}"
    else:
        if weight is None:
            raise ValueError("weight: None needs limit='High' or 'Low'")
        sign = "-" if weight < 0 else "+"
        body = f"{sign}{abs(weight):>10.{decimals}f} {(unit or ''):<3} "
    prefix = f"{ident:<6}" if ident else ""
    return f"{prefix}{body}\r\n".encode()


def generic_frame(weight: float | None, unit: str = "kg", decimals: int = 3, *,
                  stable: bool = True, net: bool = False, over: bool = False) -> bytes:
    """`ST,GS,  18.000kg`; `US` while unstable, `NT` for net; `OL` on overload."""
    if over:
        return b"OL\r\n"
    if weight is None:
        raise ValueError("weight: None is only allowed with over=True")
    return (f"{'ST' if stable else 'US'},{'NT' if net else 'GS'},"
            f"{weight:>8.{decimals}f}{unit}\r\n").encode()


# --- the simulator -------------------------------------------------------------------

class ScaleSimulator:
    """A scale behind a pty at `path` (see module doc); use `async with`."""

    def __init__(self, protocol: str = "mt-sics", path: str | os.PathLike = "ttyScale", *,
                 unit: str = "kg", decimals: int | None = None, interval: float = 0.05,
                 settle_frames: int = 3, tare: float = 0.0):
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol: {protocol!r} is not one of {PROTOCOLS}")
        self.protocol = protocol
        self.path = path
        self.unit = unit
        self.decimals = decimals if decimals is not None else (3 if unit == "kg" else 2)
        self.interval = interval
        self.settle_frames = settle_frames
        self.tare = tare
        self.port: VirtualSerialPort | None = None
        self.commands: list[bytes] = []   # what the driver sent, for tests
        self.frames_sent = 0
        self._load = 0.0
        self._previous = 0.0
        self._settle_left = 0
        self._settle_total = 0
        self._limit: str | None = None     # "over" | "under"
        self._errors: list[str] = []
        self._split: tuple[int, float] | None = None
        self.powered = True
        self._inbox = bytearray()
        self._queue: asyncio.Queue[bytes | tuple[bytes, int, float]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> "ScaleSimulator":
        self.port = VirtualSerialPort(self.path)
        self._watch()
        self._tasks.append(asyncio.create_task(self._writer(), name="scale-sim-writer"))
        if self.protocol in ("toledo", "generic"):
            self._tasks.append(asyncio.create_task(self._stream(), name="scale-sim-stream"))
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        self._unwatch()
        if self.port is not None:
            self.port.unplug()

    async def __aenter__(self) -> "ScaleSimulator":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def _watch(self) -> None:
        if self.port is not None and self.port.plugged:
            asyncio.get_running_loop().add_reader(self.port.fileno(), self._on_readable)

    def _unwatch(self) -> None:
        if self.port is not None and self.port.plugged:
            asyncio.get_running_loop().remove_reader(self.port.fileno())

    # -- what a test or the demo does with the scale -------------------------------------

    def place(self, weight: float, settle_frames: int | None = None) -> None:
        self._previous = self._shown()
        self._load = float(weight)
        self._settle_left = self.settle_frames if settle_frames is None else settle_frames
        self._settle_total = self._settle_left
        self._limit = None

    def remove(self, settle_frames: int | None = None) -> None:
        self.place(0.0, settle_frames)

    def overload(self) -> None:
        self._limit = "over"

    def underload(self) -> None:
        self._limit = "under"

    def error(self, code: str | None = None) -> None:
        if self.protocol == "mt-sics":
            code = code or "EL"
            if code not in ("ES", "ET", "EL"):
                raise ValueError(f"code: {code!r} must be ES, ET or EL for mt-sics")
        elif self.protocol == "sbi":
            code = code or "Err 54"
        else:
            raise ValueError(f"protocol {self.protocol!r} has no error frame; use garbage()")
        self._errors.append(code)

    def garbage(self, data: bytes = b"\x15#?\xffnot a frame\r\n") -> None:
        self._queue.put_nowait(bytes(data))

    def split_next(self, parts: int = 3, delay: float = 0.05) -> None:
        if parts < 2:
            raise ValueError(f"parts: {parts} must be >= 2")
        self._split = (parts, delay)

    def unplug(self) -> None:
        self._unwatch()
        if self.port is not None:
            self.port.unplug()

    def replug(self) -> None:
        if self.port is None:
            raise RuntimeError("simulator not started")
        self._unwatch()
        self.port.replug()
        self._inbox.clear()
        self._watch()

    def power_off(self) -> None:
        self.powered = False

    def power_on(self) -> None:
        self.powered = True

    @property
    def stable(self) -> bool:
        return self._settle_left == 0 and self._limit is None

    # -- frames ------------------------------------------------------------------------

    def _shown(self) -> float:
        if self._settle_left <= 0:
            return self._load
        # Overshoot-free approach from the previous load, one step per frame.
        frac = self._settle_left / (self._settle_total + 1)
        return self._load + (self._previous - self._load) * frac

    def _next_frame(self, stable_only: bool = False) -> bytes:
        d, unit = self.decimals, self.unit
        if self._errors:
            code = self._errors.pop(0)
            return mt_sics_frame(code) if self.protocol == "mt-sics" else f"{code}\r\n".encode()
        if self._limit is not None:
            return self._limit_frame()
        if stable_only:
            self._settle_left = 0
        weight = round(self._shown(), d)
        stable = self._settle_left <= 0
        if not stable:
            self._settle_left -= 1
        # `weight` is the net load; with a tare the scale reports net plus the tare.
        net = weight
        if self.protocol == "mt-sics":
            return mt_sics_frame("S" if stable else "D", round(net, d), unit, d)
        if self.protocol == "sbi":
            return sbi_frame(round(net, d), unit if stable else None, d)
        if self.protocol == "generic":
            return generic_frame(round(net, d), unit, d, stable=stable, net=bool(self.tare))
        return toledo_frame(round(net, d), self.tare, unit, d, motion=not stable,
                            net=bool(self.tare))

    def _limit_frame(self) -> bytes:
        over = self._limit == "over"
        if self.protocol == "mt-sics":
            return mt_sics_frame("+" if over else "-")
        if self.protocol == "sbi":
            return sbi_frame(None, limit="High" if over else "Low")
        if self.protocol == "generic":
            return generic_frame(None, over=True) if over else b"OL,GS,-99.999kg\r\n"
        # Toledo: the out-of-range bit, with the sign bit telling under from over.
        one_division = 10 ** -self.decimals
        return toledo_frame(one_division if over else -one_division, unit=self.unit,
                            decimals=self.decimals, over=True)

    def _send(self, frame: bytes) -> None:
        if self._split is not None:
            parts, delay = self._split
            self._split = None
            self._queue.put_nowait((frame, parts, delay))
        else:
            self._queue.put_nowait(frame)

    async def _writer(self) -> None:
        while True:
            item = await self._queue.get()
            if self.port is None:
                continue
            if isinstance(item, bytes):
                self.port.write(item)
                self.frames_sent += 1
                continue
            frame, parts, delay = item
            size = -(-len(frame) // parts)
            for i in range(0, len(frame), size):
                self.port.write(frame[i:i + size])
                await asyncio.sleep(delay)
            self.frames_sent += 1

    async def _stream(self) -> None:
        while True:
            if self.port is not None and self.port.plugged and self.powered:
                self._send(self._next_frame())
            await asyncio.sleep(self.interval)

    def _on_readable(self) -> None:
        if self.port is None:
            return
        self._inbox += self.port.read()
        while True:
            cut = min((i for i in (self._inbox.find(b"\r"), self._inbox.find(b"\n")) if i >= 0),
                      default=-1)
            if cut < 0:
                break
            line = bytes(self._inbox[:cut])
            del self._inbox[:cut + 1]
            if line:
                self.commands.append(line)
                self._answer(line)

    def _answer(self, line: bytes) -> None:
        if not self.powered:
            return
        if self.protocol == "mt-sics":
            cmd = line.strip().decode("ascii", "replace")
            if cmd == "SI":
                self._send(self._next_frame())
            elif cmd == "S":
                self._send(self._next_frame(stable_only=True))
            elif cmd == "Z":
                self.place(0.0, 0)
                self._send(b"Z A\r\n")
            elif cmd == "@":
                self._send(b'I4 A "SIM-0001"\r\n')
            else:
                self._send(b"ES\r\n")
        elif self.protocol == "sbi" and line.strip() == b"\x1bP":
            self._send(self._next_frame())
