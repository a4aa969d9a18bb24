"""A raw-mode pseudo-terminal that looks like a serial port at a stable path.

`VirtualSerialPort(path)` opens a pty pair, puts the slave side in raw mode
(`tty.setraw`: no echo, no CR/LF translation, 8-bit clean) and points the symlink
`path` at the slave (`/dev/pts/N`). A driver opens `path` exactly as it would open
`/dev/ttyUSB0`. The device side (the simulator) owns the master fd:

    write(data)   non-blocking; bytes that do not fit (nobody reading, buffer full)
                  are dropped and counted, as a real device's UART would lose them
    read()        whatever the driver sent, b"" if nothing (non-blocking)
    unplug()      closes both sides and removes the symlink: the driver's reads fail
                  (EIO) and reopening the path fails, as with a pulled USB adapter
    replug()      a new pty pair; the same symlink now points at the new slave

All methods are synchronous and non-blocking, so they can be called from the event
loop directly; `fileno()` is the master fd for `loop.add_reader`.
"""

from __future__ import annotations

import errno
import os
import pathlib
import termios
import tty

__all__ = ["VirtualSerialPort"]


class VirtualSerialPort:
    """The device end of a simulated serial cable (see module doc)."""

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        self.master: int | None = None
        self._slave: int | None = None  # held open so the pty outlives driver reopens
        self.dropped = 0                # bytes written while nobody could take them
        self.plugs = 0
        self.replug()

    @property
    def plugged(self) -> bool:
        return self.master is not None

    @property
    def device(self) -> str:
        """The /dev/pts/N the symlink points at now."""
        if self._slave is None:
            raise RuntimeError(f"{self.path} is unplugged")
        return os.ttyname(self._slave)

    def termios(self) -> list:
        """The tty attributes the driver set (termios.tcgetattr layout): baud, 7E1, ..."""
        if self._slave is None:
            raise RuntimeError(f"{self.path} is unplugged")
        return termios.tcgetattr(self._slave)

    def fileno(self) -> int:
        if self.master is None:
            raise RuntimeError(f"{self.path} is unplugged")
        return self.master

    def replug(self) -> None:
        """Plug in: a fresh pty pair behind the same path (closes any old one)."""
        self.unplug()
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master, self._slave = master, slave
        # Re-point atomically so a driver retrying the open never sees a half state.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.path)
        self.plugs += 1

    def unplug(self) -> None:
        """Pull the cable: both ends closed, the path gone."""
        for fd in (self.master, self._slave):
            if fd is not None:
                os.close(fd)
        self.master = self._slave = None
        if self.path.is_symlink():
            self.path.unlink()

    close = unplug

    def write(self, data: bytes) -> int:
        """Send bytes to the driver; returns how many went out (the rest dropped)."""
        if self.master is None:
            self.dropped += len(data)
            return 0
        sent = 0
        view = memoryview(data)
        while sent < len(data):
            try:
                n = os.write(self.master, view[sent:])
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                break
            sent += n
        self.dropped += len(data) - sent
        return sent

    def read(self, size: int = 4096) -> bytes:
        """What the driver sent so far; b"" when nothing (or nobody has the port open)."""
        if self.master is None:
            return b""
        try:
            return os.read(self.master, size)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # no slave open right now
                return b""
            raise

    def __enter__(self) -> "VirtualSerialPort":
        return self

    def __exit__(self, *exc) -> None:
        self.unplug()
