"""The upstream contract: one method, `send(batch) -> Ack | Retry | Reject`.

A sink never raises for an upstream failure; it classifies it. `Retry` means try the
same batch again later (5xx, timeout, refused, broker down); `Reject` means upstream
will never take this batch as it is (4xx other than 409) and it goes to quarantine.
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


class UpstreamSink(Protocol):
    async def send(self, batch: dict) -> Verdict:
        """Deliver one batch (the batch JSON object, see docs/architecture.md), idempotently by batch_id."""
        ...

    async def close(self) -> None: ...
