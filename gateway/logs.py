"""The console log of `gateway run` and `gateway demo`: library warnings go through the
same handler as ours, named by their logger; the ones that say nothing an operator can act
on are dropped here, each with the reason."""

from __future__ import annotations

import logging

# logger name -> message starts that are expected and carry no information
_EXPECTED = {
    # asyncua tidies up after every refused connect and warns that there was no channel
    # to close; the refusal itself is on the console once, from the device's own line.
    "asyncua.client.ua_client.UaClient": ("close_secure_channel was called but connection "
                                          "is closed",),
}
# demo only: its simulated PLC listens unencrypted on loopback on purpose ([demo] table)
_DEMO_EXPECTED = {
    "asyncua.client.client": ("No signing policy available", "No encrypting policy available"),
}


class _Drop(logging.Filter):
    def __init__(self, starts: tuple[str, ...]):
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.starts)


def quiet_expected(demo: bool = False) -> None:
    """Install the filters (idempotent enough: one filter per logger and call site)."""
    for table in (_EXPECTED, _DEMO_EXPECTED) if demo else (_EXPECTED,):
        for name, starts in table.items():
            logger = logging.getLogger(name)
            if not any(isinstance(f, _Drop) and f.starts == starts for f in logger.filters):
                logger.addFilter(_Drop(starts))
