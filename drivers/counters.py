"""Production counters to deltas: every unit a PLC counted is reported exactly once.

Pure logic, no I/O: `CounterBook.observe(node, raw)` compares a counter's new raw value
with the last one it saw and says how many units were made since.

- first sight of a node with no stored state is a baseline: nothing is counted, because
  we cannot know what part of the value was already booked before the gateway existed;
- new == last: nothing happened (a replayed or repeated notification);
- new > last: Δ = new − last;
- new < last and the node has `wrap_max` (UInt16 → 65535): a roll-over,
  Δ = wrap_max − last + 1 + new;
- new < last without `wrap_max`: the PLC was reset, Δ = new.

Whenever the raw value goes backwards (reset OR roll-over) the node's *epoch* grows by
one. The event id `device:node:epoch:value` is therefore unique per unit boundary: a
value seen again after a roll-over lives in a new epoch and is not mistaken for a
duplicate, while a notification replayed after a restart maps to the same id and the
journal's idempotency drops it.

Persistence seam: each `Count` carries (epoch, value); the gateway stores them in the
`counters` table in the same transaction as the event, and a restarted driver is built
with that stored `{node: (epoch, value)}` mapping, so it resumes from the last committed
value and a count can neither be lost nor booked twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

COUNTER_KINDS = ("good", "scrap")


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """One PLC counter node and what its units mean on the shop floor."""

    node: str
    line: str
    kind: str  # "good" | "scrap"
    operation: int | None = None
    wrap_max: int | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str = "counters") -> "CounterSpec":
        """Validate one `{node, line, kind, operation, wrap_max}` entry, naming the bad field."""
        unknown = set(raw) - {"node", "line", "kind", "operation", "wrap_max"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
        for key in ("node", "line"):
            value = raw.get(key)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{where}.{key}: required non-empty string, got {value!r}")
        kind = raw.get("kind", "good")
        if kind not in COUNTER_KINDS:
            raise ValueError(f"{where}.kind: must be one of {COUNTER_KINDS}, got {kind!r}")
        operation = raw.get("operation")
        if operation is not None and (not isinstance(operation, int) or isinstance(operation, bool)):
            raise ValueError(f"{where}.operation: must be an integer, got {operation!r}")
        wrap_max = raw.get("wrap_max")
        if wrap_max is not None and (
            not isinstance(wrap_max, int) or isinstance(wrap_max, bool) or wrap_max < 1
        ):
            raise ValueError(f"{where}.wrap_max: must be a positive integer, got {wrap_max!r}")
        return cls(raw["node"], raw["line"], kind, operation, wrap_max)


@dataclass(frozen=True, slots=True)
class Count:
    """Units made on one node since the previous observation (delta > 0 always)."""

    node: str
    epoch: int
    value: int
    previous: int
    delta: int
    cause: str  # "count" | "reset" | "rollover"

    def event_id(self, device: str) -> str:
        return f"{device}:{self.node}:{self.epoch}:{self.value}"


class CounterBook:
    """Last (epoch, value) per node; turns each new raw value into at most one `Count`."""

    def __init__(
        self,
        specs: Iterable[CounterSpec],
        state: Mapping[str, tuple[int, int]] | None = None,
    ):
        self.specs: dict[str, CounterSpec] = {}
        for spec in specs:
            if spec.node in self.specs:
                raise ValueError(f"counters: node {spec.node!r} configured twice")
            self.specs[spec.node] = spec
        self._state: dict[str, tuple[int, int]] = {}
        for node, (epoch, value) in (state or {}).items():
            # Stored state for a node no longer configured is kept, not dropped: the
            # gateway owns that row and the node may come back.
            self._state[node] = (int(epoch), int(value))

    def state(self) -> dict[str, tuple[int, int]]:
        """A copy of the last (epoch, value) per node, as the gateway would store it."""
        return dict(self._state)

    def undo(self, count: Count) -> None:
        """Forget a Count the gateway never received, so the next read reports it again."""
        epoch = count.epoch if count.cause == "count" else count.epoch - 1
        self._state[count.node] = (epoch, count.previous)

    def observe(self, node: str, raw: int) -> Count | None:
        """Book a raw value; return the units made since the last one, or None."""
        spec = self.specs.get(node)
        if spec is None:
            raise ValueError(f"counter node {node!r} is not configured")
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"counter {node}: value must be an integer, got {raw!r}")
        if raw < 0 or (spec.wrap_max is not None and raw > spec.wrap_max):
            raise ValueError(
                f"counter {node}: value {raw} outside 0..{spec.wrap_max if spec.wrap_max is not None else 'max'}"
            )
        last = self._state.get(node)
        if last is None:
            self._state[node] = (0, raw)
            return None
        epoch, previous = last
        if raw == previous:
            return None
        if raw > previous:
            delta, cause = raw - previous, "count"
        elif spec.wrap_max is not None:
            epoch += 1
            delta, cause = spec.wrap_max - previous + 1 + raw, "rollover"
        else:
            epoch += 1
            delta, cause = raw, "reset"
        self._state[node] = (epoch, raw)
        if delta == 0:
            # A reset seen at exactly 0: nothing was made, so no Count. The new
            # position (epoch + 1, 0) is in `state()`; the OPC-UA driver delivers it as a
            # zero-delta reading so the gateway stores it before the next unit.
            return None
        return Count(node, epoch, raw, previous, delta, cause)
