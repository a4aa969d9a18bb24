"""Which work order runs on which line: one rule, one place it is stored, one view of it.

The truth is the journal's `active_orders` table. It changes in the same transaction as
what changes it: an applied `wo_release` sets its line's order (the line the engine keeps
for that order), an applied `wo_start` (what a work-order barcode scanned at a line
becomes) sets its line's order too, an applied `wo_close` clears the order wherever it
runs. `change_of` is that rule for events; the journal writes it, and nothing else writes
the table, so `gateway replay` rebuilds it from the events alone.

The gateway maps a whole batch of readings before the batch commits, and a count right
after a release in the same batch must go to the released order; the next batch is
mapped while the one before it commits. `ActiveOrders` is that view: the table as of the
last commit plus what the batches not committed yet would change by the same rule, in
order. When a batch committed, the table replaces the committed part and the changes of
the batches after it still apply on top. An event the journal then rejects (a release of
an unknown item) changed only the view, for the readings mapped before that batch
committed: what was mapped by it is judged by the journal like anything else, and kept.
"""

from __future__ import annotations

from typing import Any, Iterable

# what an event does to the active orders: set (line, order), or clear the order
SET, CLEAR = "set", "clear"


def change_of(event: Any) -> tuple[str, str | None, str] | None:
    """(SET, line, order) for a release or a start, (CLEAR, None, order) for a close,
    else None.

    Takes the decoded event or its dict (the gateway maps dicts)."""
    get = event.get if isinstance(event, dict) else (lambda name: getattr(event, name, None))
    kind = get("type")
    if kind == "wo_release" or kind == "wo_start":
        return SET, str(get("line")), str(get("work_order"))
    if kind == "wo_close":
        return CLEAR, None, str(get("work_order"))
    return None


class ActiveOrders:
    """The active order per line as committed, plus the changes of the batches in hand."""

    def __init__(self, committed: Iterable[tuple[str, str]] = ()):
        self._committed: dict[str, str] = dict(committed)
        self._pending: dict[str, str | None] = {}
        self._open: list[tuple] = []           # changes of the batch being prepared
        self._sealed: list[list[tuple]] = []   # those of batches handed over, oldest first

    def get(self, line: str | None) -> str | None:
        if line in self._pending:
            return self._pending[line]
        return self._committed.get(line)  # type: ignore[arg-type]

    def note(self, event: Any) -> None:
        """An event of the batch being prepared (not yet committed)."""
        change = change_of(event)
        if change is None:
            return
        self._open.append(change)
        self._apply(change)

    def _apply(self, change: tuple) -> None:
        op, line, order = change
        if op == SET:
            self._pending[line] = order  # type: ignore[index]
            return
        for running in {**self._committed, **self._pending}.items():
            if running[1] == order:
                self._pending[running[0]] = None

    def seal(self) -> None:
        """The batch being prepared goes to commit; the next one starts."""
        self._sealed.append(self._open)
        self._open = []

    def committed(self, rows: Iterable[tuple[str, str]]) -> None:
        """The table as the oldest batch's commit left it (with nothing sealed: the batch
        in hand's); the changes of the batches after it apply again on top."""
        self._committed = dict(rows)
        self._pending.clear()
        if not self._sealed:
            self._open = []
            return
        self._sealed.pop(0)
        for change in [c for batch in self._sealed for c in batch] + self._open:
            self._apply(change)

    def as_dict(self) -> dict[str, str]:
        merged = {**self._committed, **self._pending}
        return {line: order for line, order in merged.items() if order is not None}
