"""Who is asking: server-side sessions with expiry (login throttling: throttle.py).

A session id is 256 random bits held only in an HttpOnly, SameSite=Strict cookie; the
server keeps the session (user, role, CSRF token, expiry). Logging in always issues a
new id (no fixation). A session ends when idle too long, when it reaches its absolute
life however busy it is, and as soon as its user is removed from the users file or
their role or password changes (`revoke`): the session remembers the role and password
hash it was made with, and must match the file on every request.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.users import ACTING_ROLES, User, UserStore

log = logging.getLogger("gateway.dashboard.auth")

__all__ = ["COOKIE", "Session", "SessionStore", "follow_users_file"]

COOKIE = "gw_session"
ANON_TTL_S = 30 * 60  # a login form left open this long must be reloaded


@dataclass
class Session:
    sid: str
    csrf: str
    user: str | None
    role: str | None
    expires: float
    ends: float = float("inf")  # absolute end, however busy the session is
    stamp: str = ""  # the user's password hash at login: a new password ends the session
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def may_act(self) -> bool:
        """The role may change things (gateway.users.ACTING_ROLES); a viewer only looks."""
        return self.role in ACTING_ROLES

    def matches(self, user: User | None) -> bool:
        """True while the users file still has this session's user, role and password."""
        return user is not None and (user.name, user.role, user.hash) == (
            self.user, self.role, self.stamp)


class SessionStore:
    """In-memory sessions; a gateway restart logs everyone out, which is the safe side."""

    def __init__(self, ttl_s: float, *, max_life_s: float = 12 * 3600,
                 clock: Callable[[], float] = time.monotonic, max_sessions: int = 10_000):
        self.ttl_s = ttl_s
        self.max_life_s = max_life_s
        self.clock = clock
        self.max_sessions = max_sessions
        self._by_id: dict[str, Session] = {}

    def new(self, user: User | None = None) -> Session:
        """An anonymous session (for the login form), or one for `user` just logged in."""
        if len(self._by_id) >= self.max_sessions:
            self._evict()
        now = self.clock()
        if user is None:
            s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), None, None,
                        now + min(self.ttl_s, ANON_TTL_S))
        else:
            s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user.name,
                        user.role, now + self.ttl_s, ends=now + self.max_life_s,
                        stamp=user.hash)
        self._by_id[s.sid] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        """The live session for this id (its idle expiry slides forward), else None."""
        s = self._by_id.get(sid) if sid else None
        if s is None:
            return None
        now = self.clock()
        if now >= min(s.expires, s.ends):
            del self._by_id[s.sid]
            return None
        s.expires = now + (self.ttl_s if s.user else min(self.ttl_s, ANON_TTL_S))
        return s

    def alive(self, s: Session) -> bool:
        """True while `s` has not expired or been dropped (no sliding: for long streams)."""
        return self._by_id.get(s.sid) is s and self.clock() < min(s.expires, s.ends)

    def revoke(self, lookup: Callable[[str], User | None]) -> list[Session]:
        """End every logged-in session whose user `lookup` no longer matches; those ended."""
        gone = [s for s in self._by_id.values() if s.user and not s.matches(lookup(s.user))]
        for s in gone:
            del self._by_id[s.sid]
        return gone

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


def follow_users_file(sessions: SessionStore, users: UserStore, *, force: bool = False
                      ) -> list[Session]:
    """Re-read the users file if it changed (always when `force`, as on SIGHUP) and end
    the sessions of users it removed, demoted, promoted or gave a new password."""
    if not users.refresh(force=force):
        return []
    gone = sessions.revoke(users.get)
    for s in gone:
        log.warning("session of %r (%s) ended: the users file no longer has that user "
                    "with that role and password", s.user, s.role)
    return gone
