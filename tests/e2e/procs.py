"""Subprocess hygiene for end-to-end tests."""

from __future__ import annotations

import contextlib
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
