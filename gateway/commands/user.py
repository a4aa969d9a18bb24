"""`gateway user add|list|remove`: manage dashboard users without ever echoing a password.

`-c FILE` is either the gateway config (its `[dashboard].users_file`, default
`users.toml`, relative to the config) or, when FILE has no `[gateway]` table or does not
exist yet, the users file itself.
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


def users_path(config: str) -> Path:
    """Where the users file is, given `-c`."""
    path = Path(config)
    if not path.exists():
        return path
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {exc}") from None
    if "gateway" not in data:
        return path
    rel = data.get("dashboard", {}).get("users_file", "users.toml")
    if not isinstance(rel, str) or not rel:
        raise UserError(f"{path}: dashboard.users_file: {rel!r} is not a path")
    return path.parent / rel


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
            store.add(args.name, args.role, _read_password(args), replace=args.replace)
            print(f"{store.path}: {args.name} ({args.role}) saved")
        elif args.action == "remove":
            store.remove(args.name)
            print(f"{store.path}: {args.name} removed")
        else:
            for u in store.list():
                print(f"{u.name}\t{u.role}")
    except UserError as exc:
        print(f"gateway user: {exc}", file=sys.stderr)
        return 1
    return 0
