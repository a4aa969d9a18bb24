"""The console log of `gateway run`, `gateway demo` and `gateway check --online`: library
warnings go through the same handler and format as ours, named by their logger and, when
a driver's task logged them, by the device; the ones that say nothing an operator can act
on are dropped here, each with the reason."""

from __future__ import annotations

import asyncio
import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s%(device)s: %(message)s"

# (logger, or a parent of it; message start): expected everywhere, with why
_EXPECTED = (
    # asyncua tidies up after every refused connect and warns that there was no channel
    # to close; the refusal itself is on the console once, from the device's own line.
    ("asyncua.client.ua_client", "close_secure_channel was called but connection is closed"),
    # The client asks for asyncua's default session timeout (1 h) and the PLC grants what
    # it allows; asyncua keeps the session alive within whatever was granted.
    ("asyncua.client.client", "Requested session timeout to be"),
)
# demo only: its simulated PLC listens unencrypted on loopback on purpose ([demo] table),
# and the demo's first lines say that security is relaxed; these repeat it per session.
_DEMO_EXPECTED = (
    ("asyncua.client.client", "No signing policy available"),
    ("asyncua.client.client", "No encrypting policy available"),
    # the simulator is asyncua's own server, warning about its own None endpoint
    ("asyncua.server", "No signing policy available"),
    ("asyncua.server", "No encrypting policy available"),
    # the demo serves plain http on loopback and prints that security is relaxed
    ("gateway.dashboard", "dashboard: session cookies without the Secure flag"),
)


class _Console(logging.Filter):
    """Drops the expected lines; names the device whose driver task logged the rest."""

    def __init__(self, demo: bool) -> None:
        super().__init__()
        self.expected = _EXPECTED + (_DEMO_EXPECTED if demo else ())

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        for name, start in self.expected:
            if (record.name == name or record.name.startswith(name + ".")) \
                    and msg.startswith(start):
                return False
        # our own lines name their device already; a library's does not know it
        record.device = "" if record.name.split(".")[0] in ("gateway", "drivers") \
            else _device()
        return True


def _device() -> str:
    """" (device X)" inside a driver's task (named "<driver>:<device id>"), else ""."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop in this thread (an executor's)
        return ""
    name = task.get_name() if task is not None else ""
    kind, sep, device = name.partition(":")
    return f" (device {device})" if sep and kind and device else ""


def console_log(*, verbose: bool = False, demo: bool = False) -> None:
    """One stderr handler for every logger: libraries at WARNING (INFO with -v), our own
    `gateway` lines at INFO (DEBUG with -v). A root logger that has a handler already
    (a test's capture) keeps it and gets the filter."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("gateway").setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in root.handlers:
        if not any(isinstance(f, _Console) for f in handler.filters):
            handler.addFilter(_Console(demo))
