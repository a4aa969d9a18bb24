"""Encoding a run: each event checked and interned into the int and float columns of
costing.batch_columns.Events, by the encoder of its type.

`RunEncoder` is the encoding half of costing.batch.BatchPath (which holds the run
being built: `ints`, `floats`, `closing`, `reversals`, ... and the caches the encoders
fill). An encoder refuses a bad event with `Reject` (the field and the reason the
engine reports), or raises `NotInRun` when the run itself is in the way; either way the
event is then taken alone after the run before it.
"""

from __future__ import annotations

import math

import numpy as np

from costing import batch_columns as bc
from costing.effects import CLOSE, KIND_NAMES, MAT_NEW, MONEY_KINDS, WO_NEW
from costing.money import to_minor
from costing.outcome import Reject
from costing.workorders import OPEN

_TYPE = {"receipt": bc.RECEIPT, "issue": bc.ISSUE, "wo_release": bc.RELEASE,
         "completion": bc.COMPLETION, "scrap": bc.SCRAP, "labor": bc.LABOR,
         "shipment": bc.SHIPMENT, "count": bc.COUNT, "transfer": bc.TRANSFER,
         "wo_close": bc.CLOSE_WO, "supplier_invoice": bc.SUPPLIER_INVOICE,
         "payment": bc.PAYMENT, "customer_payment": bc.CUSTOMER_PAYMENT, "wo_start": bc.WO_START}
# targets a reversal in a run cannot have: they change the orders' tables (or are one)
_NOT_IN_RUN = (bc.RELEASE, bc.CLOSE_WO, bc.REVERSAL)
_STRUCTURAL_CODES = frozenset((MAT_NEW, WO_NEW, CLOSE))
_ENC_NAME = {bc.RECEIPT: "receipt", bc.ISSUE: "issue", bc.RELEASE: "release",
             bc.COMPLETION: "completion", bc.SCRAP: "scrap", bc.LABOR: "labor",
             bc.SHIPMENT: "shipment", bc.COUNT: "count", bc.TRANSFER: "transfer",
             bc.CLOSE_WO: "close", bc.SUPPLIER_INVOICE: "supplier_invoice",
             bc.PAYMENT: "payment", bc.CUSTOMER_PAYMENT: "customer_payment",
             bc.WO_START: "start"}


class NotInRun(Exception):
    """Not in this run: the event is taken alone after the run before it (`_one`)."""


