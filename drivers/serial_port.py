"""One reader per serial port: whole frames out, in order, across unplug and replug.

`SerialPort.run(on_frame)` opens the port, reads whatever arrives, cuts it into
frames with a framer (so a frame split across reads is reassembled), and hands each
frame — or a `DecodeError` holding bytes that are not a frame — to `on_frame`.
When the port fails (USB unplugged, pty master closed, open refused) it reports a
`TransportError`, closes, and reopens the same path with capped exponential backoff
(0.2 s doubling to 5 s). It never raises out of its loop; only cancellation ends it.

Framers are pure and tested on their own:

    LineFramer   frames end in CR, LF or CR LF (scanners, MT-SICS, SBI, generic)
    StxFramer    fixed-length frames that start with STX (Toledo continuous)
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

import serial

from drivers.backoff import Backoff
from drivers.base import DecodeError, DriverError, TransportError

__all__ = ["Framer", "LineFramer", "StxFramer", "SerialPort", "SerialDriver",
           "LineSettings"]

log = logging.getLogger(__name__)

Frame = bytes | DecodeError
# A reading the sink refuses is retried after these delays (doubling), never dropped.
HOLD_FIRST_S, HOLD_CAP_S = 0.05, 2.0


def _close_opened(opening: asyncio.Future) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


class Framer(Protocol):
    def feed(self, chunk: bytes) -> list[Frame]: ...

    def reset(self) -> None: ...


class LineFramer:
    """Cuts a byte stream into lines ended by CR, LF or CR LF; empty lines are skipped.

    A line longer than `max_len` without a terminator is not a frame of any line
    protocol: it is handed out as a DecodeError (raw bytes kept) instead of
    growing the buffer without bound.
    """

    def __init__(self, max_len: int = 1024):
        self.max_len = max_len
        self._buf = bytearray()

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, chunk: bytes) -> list[Frame]:
        self._buf += chunk
        out: list[Frame] = []
        start = 0
        buf = self._buf
        for i, byte in enumerate(buf):
            if byte in (0x0D, 0x0A):
                if i > start:
                    out.append(bytes(buf[start:i]))
                start = i + 1
        del buf[:start]
        if len(buf) > self.max_len:
            out.append(DecodeError(f"line longer than {self.max_len} bytes without CR/LF",
                                   raw=bytes(buf)))
            buf.clear()
        return out


class StxFramer:
    """Cuts a stream into `length`-byte frames that start with STX and carry CR at
    `length - 2` (Toledo: ... CR checksum). Bytes that are not inside such a frame
    are handed out as one DecodeError per run, so nothing is dropped silently; the
    run before the first frame after (re)opening says it is the tail of a frame the
    port opened in the middle of, which a streaming scale makes on every connect."""

    def __init__(self, length: int = 18, stx: int = 0x02, cr: int = 0x0D):
        self.length, self.stx, self.cr = length, stx, cr
        self._buf = bytearray()
        self._synced = False

    def reset(self) -> None:
        self._buf.clear()
        self._synced = False

    def feed(self, chunk: bytes) -> list[Frame]:
        self._buf += chunk
        out: list[Frame] = []
        buf = self._buf
        junk_from = None  # start of a run of bytes that belong to no frame
        pos = 0
        while pos < len(buf):
            if buf[pos] & 0x7F != self.stx:
                junk_from = pos if junk_from is None else junk_from
                pos += 1
                continue
            if len(buf) - pos < self.length:
                break  # a frame start: wait for the rest of it
            if buf[pos + self.length - 2] & 0x7F == self.cr:
                if junk_from is not None:
                    out.append(self._junk(buf[junk_from:pos]))
                    junk_from = None
                out.append(bytes(buf[pos:pos + self.length]))
                self._synced = True
                pos += self.length
            else:
                # An STX that does not start a frame (corruption, or a checksum
                # byte that happens to equal STX): junk, resync on the next STX.
                junk_from = pos if junk_from is None else junk_from
                pos += 1
        if junk_from is not None:
            # Junk never becomes part of a later frame (frames start with STX).
            out.append(self._junk(buf[junk_from:pos]))
        del buf[:pos]
        return out

    def _junk(self, raw: bytearray) -> DecodeError:
        if not self._synced:
            return DecodeError(f"{len(raw)} bytes before the first frame (port opened "
                               "mid-frame)", raw=bytes(raw))
        return DecodeError(f"{len(raw)} bytes outside any STX frame", raw=bytes(raw))


@dataclass(frozen=True, slots=True)
class LineSettings:
    """Character framing on the wire; 8N1 unless the device says otherwise
    (Toledo indicators often ship 7E1)."""

    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1

    def __post_init__(self):
        if self.bytesize not in (5, 6, 7, 8):
            raise ValueError(f"bytesize: {self.bytesize!r} must be 5, 6, 7 or 8")
        if self.parity not in ("N", "E", "O", "M", "S"):
            raise ValueError(f"parity: {self.parity!r} must be one of N, E, O, M, S")
        if self.stopbits not in (1, 1.5, 2):
            raise ValueError(f"stopbits: {self.stopbits!r} must be 1, 1.5 or 2")


StateCallback = Callable[[str], None]
ProblemCallback = Callable[[Exception], Awaitable[None]]
FrameCallback = Callable[[Frame], Awaitable[None]]


class SerialPort:
    """Owns one serial port path: opens it, reads frames, reopens it after failures.

    `on_state` gets "connected" | "down" | "reconnecting"; `on_problem` gets a
    TransportError once per outage (not once per failed retry). `on_connect` runs as
    a task for as long as a connection lasts (used to poll command-driven scales).

    `silence_timeout`: for devices that always talk (polled or streaming scales), no
    byte for this long means the device is off although the port is fine (a USB
    adapter stays plugged when the scale is switched off): state "down" and one
    TransportError; the first byte afterwards makes it "connected" again. The port
    stays open meanwhile — reopening it would not wake the device.
    """

    def __init__(self, path: str, baudrate: int, framer: Framer, *,
                 on_frame: FrameCallback, on_state: StateCallback,
                 on_problem: ProblemCallback,
                 on_connect: Callable[["SerialPort"], Awaitable[None]] | None = None,
                 backoff: Backoff | None = None, read_size: int = 4096,
                 silence_timeout: float | None = None, line: "LineSettings | None" = None):
        self.path = str(path)
        self.baudrate = baudrate
        self.line = line or LineSettings()
        self.framer = framer
        self.on_frame, self.on_state, self.on_problem = on_frame, on_state, on_problem
        self.on_connect = on_connect
        self.backoff = backoff or Backoff()
        self.read_size = read_size
        self.silence_timeout = silence_timeout
        self._serial: serial.Serial | None = None
        self.connects = 0  # successful opens, for the dashboard and tests

    # -- the loop --------------------------------------------------------------

    async def run(self) -> None:
        """Read frames forever; reconnect on failure. Ends only when cancelled."""
        outage_reported = False
        while True:
            try:
                await self._open()
            except (OSError, serial.SerialException, ValueError) as exc:
                if not outage_reported:
                    self.on_state("down")
                    await self.on_problem(TransportError(f"{self.path}: open failed: {exc}"))
                    outage_reported = True
                await self._sleep_then_retry()
                continue
            self.backoff.reset()
            outage_reported = False
            self.connects += 1
            self.on_state("connected")
            try:
                await self._pump()
            except (OSError, serial.SerialException) as exc:
                self.on_state("down")
                await self.on_problem(TransportError(f"{self.path}: {exc}"))
                outage_reported = True
            except Exception as exc:
                # A bug of ours must not end the reading for good: report it, reopen.
                log.exception("%s: reader failed", self.path)
                self.on_state("down")
                await self.on_problem(DriverError(f"{self.path}: reader failed: {exc!r}"))
                outage_reported = True
            finally:
                self._close()
            await self._sleep_then_retry()

    async def _sleep_then_retry(self) -> None:
        await asyncio.sleep(self.backoff.next())
        self.on_state("reconnecting")

    async def _open(self) -> None:
        # Opening a real USB adapter can block for a moment: keep it off the loop.
        opening = asyncio.get_running_loop().run_in_executor(None, functools.partial(
            serial.Serial, self.path, self.baudrate, bytesize=self.line.bytesize,
            parity=self.line.parity, stopbits=self.line.stopbits, timeout=0, write_timeout=0,
            exclusive=True))
        try:
            ser = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # Stopped mid-open: the thread still opens the port; close it when it does.
            opening.add_done_callback(_close_opened)
            raise
        self._serial = ser
        self.framer.reset()

    def _close(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except (OSError, serial.SerialException):  # already gone with the device
                pass

    async def _pump(self) -> None:
        ser = self._serial
        assert ser is not None
        loop = asyncio.get_running_loop()
        poller = None
        if self.on_connect is not None:
            poller = asyncio.create_task(self.on_connect(self))
        try:
            silent = False
            while True:
                readable = loop.create_future()
                fd = ser.fileno()
                loop.add_reader(fd, lambda: readable.done() or readable.set_result(None))
                try:
                    done, _ = await asyncio.wait(
                        {readable} | ({poller} if poller else set()),
                        timeout=None if silent else self.silence_timeout,
                        return_when=asyncio.FIRST_COMPLETED)
                finally:
                    loop.remove_reader(fd)
                    readable.cancel()
                if poller is not None and poller in done:
                    poller.result()  # a write failure: raise it as the outage cause
                    poller = None
                    continue
                if not done:
                    silent = True
                    self.on_state("down")
                    await self.on_problem(TransportError(
                        f"{self.path}: no data for {self.silence_timeout:g} s (device off?)"))
                    continue
                if silent:
                    silent = False
                    self.on_state("connected")
                # Non-blocking read: returns what is there; EIO / EOF on unplug
                # surface as SerialException.
                chunk = ser.read(self.read_size)
                if not chunk:
                    raise serial.SerialException("port readable but returned no data (unplugged?)")
                for frame in self.framer.feed(chunk):
                    await self.on_frame(frame)
        finally:
            if poller is not None:
                poller.cancel()
                try:
                    await poller
                except (asyncio.CancelledError, OSError, serial.SerialException):
                    pass

    # -- writing (command-driven scales) -----------------------------------------

    def write(self, data: bytes) -> None:
        """Send bytes now; raises SerialException/OSError if the port is gone."""
        ser = self._serial
        if ser is None:
            raise serial.SerialException(f"{self.path} is not open")
        written = ser.write(data)
        if written is not None and written < len(data):
            raise serial.SerialException(
                f"{self.path}: only {written} of {len(data)} bytes written")


class SerialDriver:
    """What every serial driver shares: start/stop of one `SerialPort` reader task,
    connection states and problems forwarded to the sink, and a sink that fails
    never stopping the reading. Subclasses provide `_framer()` and `_on_frame()`."""

    id: str
    port: str
    baudrate: int

    def __init__(self, backoff_first: float = 0.2, backoff_cap: float = 5.0,
                 line: LineSettings | None = None):
        self._backoff = Backoff(backoff_first, backoff_cap)
        self.line = line or LineSettings()
        self._sink = None
        self._task: asyncio.Task | None = None
        self._serial: SerialPort | None = None
        self.held = 0  # readings the sink refused at first and that waited for it

    def _framer(self) -> Framer:
        raise NotImplementedError

    def _poller(self) -> Callable[[SerialPort], Awaitable[None]] | None:
        return None

    def _silence_timeout(self) -> float | None:
        return None  # most devices may be quiet for hours (a scanner nobody uses)

    async def _on_frame(self, frame: Frame) -> None:
        raise NotImplementedError

    async def start(self, sink) -> None:
        """Start reading in a background task and return at once."""
        if self._task is not None:
            raise RuntimeError(f"driver {self.id} already started")
        self._sink = sink
        self._serial = SerialPort(
            self.port, self.baudrate, self._framer(), on_frame=self._on_frame,
            on_state=self._on_state, on_problem=self._deliver_problem,
            on_connect=self._poller(), backoff=self._backoff,
            silence_timeout=self._silence_timeout(), line=self.line)
        self._task = asyncio.create_task(self._serial.run(), name=f"serial:{self.id}")

    async def stop(self) -> None:
        """Stop reading and close the port; the sink hears "down"."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            # wait() rather than `await task`: the reader's CancelledError is expected,
            # a cancellation of the caller itself must still propagate.
            await asyncio.wait({task})
        finally:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("%s: reader ended with %r", self.id, task.exception())
            self._on_state("down")

    @property
    def connects(self) -> int:
        """How many times the port was opened successfully (1 + reconnects)."""
        return self._serial.connects if self._serial else 0

    def _on_state(self, state: str) -> None:
        if self._sink is not None:
            self._sink.connection(self.id, state)

    async def _deliver_problem(self, error: Exception) -> None:
        try:
            await self._sink.problem(self.id, error)
        except Exception:  # the sink's fault, not the device's: keep reading
            log.exception("%s: sink.problem failed", self.id)

    async def _deliver_reading(self, reading) -> None:
        """Hand a reading to the sink, holding it until the sink takes it.

        A serial device cannot send a reading again, so a sink that fails is retried
        with back-off, never skipped. While one reading is held the port is not read:
        later bytes wait in the OS and device buffers, in order. `held` counts the
        readings that had to wait; a reading still held when the driver stops is logged
        in full (value and attributes) as an error, the one place it can still be found."""
        hold = Backoff(HOLD_FIRST_S, HOLD_CAP_S)
        told = False
        while True:
            try:
                await self._sink.reading(reading)
                if told:
                    log.warning("%s: sink took the held reading %r; reading the port again",
                                self.id, reading.value)
                return
            except asyncio.CancelledError:
                if told:
                    log.error("%s: stopped while holding a reading the sink never took: %r",
                              self.id, reading)
                raise
            except Exception as exc:  # the sink's fault, not the device's: hold, retry
                if not told:
                    self.held += 1
                    log.error("%s: sink refused a reading (%s: %s); holding it and not "
                              "reading the port until the sink takes it", self.id,
                              type(exc).__name__, exc)
                    told = True
            await asyncio.sleep(hold.next())
