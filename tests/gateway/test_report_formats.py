"""The README says which report takes which `--format`; the command line is the truth."""

from __future__ import annotations

import argparse
import pathlib
import re

from gateway.cli import build_parser

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
CLAIM = re.compile(r"((?:`[a-z -]+`(?:, | and )?)+) take `--format ([a-z|]+)`")
NOT_REPORTS = {"bench"}  # its figures, not a report; its own line in the README


def _formats(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for action in parser._actions:
        if "--format" in action.option_strings:
            found[prefix.strip()] = set(action.choices)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_formats(sub, f"{prefix}{name} "))
    return found


def test_the_readme_names_every_reports_formats_exactly():
    text = " ".join(README.read_text().split())
    claimed: dict[str, set[str]] = {}
    for names, formats in CLAIM.findall(text):
        for name in re.findall(r"`([a-z -]+)`", names):
            assert name not in claimed, f"{name} is claimed twice"
            claimed[name] = set(formats.split("|"))
    actual = {k: v for k, v in _formats(build_parser()).items() if k not in NOT_REPORTS}
    assert claimed == actual


def test_the_help_names_the_docs_whole():
    assert build_parser().description == "`gateway` command line (see docs/operations.md)"
