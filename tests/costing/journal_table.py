"""Write expected journal lines as a small table, the way a controller would.

    account  debit   credit  item
    1310     20.00   -       R-STD
    2100     -       21.00   R-STD
"""

from __future__ import annotations

from costing.outcome import Outcome


def _minor(text: str) -> int:
    if text == "-":
        return 0
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int(frac.ljust(2, "0"))


def table(text: str) -> list[tuple[str, int, int, str | None]]:
    rows = []
    for line in text.strip().splitlines():
        if not line.strip() or line.split()[0] == "account":
            continue
        account, debit, credit, item = line.split()
        rows.append((account, _minor(debit), _minor(credit), None if item == "-" else item))
    return rows


def journal(outcome: Outcome) -> list[tuple[str, int, int, str | None]]:
    assert outcome.ok, outcome.reason
    return [(x.account, x.debit, x.credit, x.item) for x in outcome.lines]


def ev(cls, id, **fields):
    return cls(id=id, ts="2026-11-20T08:00:00Z", **fields)
