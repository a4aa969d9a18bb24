"""Who is asking: server-side sessions with expiry, and login throttling.

A session id is 256 random bits held only in an HttpOnly, SameSite=Strict cookie; the
server keeps the session (user, role, CSRF token, expiry). Logging in always issues a
new id (no fixation). Failed logins are counted per name and per client address; past
the limit both are locked out for a while, whatever the password.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COOKIE", "Session", "SessionStore", "LoginThrottle"]

COOKIE = "gw_session"
ANON_TTL_S = 30 * 60  # a login form left open this long must be reloaded


@dataclass
class Session:
    sid: str
    csrf: str
    user: str | None
    role: str | None
    expires: float
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


class SessionStore:
    """In-memory sessions; a gateway restart logs everyone out, which is the safe side."""

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic,
                 max_sessions: int = 10_000):
        self.ttl_s = ttl_s
        self.clock = clock
        self.max_sessions = max_sessions
        self._by_id: dict[str, Session] = {}

    def new(self, user: str | None = None, role: str | None = None) -> Session:
        if len(self._by_id) >= self.max_sessions:
            self._evict()
        ttl = self.ttl_s if user else min(self.ttl_s, ANON_TTL_S)
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user, role,
                    self.clock() + ttl)
        self._by_id[s.sid] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        """The live session for this id (its idle expiry slides forward), else None."""
        s = self._by_id.get(sid) if sid else None
        if s is None:
            return None
        now = self.clock()
        if now >= s.expires:
            del self._by_id[s.sid]
            return None
        s.expires = now + (self.ttl_s if s.user else min(self.ttl_s, ANON_TTL_S))
        return s

    def alive(self, s: Session) -> bool:
        """True while `s` has not expired or been dropped (no sliding: for long streams)."""
        return self._by_id.get(s.sid) is s and self.clock() < s.expires

    def drop(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def _evict(self) -> None:
        now = self.clock()
        for sid in [k for k, s in self._by_id.items() if s.expires <= now]:
            del self._by_id[sid]
        # Still full: anonymous sessions go first (cheap to make, worth nothing).
        anon = sorted((s for s in self._by_id.values() if s.user is None), key=lambda s: s.expires)
        for s in anon[: max(0, len(self._by_id) - self.max_sessions + 1)]:
            del self._by_id[s.sid]


class LoginThrottle:
    """Counts failed logins per key; a key with too many recent failures is locked."""

    def __init__(self, max_failures: int, window_s: float, lockout_s: float, *,
                 clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    MAX_KEYS = 50_000  # a spray of made-up names must not grow memory without bound

    def _prune(self, now: float) -> None:
        for k in [k for k, ts in self._failures.items() if not ts or now - ts[-1] >= self.window_s]:
            del self._failures[k]
        for k in [k for k, t in self._locked_until.items() if t <= now]:
            del self._locked_until[k]

    @staticmethod
    def keys(name: str, addr: str | None) -> tuple[str, ...]:
        return (f"name:{name.strip().lower()}", f"addr:{addr or '?'}")

    def locked_for(self, keys: tuple[str, ...]) -> float:
        """Seconds until these keys may try again (0 = now)."""
        now = self.clock()
        return max([0.0] + [self._locked_until.get(k, 0.0) - now for k in keys])

    def failed(self, keys: tuple[str, ...]) -> None:
        now = self.clock()
        if len(self._failures) > self.MAX_KEYS:
            self._prune(now)
        for k in keys:
            recent = [t for t in self._failures.get(k, []) if now - t < self.window_s]
            recent.append(now)
            if len(recent) >= self.max_failures:
                self._locked_until[k] = now + self.lockout_s
                recent = []
            self._failures[k] = recent

    def succeeded(self, keys: tuple[str, ...]) -> None:
        # Only the name is forgiven: one good login from a shared terminal must not
        # reset the count of an address that is guessing other names.
        for k in keys:
            if k.startswith("name:"):
                self._failures.pop(k, None)
