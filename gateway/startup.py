"""Start-up failures an operator can fix: each is one sentence naming the cause and the
fix. `gateway` prints it without a traceback and exits 2 (a bad config exits 1)."""

from __future__ import annotations

import errno


class StartupError(Exception):
    """The process could not start; the message says why and what to do about it."""


def listen_failed(what: str, host: str, port: int, exc: OSError, fix: str) -> StartupError:
    """A socket we must listen on could not be bound."""
    if exc.errno == errno.EADDRINUSE:
        cause = f"{host}:{port} is already in use (another gateway or program listens there)"
    elif exc.errno == errno.EACCES:
        cause = f"{host}:{port} needs privileges this process does not have"
    elif exc.errno == errno.EADDRNOTAVAIL:
        cause = f"{host} is not an address of this machine"
    else:
        cause = f"{host}:{port} cannot be bound ({exc.strerror or exc})"
    return StartupError(f"the {what} cannot listen: {cause}; {fix}")
