"""Subprocess hygiene for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess


@contextlib.contextmanager
def reaped(proc: subprocess.Popen):
    """Never leave a process running behind a failed assertion: kill it (if still alive)
    BEFORE waiting — Popen's own context manager would wait forever."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def journal_rows(db: str, sql: str, *args) -> list:
    """Rows of a journal another process is writing; none while it does not exist yet.

    The gateway creates the file before its tables, so a poll that starts with it may see
    the file without them: that is "nothing yet", not an error. Any other error raises."""
    if not os.path.exists(db):
        return []
    try:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as e:
        if str(e).startswith("no such table"):
            return []
        raise
