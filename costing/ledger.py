"""Journal lines for one event, balanced through the posting kernel, kept as columns.

`Entry` collects signed amounts (+ debit, − credit) with their dimensions; `Ledger`
posts an entry: per-account totals go into the running balance array, and the entry's
rounding becomes a line on the `rounding` account so every entry balances exactly. An
imbalance larger than its lines' rounding can explain (`kernels.rounding_limit`) is a
bug: `EntryUnbalanced`, raised before any balance moves.
Posted lines are kept as integer columns (account, amount, item, work order, work
center, memo ids) — 28 bytes a line — so a reversal can negate them much later; all
but the newest are spilled to the engine's block store (costing.arrays.SpillColumn).
"""

from __future__ import annotations

import numpy as np

from costing.arrays import MemoryBlocks, SpillColumn
from costing.kernels import post_kernel, rounding_limit
from costing.master import Accounts
from costing.outcome import Line


class EntryUnbalanced(ArithmeticError):
    """An entry off by more than the rounding of its own lines; nothing was posted."""

    def __init__(self, imbalance: int, lines: tuple[tuple[str, int, str], ...],
                 event: str | None = None):
        self.imbalance, self.lines, self.event = imbalance, lines, event
        n = len(lines)
        shown = "; ".join(f"{acc} {x:+d} ({memo})" for acc, x, memo in lines)
        where = f"event {event}: " if event is not None else ""
        super().__init__(
            f"{where}entry off by {imbalance} minor units over {n} line{'s' * (n != 1)}, "
            f"rounding may take at most {rounding_limit(n)}: {shown}")


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
    """Running GL balances (debit − credit) per account and every posted line."""

    def __init__(self, accounts: Accounts, extra_accounts: tuple[str, ...],
                 spill_block: int = 1 << 16, blocks=MemoryBlocks):
        codes = [getattr(accounts, role) for role in Accounts.ROLES]
        codes += list(accounts.inventory.values()) + list(extra_accounts)
        self.codes: list[str] = list(dict.fromkeys(codes))
        self.index = {code: k for k, code in enumerate(self.codes)}
        self.balance = np.zeros(len(self.codes), np.int64)
        self.touched = np.zeros(len(self.codes), np.bool_)
        self.rounding = self.index[accounts.rounding]
        self.names: list[str | None] = [None]  # id 0 = absent dimension
        self._name_id: dict[str | None, int] = {None: 0}
        # account, amount, item, work order, work center, memo (ids into `names`); only
        # a reversal reads old lines again, so all but the newest are spilled
        store = blocks()
        self.cols = tuple(SpillColumn(np.int64 if k == 1 else np.int32, store, spill_block)
                          for k in range(6))

    def name_id(self, name: str | None) -> int:
        """The id of a dimension or memo text in `names` (interned on first sight)."""
        k = self._name_id.get(name)
        if k is None:
            k = self._name_id[name] = len(self.names)
            self.names.append(name)
        return k

    def post(self, entry: Entry) -> tuple[tuple[Line, ...], int, int]:
        """Post one entry; returns its lines and their [start, end) range in the log."""
        parts = entry.parts
        acc = np.array([self.index[p[0]] for p in parts], np.int64)
        amount = np.array([p[1] for p in parts], np.int64)
        imbalance = int(amount.sum())
        if abs(imbalance) > rounding_limit(len(parts)):
            raise EntryUnbalanced(imbalance, tuple((p[0], p[1], p[5]) for p in parts))
        fix = int(post_kernel(acc, amount, self.rounding, self.balance))
        self.touched[acc] = True
        if fix:
            self.touched[self.rounding] = True
            parts = parts + [(self.codes[self.rounding], fix, None, None, None, "rounding")]
        start = self.cols[0].n
        names, name_id = self.names, self.name_id
        ids = [(self.index[a], x, name_id(item), name_id(wo), name_id(wc), name_id(memo))
               for a, x, item, wo, wc, memo in parts]
        for col, values in zip(self.cols, zip(*ids)):
            col.extend(values)
        # the strings handed out are the interned ones: one copy per distinct memo
        lines = tuple(Line(self.codes[a], max(x, 0), max(-x, 0), names[i], names[w],
                           names[c], names[m]) for a, x, i, w, c, m in ids)
        return lines, start, self.cols[0].n

    def line_block(self, start: int, end: int) -> np.ndarray:
        """Lines [start, end) as a (6, n) int64 array, a row per column (account, amount,
        item, work order, work center, memo ids): what the batch kernel reads back."""
        return np.array([c.read(start, end) for c in self.cols], np.int64)

    def append_block(self, block: np.ndarray, n: int) -> None:
        """Keep the first n lines of a (6, >= n) block the batch kernel posted (their
        amounts are already in `balance`)."""
        for col, src in zip(self.cols, block):
            col.extend(src[:n])

    @property
    def n_lines(self) -> int:
        return self.cols[0].n

    def lines(self, start: int, end: int, negate: bool = False,
              prefix: str = "") -> tuple[Line, ...]:
        codes, names, sign = self.codes, self.names, -1 if negate else 1
        cols = [c.read(start, end).tolist() for c in self.cols]  # one read, not per cell
        return tuple(Line(codes[a], max(x * sign, 0), max(-x * sign, 0), names[i], names[w],
                          names[c], prefix + names[m]) for a, x, i, w, c, m in zip(*cols))

    def amounts(self, start: int, end: int) -> list[tuple[str, int, int]]:
        """(account, debit, credit) of lines [start, end): `lines` without the names."""
        codes = self.codes
        return [(codes[a], max(x, 0), max(-x, 0)) for a, x in
                zip(self.cols[0].read(start, end).tolist(),
                    self.cols[1].read(start, end).tolist())]

    def post_reversal(self, start: int, end: int, memo_prefix: str
                      ) -> tuple[tuple[Line, ...], int, int]:
        """Post the exact negation of lines [start, end); balances by construction."""
        entry = Entry()
        for line in self.lines(start, end, negate=True, prefix=memo_prefix):
            entry.one(line.account, line.debit - line.credit, line.memo, line.item,
                      line.work_order, line.work_center)
        lines, s, e = self.post(entry)
        if len(lines) != end - start:
            raise RuntimeError("unbalanced reversal")
        return lines, s, e

    def balances(self) -> dict[str, int]:
        return {code: int(self.balance[k]) for k, code in enumerate(self.codes)
                if self.touched[k]}
