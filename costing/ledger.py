"""Journal lines for one event, balanced through the posting kernel.

`Entry` collects signed amounts (+ debit, − credit) with their dimensions; `Ledger`
posts an entry: per-account totals go into the running balance array, and any
imbalance becomes a line on the `rounding` account so every entry balances exactly.
"""

from __future__ import annotations

import numpy as np

from costing.kernels import post_kernel
from costing.master import Accounts
from costing.outcome import Line


class Entry:
    def __init__(self):
        self.parts: list[tuple[str, int, str | None, str | None, str | None, str]] = []

    def pair(self, debit: str, credit: str, amount: int, memo: str, item: str | None = None,
             work_order: str | None = None, work_center: str | None = None) -> None:
        """Dr `debit` / Cr `credit` for `amount`; a negative amount swaps the sides."""
        if amount == 0:
            return
        self.parts.append((debit, amount, item, work_order, work_center, memo))
        self.parts.append((credit, -amount, item, work_order, work_center, memo))

    def one(self, account: str, signed: int, memo: str, item: str | None = None,
            work_order: str | None = None, work_center: str | None = None) -> None:
        if signed:
            self.parts.append((account, signed, item, work_order, work_center, memo))


class Ledger:
    """Running GL balances (debit − credit) per account, in minor units."""

    def __init__(self, accounts: Accounts, extra_accounts: tuple[str, ...]):
        codes = [getattr(accounts, role) for role in Accounts.ROLES]
        codes += list(accounts.inventory.values()) + list(extra_accounts)
        self.codes: list[str] = list(dict.fromkeys(codes))
        self.index = {code: k for k, code in enumerate(self.codes)}
        self.balance = np.zeros(len(self.codes), np.int64)
        self.touched = np.zeros(len(self.codes), np.bool_)
        self.rounding = self.index[accounts.rounding]

    def post(self, entry: Entry) -> tuple[Line, ...]:
        acc = np.array([self.index[p[0]] for p in entry.parts], np.int64)
        amount = np.array([p[1] for p in entry.parts], np.int64)
        fix = int(post_kernel(acc, amount, self.rounding, self.balance))
        self.touched[acc] = True
        lines = [Line(a, max(x, 0), max(-x, 0), item, wo, wc, memo)
                 for a, x, item, wo, wc, memo in entry.parts]
        if fix:
            self.touched[self.rounding] = True
            lines.append(Line(self.codes[self.rounding], max(fix, 0), max(-fix, 0),
                              memo="rounding"))
        return tuple(lines)

    def post_lines(self, lines: tuple[Line, ...]) -> None:
        """Post already balanced lines (a reversal's negation) to the balances."""
        acc = np.array([self.index[x.account] for x in lines], np.int64)
        amount = np.array([x.debit - x.credit for x in lines], np.int64)
        fix = int(post_kernel(acc, amount, self.rounding, self.balance))
        if fix:
            raise RuntimeError(f"unbalanced reversal: {fix} minor units")
        self.touched[acc] = True

    def balances(self) -> dict[str, int]:
        return {code: int(self.balance[k]) for k, code in enumerate(self.codes)
                if self.touched[k]}
