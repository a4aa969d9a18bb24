"""Helpers for network driver tests: a recording sink and a bounded wait."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from drivers.base import DriverError, Reading


class RecordingSink:
    """A driver sink that keeps everything it was given, in order."""

    def __init__(self, auto_ack: bool = False):
        self.auto_ack = auto_ack  # ack each reading at once, as if committed
        self.readings: list[Reading] = []
        self.problems: list[DriverError] = []
        self.states: list[str] = []

    async def reading(self, reading: Reading) -> None:
        self.readings.append(reading)
        if self.auto_ack and reading.ack is not None:
            await reading.ack()

    async def problem(self, device: str, error: DriverError) -> None:
        self.problems.append(error)

    def connection(self, device: str, state: str) -> None:
        self.states.append(state)

    @property
    def state(self) -> str | None:
        return self.states[-1] if self.states else None


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` until true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
