"""A private NATS server with JetStream: own port, own store folder, optional password.

Used by the tests (through the fixtures in tests/support/nats_server.py), the benchmark
and the demo. Each server gets its own folder (config, JetStream store, log) and never
touches a system server on 4222. The store lives in the folder, so `restart()` keeps
every stream and message, as a real server does across a restart. A missing program
raises NatsServerMissing naming it and `./setup.sh`.

    server = NatsServer(tmp_path / "nats").start()
    server.url                  # nats://127.0.0.1:<free port>
    server.user, server.password  # set when NatsServer(..., password=...) or auth=True
    server.restart(downtime=0.5)
    server.stop()
"""

from __future__ import annotations

import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import time

from simulators.ports import free_port
from simulators.processes import end

NATS_SERVER = "nats-server"
_FALLBACK = "/usr/sbin/nats-server"


class NatsServerMissing(RuntimeError):
    """The server program is not installed (the fixtures turn this into a test failure)."""


def find_nats_server() -> str:
    """The path of `nats-server` on PATH or in /usr/sbin, else NatsServerMissing."""
    program = shutil.which(NATS_SERVER) or (_FALLBACK if os.access(_FALLBACK, os.X_OK) else None)
    if program is None:
        raise NatsServerMissing(
            f"{NATS_SERVER} not found on PATH or at {_FALLBACK}: the NATS tests need a real "
            "JetStream server; install it with ./setup.sh (apt-get install nats-server)"
        )
    return program


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class NatsServer:
    """One private `nats-server -js` process: `start()`, `stop()`, `restart()`; `.url`."""

    def __init__(
        self,
        folder: pathlib.Path | str,
        *,
        auth: bool = False,
        user: str = "gateway",
        password: str | None = None,
        port: int | None = None,
    ):
        self.program = find_nats_server()
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.store_dir = self.folder / "jetstream"
        self.log_file = self.folder / "nats-server.log"
        auth = auth or password is not None
        self.user = user if auth else None
        self.password = (password or secrets.token_urlsafe(12)) if auth else None
        self._process: subprocess.Popen | None = None
        self.config = self.folder / "nats-server.conf"
        self._write_config()

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def _write_config(self) -> None:
        lines = [
            f"host: {self.host}",
            f"port: {self.port}",
            f"server_name: {_quote('test-' + str(self.port))}",
            f"jetstream {{ store_dir: {_quote(str(self.store_dir))} }}",
            f"log_file: {_quote(str(self.log_file))}",
        ]
        if self.user is not None:
            lines.append(
                f"authorization {{ user: {_quote(self.user)}, password: {_quote(self.password)} }}"
            )
        self.config.write_text("\n".join(lines) + "\n")

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def _ready(self) -> bool:
        # The server sends INFO as soon as it accepts a client; JetStream is up by then
        # (it is started before the client listener opens).
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2) as conn:
                conn.settimeout(0.5)
                return conn.recv(4).startswith(b"INFO")
        except OSError:
            return False

    def start(self, timeout: float = 10.0) -> "NatsServer":
        """Start the server and wait until it accepts clients; returns self."""
        if self.running:
            return self
        # Its own session: a Ctrl-C meant for the demo must not kill the server before
        # the clients have flushed; whoever started it stops it.
        self._process = subprocess.Popen(
            [self.program, "-js", "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace")
                self._process.stderr.close()
                self._process = None
                raise RuntimeError(f"nats-server exited: {err}\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"nats-server did not accept clients on {self.port} within {timeout}s:\n{self.log()}"
                )
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """SIGTERM and wait: the server flushes its JetStream store on a clean shutdown."""
        self._end(graceful=True)

    def kill(self) -> None:
        """SIGKILL, no flush: a crash of the server."""
        self._end(graceful=False)

    def _end(self, graceful: bool) -> None:
        process, self._process = self._process, None
        end(process, graceful=graceful, timeout=10)

    def restart(self, downtime: float = 0.0) -> "NatsServer":
        """Stop, wait `downtime` seconds, start again on the same port with the same store."""
        self.stop()
        time.sleep(downtime)
        return self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> "NatsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
