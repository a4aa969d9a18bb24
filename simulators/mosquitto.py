"""A private Mosquitto broker: own port, passwords required, optional TLS and ACL.

Used by the tests (through the fixtures in tests/support/mosquitto.py), the benchmark
and `gateway demo`. Each broker gets its own folder (config, password file, ACL,
persistence, log) and never touches the system broker on 1883. Anonymous clients are
refused. A missing program raises MosquittoMissing naming it and `./setup.sh`.
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

from simulators.certs import TlsFiles
from simulators.ports import free_port
from simulators.processes import end

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "mosquitto_passwd"
# The sample broker configuration we ship for sites; its delivery settings are the "site"
# limits below, so tests, demo and bench run what docs/broker.md tells a site to run.
SITE_CONF = pathlib.Path(__file__).resolve().parents[1] / "config" / "mosquitto.conf"
DELIVERY_SETTINGS = ("persistence", "autosave_interval", "max_queued_messages",
                     "max_queued_bytes", "max_inflight_messages", "persistent_client_expiration")


def site_settings(conf: pathlib.Path = SITE_CONF) -> list[str]:
    """The delivery lines of the sample site configuration (comments and site lines left out)."""
    lines = [line.strip() for line in conf.read_text().splitlines()]
    return [line for line in lines if line.split(" ", 1)[0] in DELIVERY_SETTINGS]


def _free_port() -> int:
    return free_port()


class MosquittoMissing(RuntimeError):
    """The broker program is not installed (the fixtures turn this into a test failure)."""


def _require_programs() -> str:
    passwd = shutil.which(MOSQUITTO_PASSWD) or "/usr/bin/mosquitto_passwd"
    missing = [p for p in (MOSQUITTO, passwd) if not os.access(p, os.X_OK)]
    if missing:
        raise MosquittoMissing(
            f"{', '.join(missing)} not found: the MQTT tests need a real Mosquitto broker; "
            "install it with ./setup.sh (apt-get install mosquitto)"
        )
    return passwd


def write_password_file(passwd_program: str, path: pathlib.Path, users: dict[str, str]) -> None:
    """Mosquitto's password file for `users`, hashed in place (`mosquitto_passwd -U`):
    no password ever appears on a command line, where `ps` would show it."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"{user}:{secret}\n" for user, secret in users.items())
    subprocess.run([passwd_program, "-U", str(path)], check=True, capture_output=True)


class Mosquitto:
    """One private broker process: `start()`, `stop()`, `restart()`; credentials as attributes."""

    def __init__(
        self,
        folder: pathlib.Path,
        *,
        tls: TlsFiles | None = None,
        acl: str | None = None,
        username: str = "gateway",
        password: str | None = None,
        users: dict[str, str] | None = None,
        limits: str = "site",
        sys_interval: int | None = None,
        require_certificate: bool = False,
    ):
        """`limits="site"`: the delivery settings of config/mosquitto.conf; `"stock"`: the
        Debian package's defaults (persistence on, 20 in flight, 1000 queued) plus a
        password file, as most plants run it. `sys_interval`: seconds between $SYS
        updates (Mosquitto's default 10). `require_certificate`: the TLS listener accepts only
        clients with a certificate signed by `tls.ca` (the password is still asked)."""
        if limits not in ("site", "stock"):
            raise ValueError(f"limits: expected 'site' or 'stock', got {limits!r}")
        self._passwd_program = _require_programs()
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.tls = tls
        self.tls_port = _free_port() if tls else None
        self.ca_file = str(tls.ca.cert) if tls else None
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self.users = {username: self.password, **(users or {})}
        self.acl = acl
        self.limits = limits
        self.sys_interval = sys_interval
        self.require_certificate = require_certificate
        self.log_file = self.folder / "mosquitto.log"
        self._process: subprocess.Popen | None = None
        self._write_config()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str | None:
        return f"mqtts://{self.host}:{self.tls_port}" if self.tls else None

    def _write_config(self) -> None:
        passwords = self.folder / "passwd"
        write_password_file(self._passwd_program, passwords, self.users)
        lines = [
            # Run as whoever runs the tests: as root Mosquitto would otherwise switch to
            # the `mosquitto` user and be unable to read this private folder.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {passwords}",
            # Persistent sessions survive a broker restart (Debian's default is on too).
            *(site_settings() if self.limits == "site" else ["persistence true"]),
            f"persistence_location {self.folder}/",
            *([f"sys_interval {self.sys_interval}"] if self.sys_interval else []),
            f"log_dest file {self.log_file}",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "connection_messages true",
            f"listener {self.port} {self.host}",
        ]
        if self.acl is not None:
            acl_file = self.folder / "acl"
            acl_file.write_text(self.acl)
            lines.insert(4, f"acl_file {acl_file}")
        if self.tls:
            lines += [
                f"listener {self.tls_port} {self.host}",
                f"cafile {self.tls.ca.cert}",
                f"certfile {self.tls.server.cert}",
                f"keyfile {self.tls.server.key}",
                "tls_version tlsv1.2",
                *(["require_certificate true"] if self.require_certificate else []),
            ]
        self.config = self.folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def _listening(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=0.2):
                return True
        except OSError:
            return False

    def start(self, timeout: float = 5.0) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        # Its own session: a Ctrl-C meant for the demo (sent to the whole process group)
        # must not kill the broker before the clients have disconnected; whoever started
        # it stops it, in order.
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        ports = [p for p in (self.port, self.tls_port) if p]
        deadline = time.monotonic() + timeout
        while not all(self._listening(p) for p in ports):
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace")
                raise RuntimeError(f"mosquitto exited with {self._process.returncode}: {err}\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not listen on {ports} within {timeout}s:\n{self.log()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM and wait: Mosquitto writes its persistence file on a clean shutdown."""
        process, self._process = self._process, None
        end(process)

    def restart(self, downtime: float = 0.0) -> None:
        self.stop()
        time.sleep(downtime)
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None
