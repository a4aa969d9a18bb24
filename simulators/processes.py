"""Ending the server processes the simulators start (Mosquitto, nats-server)."""

from __future__ import annotations

import subprocess


def end(process: subprocess.Popen | None, *, graceful: bool = True, timeout: float = 5.0) -> None:
    """SIGTERM (graceful: the server writes its store) or SIGKILL, wait, then close stderr;
    a server that ignores SIGTERM for `timeout` seconds is killed."""
    if process is None:
        return
    try:
        if process.poll() is None:
            process.terminate() if graceful else process.kill()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
    finally:
        if process.stderr is not None:
            process.stderr.close()
