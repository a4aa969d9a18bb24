"""Dashboard users: a TOML file of names, roles and salted scrypt hashes — never a password.

The file holds one `[[users]]` table per person:

    [[users]]
    name = "maria"
    role = "supervisor"                 # viewer | supervisor
    hash = "scrypt$16384$8$1$<salt b64>$<key b64>"

Each user has their own random salt; verification recomputes the key and compares in
constant time, and spends the same work on an unknown name as on a known one so a
caller cannot tell which names exist by timing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROLES", "User", "UserError", "UserStore", "hash_password", "verify_password"]

ROLES = ("viewer", "supervisor")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# scrypt cost: ~16 MiB and a few tens of ms per login on the gateway's 2 cores — enough
# to make offline guessing expensive without making the login page sluggish.
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LEN = 2**14, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024


class UserError(ValueError):
    """A bad users file, name, role or password; the message names field and value."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    hash: str

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A self-describing scrypt hash with a fresh 16-byte salt."""
    if not password:
        raise UserError("password: must not be empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                         p=SCRYPT_P, maxmem=_MAXMEM, dklen=KEY_LEN)
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
    return n, r, p, salt, key


def verify_password(password: str, encoded: str) -> bool:
    n, r, p, salt, key = _parse_hash(encoded)
    got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                         maxmem=_MAXMEM, dklen=len(key))
    return hmac.compare_digest(got, key)


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


class UserStore:
    """The users file: load, verify, add, remove; writes are atomic and owner-only."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._users: dict[str, User] = {}
        # A fixed dummy hash so an unknown name costs the same scrypt work as a real one.
        self._dummy = hash_password(secrets.token_urlsafe(12))
        if self.path.exists():
            self.reload()

    def reload(self) -> None:
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
        self._users = users

    def list(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.name)

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password matches; None otherwise (same cost either way)."""
        user = self._users.get(name)
        ok = verify_password(password, user.hash if user else self._dummy)
        return user if ok and user is not None else None

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
