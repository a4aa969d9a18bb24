"""The columnar path, the engine's only one: encode a run of events to arrays once,
value and post it in one kernel call (costing.batch_kernel).

`BatchPath(engine).apply(events, outcomes)` is `Engine.apply`. Encoding checks each
event against the engine's state as the run will have left it (a bad field is a
`Reject` naming it), interns item, location, status, lot and order ids to ints, and
creates new orders and extra material rows. A reversal stays in the run (the kernel
undoes its target, read back from the engine or from the run itself) unless its target
is an order's release or close or an issue that made a material row. An event the
run cannot take (refused, a duplicate id, such a reversal, one that depends on an
order closing in the run) ends it: the run is flushed through the kernel, then that
event is taken alone (`_one`: refused, reversed by `Engine.reverse`, or a run of one),
so order is kept exactly. A live event is a run of one.

A run is not rolled back if the kernel itself fails (a bug, not a bad event — bad
events never reach it): the engine must then be rebuilt, as the journal does after
any failed batch. tests/costing/reference_engine.py writes the same rules per event in
plain Python; tests/costing/test_batch_equality.py holds the two equal.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from costing import batch_columns as bc
from costing import batch_kernel as bk
from costing.arrays import Column
from costing.batch_encoders import RunEncoder, NotInRun
from costing.effects import ROW
from costing.ledger import EntryUnbalanced
from costing.master import Accounts
from costing.outcome import Alert, Outcome, Reject, StockMove
from costing.posted import Posted


class BatchPath(RunEncoder):
    """Driver of costing.batch_kernel for one engine: builds runs (encoders in
    costing.batch_encoders), calls the kernel, keeps what it wrote."""

    def __init__(self, engine, kernel=None):
        self.engine = engine
        self.kernel = kernel or bk.run_batch  # batch_kernel.python_reference() to compare
        pl, ledger = engine.plant, engine.ledger
        nid = ledger.name_id
        self.item_name = np.array([nid(s) for s in pl.skus], np.int64)
        wc_name = np.array([nid(w) for w in pl.wc_ids], np.int64)
        bom_wc_name = np.zeros(len(pl.bom_comp), np.int64)
        for p in range(len(pl.skus)):
            for j in pl.bom_lines(p):
                s = pl.step_of(p, int(pl.bom_op[j]))
                if s is not None:
                    bom_wc_name[j] = wc_name[int(pl.rt_wc[s])]
        n_steps = len(pl.rt_op)
        hours_memo = np.zeros((3, 2, n_steps), np.int64)
        scrap_memo = np.zeros(n_steps, np.int64)
        for s in range(n_steps):
            op = int(pl.rt_op[s])
            for k, prefix in enumerate(bc.HOURS_PREFIX):
                hours_memo[k, 0, s] = nid(f"{prefix} labor op {op}")
                hours_memo[k, 1, s] = nid(f"{prefix} overhead op {op}")
            scrap_memo[s] = nid(f"scrap op {op}")
        acc = engine.acc
        costs = bc.Costs(
            pl.method, np.asarray(engine.std, np.float64), float(pl.scale),
            np.array([ledger.index[a] for a in pl.inv_account], np.int64), self.item_name,
            np.array([ledger.index[getattr(acc, r)] for r in Accounts.ROLES], np.int64),
            np.array([nid(m) for m in bc.FIXED_MEMOS], np.int64))
        bom = bc.Bom(pl.bom_ptr, pl.bom_comp, pl.bom_qty_eff, pl.bom_op, pl.bom_backflush,
                     bom_wc_name)
        route = bc.Route(pl.rt_ptr, pl.rt_op, pl.rt_wc, pl.rt_per_unit, pl.wc_backflush,
                         pl.wc_labor, pl.wc_overhead, wc_name, hours_memo, scrap_memo)
        self.tables = bc.Plant(costs, bom, route)
        self.wo_name = Column(np.int64)
        self._run_of = None  # (events, ids) when the run is events[_run_start:...]
        self._run_start = 0
        self.bf_start = Column(np.int64, -1)  # per order: its backflush rows in bf_*
        self.bf_row = Column(np.int64)
        self.bf_group = Column(np.int64)
        self._bf_block: dict[tuple[int, int], int] = {}  # (parent, line) -> start
        self.xrows = Column(np.int64)  # extra material rows of each close, in order
        self._issue_loc: dict[tuple[int, int, int], str] = {}
        self._std_through: dict[tuple[int, int], float] = {}
        self._bufs = (_lines(0, ledger), _effects(0), _alerts(0))
        # what the encoders look up per event, bound once (the objects, not copies:
        # they stay current as orders, rows and ids are added)
        self._by_class: dict[type, object] = {}
        self._recent = engine.records.index.recent
        self._item_index, self._skus = pl.item_index, pl.skus
        self._po_lines = engine.money.line_index
        self._locations, self._statuses = pl.locations, pl.statuses
        self._row_index, self._group_index = engine.inv.row_index, engine.inv.group_index
        self._wo_index, self._wo_status = engine.wos.index, engine.wos.status
        self._wo_info: dict[int, tuple[int, int, int]] = {}
        self._steps: dict[tuple[int, object], int] = {}
        self._memo_ids: dict[tuple[str, object], int] = {}
        self._mat_rows: dict[tuple[int, int], int] = {}
        self._bom_first: dict[int, dict[int, int]] = {}
        self._reset()

    # -- the run -------------------------------------------------------------------
    def _reset(self) -> None:
        self.ints: list[tuple] = []  # per event: the int columns of bc.Events, in order
        self.floats: list[tuple] = []  # per event: q, price, aux
        self.pending: list = []
        self.pending_ids: dict[str, int] = {}  # id -> position in `pending`
        self.closing: set[int] = set()
        # reversals in the run: position -> (target id, its record or -1, its position
        # in the run or -1); targets' effects and lines from before the run (bc.Past)
        self.reversals: dict[int, tuple[str, int, int]] = {}
        self.reversed_here: set[int] = set()  # records reversed by the run
        self.reversed_pending: set[int] = set()  # run positions reversed by the run
        self.past: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.past_eff = self.past_line = 0
        self.money_in_run = False  # a money event opens the run (see RunEncoder._money)
        # receipt layers of the run's receipts, made before the kernel runs
        self.layer_lines: list[int] = []
        self.layer_prices: list[float] = []

    def apply(self, events, outcomes: bool | Posted) -> list[Outcome] | Posted | None:
        """`outcomes`: True, one Outcome per event; False, nothing; a `Posted`, filled."""
        out = outcomes if isinstance(outcomes, Posted) else [] if outcomes else None
        eng = self.engine
        index = eng.records.index
        events = events if isinstance(events, list) else list(events)
        try:
            ids = [str(ev.id) for ev in events]
        except Exception:  # noqa: BLE001 — an event without a usable id: found one by one
            ids = [_event_id(ev) for ev in events]
        # which ids were accepted before this call, all at once; those accepted during
        # it stay in the index's dict (held) or are pending
        known = index.known_many([eid or "" for eid in ids])
        index.hold = True
        recent, by_class = self._recent, self._by_class
        pending, pending_ids = self.pending, self.pending_ids  # rebound by each flush
        try:
            if not any(known) and None not in ids and len(set(ids)) == len(ids) \
                    and recent.keys().isdisjoint(ids):
                # no id seen before nor twice: no per-event duplicate check, and the run
                # is a slice of `events` (its ids are looked up only by reversals)
                self._run_of = (events, ids)
                self._run_start = 0
                for i, event in enumerate(events):
                    try:
                        (by_class.get(event.__class__) or self._encoder_of(event))(event)
                    except Exception:  # noqa: BLE001 — as below
                        self._flush(out)
                        self._run_start = i  # a run of one, if _one makes it
                        self._one(event, out)
                        self._run_start = i + 1
                self._flush(out)
                return out
            for event, eid, old in zip(events, ids, known):
                try:
                    if old or eid is None or eid in recent or eid in pending_ids:
                        raise NotInRun
                    enc = by_class.get(event.__class__)
                    (enc or self._encoder_of(event))(event)
                    pending_ids[eid] = len(pending)
                    pending.append(event)
                except Exception:  # noqa: BLE001 — Reject, NotInRun or a malformed event: _one
                    self._flush(out)
                    self._one(event, out)
                    pending, pending_ids = self.pending, self.pending_ids
            self._flush(out)
        finally:
            self._run_of = None
            self._reset()
            index.hold = False
            index.settle()
        return out

    def _one(self, event, out: list[Outcome] | None) -> None:
        """An event the run could not take, after the run before it was flushed: checked
        alone, it is refused (its field and reason), reversed by `Engine.reverse`, or
        applied as a run of one. A malformed event raises, nothing of it applied."""
        eng = self.engine
        event_id = str(event.id)
        try:
            if event_id in eng.records:
                raise Reject("id", f"event {event_id} was already applied")
            if event.type == "reversal":
                result = eng.reverse(event)
            else:
                (self._by_class.get(event.__class__) or self._encoder_of(event))(event)
                if self._run_of is None:  # else the run is events[_run_start:] already
                    self.pending_ids[event_id] = 0
                    self.pending.append(event)
                self._flush(out)
                return
        except Reject as reject:
            result = reject.outcome(event_id)
        except NotInRun:
            raise RuntimeError(f"event {event_id}: no run can take it alone") from None
        if out is not None:
            out.append(result)

    # -- the kernel and what it wrote --------------------------------------------------
    def _buffers(self, n: int) -> tuple[bc.Lines, bc.Effects, bc.Alerts]:
        line_buf, eff_buf, alert_buf = self._bufs
        if line_buf.cols.shape[1] < 8 * n + 64:
            line_buf = _lines(8 * n + 64, self.engine.ledger)
        if eff_buf.ints.shape[1] < 8 * n + 64:
            eff_buf = _effects(8 * n + 64)
        if alert_buf.ints.shape[1] < n + 16:
            alert_buf = _alerts(n + 16)
        return line_buf, eff_buf, alert_buf

    def _sync_pending(self) -> None:
        """`pending_ids` of a run that is a slice of the events: the ids added since."""
        ids = self._run_of[1]
        s, n, pid = self._run_start, len(self.ints), self.pending_ids
        if len(pid) < n:
            pid.update(zip(ids[s + len(pid):s + n], range(len(pid), n)))

    def _flush(self, out: list[Outcome] | None) -> None:
        if self._run_of is not None and self.ints:
            self._sync_pending()
            self.pending = self._run_of[0][self._run_start:self._run_start + len(self.ints)]
        if not self.pending:
            return
        eng = self.engine
        inv, wos, ledger, log = eng.inv, eng.wos, eng.ledger, eng.effects
        n = len(self.pending)
        ints = _columns(self.ints, np.int64, n)
        floats = _columns(self.floats, np.float64, n)
        t, item, wo, row, row2, group, memo, step, op, flag = ints
        q, price, aux = floats
        events = bc.Events(t, item, wo, q, price, row, row2, group, memo, step, op, aux, flag)
        while self.wo_name.n < len(wos.ids):
            self.wo_name.append(ledger.name_id(wos.ids[self.wo_name.n]))
        while self.bf_start.n < len(wos.ids):
            self.bf_start.append(-1)
        layer_n = inv.layer_qty.n
        layers = [c.reserve(n) for c in (inv.layer_qty, inv.layer_value, inv.layer_next,
                                         inv.layer_item)]
        items = bc.Items(inv.qty, inv.value, inv.last_unit, *layers, inv.head, inv.tail)
        rows = bc.Rows(inv.row_qty.a, inv.row_seq.a, inv.row_group.a, inv.row_next.a,
                    inv.group_head.a, inv.group_tail.a, inv.group_len.a)
        orders = bc.Orders(
            wos.item.a, wos.line.a, wos.status.a, wos.good.a, wos.wip.a, wos.live_count.a,
            *(v.a for v in wos.variance), wos.mat_start.a, wos.step_start.a,
            wos.step_count.a, wos.mat_item.a, wos.mat_qty_eff.a, wos.mat_op.a,
            wos.mat_act_qty.a, wos.mat_act_value.a, wos.step_op.a, wos.step_per_unit.a,
            wos.step_labor.a, wos.step_overhead.a, wos.step_act_hours.a, wos.step_scrap.a,
            self.wo_name.a, self.bf_start.a, self.bf_row.a, self.bf_group.a,
            self.xrows.reserve(1))
        ctr = np.zeros(bc.N_COUNTERS, np.int64)
        ctr[bc.C_LAYER], ctr[bc.C_CREATED] = layer_n, inv.created
        line_buf, eff_buf, alert_buf = self._buffers(n)
        ends = bc.Ends(*(np.zeros(n, np.int64) for _ in range(3)))
        past = bc.Past(*(
            np.ascontiguousarray(np.concatenate([p[m] for p in self.past], axis=1))
            if self.past else np.empty((height, 0), dtype)
            for m, (height, dtype) in enumerate(((3, np.int64), (2, np.float64),
                                                 (6, np.int64)))))
        m = eng.money
        m.layers(self.layer_lines, self.layer_prices)
        money = bc.Money(m.line_head, m.rl_next.a, m.rl_price.a, m.rl_qty.a, m.rl_value.a,
                         m.billed.a, m.paid.a, m.so_qty.a, m.so_revenue.a, m.so_cogs.a,
                         m.so_paid.a)
        run, state = bc.Run(events, past), bc.State(items, rows, orders, money)
        start = 0
        while True:
            start = self.kernel(run, self.tables, state, bc.Out(line_buf, eff_buf, alert_buf,
                                                                ends, ctr), start)
            if start == n:
                break
            if ctr[bc.C_BAD]:
                raise self._unbalanced(line_buf, int(ctr[bc.C_BAD]) - 1, int(ctr[bc.C_LINE]),
                                       int(ctr[bc.C_BAD_END]))
            # a buffer could overflow at event `start`: twice the room, then go on
            line_buf = _grown(line_buf, int(ctr[bc.C_LINE]),
                              _lines(2 * line_buf.cols.shape[1], ledger))
            eff_buf = _grown(eff_buf, int(ctr[bc.C_EFF]), _effects(2 * eff_buf.ints.shape[1]))
            alert_buf = _grown(alert_buf, int(ctr[bc.C_ALERT]),
                               _alerts(2 * alert_buf.ints.shape[1]))
        # kept for the next run: most runs are short
        self._bufs = (line_buf, eff_buf, alert_buf)
        ne, nl = int(ctr[bc.C_EFF]), int(ctr[bc.C_LINE])
        for pos, (target, _, _) in self.reversals.items():
            # "reversal of <target>: " + the memo of each negated line, interned
            l0 = int(ends.line[pos - 1]) if pos else 0
            memos = line_buf.cols[5, l0:int(ends.line[pos])]
            prefix, names, nid = f"reversal of {target}: ", ledger.names, ledger.name_id
            memos[:] = [nid(prefix + names[-m - 1]) for m in memos.tolist()]
        for col in (inv.layer_qty, inv.layer_value, inv.layer_next, inv.layer_item):
            col.n = int(ctr[bc.C_LAYER])
        inv.created = int(ctr[bc.C_CREATED])
        line0, eff0 = ledger.n_lines, log.n
        ledger.append_block(line_buf.cols, nl)
        xi, xf = eff_buf
        for col, src in zip(log.columns(), (xi[0], xi[1], xf[0], xi[2], xf[1])):
            col.extend(src[:ne])
        # batch codes are the effects.EVENT_TYPES codes
        recs = eng.records
        first = recs.n
        recs.extend(list(self.pending_ids), events.type, ends.eff + eff0, ends.line + line0,
                    events.wo)
        recs.reversed.update(self.reversed_here)
        recs.reversed.update(first + j for j in self.reversed_pending)
        if isinstance(out, Posted):
            out.add_run(ends.line + line0, ends.eff + eff0,
                        *self._specials(ends, alert_buf, past, eff0))
        elif out is not None:
            out.extend(self._outcomes(ends, alert_buf, past, eff0, line0))
        self._reset()

    def _outcomes(self, ends: bc.Ends, alert_buf: bc.Alerts, past: bc.Past, eff0: int,
                  line0: int) -> list[Outcome]:
        eng = self.engine
        log, keys, ledger = eng.effects, eng.inv.row_keys, eng.ledger
        lines = ledger.lines(line0, ledger.n_lines)
        kinds, a_col, x_col = (c.read(eff0, c.n).tolist() for c in (log.kind, log.a, log.x))
        reversed_moves, alerts = self._specials(ends, alert_buf, past, eff0)
        out = []
        e_prev, l_prev = 0, 0
        for pos, (ev, e_end, l_end) in enumerate(zip(
                self.pending, ends.eff.tolist(), ends.line.tolist())):
            moves = reversed_moves.get(pos)
            if moves is None:
                moves = tuple(StockMove(*keys[a_col[e]], x_col[e])
                              for e in range(e_prev, e_end) if kinds[e] == ROW)
            out.append(Outcome(str(ev.id), True, lines[l_prev:l_end], moves,
                               alerts.get(pos, ())))
            e_prev, l_prev = e_end, l_end
        return out

    def _specials(self, ends: bc.Ends, alert_buf: bc.Alerts, past: bc.Past, eff0: int
                  ) -> tuple[dict[int, tuple[StockMove, ...]], dict[int, tuple[Alert, ...]]]:
        """By position in the run: the stock moves of each reversal (its target's,
        negated, in their order) and the alerts of each event that raised any."""
        eng = self.engine
        log, keys = eng.effects, eng.inv.row_keys
        moves: dict[int, tuple[StockMove, ...]] = {}
        if self.reversals:
            kinds, a_col, x_col = (c.read(eff0, c.n).tolist()
                                   for c in (log.kind, log.a, log.x))
            eff_ends = ends.eff.tolist()
            for pos, (_, _, j) in self.reversals.items():
                if j != -1:
                    e0 = eff_ends[j - 1] if j else 0
                    moves[pos] = tuple(StockMove(*keys[a_col[e]], -x_col[e])
                                       for e in range(e0, eff_ends[j]) if kinds[e] == ROW)
                else:
                    _, _, _, r0, r1 = self.ints[pos][:5]
                    moves[pos] = tuple(StockMove(*keys[a], -x) for k, a, x in zip(
                        past.ints[0, r0:r1].tolist(), past.ints[1, r0:r1].tolist(),
                        past.floats[0, r0:r1].tolist()) if k == ROW)
        alerts: dict[int, tuple[Alert, ...]] = {}
        a_end = ends.alert
        if len(a_end) and a_end[-1]:
            starts = np.concatenate(([0], a_end[:-1]))
            for pos in np.flatnonzero(a_end > starts).tolist():
                alerts[pos] = tuple(dict.fromkeys(
                    self._alert(alert_buf, m) for m in range(int(starts[pos]),
                                                             int(a_end[pos]))))
        return moves, alerts

    def _unbalanced(self, line_buf: bc.Lines, e: int, l0: int, l1: int) -> EntryUnbalanced:
        """The figures of the entry the kernel refused: its event and its lines."""
        codes, names = self.engine.ledger.codes, self.engine.ledger.names
        acc, amt, memo = (line_buf.cols[r, l0:l1].tolist() for r in (0, 1, 5))
        lines = tuple((codes[a], x, names[m]) for a, x, m in zip(acc, amt, memo))
        return EntryUnbalanced(sum(amt), lines, str(self.pending[e].id))

    def _alert(self, alert_buf: bc.Alerts, m: int) -> Alert:
        eng = self.engine
        ints, floats = alert_buf
        kind, a, f1 = int(ints[0, m]), int(ints[1, m]), float(floats[0, m])
        if kind == bc.A_VALUE:
            return Alert("negative stock", f"{eng.plant.skus[a]}: {f1:g} beyond plant stock, "
                         "valued at last known cost")
        if kind == bc.A_ROUNDING:
            return Alert("rounding", f"work order {eng.wos.ids[a]}: WIP remainder "
                         f"{int(f1)} minor units beyond rounding (frozen standard?)")
        sku, loc, status, lot = eng.inv.row_keys[a]
        if kind == bc.A_DRAW:
            return Alert("negative stock",
                         f"{sku} at {loc} (lot {lot or '-'}): short by {f1:g}")
        return Alert("negative stock", f"{sku} at {loc} ({status}, lot {lot or '-'}): "
                     f"transfer of {f1:g} with {float(alert_buf.floats[1, m]):g} on hand")


def _columns(rows: list[tuple], dtype, n: int) -> np.ndarray:
    """Per-event tuples as one C-contiguous row per field."""
    width = len(rows[0])
    flat = np.fromiter(chain.from_iterable(rows), dtype, count=n * width)
    return flat.reshape(n, width).T.copy()


def _lines(n: int, ledger) -> bc.Lines:
    return bc.Lines(np.empty((6, n), np.int64), ledger.balance, ledger.touched)


def _effects(n: int) -> bc.Effects:
    return bc.Effects(np.empty((3, n), np.int64), np.empty((2, n)))


def _alerts(n: int) -> bc.Alerts:
    return bc.Alerts(np.empty((2, n), np.int64), np.empty((2, n)))


def _grown(old, used: int, new):
    """`new` (larger buffers) with the `used` values written so far copied in."""
    for src, dst in zip(old, new):
        if dst is not src and dst.ndim == 2:
            dst[:, :used] = src[:, :used]
    return new


def _event_id(ev) -> str | None:
    try:
        return str(ev.id)
    except Exception:  # noqa: BLE001 — no usable id: the per-event path says why
        return None
