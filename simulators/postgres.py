"""A throwaway PostgreSQL cluster: `initdb` + `pg_ctl` in a temp folder, own port, trust auth.

Used by the consolidator tests (through tests/support/postgres.py) and the benchmark.
It never touches a server already running on the machine: the cluster lives in its own
folder, listens on 127.0.0.1 on a free port and on a unix socket in that folder, and is
stopped with `pg_ctl stop -m fast`. Trust authentication is for this private cluster
only; nothing in the gateway accepts it outside a test.

PostgreSQL refuses to run as root; when the tests run as root the cluster is created and
run as the `postgres` system user (in a folder that user owns). A missing program raises
PostgresMissing naming it and `./setup.sh`.
"""

from __future__ import annotations

import glob
import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile

from simulators.ports import free_port

__all__ = ["Postgres", "PostgresMissing", "find_bin"]

_RUN_AS = "postgres"


class PostgresMissing(RuntimeError):
    """initdb/pg_ctl are not installed (the fixtures turn this into a test failure)."""


def find_bin() -> pathlib.Path:
    """The folder holding initdb and pg_ctl: PATH first, then Debian's versioned folders."""
    on_path = shutil.which("initdb")
    candidates = ([pathlib.Path(on_path).resolve().parent] if on_path else []) + [
        pathlib.Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if all(os.access(folder / p, os.X_OK) for p in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise PostgresMissing(
        "initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin: the consolidator "
        "tests need a real PostgreSQL; install it with ./setup.sh (apt-get install postgresql)")


class Postgres:
    """One private cluster: `start()`, `stop()`, `dsn`; `kill()` for crash tests."""

    def __init__(self, folder: pathlib.Path | None = None, *, dbname: str = "plant"):
        self.bin = find_bin()
        self._user = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam(_RUN_AS)
            except KeyError:
                raise PostgresMissing(
                    f"running as root and there is no {_RUN_AS!r} user to run PostgreSQL as "
                    "(it refuses root); install the postgresql package with ./setup.sh") from None
        # A test's tmp_path is private to root; the postgres user needs a folder of its own.
        self.folder = pathlib.Path(folder) if folder and self._user is None else pathlib.Path(
            tempfile.mkdtemp(prefix="pg-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self._own = folder is None or self._user is not None  # we made it, we remove it
        self.data = self.folder / "data"
        self.log_file = self.folder / "postgres.log"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.dbname = dbname
        self.superuser = "postgres"
        if self._user is not None:
            os.chown(self.folder, self._user.pw_uid, self._user.pw_gid)
            self.folder.chmod(0o700)

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.superuser} dbname={self.dbname}"

    def _run(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self._user is not None:
            cmd = ["runuser", "-u", self._user.pw_name, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "LC_ALL": "C", "TZ": "UTC"})
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} exited {proc.returncode}: "
                               f"{proc.stderr.strip()}\n{self.log()}")
        return proc

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except (FileNotFoundError, PermissionError):
            return ""

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", self.superuser, "-A", "trust",
                      "-E", "UTF8", "--no-sync", "--no-instructions")
            # Fast and small: a test cluster trades durability of the host for speed;
            # crash tests kill our processes, not the machine.
            extra = "\n".join([
                f"listen_addresses = '{self.host}'", f"port = {self.port}",
                f"unix_socket_directories = '{self.folder}'",
                "fsync = off", "synchronous_commit = off", "full_page_writes = off",
                "shared_buffers = 32MB", "max_connections = 40", "log_min_messages = warning"])
            with open(self.data / "postgresql.conf", "a") as conf:
                conf.write("\n" + extra + "\n")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "30", "start")
        if self._run("psql", "-h", str(self.folder), "-p", str(self.port), "-U", self.superuser,
                     "-d", "postgres", "-Atc",
                     f"SELECT 1 FROM pg_database WHERE datname = '{self.dbname}'").stdout.strip() != "1":
            self._run("createdb", "-h", str(self.folder), "-p", str(self.port),
                      "-U", self.superuser, self.dbname)

    def stop(self) -> None:
        """A fast shutdown (rolls back open transactions); the folder is removed if ours."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def close(self) -> None:
        self.stop()
        if self._own:
            shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0