class RunEncoder:
    """The encoders of BatchPath, one per event type (`_enc_<type>`), and their lookups."""

    # Each event is validated and interned into the run's columns by the encoder of its
    # type, or raises: Reject (field and reason, as `_one` reports it), or NotInRun when
    # the run itself is in the way (an order closing in it, a reversal the kernel cannot
    # do), and the event goes through `_one` after the run before it. The encoder is
    # found once per class (`type` of a struct is a property of its class): one dict
    # lookup per event to dispatch. Encoders read only their fields and cache what master data and the
    # orders' fixed columns answer (item, line, steps, BOM rows, memo ids); the
    # frequent ones are written out inline.
    def _encoder_of(self, ev):
        t = ev.type
        if t == "reversal":
            enc = self._enc_reversal
        else:
            code = _TYPE.get(t)
            if code is None:
                raise Reject("type", f"unknown event type {t!r}")
            enc = getattr(self, "_enc_" + _ENC_NAME[code])
        cls = ev.__class__
        # cached by class only where the type is the class's, a tagged struct's tag;
        # never for a class whose instances carry their own
        if getattr(getattr(cls, "__struct_config__", None), "tag", None) == t:
            self._by_class[cls] = enc
        return enc

    def _row(self, key) -> int:
        r = self._row_index.get(key)
        return self.engine.inv.row(key) if r is None else r

    def _memo(self, kind: str, ref) -> int:
        key = (kind, ref)
        m = self._memo_ids.get(key)
        if m is None:
            text = f"{kind} {ref}" if ref else kind
            m = self._memo_ids[key] = self.engine.ledger.name_id(text)
        return m

    def _wo(self, wo_id) -> tuple[int, int, int]:
        """(order, its item, its line) of an open order not closing in the run."""
        w = self._wo_index.get(wo_id)
        if w is None:
            raise Reject("work_order", f"unknown work order {wo_id!r}")
        if self._wo_status.buf[w] != OPEN:
            raise Reject("work_order", f"work order {wo_id} is closed")
        if w in self.closing:
            raise NotInRun
        info = self._wo_info.get(w)
        if info is None:
            wos = self.engine.wos
            info = self._wo_info[w] = (w, int(wos.item[w]), int(wos.line[w]))
        return info

    def _step_of(self, p: int, op, wo_id) -> int:
        key = (p, op)
        s = self._steps.get(key)
        if s is None:
            s = self.engine.plant.step_of(p, int(op))
            if s is None:
                raise Reject("operation", f"work order {wo_id} has no operation {op}")
            self._steps[key] = s
        return s

    def _enc_reversal(self, ev) -> None:
        self._reversal(str(ev.reverses))

    def _item_qty(self, ev) -> tuple:
        """(sku, item, qty) of a receipt, shipment or issue, checked in that order."""
        sku = ev.item
        item = self._item_index.get(sku)
        if item is None:
            raise Reject("item", f"unknown item {sku!r}")
        q = ev.qty
        if type(q) is not float or not 0.0 < q < math.inf:
            q = _qty(q)
        return sku, item, q

    def _price_memo(self, ev, kind: str, ref) -> tuple[float, int]:
        """The unit price of a receipt or shipment, checked, and its memo id."""
        price = ev.unit_price
        if type(price) is not float or not 0.0 < price < math.inf:
            price = _qty(price, zero_ok=True, name="unit_price")
        memo = self._memo_ids.get((kind, ref))
        return price, self._memo(kind, ref) if memo is None else memo

    def _enc_receipt(self, ev) -> None:
        sku, item, q = self._item_qty(ev)
        loc = ev.location
        if loc not in self._locations:
            self._loc(loc)
        status = getattr(ev, "status", None)
        key = (sku, loc, "available" if status is None else self._status(ev),
               getattr(ev, "lot", None))
        po = getattr(ev, "po", None)
        price, memo = self._price_memo(ev, "receipt", po)
        row = self._row_index.get(key)
        if row is None:
            row = self.engine.inv.row(key)
        layer = -1
        if po is not None:
            line = self._po_lines.get((po, sku))
            if line is not None:  # its receipt layer, made at the flush (Settlement.layers)
                layer = self.engine.money.rl_line.n + len(self.layer_lines)
                self.layer_lines.append(line)
                self.layer_prices.append(price)
        self.ints.append((bc.RECEIPT, item, -1, row, layer, -1, memo, -1, -1, -1))
        self.floats.append((q, price, 0.0))

    def _enc_issue(self, ev) -> None:
        wo, _, _ = self._wo(ev.work_order)
        sku, item, q = self._item_qty(ev)
        lot = getattr(ev, "lot", None)
        loc = getattr(ev, "location", None)
        loc = self._loc(loc) if loc is not None else self._issue_location(wo, item)
        row, group = self._drawn(sku, loc, lot)
        step, flag = self._material_row(wo, item)
        self.ints.append((bc.ISSUE, item, wo, row, -1, group, -1, step, -1, flag))
        self.floats.append((q, 0.0, 0.0))

    def _enc_release(self, ev) -> None:
        wos, pl = self.engine.wos, self.engine.plant
        if ev.work_order in self._wo_index:
            raise Reject("work_order", f"work order {ev.work_order} already exists")
        p = self._item(ev.item)
        if not pl.manufactured[p]:
            raise Reject("item", f"item {ev.item!r} has no BOM or routing")
        line = pl.wc_index.get(ev.line)
        if line is None:
            raise Reject("line", f"unknown work center {ev.line!r}")
        q = _qty(ev.qty)
        so = getattr(ev, "order", None)
        so = -1 if so is None else self.engine.money.order(so)
        wo = wos.create(ev.work_order, p, line, q, so)
        self.ints.append((bc.RELEASE, -1, wo, -1, -1, -1, -1, -1, -1, -1))
        self.floats.append((0.0, 0.0, 0.0))

    def _enc_completion(self, ev) -> None:
        wo = self._wo_index.get(ev.work_order)
        if wo is None or self._wo_status.buf[wo] != OPEN or wo in self.closing:
            self._wo(ev.work_order)  # raises
        info = self._wo_info.get(wo) or self._wo(ev.work_order)
        q = ev.qty
        if type(q) is not float or not 0.0 < q < math.inf:
            q = _qty(q)
        loc = ev.location
        if loc not in self._locations:
            self._loc(loc)
        key = (self._skus[info[1]], loc, "available", None)
        row = self._row_index.get(key)
        if row is None:
            row = self.engine.inv.row(key)
        bf = self.bf_start
        if wo >= bf.n or bf.buf[wo] == -1:
            self._backflush_rows(wo)
        self.ints.append((bc.COMPLETION, -1, wo, row, -1, -1, -1, -1, -1, -1))
        self.floats.append((q, 0.0, 0.0))

    def _enc_scrap(self, ev) -> None:
        wo, p, _ = self._wo(ev.work_order)
        q = _qty(ev.qty)
        op = ev.operation
        s = self._step_of(p, op, ev.work_order)
        op = int(op)
        aux = self._std_through.get((p, op))
        if aux is None:
            aux = self._std_through[(p, op)] = self.engine.rollup.std_through_index(p, op)
        if wo >= self.bf_start.n or self.bf_start.buf[wo] == -1:
            self._backflush_rows(wo)
        self.ints.append((bc.SCRAP, -1, wo, -1, -1, -1, -1, s, op, -1))
        self.floats.append((q, 0.0, aux))

    def _enc_labor(self, ev) -> None:
        wo = self._wo_index.get(ev.work_order)
        if wo is None or self._wo_status.buf[wo] != OPEN or wo in self.closing:
            self._wo(ev.work_order)  # raises
        info = self._wo_info.get(wo) or self._wo(ev.work_order)
        q = ev.hours
        if type(q) is not float or not 0.0 < q < math.inf:
            q = _qty(q, name="hours")
        s = self._steps.get((info[1], ev.operation))
        if s is None:
            s = self._step_of(info[1], ev.operation, ev.work_order)
        self.ints.append((bc.LABOR, -1, wo, -1, -1, -1, -1, s, -1, -1))
        self.floats.append((q, 0.0, 0.0))

    def _enc_shipment(self, ev) -> None:
        sku, item, q = self._item_qty(ev)
        loc = ev.location
        if loc not in self._locations:
            self._loc(loc)
        order = getattr(ev, "order", None)
        price, memo = self._price_memo(ev, "shipment", order)
        lot = getattr(ev, "lot", None)
        row, group = self._drawn(sku, loc, lot)
        so = -1 if order is None else self.engine.money.order(order)
        self.ints.append((bc.SHIPMENT, item, -1, row, so, group, memo, -1, -1, -1))
        self.floats.append((q, price, 0.0))

    def _enc_count(self, ev) -> None:
        item = self._item(ev.item)
        loc = self._loc(ev.location)
        status = self._status(ev)
        q = _qty(ev.counted_qty, zero_ok=True, name="counted_qty")
        row = self._row((ev.item, loc, status, _lot(ev)))
        self.ints.append((bc.COUNT, item, -1, row, -1, -1, -1, -1, -1, -1))
        self.floats.append((q, 0.0, 0.0))

    def _enc_transfer(self, ev) -> None:
        item = self._item(ev.item)
        q = _qty(ev.qty)
        lot = _lot(ev)
        src = (ev.item, self._loc(ev.from_location, "from_location"),
               self._status(ev, "from_status"), lot)
        dst = (ev.item, self._loc(ev.to_location, "to_location"),
               self._status(ev, "to_status"), lot)
        if src == dst:
            raise Reject("to_location", "transfer to the same location and status")
        row = self._row(src)
        row2 = self._row(dst)
        self.ints.append((bc.TRANSFER, item, -1, row, row2, -1, -1, -1, -1, -1))
        self.floats.append((q, 0.0, 0.0))

    def _enc_close(self, ev) -> None:
        wo, _, _ = self._wo(ev.work_order)
        extra = self.engine.wos.extra_of.get(wo, ())
        op, flag = self.xrows.n, len(extra)
        self.xrows.extend(extra)
        self.closing.add(wo)
        self.ints.append((bc.CLOSE_WO, -1, wo, -1, -1, -1, -1, -1, op, flag))
        self.floats.append((0.0, 0.0, 0.0))

    def _enc_start(self, ev) -> None:
        # Which line runs the order is the gateway's to keep; the books only check that
        # the order is open. The kernel has no branch for it: no effect, no line.
        self._wo(ev.work_order)
        self.ints.append((bc.WO_START, -1, -1, -1, -1, -1, -1, -1, -1, -1))
        self.floats.append((0.0, 0.0, 0.0))

    def _money(self) -> None:
        """A money event checks against the engine's state as it stands: it opens a run
        (one before it is flushed first) and no reversal of a money target follows it."""
        if self.ints:
            raise NotInRun
        self.money_in_run = True

    def _enc_supplier_invoice(self, ev) -> None:
        self._money()
        eng = self.engine
        item = self._item(ev.item)
        q = _qty(ev.qty)
        price = _qty(ev.unit_price, zero_ok=True, name="unit_price")
        line = eng.money.match(ev.po, ev.item, q, price, ev.approved_by is not None,
                               eng.plant.decimals)
        takes = len(eng.money.open_layers(line))
        inv = eng.money.invoice(ev.invoice, ev.supplier)
        memo = self._memo("invoice", f"{ev.invoice} {ev.po}")
        self.ints.append((bc.SUPPLIER_INVOICE, item, -1, line, inv, -1, memo, takes, -1, -1))
        self.floats.append((q, price, 0.0))

    def _enc_payment(self, ev) -> None:
        self._money()
        eng = self.engine
        amount = _qty(ev.amount, name="amount")
        inv = eng.money.payable(ev.invoice, to_minor(amount, eng.plant.scale),
                                eng.plant.decimals)
        memo = self._memo("payment", ev.invoice)
        self.ints.append((bc.PAYMENT, -1, -1, -1, inv, -1, memo, -1, -1, -1))
        self.floats.append((amount, 0.0, 0.0))

    def _enc_customer_payment(self, ev) -> None:
        self._money()
        eng = self.engine
        amount = _qty(ev.amount, name="amount")
        so = eng.money.receivable(ev.order, to_minor(amount, eng.plant.scale),
                                  eng.plant.decimals)
        memo = self._memo("customer payment", ev.order)
        self.ints.append((bc.CUSTOMER_PAYMENT, -1, -1, so, -1, -1, memo, -1, -1, -1))
        self.floats.append((amount, 0.0, 0.0))

    def _drawn(self, sku, loc, lot) -> tuple[int, int]:
        """The available stock row an issue or shipment draws from, and the lot chain
        drawn after it (-1 when a lot is named)."""
        key = (sku, loc, "available", lot)
        row = self._row_index.get(key)
        if row is None:
            row = self.engine.inv.row(key)
        if lot is not None:
            return row, -1
        group = self._group_index.get((sku, loc))
        return row, self.engine.inv.group(sku, loc) if group is None else group

    def _reversal(self, target: str) -> None:
        """A reversal the kernel can do: of an event accepted before (read back here) or
        earlier in the run; not of an order's release or close, nor of an issue that made
        a material row (those change the orders' tables: the per-event path does them)."""
        eng, recs = self.engine, self.engine.records
        if self._run_of is not None:
            self._sync_pending()
        j = self.pending_ids.get(target, -1)
        past = None
        if j != -1:
            tt, _, w = self.ints[j][:3]
            if j in self.reversed_pending or tt in _NOT_IN_RUN or tt == bc.ISSUE and \
                    self.ints[j][9]:
                raise NotInRun
            k = -1
        else:
            k = recs.get(target)
            if k is None or k in recs.reversed or k in self.reversed_here:
                raise NotInRun
            tt = int(recs.type[k])
            if tt in _NOT_IN_RUN:
                raise NotInRun
            w = int(recs.wo[k])
            e0, e1, l0, l1 = recs.ranges(k)
            log = eng.effects
            kind, a, x, v, y = (c.read(e0, e1) for c in log.columns())
            kinds = kind.tolist()
            if not _STRUCTURAL_CODES.isdisjoint(kinds):
                raise NotInRun
            if not MONEY_KINDS.isdisjoint(kinds):
                # what is owed may refuse it (Engine.reverse says why); after a money
                # event in this run, the engine's state is not the run's
                owed = [(KIND_NAMES[c], aa, xx, vv) for c, aa, xx, vv in zip(
                    kinds, a.tolist(), x.tolist(), v.tolist()) if c in MONEY_KINDS]
                if self.money_in_run or eng.money.refusal(owed) is not None:
                    raise NotInRun
            lines = eng.ledger.line_block(l0, l1)
            past = (np.array([kind, a, v], np.int64), np.array([x, y]), lines)
        if w != -1 and (eng.wos.status[w] != OPEN or w in self.closing):
            raise NotInRun
        row = row2 = group = memo = 0
        if past is not None:
            self.past.append(past)
            row, group = self.past_eff, self.past_line
            self.past_eff += past[0].shape[1]
            self.past_line += past[2].shape[1]
            row2, memo = self.past_eff, self.past_line
            self.reversed_here.add(k)
        else:
            self.reversed_pending.add(j)
        self.reversals[len(self.ints)] = (target, k, j)
        self.ints.append((bc.REVERSAL, -1, -1, row, row2, group, memo, j, w,
                          1 if past is None else 0))
        self.floats.append((0.0, 0.0, 0.0))

    def _item(self, sku, name: str = "item") -> int:
        i = self._item_index.get(sku)
        if i is None:
            raise Reject(name, f"unknown item {sku!r}")
        return i

    def _loc(self, loc, name: str = "location") -> str:
        if loc not in self._locations:
            raise Reject(name, f"unknown location {loc!r}")
        return loc

    def _status(self, ev, name: str = "status") -> str:
        status = getattr(ev, name, None)
        if status is None:
            return "available"
        if status not in self._statuses:
            raise Reject(name, f"unknown status {status!r}")
        return status

    def _issue_location(self, w: int, c: int) -> str:
        """Engine._issue's location when none is given: where the BOM consumes c."""
        pl = self.engine.plant
        _, p, line = self._wo_info[w]  # the caller checked the order (_wo)
        loc = self._issue_loc.get((p, line, c))
        if loc is None:
            j = self._first_lines(p).get(c, -1)
            wc = line
            if j != -1:
                s = pl.step_of(p, int(pl.bom_op[j]))
                wc = int(pl.rt_wc[s]) if s is not None else line
            loc = self._issue_loc[(p, line, c)] = pl.wc_location[wc]
        return loc

    def _first_lines(self, p: int) -> dict[int, int]:
        """Component -> the first BOM line of p using it (read once per parent)."""
        first = self._bom_first.get(p)
        if first is None:
            pl = self.engine.plant
            lo, hi = int(pl.bom_ptr[p]), int(pl.bom_ptr[p + 1])
            first = {}
            for j, c in zip(range(lo, hi), pl.bom_comp[lo:hi].tolist()):
                first.setdefault(c, j)
            self._bom_first[p] = first
        return first

    def _material_row(self, w: int, c: int) -> tuple[int, int]:
        """(row, 1 if this issue creates it): WorkOrders.material_row, effect deferred."""
        r = self._mat_rows.get((w, c))
        if r is not None:
            return r, 0
        wos, pl = self.engine.wos, self.engine.plant
        _, p, _ = self._wo_info[w]
        j = self._first_lines(p).get(c, -1)
        if j != -1:  # a BOM line's row: fixed for the order's life
            r = self._mat_rows[(w, c)] = int(wos.mat_start[w]) - int(pl.bom_ptr[p]) + j
            return r, 0
        r = wos.extra_rows.get((w, c))
        if r is not None:
            return r, 0
        return wos.extra_row(w, c), 1  # not in the BOM (checked above)

    def _backflush_rows(self, w: int) -> None:
        """Stock rows and lot chains each BOM line of order w draws from (once per order)."""
        while self.bf_start.n <= w:
            self.bf_start.append(-1)
        if self.bf_start[w] != -1:
            return
        pl, eng = self.engine.plant, self.engine
        p, line = int(eng.wos.item[w]), int(eng.wos.line[w])
        start = self._bf_block.get((p, line))
        if start is None:
            start = self._bf_block[(p, line)] = self.bf_row.n
            for j in pl.bom_lines(p):
                c = int(pl.bom_comp[j])
                s = pl.step_of(p, int(pl.bom_op[j]))
                loc = pl.wc_location[int(pl.rt_wc[s]) if s is not None else line]
                self.bf_row.append(eng.inv.row((pl.skus[c], loc, "available", None)))
                self.bf_group.append(eng.inv.group(pl.skus[c], loc))
        self.bf_start[w] = start



def _qty(q, zero_ok: bool = False, name: str = "qty") -> float:
    """A quantity, price or hours: a finite number > 0 (>= 0 with `zero_ok`)."""
    if type(q) is float and 0.0 < q < math.inf:  # the usual case (NaN fails the test)
        return q
    try:
        q = float(q)
    except (TypeError, ValueError):
        raise Reject(name, f"not a number (got {q!r})") from None
    if not math.isfinite(q) or q < 0 or (q == 0 and not zero_ok):
        raise Reject(name, f"must be {'>=' if zero_ok else '>'} 0 (got {q!r})")
    return q


def _lot(ev):
    return getattr(ev, "lot", None)
