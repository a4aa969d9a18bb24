"""Login throttling that holds under concurrency: an attempt is counted the moment it is
admitted, before its password is checked, so parallel guesses cannot outrun the limit.

Failures are counted per client address and per name, each on its own:

- an address with too many recent failures (whatever names it tried) is refused;
- a name with too many recent failures (from whatever addresses) is locked, but not
  for everybody: an address with no recent failure and no attempt in flight may still
  try it, after a short delay. So guessing from one address is limited by the address,
  guessing from many by the name, and nobody can lock the supervisor out of the
  dashboard in an incident by typing wrong passwords under their name.

Admission and settlement happen on the event loop with no await in between the check
and the count, which is what makes them atomic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Admission", "LoginThrottle"]


@dataclass(frozen=True, slots=True)
class Admission:
    """What the throttle says to one attempt: refused for `wait_s`, or go after `delay_s`."""

    wait_s: float = 0.0  # > 0: refused; try again in this many seconds
    delay_s: float = 0.0  # admitted, but check the password only after this long
    name_locked: bool = False

    @property
    def admitted(self) -> bool:
        return self.wait_s <= 0


class LoginThrottle:
    """Counts failed and in-flight logins per address and per name (see the module doc)."""

    MAX_KEYS = 50_000  # a spray of made-up names must not grow memory without bound
    BUSY_WAIT_S = 1.0  # refused because earlier attempts are still being checked

    def __init__(self, max_failures: int, window_s: float, lockout_s: float, *,
                 locked_name_delay_s: float = 3.0,
                 clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.locked_name_delay_s = locked_name_delay_s
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    @staticmethod
    def keys(name: str, addr: str | None) -> tuple[str, str]:
        """(name key, address key) for one attempt."""
        return (f"name:{name.strip().lower()}", f"addr:{addr or '?'}")

    def _recent(self, key: str, now: float) -> int:
        return sum(1 for t in self._failures.get(key, ()) if now - t < self.window_s)

    def _load(self, key: str, now: float) -> int:
        return self._recent(key, now) + self._pending.get(key, 0)

    def _locked(self, key: str, now: float) -> float:
        return max(0.0, self._locked_until.get(key, 0.0) - now)

    def admit(self, keys: tuple[str, str]) -> Admission:
        """Refuse this attempt, or admit it and count it as in flight until `settle`."""
        name, addr = keys
        now = self.clock()
        wait = self._locked(addr, now)
        if wait > 0:
            return Admission(wait_s=wait)
        if self._load(addr, now) >= self.max_failures:
            return Admission(wait_s=self.BUSY_WAIT_S)
        delay = 0.0
        name_wait = self._locked(name, now)
        if name_wait > 0 or self._load(name, now) >= self.max_failures:
            if self._load(addr, now) > 0:
                return Admission(wait_s=max(name_wait, self.BUSY_WAIT_S), name_locked=True)
            delay = self.locked_name_delay_s  # a clean address: slowed, not shut out
        for k in keys:
            self._pending[k] = self._pending.get(k, 0) + 1
        return Admission(delay_s=delay, name_locked=delay > 0)

    def settle(self, keys: tuple[str, str], ok: bool) -> None:
        """The end of an admitted attempt: a success forgives the name, a failure counts."""
        for k in keys:
            left = self._pending.get(k, 0) - 1
            if left > 0:
                self._pending[k] = left
            else:
                self._pending.pop(k, None)
        if ok:
            # Only the name is forgiven: one good login from a shared terminal must not
            # reset the count of an address that is guessing other names.
            self._failures.pop(keys[0], None)
            return
        now = self.clock()
        if len(self._failures) > self.MAX_KEYS:
            self._prune(now)
        for k in keys:
            recent = [t for t in self._failures.get(k, []) if now - t < self.window_s]
            recent.append(now)
            if len(recent) >= self.max_failures:
                self._locked_until[k] = now + self.lockout_s
                recent = []  # the lock now holds the key; its count starts again after
            self._failures[k] = recent

    def _prune(self, now: float) -> None:
        for k in [k for k, ts in self._failures.items() if not ts or now - ts[-1] >= self.window_s]:
            del self._failures[k]
        for k in [k for k, t in self._locked_until.items() if t <= now]:
            del self._locked_until[k]
