"""Who is asking: server-side sessions with expiry (login throttling: throttle.py).

A session id is 256 random bits held only in an HttpOnly, SameSite=Strict cookie; the
server keeps the session (user, role, CSRF token, expiry). Logging in always issues a
new id (no fixation).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COOKIE", "Session", "SessionStore"]

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
