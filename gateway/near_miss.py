"""Did you mean: the nearest known name offered in the message about an unknown one.

One helper for every check of a name against the names that exist: config keys, and the
ids of SKUs, work centers, locations, stations and devices in the master data, the
config and the readings that name them."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["did_you_mean", "id_hint", "unknown"]


def did_you_mean(value: str, known: Iterable[str], sep: str = "; ", cutoff: float = 0.6) -> str:
    """"; did you mean 'X'?" for the closest of `known`, or "" when none is close."""
    close = difflib.get_close_matches(str(value), [k for k in known if k], n=1, cutoff=cutoff)
    return f"{sep}did you mean {close[0]!r}?" if close else ""


def id_hint(value: str, known: Iterable[str]) -> str:
    """did_you_mean for ids, which share prefixes (WC-ASSY, WC-WELD): only a near miss."""
    return did_you_mean(value, known, cutoff=0.8)


def unknown(what: str, value: str, known: Iterable[str], source: str = "") -> str:
    """"unknown station 'dok-in' (not in [[stations]]); did you mean 'dock-in'?"."""
    where = f" (not in {source})" if source else ""
    return f"unknown {what} {value!r}{where}{id_hint(value, known)}"
