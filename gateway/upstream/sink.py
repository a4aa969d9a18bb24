"""The upstream contract: one method, `send(batch) -> Ack | Retry | Reject`.

A sink never raises for an upstream failure; it classifies it. `Retry` means try the
same batch again later (5xx, timeout, refused, broker down); `Reject` means upstream
will never take this batch as it is (4xx other than 409) and it goes to quarantine.

A sink that can see at start-up that upstream is not set up for it (the NATS sink's
missing stream) has `async verify()`, which raises UpstreamSetupError; the gateway then
refuses to start rather than pile batches up for a destination that cannot exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Union


@dataclass(frozen=True, slots=True)
class Ack:
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str


Verdict = Union[Ack, Retry, Reject]


class UpstreamSetupError(Exception):
    """Upstream answers but is not set up to take our batches (the message says how to fix it)."""


class UpstreamSink(Protocol):
    async def send(self, batch: dict) -> Verdict:
        """Deliver one batch (the batch JSON object, see docs/architecture.md), idempotently by batch_id."""
        ...

    async def close(self) -> None: ...
