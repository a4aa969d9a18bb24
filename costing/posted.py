"""`Posted`: what a run of events posted, as ranges over the engine's own columns.

`Engine.post_many(events)` returns one instead of an `Outcome` per event: for each
event, in order, where its journal lines and effects end in the ledger's and the
effect log's columns, and only for the few events that need more (a rejected one, a
reversal, one with alerts) the objects that describe them. A writer reads the lines
of every accepted event as one block of id columns (`line_block`), the stock moves as
columns of the effect log (`moves`), and builds an `Outcome` only where it asks for one
(`outcome`): the same lines, moves and alerts `Engine.apply` returns.
"""

from __future__ import annotations

import numpy as np

from costing.effects import ROW
from costing.outcome import Alert, Outcome, StockMove


class Posted:
    """Per event of one `post_many` call: accepted or not, its line and effect ends."""

    def __init__(self, engine):
        self.engine = engine
        self.line0 = engine.ledger.n_lines  # the call's lines are [line0, line_end[-1])
        self.eff0 = engine.effects.n
        self.line_end: list[int] = []
        self.eff_end: list[int] = []
        self.special: dict[int, Outcome] = {}  # rejected, or reversed by Engine.reverse
        self.run_moves: dict[int, tuple[StockMove, ...]] = {}  # reversals in a run
        self.alert: dict[int, tuple[Alert, ...]] = {}

    def __len__(self) -> int:
        return len(self.line_end)

    # -- filled by costing.batch --------------------------------------------------------
    def append(self, outcome: Outcome) -> None:
        """An event taken alone (refused, or reversed by `Engine.reverse`)."""
        k = len(self.line_end)
        self.special[k] = outcome
        self.line_end.append(self.engine.ledger.n_lines)
        self.eff_end.append(self.engine.effects.n)

    def add_run(self, line_ends: np.ndarray, eff_ends: np.ndarray,
                moves: dict[int, tuple[StockMove, ...]],
                alerts: dict[int, tuple[Alert, ...]]) -> None:
        """A run's events: their (absolute) ends, the moves of its reversals and the
        alerts, each by position in the run."""
        k = len(self.line_end)
        self.line_end += line_ends.tolist()
        self.eff_end += eff_ends.tolist()
        self.run_moves.update((k + pos, m) for pos, m in moves.items())
        self.alert.update((k + pos, a) for pos, a in alerts.items())

    # -- read by a writer ---------------------------------------------------------------
    def ok(self, k: int) -> bool:
        out = self.special.get(k)
        return out is None or out.ok

    def line_counts(self) -> np.ndarray:
        """Lines each event posted (0 for a rejected one)."""
        ends = np.array(self.line_end, np.int64)
        return np.diff(ends, prepend=np.int64(self.line0))

    def line_block(self) -> np.ndarray:
        """Every line the call posted, in order: (6, n) int64, a row per column (account
        index, signed amount, item, work order, work center, memo name ids)."""
        end = self.line_end[-1] if self.line_end else self.line0
        return self.engine.ledger.line_block(self.line0, end)

    def moves(self) -> tuple[list[int], list[int], list[float]]:
        """Every stock move of the call, in order: (event, stock row, qty) columns. A
        reversal's moves are its target's negated (as `Outcome.moves` has them)."""
        log = self.engine.effects
        end = self.eff_end[-1] if self.eff_end else self.eff0
        kind = log.kind.read(self.eff0, end)
        at = np.flatnonzero(kind == ROW)
        ev = np.searchsorted(np.array(self.eff_end, np.int64), at + self.eff0, "right")
        rows = log.a.read(self.eff0, end)[at].tolist()
        qty = log.x.read(self.eff0, end)[at].tolist()
        ev = ev.tolist()
        over = {**{k: o.moves for k, o in self.special.items() if o.ok},
                **self.run_moves}
        if over:
            index = self.engine.inv.row_index
            keep = [j for j, k in enumerate(ev) if k not in over]
            ev, rows, qty = ([c[j] for j in keep] for c in (ev, rows, qty))
            extra = [(k, index[m[:4]], m[4]) for k, ms in over.items() for m in ms]
            if extra:
                merged = sorted(zip(ev, range(len(ev)), rows, qty))
                merged += [(k, -1, r, x) for k, r, x in extra]
                merged.sort(key=lambda t: t[0])  # stable: moves keep their order
                ev = [t[0] for t in merged]
                rows = [t[2] for t in merged]
                qty = [t[3] for t in merged]
        return ev, rows, qty

    def alerts(self, k: int) -> tuple[Alert, ...]:
        out = self.special.get(k)
        return out.alerts if out is not None else self.alert.get(k, ())

    def refused(self) -> list[int]:
        """The rejected events, in order."""
        return sorted(k for k, out in self.special.items() if not out.ok)

    def refusal(self, k: int) -> Outcome | None:
        """The outcome of a rejected event, or None."""
        out = self.special.get(k)
        return out if out is not None and not out.ok else None

    def outcome(self, k: int, event_id: str) -> Outcome:
        """The `Outcome` `Engine.apply` would have returned for event k."""
        out = self.special.get(k)
        if out is not None:
            return out
        eng = self.engine
        l0 = self.line_end[k - 1] if k else self.line0
        e0 = self.eff_end[k - 1] if k else self.eff0
        moves = self.run_moves.get(k)
        if moves is None:
            log, keys = eng.effects, eng.inv.row_keys
            kinds = log.kind.read(e0, self.eff_end[k]).tolist()
            a = log.a.read(e0, self.eff_end[k]).tolist()
            x = log.x.read(e0, self.eff_end[k]).tolist()
            moves = tuple(StockMove(*keys[r], q) for t, r, q in zip(kinds, a, x) if t == ROW)
        return Outcome(event_id, True, eng.ledger.lines(l0, self.line_end[k]), moves,
                       self.alert.get(k, ()))
