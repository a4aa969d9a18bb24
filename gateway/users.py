"""Dashboard users: a TOML file of names, roles and salted scrypt hashes — never a password.

The file holds one `[[users]]` table per person:

    [[users]]
    name = "maria"
    role = "supervisor"                 # viewer | supervisor | controller
    hash = "scrypt$65536$8$2$<salt b64>$<key b64>"

Each user has their own random salt and the hash names its own cost (n, r, p), so a
hash written under an older, cheaper cost still verifies and is rewritten at today's
cost on that user's next successful login (`needs_rehash`). Verification recomputes the
key and compares in constant time, and spends the same work on an unknown name as on a
known one so a caller cannot tell which names exist by timing.

The gateway re-reads the file when it changes (`refresh`, called on every dashboard
request, and on SIGHUP), so removing or demoting a user takes effect at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import logging
import re
import secrets
import threading
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["ACTING_ROLES", "ACTION_ROLES", "ROLES", "may_do", "refusal", "User", "UserError", "UserStore", "hash_password", "needs_rehash",
           "verify_password"]

log = logging.getLogger("gateway.users")

ROLES = ("viewer", "supervisor", "controller")
# who may change anything through the dashboard (resolve, dismiss, retry, acknowledge):
# a controller acts on the same metrics as a supervisor; a viewer only looks
ACTING_ROLES = frozenset({"supervisor", "controller"})
# actions narrower than that: approving an invoice price off its PO's is the controller's
# (a supervisor keeps the shop-floor actions); every other action is ACTING_ROLES'
ACTION_ROLES = {"approve_invoice": frozenset({"controller"})}
_ACTION_WORDS = {"approve_invoice": "approve an invoice price"}  # for a refusal
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# scrypt cost: one of the equivalent settings current guidance lists (N=2^17 r=8 p=1,
# N=2^16 r=8 p=2, ...). 2^16/8/2 takes 64 MiB and ~0.26 s on the gateway's 2 cores
# (2^17/8/1 took 0.30-0.38 s): slow and memory-hard for an offline guesser, still a
# quick login. At most SCRYPT_SLOTS hashes run at once, bounding memory under a flood.
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LEN = 2**16, 8, 2, 32
SCRYPT_SLOTS = threading.BoundedSemaphore(2)
_MAX_SCRYPT_BYTES = 512 * 1024 * 1024  # a users file may not make us allocate more


class UserError(ValueError):
    """A bad users file, name, role or password; the message names field and value."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    hash: str

    @property
    def may_act(self) -> bool:
        return self.role in ACTING_ROLES


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _memory(n: int, r: int, p: int) -> int:
    # what OpenSSL's scrypt allocates: the V array plus the p blocks of B
    return 128 * r * (n + 2 + p)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    with SCRYPT_SLOTS:
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                              maxmem=_memory(n, r, p) + 1024 * 1024, dklen=dklen)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A self-describing scrypt hash at today's cost, with a fresh 16-byte salt."""
    if not password:
        raise UserError("password: must not be empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LEN)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise UserError("hash: not a scrypt$n$r$p$salt$key string")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError as exc:
        raise UserError(f"hash: malformed ({exc})") from None
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or not salt or not key:
        raise UserError(f"hash: unusable scrypt parameters n={n} r={r} p={p}")
    if _memory(n, r, p) > _MAX_SCRYPT_BYTES:
        raise UserError(f"hash: scrypt parameters n={n} r={r} p={p} need more than "
                        f"{_MAX_SCRYPT_BYTES >> 20} MiB")
    return n, r, p, salt, key


def verify_password(password: str, encoded: str) -> bool:
    n, r, p, salt, key = _parse_hash(encoded)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(key)), key)


def needs_rehash(encoded: str) -> bool:
    """True when the hash was made at another cost than today's (rewrite it at login)."""
    n, r, p, _, key = _parse_hash(encoded)
    return (n, r, p, len(key)) != (SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LEN)


@cache
def _dummy_hash() -> str:
    # Computed once per process: an unknown name costs the same scrypt work as a real one.
    return hash_password(secrets.token_urlsafe(12))


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UserError(f"name: {name!r} must be 1-64 of letters, digits, '.', '_', '@', '-'")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    return role


