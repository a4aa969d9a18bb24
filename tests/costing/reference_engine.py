"""The posting rules written out per event, in plain Python: the reference the engine
is held to.

`ReferenceEngine` is the engine's state (costing.engine.Engine) with each event type's
rules as an obvious handler: validate the fields, post the entry line by line, change
the stock and orders through their Python methods, record every effect. Slow and
independent of costing.batch and its kernel, which are the engine's only
implementation; the property tests (test_batch_equality, test_batch_fast_loop) hold
`Engine` equal to it — outcomes, state and journal lines — on random streams.
Reversals are the engine's own (costing.engine.Engine.reverse): they negate what an
event recorded, and post no rule of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from costing.engine import Engine
from costing.kernels import EPS, explode_kernel, minor_kernel
from costing.ledger import Entry
from costing.money import round_minor, to_minor
from costing.outcome import Alert, Outcome, Reject
from costing.plant import STANDARD
from costing.workorders import CLOSED, OPEN, VARIANCES

NO_LIMIT = np.iinfo(np.int64).max


@dataclass
class _Tx:
    """What one event did: effects to undo, lines to post, moves and alerts to show."""

    entry: Entry = field(default_factory=Entry)
    effects: list = field(default_factory=list)
    moves: list = field(default_factory=list)
    alerts: list = field(default_factory=list)
    wip: dict = field(default_factory=dict)  # order -> WIP change, one effect per event
    wo: int | None = None


class ReferenceEngine(Engine):
    """Values events one by one with the handlers below (same public API as Engine)."""

    def __init__(self, master, **kwargs):
        super().__init__(master, **kwargs)
        self._handlers = {
            "receipt": self._receipt, "issue": self._issue, "wo_release": self._release,
            "completion": self._completion, "scrap": self._scrap, "labor": self._labor,
            "shipment": self._shipment, "count": self._count, "transfer": self._transfer,
            "wo_close": self._close, "supplier_invoice": self._supplier_invoice,
            "payment": self._payment, "customer_payment": self._customer_payment,
        }

    def apply(self, events) -> list[Outcome]:
        return [self.apply_one(event) for event in events]

    def apply_many(self, events, outcomes: bool = True):
        out = self.apply(events)
        return out if outcomes else None

    def apply_one(self, event) -> Outcome:
        event_id = str(event.id)
        tx = _Tx()
        try:
            if event_id in self.records:
                raise Reject("id", f"event {event_id} was already applied")
            if event.type == "reversal":
                return self.reverse(event)
            handler = self._handlers.get(event.type)
            if handler is None:
                raise Reject("type", f"unknown event type {event.type!r}")
            handler(event, tx)
        except Reject as reject:
            self._rollback(tx)
            return reject.outcome(event_id)
        except BaseException:
            self._rollback(tx)  # a bug must not leave half an event in the state
            raise
        tx.effects.extend(("wip", w, amount) for w, amount in tx.wip.items() if amount)
        lines, _, end = self.ledger.post(tx.entry)
        log = self.effects
        for effect in tx.effects:
            log.append(effect)
        self.records.add(event_id, event.type, log.n, end, tx.wo)
        if tx.wo is not None:
            self.wos.live_count[tx.wo] += 1
        return Outcome(event_id, True, lines, tuple(tx.moves), _dedupe(tx.alerts))

    def _rollback(self, tx: _Tx) -> None:
        for w, amount in tx.wip.items():
            self.wos.wip[w] -= amount
        for effect in reversed(tx.effects):
            self._undo(effect)

    # -- validation helpers -------------------------------------------------------
    def _item(self, sku, name="item") -> int:
        i = self.plant.item_index.get(sku)
        if i is None:
            raise Reject(name, f"unknown item {sku!r}")
        return i

    def _location(self, loc, name="location") -> str:
        if loc not in self.plant.locations:
            raise Reject(name, f"unknown location {loc!r}")
        return loc

    def _status(self, status, name="status") -> str:
        if status is None:
            return "available"
        if status not in self.plant.statuses:
            raise Reject(name, f"unknown status {status!r}")
        return status

    @staticmethod
    def _qty(q, name="qty", zero_ok=False) -> float:
        try:
            q = float(q)
        except (TypeError, ValueError):
            raise Reject(name, f"not a number (got {q!r})") from None
        if not math.isfinite(q) or q < 0 or (q == 0 and not zero_ok):
            raise Reject(name, f"must be {'>=' if zero_ok else '>'} 0 (got {q!r})")
        return q

    def _open_wo(self, wo_id, tx: _Tx) -> int:
        w = self.wos.index.get(wo_id)
        if w is None:
            raise Reject("work_order", f"unknown work order {wo_id!r}")
        if self.wos.status[w] != OPEN:
            raise Reject("work_order", f"work order {wo_id} is closed")
        tx.wo = w
        return w

    def _step(self, w: int, operation, wo_id) -> int:
        s = self.plant.step_of(int(self.wos.item[w]), int(operation))
        if s is None:
            raise Reject("operation", f"work order {wo_id} has no operation {operation}")
        return s

    # -- stock in / out -----------------------------------------------------------
    def _stock_in(self, tx: _Tx, i: int, q: float, amount: int, key) -> None:
        self.inv.add(i, q, amount, tx.effects)
        self.inv.move(key, q, tx.effects, tx.moves)

    def _value_out(self, tx: _Tx, items: list[int], qtys: list[float]) -> list[int]:
        amounts, shorts = self.inv.consume(items, qtys, tx.effects)
        for i, short in zip(items, shorts):
            if short > EPS:
                tx.alerts.append(Alert("negative stock", f"{self.plant.skus[i]}: {short:g} "
                                       "beyond plant stock, valued at last known cost"))
        return amounts

    def _unit_cost_amount(self, i: int, q: float) -> int:
        """q at the item's current cost: std, or the current average / last unit."""
        if self.plant.method[i] != STANDARD:
            unit = self.inv.unit_minor(i)
            if unit is not None:
                return round_minor(q * unit)
        return to_minor(q * float(self.std[i]), self.plant.scale)

    # -- handlers -------------------------------------------------------------------
    def _receipt(self, ev, tx: _Tx) -> None:
        i = self._item(ev.item)
        q = self._qty(ev.qty)
        loc = self._location(ev.location)
        status = self._status(_opt(ev, "status"))
        price = self._qty(ev.unit_price, "unit_price", zero_ok=True)
        sku, scale = ev.item, self.plant.scale
        paid = to_minor(q * price, scale)
        booked = to_minor(q * float(self.std[i]), scale) if self.plant.method[i] == STANDARD \
            else paid
        memo = f"receipt {ev.po}" if _opt(ev, "po") else "receipt"
        inv = self.plant.inv_account[i]
        tx.entry.one(inv, booked, memo, sku)
        tx.entry.one(self.acc.grni, -paid, memo, sku)
        tx.entry.one(self.acc.ppv, paid - booked, "purchase price variance", sku)
        self._stock_in(tx, i, q, booked, (sku, loc, status, _opt(ev, "lot")))
        line = self.money.line_index.get((_opt(ev, "po"), sku))
        if line is not None:  # received on a PO line, not invoiced yet: a receipt layer
            self._owe(tx, ("rcv", self.money.layer(line, price), q, paid))

    def _release(self, ev, tx: _Tx) -> None:
        if ev.work_order in self.wos.index:
            raise Reject("work_order", f"work order {ev.work_order} already exists")
        p = self._item(ev.item)
        if not self.plant.manufactured[p]:
            raise Reject("item", f"item {ev.item!r} has no BOM or routing")
        line = self.plant.wc_index.get(ev.line)
        if line is None:
            raise Reject("line", f"unknown work center {ev.line!r}")
        q = self._qty(ev.qty)
        so = -1 if _opt(ev, "order") is None else self.money.order(ev.order)
        w = self.wos.create(ev.work_order, p, line, q, so)
        tx.effects.append(("wo_new", w))
        tx.wo = w

    def _consume_location(self, w: int, operation: int) -> str:
        """Line-side stock of the work center running `operation`, else the order's line."""
        s = self.plant.step_of(int(self.wos.item[w]), operation)
        wc = int(self.plant.rt_wc[s]) if s is not None else int(self.wos.line[w])
        return self.plant.wc_location[wc]

    def _wip(self, tx: _Tx, w: int, amount: int) -> None:
        self.wos.wip[w] += amount
        tx.wip[w] = tx.wip.get(w, 0) + amount

    def _backflush(self, tx: _Tx, w: int, q: float, limit: int, memo: str) -> None:
        """Components and backflush labor for q units through operation `limit`."""
        pl, wos, wo_id = self.plant, self.wos, self.wos.ids[w]
        p = int(wos.item[w])
        _, m_line, m_qty, _, l_step, l_hours = explode_kernel(
            np.array([p], np.int64), np.array([q]), np.array([limit], np.int64),
            pl.bom_ptr, pl.bom_qty_eff, pl.bom_op, pl.bom_backflush, pl.rt_ptr, pl.rt_op,
            pl.rt_wc, pl.rt_per_unit, pl.wc_backflush)
        items = [int(pl.bom_comp[j]) for j in m_line]
        qtys = m_qty.tolist()
        for j, c, cq in zip(m_line.tolist(), items, qtys):
            loc = self._consume_location(w, int(pl.bom_op[j]))
            self.inv.draw(pl.skus[c], loc, cq, None, tx.effects, tx.moves, tx.alerts)
        amounts = self._value_out(tx, items, qtys)
        for j, c, cq, amount in zip(m_line.tolist(), items, qtys, amounts):
            s = pl.step_of(p, int(pl.bom_op[j]))
            wc = pl.wc_ids[int(pl.rt_wc[s])] if s is not None else None
            tx.entry.pair(self.acc.wip, pl.inv_account[c], amount, f"{memo}: backflush",
                          pl.skus[c], wo_id, wc)
            r = wos.material_row(w, c, tx.effects, bom_line=j)
            self._material(tx, w, r, cq, amount)
        for s, hours in zip(l_step.tolist(), l_hours.tolist()):
            self._hours(tx, w, s, hours, f"{memo}: backflush")

    def _material(self, tx: _Tx, w: int, r: int, q: float, amount: int) -> None:
        self.wos.mat_act_qty[r] += q
        self.wos.mat_act_value[r] += amount
        tx.effects.append(("mat", r, q, amount))
        self._wip(tx, w, amount)

    def _hours(self, tx: _Tx, w: int, s: int, hours: float, memo: str) -> None:
        """Absorb hours at routing step s (global index): labor and overhead into WIP."""
        pl = self.plant
        wc = int(pl.rt_wc[s])
        labor, overhead = minor_kernel(
            np.array([hours * pl.wc_labor[wc], hours * pl.wc_overhead[wc]]), pl.scale).tolist()
        wo_id, sku, wc_id = self.wos.ids[w], pl.skus[int(self.wos.item[w])], pl.wc_ids[wc]
        op = int(pl.rt_op[s])
        tx.entry.pair(self.acc.wip, self.acc.applied_labor, labor, f"{memo} labor op {op}",
                      sku, wo_id, wc_id)
        tx.entry.pair(self.acc.wip, self.acc.applied_overhead, overhead,
                      f"{memo} overhead op {op}", sku, wo_id, wc_id)
        row = self.wos.step_row(w, s)
        self.wos.step_act_hours[row] += hours
        tx.effects.append(("step", row, hours, 0.0))
        self._wip(tx, w, labor + overhead)

    def _completion(self, ev, tx: _Tx) -> None:
        w = self._open_wo(ev.work_order, tx)
        q = self._qty(ev.qty)
        loc = self._location(ev.location)
        p = int(self.wos.item[w])
        self._backflush(tx, w, q, NO_LIMIT, "completion")
        amount = to_minor(q * float(self.std[p]), self.plant.scale)
        sku = self.plant.skus[p]
        tx.entry.pair(self.plant.inv_account[p], self.acc.wip, amount, "completion", sku,
                      ev.work_order, self.plant.wc_ids[int(self.wos.line[w])])
        self._wip(tx, w, -amount)
        self.wos.good[w] += q
        tx.effects.append(("good", w, q))
        self._stock_in(tx, p, q, amount, (sku, loc, "available", None))

    def _scrap(self, ev, tx: _Tx) -> None:
        w = self._open_wo(ev.work_order, tx)
        q = self._qty(ev.qty)
        s = self._step(w, ev.operation, ev.work_order)
        p, op = int(self.wos.item[w]), int(ev.operation)
        self._backflush(tx, w, q, op, "scrap")
        amount = to_minor(q * self.rollup.std_through_index(p, op), self.plant.scale)
        tx.entry.pair(self.acc.scrap, self.acc.wip, amount, f"scrap op {op}",
                      self.plant.skus[p], ev.work_order, self.plant.wc_ids[int(self.plant.rt_wc[s])])
        self._wip(tx, w, -amount)
        row = self.wos.step_row(w, s)
        self.wos.step_scrap[row] += q
        tx.effects.append(("step", row, 0.0, q))

    def _labor(self, ev, tx: _Tx) -> None:
        w = self._open_wo(ev.work_order, tx)
        hours = self._qty(ev.hours, "hours")
        s = self._step(w, ev.operation, ev.work_order)
        self._hours(tx, w, s, hours, "reported")

    def _issue(self, ev, tx: _Tx) -> None:
        w = self._open_wo(ev.work_order, tx)
        c = self._item(ev.item)
        q = self._qty(ev.qty)
        lot = _opt(ev, "lot")
        if _opt(ev, "location") is not None:
            loc = self._location(ev.location)
        else:
            p = int(self.wos.item[w])
            ops = [int(self.plant.bom_op[j]) for j in self.plant.bom_lines(p)
                   if self.plant.bom_comp[j] == c]
            loc = self._consume_location(w, ops[0]) if ops \
                else self.plant.wc_location[int(self.wos.line[w])]
        self.inv.draw(ev.item, loc, q, lot, tx.effects, tx.moves, tx.alerts)
        (amount,) = self._value_out(tx, [c], [q])
        tx.entry.pair(self.acc.wip, self.plant.inv_account[c], amount, "issue", ev.item,
                      ev.work_order)
        self._material(tx, w, self.wos.material_row(w, c, tx.effects), q, amount)

    def _shipment(self, ev, tx: _Tx) -> None:
        i = self._item(ev.item)
        q = self._qty(ev.qty)
        loc = self._location(ev.location)
        price = self._qty(ev.unit_price, "unit_price", zero_ok=True)
        self.inv.draw(ev.item, loc, q, _opt(ev, "lot"), tx.effects, tx.moves, tx.alerts)
        (cost,) = self._value_out(tx, [i], [q])
        memo = f"shipment {ev.order}" if _opt(ev, "order") else "shipment"
        tx.entry.pair(self.acc.cogs, self.plant.inv_account[i], cost, memo, ev.item)
        revenue = to_minor(q * price, self.plant.scale)
        tx.entry.pair(self.acc.ar, self.acc.revenue, revenue, memo, ev.item)
        if _opt(ev, "order") is not None:
            so = self.money.order(ev.order)
            self._owe(tx, ("ar_bill", so, q, revenue))
            self._owe(tx, ("so_cogs", so, 0.0, cost))

    def _count(self, ev, tx: _Tx) -> None:
        i = self._item(ev.item)
        loc = self._location(ev.location)
        status = self._status(_opt(ev, "status"))
        counted = self._qty(ev.counted_qty, "counted_qty", zero_ok=True)
        key = (ev.item, loc, status, _opt(ev, "lot"))
        diff = counted - self.inv.qty_at(key)
        if abs(diff) <= EPS:
            return
        inv = self.plant.inv_account[i]
        if diff > 0:
            amount = self._unit_cost_amount(i, diff)
            self.inv.add(i, diff, amount, tx.effects)
        else:
            (amount,) = self._value_out(tx, [i], [-diff])
            amount = -amount
        tx.entry.pair(inv, self.acc.inventory_adjustment, amount, "count", ev.item)
        self.inv.move(key, diff, tx.effects, tx.moves)

    def _transfer(self, ev, tx: _Tx) -> None:
        self._item(ev.item)
        q = self._qty(ev.qty)
        lot = _opt(ev, "lot")
        src = (ev.item, self._location(ev.from_location, "from_location"),
               self._status(_opt(ev, "from_status"), "from_status"), lot)
        dst = (ev.item, self._location(ev.to_location, "to_location"),
               self._status(_opt(ev, "to_status"), "to_status"), lot)
        if src == dst:
            raise Reject("to_location", "transfer to the same location and status")
        have = self.inv.qty_at(src)
        if have < q - EPS:
            tx.alerts.append(Alert("negative stock", f"{ev.item} at {src[1]} ({src[2]}, lot "
                                   f"{lot or '-'}): transfer of {q:g} with {have:g} on hand"))
        self.inv.move(src, -q, tx.effects, tx.moves)
        self.inv.move(dst, q, tx.effects, tx.moves)

    def _close(self, ev, tx: _Tx) -> None:
        w = self._open_wo(ev.work_order, tx)
        wos = self.wos
        selected = np.zeros(len(wos.ids), np.bool_)
        selected[w] = True
        found = [int(v[w]) for v in wos.variances(selected, self.std)]
        sku = self.plant.skus[int(wos.item[w])]
        accounts = (self.acc.material_usage_variance, self.acc.material_price_variance,
                    self.acc.labor_efficiency_variance, self.acc.overhead_efficiency_variance)
        for name, account, amount in zip(VARIANCES, accounts, found):
            # unfavourable (> 0) debits the variance account
            tx.entry.pair(account, self.acc.wip, amount, name.replace("_", " ") + " variance",
                          sku, ev.work_order)
            self._wip(tx, w, -amount)
        rest = int(wos.wip[w])
        tx.entry.pair(self.acc.rounding, self.acc.wip, rest, "close: WIP remainder", sku,
                      ev.work_order)
        self._wip(tx, w, -rest)
        # each WIP line was rounded by at most half a minor unit: more than that bound is
        # not rounding (a frozen standard, or a reversal that crossed a close)
        per_event = 2 * int(wos.step_count[w]) + len(self.plant.bom_lines(int(wos.item[w]))) + 1
        bound = (int(wos.live_count[w]) * per_event + 8) // 2 + 4
        if abs(rest) > bound:
            tx.alerts.append(Alert("rounding", f"work order {ev.work_order}: WIP remainder "
                                   f"{rest} minor units beyond rounding (frozen standard?)"))
        old = tuple(int(v[w]) for v in wos.variance)
        for col, amount in zip(wos.variance, found):
            col[w] = amount
        wos.status[w] = CLOSED
        tx.effects.append(("close", w, old))


    # -- what is owed -----------------------------------------------------------------
    def _owe(self, tx: _Tx, effect: tuple) -> None:
        self.money.apply(effect)
        tx.effects.append(effect)

    def _supplier_invoice(self, ev, tx: _Tx) -> None:
        """Three-way match: Dr GRNI with the received value of the invoiced units (the PO
        line's uninvoiced receipts, oldest first, each at its own price), Cr AP at the
        invoice price, the difference to invoice price variance."""
        self._item(ev.item)
        q = self._qty(ev.qty)
        price = self._qty(ev.unit_price, "unit_price", zero_ok=True)
        money, scale = self.money, self.plant.scale
        line = money.match(ev.po, ev.item, q, price, _opt(ev, "approved_by") is not None,
                           self.plant.decimals)
        layers = money.open_layers(line)
        inv = money.invoice(ev.invoice, _opt(ev, "supplier"))
        left, received = q, 0
        for r in layers:
            if left <= EPS:
                break
            have = float(money.rl_qty[r])
            if left >= have - EPS:
                take, value = have, int(money.rl_value[r])
            else:
                take, value = left, to_minor(left * float(money.rl_price[r]), scale)
            self._owe(tx, ("rcv", r, -take, -value))
            received += value
            left -= take
        billed = to_minor(q * price, scale)
        memo = f"invoice {ev.invoice} {ev.po}"
        tx.entry.one(self.acc.grni, received, memo, ev.item)
        tx.entry.one(self.acc.ap, -billed, memo, ev.item)
        tx.entry.one(self.acc.invoice_price_variance, billed - received,
                     "invoice price variance", ev.item)
        self._owe(tx, ("ap_bill", inv, 0.0, billed))

    def _payment(self, ev, tx: _Tx) -> None:
        amount = to_minor(self._qty(ev.amount, "amount"), self.plant.scale)
        inv = self.money.payable(ev.invoice, amount, self.plant.decimals)
        tx.entry.pair(self.acc.ap, self.acc.bank, amount, f"payment {ev.invoice}")
        self._owe(tx, ("ap_pay", inv, 0.0, amount))

    def _customer_payment(self, ev, tx: _Tx) -> None:
        amount = to_minor(self._qty(ev.amount, "amount"), self.plant.scale)
        so = self.money.receivable(ev.order, amount, self.plant.decimals)
        tx.entry.pair(self.acc.bank, self.acc.ar, amount, f"customer payment {ev.order}")
        self._owe(tx, ("ar_pay", so, 0.0, amount))


def _opt(event, name: str):
    """An optional canonical event field: absent and None mean the same."""
    return getattr(event, name, None)


def _dedupe(alerts: list[Alert]) -> tuple[Alert, ...]:
    return tuple(dict.fromkeys(alerts))

