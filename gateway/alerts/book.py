"""`AlertBook`: one alert per rule and subject while it is open, judged event by event in
the journal's own transaction, so `gateway replay` rebuilds the alerts seen live.

For each applied event the book updates the figures of what the event touched (its work
order, its operation, the items its stock moves touch, a shipment's sales order), asks the rule (gateway.alerts.rules)
and opens, updates or resolves the alert of that key. Figures are read from the journal's
projections as they stood before the batch (work_orders, stock) plus the book's own small
projections (alert_counts: scrap per operation, issued per component; alert_window: an
order's latest counts, for the scrap rate's rolling window; alert_history: closed orders'
scrap % per work center and operation; alert_sales: each sales order's revenue and cost
of sales so far), and the batch's events on top. All
of it is a cache of one transaction: a batch that rolls back leaves nothing behind.
Times are the events' own ts, so judging the same events again gives the same rows.

The journal hands over a whole batch (`judge_batch`): events no rule looks at are passed
over, and what the others will read (the orders they name and the open orders needing
the items they move, with their figures and alerts; stock; sales orders; reversed
events) is read in a few queries up front, only for what the batch touches. The events
are then judged one after the other as before, so any batch size gives the same rows.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import datetime

from costing.master import MasterData

from gateway.alerts.config import AlertsSection
from gateway.alerts.delivery import enqueue
from gateway.alerts.rules import (
    Norm, Verdict, judge_consumption, judge_margin, judge_scrap, judge_stalled,
    judge_stock_out, per_unit_standard, stock_short,
)
from gateway.alerts.stats import array_sum, rate_pct, tail_shares, welford_add
from gateway.events import decode_event
from gateway.subledgers import sale_money
from gateway.timestamps import parse_rfc3339

_COUNTED = ("completion", "scrap", "issue")
_ORDERED = frozenset(_COUNTED + ("wo_release", "wo_close"))  # events naming a work order
_JUDGED = _ORDERED | {"reversal", "shipment"}  # judged even without stock moves
ALERT_COLUMNS = ("key", "rule", "subject", "line", "work_order", "item", "severity",
                 "observed", "expected", "threshold", "message", "first_seen", "last_seen",
                 "state", "resolved_at", "resolved_by", "resolution")

_INSERT_ALERT = (f"INSERT INTO alerts({', '.join(ALERT_COLUMNS)})"
                 f" VALUES ({','.join('?' * len(ALERT_COLUMNS))})")
_UPDATE_ALERT = f"UPDATE alerts SET {', '.join(k + '=?' for k in ALERT_COLUMNS)} WHERE id=?"


@dataclass
class _Order:
    work_order: str
    item: str
    line: str
    planned: float
    status: str
    good: float = 0.0
    scrap: float = 0.0

    @property
    def units(self) -> float:
        return self.good + self.scrap


@dataclass
class Transition:
    """An alert that opened, was acknowledged or resolved: what routes deliver."""

    key: str
    state: str
    alert: dict


@dataclass
class _Cache:
    orders: dict[str, _Order] = field(default_factory=dict)
    by_item: dict[str, dict[str, _Order]] = field(default_factory=dict)  # item -> its orders
    counts: dict[tuple[str, str, str], float] = field(default_factory=dict)
    dirty_counts: set[tuple[str, str, str]] = field(default_factory=set)
    scrap_ops: dict[str, set[int]] = field(default_factory=dict)  # wo -> ops in `counts`
    closed: set[str] = field(default_factory=set)
    windows: dict[str, list[list[float]]] = field(default_factory=dict)  # wo -> [op, qty]
    dirty_windows: set[str] = field(default_factory=set)
    windowed: dict[str, tuple[dict[int, float], float]] = field(default_factory=dict)
    #   wo -> its window's scrap per operation and units (`_window_figures`)
    sums: dict[str, list] = field(default_factory=dict)  # wo -> [units, qty per operation]
    #   of a window of whole counts, kept as they are counted (`_slide`)
    candidates: dict[str, list[_Order]] = field(default_factory=dict)  # item -> orders of
    #   its parents, by work order: what `_need` sums over, kept until an order is put
    stock: dict[str, float] = field(default_factory=dict)
    norms: dict[tuple[str, int], Norm] = field(default_factory=dict)
    dirty_norms: set[tuple[str, int]] = field(default_factory=set)
    sales: dict[str, list[int]] = field(default_factory=dict)  # order -> [revenue, cogs]
    alerts: dict[str, dict] = field(default_factory=dict)  # key -> row, open ones
    dirty: dict[int, dict] = field(default_factory=dict)   # id(row) -> row to write
    batch: dict[str, object] = field(default_factory=dict)  # this batch's events by id
    transitions: list[Transition] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)        # orders read (with their figures)
    parents_loaded: set[str] = field(default_factory=set)  # items whose open orders are read
    items_loaded: set[str] = field(default_factory=set)  # items whose stock_out alert is read
    last_ts: dict[str, str] = field(default_factory=dict)  # wo -> ts of its latest count
    need: dict[str, tuple[float, int]] = field(default_factory=dict)  # item -> stock need
    need_above: dict[str, float] = field(default_factory=dict)  # item -> a need at least
    #   its need now: the last one computed, kept while its orders only consumed more
    history: bool = False  # alert_history read


def _put_order(c: _Cache, wo: str, order: _Order | None, bom: dict) -> None:
    """c.orders[wo] = order, and the index of orders by item kept with it; `bom`, the
    book's parent -> components (the items whose need the order's item counts in)."""
    old = c.orders.get(wo)
    for o in (old, order):
        if o is not None:  # which orders need these components' stock changed
            for component, _, _ in bom.get(o.item, ()):
                c.need.pop(component, None)
                c.need_above.pop(component, None)
                c.candidates.pop(component, None)
    if old is not None:
        c.by_item[old.item].pop(wo, None)
    c.orders[wo] = order
    if order is not None:
        c.by_item.setdefault(order.item, {})[wo] = order


def moved_per_event(moves, keys) -> dict[int, dict[str, float]]:
    """What `AlertBook.judge` takes as `moved`, per event of a batch, from the batch's
    stock moves as columns (event, stock row, qty; Posted.moves) and the engine's stock
    row keys: the available qty moved, per item, in move order."""
    out: dict[int, dict[str, float]] = {}
    for k, r, q in zip(*moves):
        item, _, status, _ = keys[r]
        m = out.get(k)
        if m is None:
            m = out[k] = {}
        m[item] = m.get(item, 0) + (q if status == "available" else 0)
    return out


def _window_figures(counts: list[list[float]], n: float, trim: bool = False
                    ) -> tuple[dict[int, float], float, list | None]:
    """A window's scrap per operation (its counts' shares of the last `n` units, added
    oldest first), all its units (their sum as numpy's), and its running sums for
    `_slide` (None unless `trim` and its counts are whole); `trim`: the counts wholly
    outside the window (the oldest, of share 0) are dropped from `counts`."""
    fast = _whole_figures(counts, n, trim)
    if fast is not None:
        return fast
    share = tail_shares([q for _, q in counts], n)
    if trim:
        first = 0
        for s in share:
            if s > 0:
                break
            first += 1
        if first:
            del counts[:first]
            del share[:first]  # a tail's share does not depend on what is older
    per_op: dict[int, float] = {}
    for (o, _), s in zip(counts, share):
        per_op[o] = per_op.get(o, 0) + s
    return per_op, array_sum(share), None


_EXACT = float(2 ** 53)  # whole floats below this add exactly, in any order


def _whole(q) -> bool:
    return type(q) is float and q > 0 and q.is_integer()


def _whole_figures(counts: list[list[float]], n: float, trim: bool
                   ) -> tuple[dict[int, float], float, list | None] | None:
    """`_window_figures` in one pass from the newest count, for a window of whole,
    positive counts (units, as devices count them): every share and sum is then exact,
    so the order of the additions cannot change a bit and the counts older than the
    window (share 0) need not be visited. None for any other window."""
    per_op: dict[int, float] = {}
    full: dict[int, float] = {}  # the counts' own qty per operation, for `_slide`
    units = newer = 0.0
    k = len(counts) - 1
    while k >= 0:
        o, q = counts[k]
        if not _whole(q):
            return None
        if newer >= n:
            break  # this count and the older ones lie outside the window
        share = min(n - newer, q)
        per_op[o] = per_op.get(o, 0) + share
        full[o] = full.get(o, 0) + q
        units += share
        newer += q
        if newer >= _EXACT:
            return None
        k -= 1
    total = newer
    for _, q in counts[:k + 1]:  # outside the window: whole too, or the general path
        if not _whole(q) or newer + q >= _EXACT:
            return None
        newer += q
    if not trim:
        return per_op, units, None
    if k >= 0:
        del counts[:k + 1]
    return per_op, units, [total, full]


def _slide(counts: list[list[float]], sums: list, n: float, op: int, qty: float
           ) -> tuple[dict[int, float], float, list | None] | None:
    """The figures of a whole window (`sums`: its units and qty per operation) after
    `qty` of `op` was counted into its newest count, without a pass over its counts:
    the counts now outside it are dropped from the oldest end, the oldest one left is
    the only one partly in (the same exact figures as `_whole_figures`). None when
    `qty` is not a whole count."""
    total, full = sums
    if not _whole(qty) or total + qty >= _EXACT:
        return None
    total += qty
    full[op] = full.get(op, 0) + qty
    while total - counts[0][1] >= n:  # the oldest count lies wholly outside
        o, q = counts.pop(0)
        total -= q
        full[o] -= q
        if not full[o]:
            del full[o]
    o, q = counts[0]
    outside = q - min(n - (total - q), q)
    per_op = dict(full)
    per_op[o] -= outside
    sums[0] = total
    return per_op, total - outside, sums


@functools.cache
def _judged(cls) -> bool:
    """Whether events of class `cls` are judged even without stock moves."""
    return cls.__struct_config__.tag in _JUDGED


def epoch(ts: str) -> float:
    return parse_rfc3339(ts).timestamp()


class AlertBook:
    """The rules of `[alerts]` applied to the journal's events, in their order."""

    def __init__(self, config: AlertsSection, master: MasterData):
        self.cfg = config
        self._c: _Cache | None = None
        self.use_master(master)
        self.conn = None

    def use_master(self, master: MasterData) -> None:
        """Judge from now on with `master`'s BOMs, routings and accounts (the version of
        the master data in force, gateway.master_versions)."""
        self._bom: dict[str, list[tuple[str, float, str]]] = {}   # parent -> components
        self._uses: dict[str, list[tuple[str, float, str]]] = {}  # component -> parents
        self._issued_eff: dict[tuple[str, str], float] = {}  # (parent, issued component)
        for b in master.boms:
            eff = per_unit_standard(b)
            self._bom.setdefault(b.parent, []).append((b.component, eff, b.consumption))
            self._uses.setdefault(b.component, []).append((b.parent, eff, b.consumption))
            if b.consumption == "issue":
                self._issued_eff.setdefault((b.parent, b.component), eff)
        self._parents = {c: {p for p, _, _ in uses} for c, uses in self._uses.items()}
        self._components = {p: tuple(c for c, _, _ in comps) for p, comps in self._bom.items()}
        self._issued = {p: tuple(c for c, _, how in comps if how == "issue")
                        for p, comps in self._bom.items()}
        self._stock_keys = {c: f"stock_out:{c}" for c in self._uses}
        self._uses_by_parent: dict[str, dict[str, list[tuple[float, str]]]] = {}
        for c, uses in self._uses.items():  # component -> parent -> (eff, how), BOM order
            for p, eff, how in uses:
                self._uses_by_parent.setdefault(c, {}).setdefault(p, []).append((eff, how))
        self._ops: dict[str, list[tuple[int, str]]] = {}  # parent -> (operation, wc)
        for r in master.routings:
            self._ops.setdefault(r.parent, []).append((r.operation, r.work_center))
        self._wc = {(r.parent, r.operation): r.work_center for r in master.routings}
        self._revenue, self._cogs = master.accounts.revenue, master.accounts.cogs
        # Items whose need can only fall as their orders count (no negative standard):
        # `_need` is then, in floats too, monotone in each order's units and issues.
        self._need_falls = {c for c, uses in self._uses.items()
                            if all(eff >= 0 for _, eff, _ in uses)}
        if self._c is not None:
            self._c.need_above.clear()
        self._decimals = master.currency_decimals

    # -- one transaction --------------------------------------------------------------

    def begin(self, conn) -> None:
        """Start judging a batch on `conn`, inside its transaction."""
        self.conn = conn
        self._c = None

    def _cache(self) -> _Cache:
        if self._c is None:
            self._c = _Cache()
        return self._c

    # -- what a batch reads, read for the whole batch at once -------------------------------
    # Each reader is a no-op for what the batch already read, so judging stays correct
    # whatever was read ahead: `_read_ahead` only saves the queries one at a time.

    def _in(self, sql: str, keys: list, args: tuple = ()) -> list[tuple]:
        """Rows of `sql` (with one `IN ({})`) for `keys`, in parts under SQLite's limit."""
        rows: list[tuple] = []
        for start in range(0, len(keys), 5000):
            part = keys[start:start + 5000]
            rows += self.conn.execute(sql.format(",".join("?" * len(part))), (*args, *part))
        return rows

    def _load_orders(self, wos) -> None:
        """The orders `wos` (None for one the journal does not know), their figures
        (alert_counts, alert_window) and their alerts not resolved."""
        c = self._c
        todo = sorted({wo for wo in wos if wo not in c.loaded})
        if not todo:
            return
        c.loaded.update(todo)
        found = {row[0]: row for row in self._in(
            "SELECT work_order, item, line, planned, status, good, scrap FROM work_orders"
            " WHERE work_order IN ({})", todo)}
        for wo in todo:
            if wo not in c.orders:
                row = found.get(wo)
                _put_order(c, wo, _Order(*row) if row else None, self._bom)
        for wo, kind, key, qty in self._in(
                "SELECT work_order, kind, key, qty FROM alert_counts WHERE work_order IN ({})",
                todo):
            k = (wo, kind, key)
            if k not in c.counts:
                c.counts[k] = qty
                if kind == "scrap":
                    c.scrap_ops.setdefault(wo, set()).add(int(key))
        for wo, counts in self._in(
                "SELECT work_order, counts FROM alert_window WHERE work_order IN ({})", todo):
            c.windows.setdefault(wo, json.loads(counts))
        self._load_alerts("work_order", todo)

    def _load_alerts(self, column: str, values: list, rule: str | None = None) -> None:
        cols = ("id",) + ALERT_COLUMNS
        sql = (f"SELECT {', '.join(cols)} FROM alerts WHERE state != 'resolved'"
               f"{' AND rule=?' if rule else ''} AND {column} IN ({{}})")
        alerts = self._c.alerts
        for row in self._in(sql, values, (rule,) if rule else ()):
            alert = dict(zip(cols, row))
            alerts.setdefault(alert["key"], alert)

    def _load_items(self, items) -> None:
        """For the stock rule on `items`: their available stock, the open orders of the
        items they go into, and their stock_out alerts."""
        c = self._c
        todo = sorted({i for i in items if i not in c.items_loaded})
        if not todo:
            return
        c.items_loaded.update(todo)
        self._load_alerts("subject", todo, "stock_out")
        stock = dict(self._in(
            "SELECT item, COALESCE(SUM(qty), 0) FROM stock WHERE status='available'"
            " AND item IN ({}) GROUP BY item", todo))
        for item in todo:
            c.stock.setdefault(item, stock.get(item, 0))
        parents = sorted({p for i in todo for p in self._parents.get(i, ())}
                         - c.parents_loaded)
        if parents:
            c.parents_loaded.update(parents)
            self._load_orders(wo for wo, in self._in(
                "SELECT work_order FROM work_orders WHERE status='open' AND item IN ({})",
                parents))

    def _load_sales(self, orders) -> None:
        c = self._c
        todo = sorted({o for o in orders if o is not None and o not in c.sales})
        if not todo:
            return
        found = {so: [revenue, cogs] for so, revenue, cogs in self._in(
            "SELECT sales_order, revenue, cogs FROM alert_sales WHERE sales_order IN ({})",
            todo)}
        for so in todo:
            c.sales[so] = found.get(so, [0, 0])
        self._load_alerts("subject", todo, "margin")

    def _read_ahead(self, judged: list) -> None:
        """What the batch's events will read, in a few queries: the events they reverse,
        the orders they name, the items their stock moves touch, the sales orders."""
        c = self._c
        targets = sorted({e.reverses for e, _ in judged if e.type == "reversal"}
                         - c.batch.keys())
        for eid, payload in self._in("SELECT id, payload FROM events WHERE id IN ({})",
                                     targets):
            c.batch.setdefault(eid, decode_event(payload))
        orders, closing, items, sales = set(), set(), set(), set()
        for e, moved in judged:
            t = e.type
            if t == "wo_close":
                closing.add(e.work_order)
            elif t == "reversal":
                e = c.batch.get(e.reverses)
                t = e.type if e is not None else None
            if t in _ORDERED:
                orders.add(e.work_order)
            elif t == "shipment":
                sales.add(e.order)
            items.update(moved)
        self._load_orders(orders)
        for wo in closing:  # a close judges the stock of the order's components
            if c.orders.get(wo) is not None:
                items.update(comp for comp, _, _ in self._bom.get(c.orders[wo].item, ()))
        self._load_items(items)
        self._load_sales(sales)

    def observe(self, event, outcome) -> None:
        """Judge one applied event (outcome.ok) against what it touched."""
        moved: dict[str, float] = {}  # item -> available qty moved, summed in move order
        for m in outcome.moves:
            moved[m.item] = moved.get(m.item, 0) + (m.qty if m.status == "available" else 0)
        self.judge(event, moved, lambda: outcome.lines)

    def judge(self, event, moved: dict[str, float], lines) -> None:
        """Judge one applied event: `moved`, the available qty its stock moves moved per
        item (summed in move order); `lines()`, its journal lines (read only for a
        shipment or a reversal)."""
        self.judge_batch([event], {0: moved} if moved else {}, lambda k: lines())

    def judge_batch(self, events, moved: dict[int, dict[str, float]], lines) -> None:
        """Judge a batch's applied events in their order: `moved[k]`, the available qty
        the stock moves of events[k] moved per item (summed in move order; no key for an
        event without stock moves); `lines(k)`, its journal lines as (account, debit,
        credit, ...) tuples (read only for a shipment or a reversal). Events no rule
        looks at cost one set lookup."""
        judged = [(k, e) for k, e in enumerate(events) if k in moved or _judged(type(e))]
        if not judged:
            return
        c = self._cache()
        for _, e in judged:
            c.batch[e.id] = e
        self._read_ahead([(e, moved.get(k, ())) for k, e in judged])
        for k, e in judged:
            self._judge_one(e, moved.get(k, {}), k, lines)

    def _judge_one(self, event, moved: dict[str, float], k: int, lines) -> None:
        t = event.type
        c = self._c
        c.batch[event.id] = event
        if t == "wo_release":
            self._load_orders((event.work_order,))
            _put_order(c, event.work_order, _Order(event.work_order, event.item, event.line,
                                                   event.qty, "open"), self._bom)
            self._last_count(event.work_order, event.ts)
        elif t in _COUNTED:
            self._counted(event, 1.0)
        elif t == "wo_close":
            self._close(event)
        elif t == "shipment":
            self._shipped(event.order, lines(k), event.ts)
        elif t == "reversal":
            gone = self._reversed(event.reverses)
            if gone is not None and gone.type in _COUNTED:
                self._counted(gone, -1.0, event.ts)
            elif gone is not None and gone.type == "shipment":
                self._shipped(gone.order, lines(k), event.ts)
        if moved:
            stock, loaded, keys = c.stock, c.items_loaded, self._stock_keys
            judging = self.cfg.stock_out.enabled
            for item in sorted(moved):
                if item not in loaded:
                    self._load_items((item,))
                stock[item] += moved[item]
                if judging and item in keys:  # otherwise no BOM uses it: no rule
                    self._judge_stock(item, event.ts)

    def flush(self) -> list[Transition]:
        """Write what the batch changed; the transitions for the routes."""
        c = self._c
        if c is None:
            return []
        conn = self.conn
        for wo, ts in c.last_ts.items():
            c.counts[(wo, "last_count", "")] = epoch(ts)
        # a statement with no rows is not run (each costs a few µs even empty)
        counts = [(*k, c.counts[k]) for k in sorted(c.dirty_counts)
                  if k[0] not in c.closed and k in c.counts]
        if counts:
            conn.executemany(
                "INSERT INTO alert_counts(work_order, kind, key, qty) VALUES (?,?,?,?)"
                " ON CONFLICT(work_order, kind, key) DO UPDATE SET qty=excluded.qty", counts)
        closed = [(wo,) for wo in sorted(c.closed)]
        if closed:
            conn.executemany("DELETE FROM alert_counts WHERE work_order=?", closed)
        windows = [(wo, json.dumps(c.windows[wo])) for wo in sorted(c.dirty_windows)
                   if wo not in c.closed]
        if windows:
            conn.executemany(
                "INSERT INTO alert_window(work_order, counts) VALUES (?,?)"
                " ON CONFLICT(work_order) DO UPDATE SET counts=excluded.counts", windows)
        if closed:
            conn.executemany("DELETE FROM alert_window WHERE work_order=?", closed)
        if c.dirty_norms:
            conn.executemany(
                "INSERT INTO alert_history(work_center, operation, n, mean, m2)"
                " VALUES (?,?,?,?,?) ON CONFLICT(work_center, operation) DO UPDATE SET"
                " n=excluded.n, mean=excluded.mean, m2=excluded.m2",
                [(wc, op, c.norms[(wc, op)].n, c.norms[(wc, op)].mean, c.norms[(wc, op)].m2)
                 for wc, op in sorted(c.dirty_norms)])
        if c.sales:
            conn.executemany(
                "INSERT INTO alert_sales(sales_order, revenue, cogs) VALUES (?,?,?)"
                " ON CONFLICT(sales_order) DO UPDATE SET revenue=excluded.revenue,"
                " cogs=excluded.cogs", [(so, *c.sales[so]) for so in sorted(c.sales)])
        # Rows read are updated before new ones go in: a key resolved and opened again in
        # one batch leaves its old row before the new one takes the key (alerts_one_open).
        updated = [[*(row[k] for k in ALERT_COLUMNS), row["id"]]
                   for row in c.dirty.values() if row["id"] is not None]
        if updated:
            conn.executemany(_UPDATE_ALERT, updated)
        for row in c.dirty.values():
            if row["id"] is None:
                row["id"] = conn.execute(_INSERT_ALERT,
                                         [row[k] for k in ALERT_COLUMNS]).lastrowid
        out = c.transitions
        enqueue(conn, self.cfg.route, out)
        self._c = None
        return out

    # -- figures ----------------------------------------------------------------------

    def _count(self, wo: str, kind: str, key: str, value: float, add: bool = False) -> None:
        c = self._c
        k = (wo, kind, key)
        c.counts[k] = c.counts.get(k, 0.0) + value if add else value
        c.dirty_counts.add(k)
        if kind == "scrap":
            c.scrap_ops.setdefault(wo, set()).add(int(key))

    def _last_count(self, wo: str, ts: str) -> None:
        """The order counted at `ts` (as epoch seconds in alert_counts once flushed)."""
        self._c.last_ts[wo] = ts
        self._c.dirty_counts.add((wo, "last_count", ""))

    def _order(self, wo: str) -> _Order | None:
        if wo not in self._c.loaded:
            self._load_orders((wo,))
        return self._c.orders[wo]

    def _reversed(self, event_id: str):
        found = self._c.batch.get(event_id)
        if found is None:
            row = self.conn.execute("SELECT payload FROM events WHERE id=?",
                                    (event_id,)).fetchone()
            found = decode_event(row[0]) if row else None
        return found

    def _counted(self, event, sign: float, ts: str | None = None) -> None:
        wo = self._order(event.work_order)
        if wo is None or wo.status != "open":
            return
        ts = ts or event.ts
        qty = sign * event.qty
        self._changed(wo, may_rise=qty < 0)
        t = event.type
        if t == "issue":
            self._count(wo.work_order, "issued", event.item, qty, add=True)
            self._judge_consumption(wo, event.item, ts)
            return
        if t == "completion":
            wo.good += qty
        else:
            wo.scrap += qty
            self._count(wo.work_order, "scrap", str(event.operation), qty, add=True)
        self._window_add(wo.work_order, event.operation if t == "scrap" else 0, qty)
        if sign > 0:
            self._last_count(wo.work_order, ts)
            self._clear(f"stalled:{wo.work_order}", ts, "counts again")
        for op in self._scrap_ops(wo):
            self._judge_scrap(wo, op, ts)
        for component in self._issued.get(wo.item, ()):
            self._judge_consumption(wo, component, ts)

    def _window(self, wo: str) -> list[list[float]]:
        if wo not in self._c.loaded:
            self._load_orders((wo,))
        return self._c.windows.setdefault(wo, [])

    def _window_add(self, wo: str, op: int, qty: float) -> None:
        """A count into the order's window (a reversal, qty < 0, takes it back from the
        newest counts of its kind); counts that left the window are dropped."""
        counts = self._window(wo)
        c = self._c
        n = self.cfg.scrap_rate.window_units
        sums = c.sums.pop(wo, None)
        if qty >= 0:
            if counts and counts[-1][0] == op:
                counts[-1][1] += qty
            else:
                counts.append([op, qty])
            figures = None if sums is None else _slide(counts, sums, n, op, qty)
        else:
            figures = None
            left = -qty
            for entry in reversed(counts):
                if entry[0] == op and left > 0:
                    took = min(entry[1], left)
                    entry[1] -= took
                    left -= took
            counts[:] = [e for e in counts if e[1] > 0]
        if figures is None:
            figures = _window_figures(counts, n, trim=True)
        per_op, units, sums = figures
        if sums is not None:
            c.sums[wo] = sums
        c.windowed[wo] = (per_op, units)
        c.dirty_windows.add(wo)

    def _windowed(self, wo: str, op: int) -> tuple[float, float]:
        """Scrap at `op` and all units among the order's last window_units units."""
        figures = self._c.windowed.get(wo)
        if figures is None:  # a window as read, not yet counted into this batch
            counts = self._window(wo)
            figures = self._c.windowed[wo] = _window_figures(
                counts, self.cfg.scrap_rate.window_units)[:2]
        return float(figures[0].get(op, 0)), figures[1]

    def _scrap_ops(self, wo: _Order) -> list[int]:
        return sorted(self._c.scrap_ops.get(wo.work_order, ()))

    def _norm(self, wc: str, op: int) -> Norm:
        c = self._c
        if not c.history:  # one row a work center and operation: read whole
            c.history = True
            for wc_, op_, n, mean, m2 in self.conn.execute(
                    "SELECT work_center, operation, n, mean, m2 FROM alert_history"):
                c.norms.setdefault((wc_, op_), Norm(n, mean, m2))
        norm = c.norms.get((wc, op))
        if norm is None:
            norm = c.norms[(wc, op)] = Norm()
        return norm

    def _close(self, event) -> None:
        c = self._c
        wo = self._order(event.work_order)
        if wo is None:
            return
        if wo.units > 0:
            ops = self._ops.get(wo.item) or [(op, wo.line) for op in self._scrap_ops(wo)]
            for op, wc in ops:
                scrap = c.counts.get((wo.work_order, "scrap", str(op)), 0.0)
                n = self._norm(wc, op)
                c.norms[(wc, op)] = Norm(*welford_add(n.n, n.mean, n.m2,
                                                      rate_pct(scrap, wo.units)))
                c.dirty_norms.add((wc, op))
        wo.status = "closed"
        self._changed(wo, may_rise=False)
        c.closed.add(wo.work_order)
        for key, alert in list(c.alerts.items()):
            if alert["work_order"] == wo.work_order:
                self._clear(key, event.ts, "order closed")
        for component, _, _ in self._bom.get(wo.item, ()):
            self._judge_stock(component, event.ts)

    def _shipped(self, order: str | None, lines, ts: str) -> None:
        """A shipment of `order` (or its reversal, whose lines come out negative) booked:
        the order's running revenue and cost of sales moved by its lines, then judged."""
        if order is None:
            return
        c = self._c
        self._load_sales((order,))
        revenue, cogs = sale_money(lines, self._revenue, self._cogs)
        figures = c.sales[order]
        figures[0] += revenue
        figures[1] += cogs
        self._judge_margin(order, ts)

    # -- judging --------------------------------------------------------------------

    def _judge_scrap(self, wo: _Order, op: int, ts: str) -> None:
        rule = self.cfg.scrap_rate
        if not rule.enabled:
            return
        scrap, units = self._windowed(wo.work_order, op)
        key = f"scrap_rate:{wo.work_order}:op{op}"
        wc = self._wc.get((wo.item, op), wo.line)
        verdict = judge_scrap(rule, wo.work_order, op, scrap, units, self._norm(wc, op),
                              key in self._c.alerts, windowed=wo.units > units)
        self._settle(key, "scrap_rate", verdict, ts,
                     line=wo.line, work_order=wo.work_order, item=wo.item,
                     why="scrap back within its limit")

    def _judge_consumption(self, wo: _Order, component: str, ts: str) -> None:
        rule = self.cfg.consumption
        eff = self._issued_eff.get((wo.item, component))
        if not rule.enabled or eff is None:
            return
        issued = self._c.counts.get((wo.work_order, "issued", component), 0.0)
        standard = eff * max(wo.units, wo.planned)
        key = f"consumption:{wo.work_order}:{component}"
        verdict = judge_consumption(rule, wo.work_order, component, issued, standard,
                                    key in self._c.alerts)
        self._settle(key, "consumption", verdict, ts,
                     line=wo.line, work_order=wo.work_order, item=component,
                     why="consumption back within its limit")

    def _judge_stock(self, item: str, ts: str) -> None:
        rule = self.cfg.stock_out
        key = self._stock_keys.get(item)  # None: no BOM uses the item
        if key is None or not rule.enabled:
            return
        c = self._c
        if item not in c.items_loaded:
            self._load_items((item,))
        is_open = key in c.alerts
        kept = c.need.get(item)
        if kept is None:
            # stock_short is monotone in the need: not short of a need kept above the
            # one now (`need_above`), not short now; summed again only otherwise
            above = c.need_above.get(item)
            if not is_open and above is not None and not stock_short(c.stock[item], above):
                return  # nothing open, nothing to open
            kept = self._need(item, self._uses[item])
        need, orders = kept
        if not is_open and not stock_short(c.stock[item], need):
            return  # nothing open, nothing to open
        verdict = judge_stock_out(rule, item, c.stock[item], need, orders)
        self._settle(key, "stock_out", verdict, ts, item=item,
                     why="stock covers the released orders")

    def _need(self, item: str, uses) -> tuple[float, int]:
        """What the open orders of the item's parents still need of it, and how many:
        kept until one of those orders changes (`_changed`)."""
        c = self._c
        need, orders = 0.0, 0
        candidates = c.candidates.get(item)
        if candidates is None:
            candidates = c.candidates[item] = sorted(
                (o for p in self._parents[item] for o in c.by_item.get(p, {}).values()),
                key=lambda o: o.work_order)
        by_parent = self._uses_by_parent[item]
        counts = c.counts
        for wo in candidates:
            if wo.status != "open":
                continue
            for eff, how in by_parent[wo.item]:
                if how == "issue":
                    issued = counts.get((wo.work_order, "issued", item), 0.0)
                    left = max(0.0, eff * wo.planned - issued)
                else:
                    left = eff * max(0.0, wo.planned - wo.units)
                if left > 0:
                    need += left
                    orders += 1
        c.need[item] = (need, orders)
        if item in self._need_falls:
            c.need_above[item] = need
        return need, orders

    def _changed(self, wo: _Order, may_rise: bool = True) -> None:
        """The order's units, issues or status moved: its components' need is stale;
        `may_rise` False when they only grew (a count, not its reversal) or the order
        closed, which can only lower that need, so the last one stays a bound above it."""
        need = self._c.need
        above = self._c.need_above
        for component in self._components.get(wo.item, ()):
            need.pop(component, None)
            if may_rise:
                above.pop(component, None)

    def _judge_margin(self, order: str, ts: str) -> None:
        rule = self.cfg.margin
        if not rule.enabled:
            return
        revenue, cogs = self._c.sales[order]
        self._settle(f"margin:{order}", "margin",
                     judge_margin(rule, order, revenue, cogs, self._decimals), ts,
                     why="margin back within its limit")

    def check_stalled(self, now: datetime) -> None:
        """The time-based rule: active orders whose line has not counted for too long."""
        rule = self.cfg.stalled
        if not rule.enabled:
            return
        c = self._cache()
        stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for line, wo_id in self.conn.execute(
                "SELECT line, work_order FROM active_orders ORDER BY line").fetchall():
            wo = self._order(wo_id)
            last = (epoch(c.last_ts[wo_id]) if wo_id in c.last_ts
                    else c.counts.get((wo_id, "last_count", "")))
            if wo is None or wo.status != "open" or last is None:
                continue
            idle = (now.timestamp() - last) / 60
            verdict = judge_stalled(rule, wo_id, line, idle)
            self._settle(f"stalled:{wo_id}", "stalled", verdict, stamp, line=line,
                         work_order=wo_id, item=wo.item, why="counts again")

    # -- one alert per key ------------------------------------------------------------

    def _settle(self, key: str, rule: str, verdict: Verdict | None, ts: str, *,
                why: str, line: str | None = None, work_order: str | None = None,
                item: str | None = None) -> None:
        c = self._c
        if verdict is None:
            if key in c.alerts:
                self._clear(key, ts, why)
            return
        alert = c.alerts.get(key)
        if alert is None:
            alert = c.alerts[key] = {
                "id": None, "key": key, "rule": rule, "subject": key.split(":", 1)[1],
                "line": line, "work_order": work_order, "item": item, "first_seen": ts,
                "state": "open", "resolved_at": None, "resolved_by": None, "resolution": None}
            opened = True
        else:
            opened = False
        alert.update(severity=verdict.severity, observed=round(verdict.observed, 6),
                     expected=round(verdict.expected, 6),
                     threshold=round(verdict.threshold, 6), message=verdict.message,
                     last_seen=ts)
        c.dirty[id(alert)] = alert
        if opened:
            c.transitions.append(Transition(key, "open", dict(alert)))

    def _clear(self, key: str, ts: str, why: str) -> None:
        c = self._c
        alert = c.alerts.pop(key, None)
        if alert is None:
            return
        alert.update(state="resolved", resolved_at=ts, resolved_by="gateway", resolution=why)
        c.dirty[id(alert)] = alert
        c.transitions.append(Transition(key, "resolved", dict(alert)))


def alert_json(alert: dict) -> str:
    """The JSON routes send for an alert."""
    return json.dumps({k: alert.get(k) for k in ("id",) + ALERT_COLUMNS}, sort_keys=True)
