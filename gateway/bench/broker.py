"""A private Mosquitto for the ingest and cold-start stages: loopback, free port, login.

The benchmark measures the path a plant runs, so the broker is a real one with a
password file (anonymous clients refused), started from a generated config in the
bench's own folder and stopped with the stage. Missing programs fail with their name.
"""

from __future__ import annotations

import os
import pathlib
import pwd
import secrets
import shutil
import socket
import subprocess
import time

from simulators.mosquitto import write_password_file
from simulators.ports import free_port

MOSQUITTO = "/usr/sbin/mosquitto"


class BrokerError(RuntimeError):
    pass


class Broker:
    """`with Broker(folder) as b:` — b.url, b.username, b.password while it runs."""

    def __init__(self, folder: pathlib.Path):
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.username = "bench"
        self.password = secrets.token_urlsafe(12)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Broker":
        if self.proc is None:
            self.start()
        return self

    def start(self) -> None:
        """Start the broker and wait until it listens (BrokerError if it cannot)."""
        if self.proc is not None:
            return
        passwd_tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        for program in (MOSQUITTO, passwd_tool):
            if not os.access(program, os.X_OK):
                raise BrokerError(f"{program} not found: the ingest benchmark needs a real "
                                  "Mosquitto (apt-get install mosquitto mosquitto-clients)")
        pw_file = self.folder / "passwd"
        write_password_file(passwd_tool, pw_file, {self.username: self.password})
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join([
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",  # as root it would drop privileges
            "allow_anonymous false",
            f"password_file {pw_file}",
            "persistence false",
            # the default of 20 messages in flight per client would be the bottleneck
            "max_inflight_messages 1000",
            "max_queued_messages 1000000",
            f"log_dest file {self.folder / 'mosquitto.log'}",
            "log_type error", "log_type warning",
            f"listener {self.port} 127.0.0.1", ""]))
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise BrokerError(f"mosquitto did not start on port {self.port}") from None
                time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stderr.close()