def _toml_str(value: str) -> str:
    # Names and hashes are validated to a safe alphabet; escape anyway so the file can
    # never be broken by what we write.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def may_do(role: str | None, action: str) -> bool:
    """May a user of `role` take `action` (an act-seam name, e.g. approve_invoice)?"""
    return role in ACTION_ROLES.get(action, ACTING_ROLES)


def refusal(name: str, role: str | None, action: str) -> str | None:
    """Why `name` (of `role`) may not take `action`, or None when they may."""
    if may_do(role, action):
        return None
    allowed = sorted(ACTION_ROLES.get(action, ACTING_ROLES))
    return (f"{name} is a {role}; only {' and '.join(r + 's' for r in allowed)} may "
            f"{_ACTION_WORDS.get(action, action.replace('_', ' '))}")


class UserStore:
    """The users file: load, verify, add, remove; writes are atomic and owner-only."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._users: dict[str, User] = {}
        self._seen: tuple[int, int, int] | None = None  # (inode, size, mtime) last read
        self._lock = threading.Lock()  # rehash writes come from worker threads
        if self.path.exists():
            self.reload()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed since it was last read (or `force`); True if read.

        A file that became unreadable or invalid leaves no users (fail closed: nobody
        can log in or keep a session) until it is fixed; the error is logged once.
        """
        seen = self._stat()
        if seen == self._seen and not force:
            return False
        try:
            self.reload()
        except (OSError, UserError) as exc:
            log.error("users file %s: %s; nobody may use the dashboard until it is fixed",
                      self.path, exc)
            self._users, self._seen = {}, seen
        return True

    def reload(self) -> None:
        seen = self._stat()
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{self.path}: {exc}") from None
        rows = data.get("users", [])
        if not isinstance(rows, list):
            raise UserError(f"{self.path}: users: must be an array of tables")
        users: dict[str, User] = {}
        for i, row in enumerate(rows):
            where = f"{self.path}: users[{i}]"
            if not isinstance(row, dict):
                raise UserError(f"{where}: must be a table")
            try:
                name = _check_name(row.get("name"))
                role = _check_role(row.get("role"))
                _parse_hash(str(row.get("hash", "")))
            except UserError as exc:
                raise UserError(f"{where}.{exc}") from None
            if name in users:
                raise UserError(f"{where}.name: {name!r} appears twice")
            users[name] = User(name, role, row["hash"])
        self._users, self._seen = users, seen

    def list(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.name)

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password matches; None otherwise (same cost either way).

        A match on a hash of an older cost is rewritten at today's cost before returning,
        so the User returned carries the hash now in the file."""
        user = self._users.get(name)
        ok = verify_password(password, user.hash if user else _dummy_hash())
        if not ok or user is None:
            return None
        if needs_rehash(user.hash):
            user = self._rehash(user, password)
        return user

    def _rehash(self, user: User, password: str) -> User:
        new = User(user.name, user.role, hash_password(password))
        with self._lock:
            self.refresh()
            if self._users.get(user.name) != user:
                # Changed meanwhile: keep their change. The session made from `user`
                # no longer matches the file and ends at its next request.
                return user
            self._users[user.name] = new
            self.save()
        log.info("users file %s: %s's password hash rewritten at scrypt n=%d r=%d p=%d",
                 self.path, user.name, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return new

    def add(self, name: str, role: str, password: str, *, replace: bool = False) -> User:
        _check_name(name)
        _check_role(role)
        if name in self._users and not replace:
            raise UserError(f"name: {name!r} already exists (use --replace to change it)")
        user = User(name, role, hash_password(password))
        self._users[name] = user
        self.save()
        return user

    def remove(self, name: str) -> None:
        if name not in self._users:
            raise UserError(f"name: no user {name!r}")
        del self._users[name]
        self.save()

    def save(self) -> None:
        lines = ["# Dashboard users (gateway user add/remove). Salted scrypt hashes only.", ""]
        for u in self.list():
            lines += ["[[users]]", f"name = {_toml_str(u.name)}", f"role = {_toml_str(u.role)}",
                      f"hash = {_toml_str(u.hash)}", ""]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._seen = self._stat()
