"""The driver contract: bytes or notifications in, `Reading`s out.

A driver is registered by name in `drivers.REGISTRY` and has two methods,
`start(sink)` and `stop()`. It never raises out of its read loop: vendor errors are
translated at the edge into the tree below, reported through the sink (an outage once,
however many retries it takes; each retry shows as a "reconnecting" state), and the driver
reconnects with capped backoff. tests/drivers/test_contract.py holds every driver to this.

    DriverError
     ├── TransportError   port unplugged, connection refused, session lost
     ├── DecodeError      a frame that is not the protocol (kept, counted, shown)
     ├── AuthError        bad credentials, untrusted certificate, insecure policy refused
     └── LossReported     readings known to be lost before they reached the gateway
          ├── MessagesDropped   the broker says it dropped messages (its own counter)
          └── SequenceGap       a device's `seq` skipped numbers or started again

Each error names the exceptions-table `kind` it is kept under (`exception_kind`), and a
failed connection names its `cause` in a few words fit for a metric label and an operator
(`not_authorised`, `tls_untrusted`, `not_tls`, `no_mqtt_answer`, ...; by default the
class's: `transport`, `auth`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol


class DriverError(Exception):
    """Base of everything a driver reports."""

    exception_kind = "device_error"
    cause = "device"

    def __init__(self, *args, cause: str | None = None):
        super().__init__(*args)
        if cause is not None:
            self.cause = cause


class TransportError(DriverError):
    cause = "transport"


class DecodeError(DriverError):
    exception_kind = "decode_error"
    cause = "decode"

    def __init__(self, message: str, raw: bytes | str = b""):
        super().__init__(message)
        self.raw = raw


class AuthError(DriverError):
    cause = "auth"


class LossReported(DriverError):
    """Readings were lost upstream of the gateway: an alarm, and a row for a supervisor.

    `raw` keeps what proves it (the broker's counter, or the reading that showed the gap)."""

    exception_kind = "lost_readings"

    def __init__(self, message: str, raw: bytes | str = b""):
        super().__init__(message)
        self.raw = raw


class MessagesDropped(LossReported):
    exception_kind = "broker_dropped"


class SequenceGap(LossReported):
    exception_kind = "sequence_gap"


@dataclass(frozen=True, slots=True)
class Reading:
    """One thing a device said, before any business meaning is attached.

    kind:
      "counter"  value = the counter's new raw value (int); attrs: node, epoch, delta,
                 line, counter_kind ("good"|"scrap"), operation, and `event_id` derived
                 from device/node/epoch/value so a replay cannot count twice
      "weight"   value = stable net weight (float) in `unit`; attrs: station, weighing (id)
      "scan"     value = the raw barcode text; attrs: station, symbology, parsed GS1 AIs
      "event"    value = a canonical event dict (see docs/architecture.md) pushed by another system
      "measure"  value = any other device reading (number), for the dashboard only
    """

    device: str
    kind: str
    value: Any
    ts: str  # the device's or the driver's RFC 3339 timestamp; recorded, never ordered by
    unit: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    received: float = field(default_factory=time.monotonic)
    ack: Callable[[], Awaitable[None]] | None = None  # call after commit (MQTT QoS 1)


class Sink(Protocol):
    """Where a driver delivers: the gateway's mapping stage."""

    async def reading(self, reading: Reading) -> None: ...

    async def problem(self, device: str, error: DriverError) -> None: ...

    def connection(self, device: str, state: str) -> None: ...  # "connected" | "down" | ...


class Driver(Protocol):
    id: str

    async def start(self, sink: Sink) -> None: ...

    async def stop(self) -> None: ...
