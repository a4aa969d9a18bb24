"""Output for people (aligned tables with totals) and machines (json, jsonl, csv)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Sequence

FORMATS = ("table", "json", "jsonl", "csv")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
          totals: Sequence[Any] | None = None, right: Iterable[int] = ()) -> str:
    """Aligned text table; columns in `right` are right-aligned (numbers)."""
    body = [["" if v is None else str(v) for v in row] for row in rows]
    foot = ["" if v is None else str(v) for v in totals] if totals is not None else None
    every = [list(headers), *body, *([foot] if foot else [])]
    widths = [max(len(r[i]) for r in every) for i in range(len(headers))]
    right = set(right)

    def fmt(row: Sequence[str]) -> str:
        cells = (c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths)))
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [fmt(headers), rule, *(fmt(r) for r in body)]
    if foot:
        out += [rule, fmt(foot)]
    return "\n".join(out)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def jsonl(rows: Iterable[dict]) -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)


def to_csv(fields: Sequence[str], rows: Iterable[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    return buf.getvalue().rstrip("\n")


def qty(x: float) -> int | float:
    """Quantities as JSON numbers: 3.0 -> 3, 0.35 -> 0.35 (float noise snapped)."""
    x = round(float(x), 9)
    return int(x) if x == int(x) else x
