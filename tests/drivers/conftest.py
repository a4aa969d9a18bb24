"""Serial-device fixtures: a recording Sink (the drivers' real interface) and helpers."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import pytest

from drivers.base import DecodeError, DriverError, Reading, TransportError


class RecordingSink:
    """A Sink that keeps every call, in order, and lets a test wait for a condition."""

    def __init__(self):
        self.readings: list[Reading] = []
        self.problems: list[tuple[str, DriverError]] = []
        self.states: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    async def reading(self, reading: Reading) -> None:
        self.readings.append(reading)
        self._changed.set()

    async def problem(self, device: str, error: DriverError) -> None:
        self.problems.append((device, error))
        self._changed.set()

    def connection(self, device: str, state: str) -> None:
        self.states.append((device, state))
        self._changed.set()

    @property
    def decode_errors(self) -> list[DecodeError]:
        return [e for _, e in self.problems if isinstance(e, DecodeError)]

    @property
    def transport_errors(self) -> list[TransportError]:
        return [e for _, e in self.problems if isinstance(e, TransportError)]

    def count_state(self, state: str) -> int:
        return sum(1 for _, s in self.states if s == state)

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0,
                       what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; readings="
                    f"{[(r.value, r.attrs) for r in self.readings]}, problems="
                    f"{[(type(e).__name__, str(e)) for _, e in self.problems]}, "
                    f"states={self.states}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.1))
            except asyncio.TimeoutError:
                pass


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()
