"""`gateway user add|list|remove`: manage dashboard users without ever echoing a password.

`-c FILE` is either the gateway config (its `[dashboard].users_file`, default
`users.toml`, relative to the config) or, when FILE has no `[gateway]` table or does not
exist yet, the users file itself. Given the gateway config, each change is also appended
to the audit log in the journal database (`gateway audit`), as done by `cli:<os user>`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import tomllib
from pathlib import Path

from gateway.users import ROLES, UserError, UserStore


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a user (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.add_argument("--replace", action="store_true", help="overwrite an existing user")
    add.add_argument("-c", "--config", required=True, metavar="FILE")
    ls = sub.add_parser("list", help="names and roles")
    ls.add_argument("-c", "--config", required=True, metavar="FILE")
    rm = sub.add_parser("remove", help="remove a user")
    rm.add_argument("name")
    rm.add_argument("-c", "--config", required=True, metavar="FILE")


def _gateway_table(config: str) -> dict | None:
    """The parsed config if `-c` names a gateway config, else None (a users file)."""
    path = Path(config)
    if not path.exists():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {exc}") from None
    return data if "gateway" in data else None


def users_path(config: str) -> Path:
    """Where the users file is, given `-c`."""
    path = Path(config)
    data = _gateway_table(config)
    if data is None:
        return path
    rel = data.get("dashboard", {}).get("users_file", "users.toml")
    if not isinstance(rel, str) or not rel:
        raise UserError(f"{path}: dashboard.users_file: {rel!r} is not a path")
    return path.parent / rel


def _audit(config: str, action: str, name: str, detail: str = "") -> None:
    """Append the change to the audit log, when `-c` says where the journal is."""
    if _gateway_table(config) is None:
        print(f"gateway user: not in the audit log ({config} is not the gateway config)",
              file=sys.stderr)
        return
    import os
    import sqlite3

    from gateway import schema
    from gateway.audit import AuditEntry, record
    from gateway.config import ConfigError, load_config
    from gateway.journal import connect

    try:
        db = str(load_config(config).gateway.db)
    except ConfigError as exc:
        print(f"gateway user: not in the audit log ({exc.problems[0]})", file=sys.stderr)
        return
    if not os.path.exists(db):
        return  # no journal yet: nothing has run, the file itself is the record
    try:
        conn = connect(db)
        try:
            schema.create(conn)  # a journal from before the audit table gets it here
            record(conn, AuditEntry(f"cli:{getpass.getuser()}", "cli", action,
                                    f"user {name}", detail))
        finally:
            conn.close()
    except (sqlite3.Error, schema.SchemaError) as exc:
        print(f"gateway user: done, but not in the audit log ({db}: {exc})", file=sys.stderr)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise UserError("password: the two entries differ")
    if len(password) < 8:
        raise UserError("password: must be at least 8 characters")
    return password


def run(args: argparse.Namespace) -> int:
    try:
        store = UserStore(users_path(args.config))
        if args.action == "add":
            before = store.get(args.name)
            store.add(args.name, args.role, _read_password(args), replace=args.replace)
            print(f"{store.path}: {args.name} ({args.role}) saved")
            _audit(args.config, "user_replace" if before else "user_add", args.name,
                   f"role {args.role}, new password" + (f" (was {before.role})" if before else ""))
        elif args.action == "remove":
            store.remove(args.name)
            print(f"{store.path}: {args.name} removed")
            _audit(args.config, "user_remove", args.name)
        else:
            for u in store.list():
                print(f"{u.name}\t{u.role}")
    except UserError as exc:
        print(f"gateway user: {exc}", file=sys.stderr)
        return 1
    return 0
