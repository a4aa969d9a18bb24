"""A one-line progress report on a terminal: done of total, rate, time left.

Written to stderr and only when stderr is a terminal (a file or pipe gets the summary
alone), at most a few times a second, overwritten in place; `done()` ends the line.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, what: str, total: int | None, unit: str = "events", stream=None,
                 every: float = 0.25):
        self.what, self.total, self.unit = what, total, unit
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every
        self.t0 = time.perf_counter()
        self._shown = 0.0
        self.count = 0

    def rate(self) -> float:
        took = time.perf_counter() - self.t0
        return self.count / took if took > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        text = f"{self.what}: {self.count:,}"
        if self.total:
            text += f" of {self.total:,} {self.unit} ({100.0 * self.count / self.total:.0f} %)"
        else:
            text += f" {self.unit}"
        text += f", {rate:,.0f} {self.unit}/s"
        if self.total and rate > 0 and self.count < self.total:
            text += f", {(self.total - self.count) / rate:,.0f} s left"
        return text

    def advance(self, n: int, total: int | None = None) -> None:
        """`n` more done; `total` re-estimated when the caller knows better."""
        self.count += n
        if total is not None:
            self.total = total
        now = time.perf_counter()
        if self.live and now - self._shown >= self.every:
            self._shown = now
            self.stream.write("\r" + self.line() + "\033[K")
            self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own (a rejection, say), with the progress line redrawn after it."""
        if self.live and self._shown:
            self.stream.write("\r\033[K")
            self._shown = 0.0  # redrawn at the next advance
        print(text, file=self.stream)

    def done(self) -> None:
        if self.live and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
