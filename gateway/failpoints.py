"""Named failure points (see docs/architecture.md): where tests kill or fault the process on purpose.

Production code calls `hit("journal.after_commit")` at a point of interest; nothing
happens unless the environment variable GATEWAY_FAILPOINTS arms it, e.g.

    GATEWAY_FAILPOINTS="outbox.after_send=kill"          SIGKILL this process there
    GATEWAY_FAILPOINTS="journal.before_commit=kill@3"    ... on the 3rd hit
    GATEWAY_FAILPOINTS="journal.commit=disk_full@2-5"    SQLITE_FULL on hits 2..5
    GATEWAY_FAILPOINTS="upstream.send=raise"             raise FailpointError
    GATEWAY_FAILPOINTS="spill.write=enospc"              OSError ENOSPC (disk full)

Several points are separated by commas. Tests may also arm points in-process with
`arm(name, action)`. Known points are listed in POINTS so a typo fails loudly.
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import time

POINTS = {
    "journal.before_commit",   # events decoded and valued, transaction not committed
    "journal.after_commit",    # committed, inputs not yet acknowledged
    "journal.commit",          # the COMMIT itself (disk_full here = SQLITE_FULL)
    "journal.before_retry",    # a receipt committed; the invoice lines it may release not retried
    "batcher.before_commit",
    "outbox.before_send",
    "outbox.after_send",       # upstream has the batch, we have not recorded the ack
    "outbox.after_ack",        # ack recorded
    "outbox.commit",           # COMMIT of a batch state change (disk_full here = SQLITE_FULL)
    "ingest.after_line",
    "spill.write",             # the engine's spill file takes a block (enospc = disk full)
    "snapshot.write",          # a snapshot of the engine is about to be written
    "plant.before_commit",     # consolidator: batch and lines inserted, not committed
    "plant.after_commit",      # consolidator: committed, the JetStream message not yet acked
}


class FailpointError(RuntimeError):
    pass


_armed: dict[str, tuple[str, int, int]] = {}
_hits: dict[str, int] = {}


def _parse(spec: str) -> None:
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, action = part.partition("=")
        lo = hi = 1
        if "@" in action:
            action, _, when = action.partition("@")
            lo_s, _, hi_s = when.partition("-")
            lo = int(lo_s)
            hi = int(hi_s) if hi_s else lo
        else:
            hi = 1 << 62  # every hit
        arm(name, action or "kill", lo, hi)


def arm(name: str, action: str = "kill", first: int = 1, last: int = 1 << 62) -> None:
    if name not in POINTS:
        raise ValueError(f"unknown failpoint {name!r}; known: {sorted(POINTS)}")
    _armed[name] = (action, first, last)
    _hits[name] = 0


def disarm(name: str | None = None) -> None:
    if name is None:
        _armed.clear()
        _hits.clear()
    else:
        _armed.pop(name, None)


def hit(name: str) -> None:
    """Pass through a named point; act if a test armed it."""
    if not _armed:
        return
    rule = _armed.get(name)
    if rule is None:
        return
    _hits[name] += 1
    action, first, last = rule
    if not first <= _hits[name] <= last:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # never returns
    elif action == "disk_full":
        raise sqlite3.OperationalError("database or disk is full")
    elif action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)
    elif action == "raise":
        raise FailpointError(name)
    elif action.startswith("sleep:"):
        time.sleep(float(action.split(":", 1)[1]))
    else:
        raise ValueError(f"failpoint {name}: unknown action {action!r}")


_parse(os.environ.get("GATEWAY_FAILPOINTS", ""))
