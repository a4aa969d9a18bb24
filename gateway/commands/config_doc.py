"""`gateway config-doc`: print docs/configuration.md, every gateway.toml key from the structs."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the page to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    from gateway.config_doc import render

    page = render()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(page)
    else:
        sys.stdout.write(page)
    return 0
