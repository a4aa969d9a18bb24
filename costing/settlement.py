"""What is owed, as arrays: receipts not yet invoiced per PO line, supplier invoices'
billed and paid amounts, sales orders' shipped value and what the customer paid.

`Settlement(plant)` holds the state the three-way match and the payments post
against. A receipt on a known PO line opens a receipt layer (its qty and GRNI value
still uninvoiced, at its own unit price); a matched invoice line takes layers of its
PO line oldest first. Invoices and sales orders are interned by their number on first
sight. Every change is an effect (costing.effects: RCV, AP_BILL, AP_PAY, AR_BILL,
AR_PAY, SO_COGS) so a reversal negates it exactly; `refusal` says when a reversal
would leave an invoice or an order paid beyond what stays billed, or a receipt that
was invoiced. Amounts are minor units.
"""

from __future__ import annotations

import numpy as np

from costing.arrays import Column
from costing.kernels import EPS
from costing.outcome import MISMATCH, Reject

EFFECT_NAMES = ("rcv", "ap_bill", "ap_pay", "ar_bill", "ar_pay", "so_cogs")


class Settlement:
    def __init__(self, plant):
        pos = plant.master.purchase_orders
        self.line_index = {(p.po, p.sku): k for k, p in enumerate(pos)}
        self.line_key = tuple((p.po, p.sku) for p in pos)
        self.line_price = np.array([p.unit_price for p in pos], np.float64)
        self.line_head = np.full(len(pos), -1, np.int64)  # first receipt layer of the line
        self.line_tail = np.full(len(pos), -1, np.int64)
        self.tolerance_pct = float(plant.master.price_tolerance_pct)
        self.decimals = plant.decimals
        # receipt layers: what of each receipt on a PO line is not invoiced yet
        self.rl_line = Column(np.int64)
        self.rl_price = Column(np.float64)  # the receipt's unit price, major units
        self.rl_next = Column(np.int64, -1)
        self.rl_qty = Column(np.float64)
        self.rl_value = Column(np.int64)
        # supplier invoices, by number
        self.invoices: list[str] = []
        self.invoice_index: dict[str, int] = {}
        self.supplier: list[str | None] = []
        self.billed = Column(np.int64)  # credited to AP
        self.paid = Column(np.int64)  # debited to AP by payments
        # sales orders, by number
        self.orders: list[str] = []
        self.order_index: dict[str, int] = {}
        self.so_qty = Column(np.float64)  # shipped
        self.so_revenue = Column(np.int64)  # put on AR by shipments
        self.so_cogs = Column(np.int64)
        self.so_paid = Column(np.int64)  # taken off AR by customer payments

    # -- interning (at encoding; an unknown number gets a row of zeros) ------------------
    def layer(self, line: int, price: float) -> int:
        """A new, empty receipt layer at the tail of PO line `line`."""
        r = self.rl_line.append(line)
        self.rl_price.append(price)
        self.rl_next.append(-1)
        self.rl_qty.append(0.0)
        self.rl_value.append(0)
        if self.line_tail[line] == -1:
            self.line_head[line] = r
        else:
            self.rl_next[int(self.line_tail[line])] = r
        self.line_tail[line] = r
        return r

    def layers(self, lines: list[int], prices: list[float]) -> None:
        """`layer` of each (line, price) in order, column by column (a run's receipts)."""
        k = len(lines)
        if k <= 4:
            for line, price in zip(lines, prices):
                self.layer(line, price)
            return
        r0 = self.rl_line.n
        lines = np.asarray(lines, np.int64)
        for col, values in ((self.rl_line, lines), (self.rl_price, prices),
                            (self.rl_next, np.full(k, -1)), (self.rl_qty, np.zeros(k)),
                            (self.rl_value, np.zeros(k))):
            col.extend(values)
        order = np.argsort(lines, kind="stable")  # each line's new layers, oldest first
        ls, rs = lines[order], order + r0
        same = ls[1:] == ls[:-1]
        nxt = self.rl_next.buf
        nxt[rs[:-1][same]] = rs[1:][same]
        first, last = np.append(True, ~same), np.append(~same, True)
        fl, fr = ls[first], rs[first]
        tail = self.line_tail[fl]
        linked = tail != -1
        nxt[tail[linked]] = fr[linked]
        self.line_head[fl[~linked]] = fr[~linked]
        self.line_tail[ls[last]] = rs[last]

    def invoice(self, number: str, supplier: str | None = None) -> int:
        k = self.invoice_index.get(number)
        if k is None:
            k = self.invoice_index[number] = len(self.invoices)
            self.invoices.append(number)
            self.supplier.append(supplier)
            self.billed.append(0)
            self.paid.append(0)
        elif supplier is not None and self.supplier[k] is None:
            self.supplier[k] = supplier
        return k

    def order(self, number: str) -> int:
        k = self.order_index.get(number)
        if k is None:
            k = self.order_index[number] = len(self.orders)
            self.orders.append(number)
            for col in (self.so_qty, self.so_revenue, self.so_cogs, self.so_paid):
                col.append(0)
        return k

    # -- reading -----------------------------------------------------------------------
    def open_layers(self, line: int) -> list[int]:
        """The line's receipt layers with qty not yet invoiced, oldest first."""
        out, r = [], int(self.line_head[line])
        qty, nxt = self.rl_qty.buf, self.rl_next.buf
        while r != -1:
            if qty[r] > EPS:
                out.append(r)
            r = int(nxt[r])
        return out

    def uninvoiced_qty(self, line: int) -> float:
        return sum(float(self.rl_qty[r]) for r in self.open_layers(line))

    def grni_of(self, line: int) -> int:
        """GRNI still open on the PO line: its receipts' uninvoiced value."""
        r, total = int(self.line_head[line]), 0
        while r != -1:
            total += int(self.rl_value[r])
            r = int(self.rl_next[r])
        return total

    # -- the checks: what must hold before an invoice line or a payment posts ---------
    def match(self, po: str, sku: str, qty: float, price: float, approved: bool,
              decimals: int) -> int:
        """The PO line an invoice line matches (three-way: PO line, receipts, price), or
        Reject held as `invoice_mismatch`, naming the cause and the figures. A price
        outside the tolerance matches once `approved`; a quantity never does."""
        k = self.line_index.get((po, sku))
        if k is None:
            raise Reject("po", f"{po} has no line for {sku}", MISMATCH)
        have = self.uninvoiced_qty(k)
        if qty > have + EPS:
            raise Reject("qty", f"qty {qty:g} > {have:g} received and not invoiced on {po}"
                         f" {sku}", MISMATCH)
        base = float(self.line_price[k])
        pct = abs(price - base) / base * 100.0 if base > 0 else (0.0 if price == base
                                                                  else float("inf"))
        if pct > self.tolerance_pct + 1e-9 and not approved:
            side = "over" if price > base else "under"
            raise Reject("unit_price", f"price {_price(price, decimals)} is {pct:.2f} % {side} "
                         f"{po}'s {_price(base, decimals)} (tolerance {self.tolerance_pct:g} %)",
                         MISMATCH)
        return k

    def payable(self, number: str, amount: int, decimals: int) -> int:
        """The invoice a payment of `amount` (minor units) pays, or Reject."""
        k = self.invoice_index.get(number)
        if k is None:
            raise Reject("invoice", f"unknown invoice {number!r}")
        _within(amount, int(self.billed[k]) - int(self.paid[k]),
                f"invoice {number}'s open balance", decimals)
        return k

    def receivable(self, number: str, amount: int, decimals: int) -> int:
        """The sales order a customer payment of `amount` settles, or Reject."""
        k = self.order_index.get(number)
        if k is None:
            raise Reject("order", f"unknown sales order {number!r}")
        _within(amount, int(self.so_revenue[k]) - int(self.so_paid[k]),
                f"order {number}'s open AR", decimals)
        return k

    # -- effects -----------------------------------------------------------------------
    def apply(self, effect: tuple) -> None:
        """Do one effect (name, a, x, v): the reference engine's way to change state."""
        self._change(effect, 1)

    def undo(self, effect: tuple) -> None:
        self._change(effect, -1)

    def _change(self, effect: tuple, sign: int) -> None:
        name, a, x, v = effect
        if name == "rcv":
            self.rl_qty[a] += sign * x
            self.rl_value[a] += sign * v
        elif name == "ap_bill":
            self.billed[a] += sign * v
        elif name == "ap_pay":
            self.paid[a] += sign * v
        elif name == "ar_bill":
            self.so_qty[a] += sign * x
            self.so_revenue[a] += sign * v
        elif name == "ar_pay":
            self.so_paid[a] += sign * v
        elif name == "so_cogs":
            self.so_cogs[a] += sign * v

    def refusal(self, effects) -> str | None:
        """Why undoing `effects` ((name, a, x, v), of one event) must be refused, or None:
        it would leave a receipt invoiced beyond what it received, or an invoice or an
        order paid beyond what stays billed."""
        for name, a, x, v in effects:
            if name == "rcv" and x > 0 and float(self.rl_qty[a]) < x - EPS:
                return "it was invoiced since; reverse the invoice first"
            if name == "ap_bill" and int(self.billed[a]) - v < int(self.paid[a]):
                return (f"invoice {self.invoices[a]} is paid {self._major(self.paid[a])};"
                        " reverse the payment first")
            if name == "ar_bill" and int(self.so_revenue[a]) - v < int(self.so_paid[a]):
                return (f"order {self.orders[a]} is paid {self._major(self.so_paid[a])};"
                        " reverse the customer payment first")
        return None

    def _major(self, minor) -> str:
        return f"{int(minor) / 10 ** self.decimals:.{self.decimals}f}"

    def state(self) -> tuple:
        """Everything observable, for replay and reversal comparisons."""
        # rows left at zero (a reversed receipt's layer, a number seen only by events
        # since reversed) are not observable: left out
        layers = tuple((r, q, v) for r, (q, v) in enumerate(zip(
            self.rl_qty.a.tolist(), self.rl_value.a.tolist())) if abs(q) > EPS or v)
        invoices = tuple(row for row in zip(self.invoices, self.billed.a.tolist(),
                                            self.paid.a.tolist()) if any(row[1:]))
        orders = tuple(row for row in zip(self.orders, self.so_qty.a.tolist(),
                                          self.so_revenue.a.tolist(), self.so_cogs.a.tolist(),
                                          self.so_paid.a.tolist()) if any(row[1:]))
        return layers, invoices, orders


def _within(amount: int, open_: int, what: str, decimals: int) -> None:
    if amount > open_:
        d = 10 ** decimals
        raise Reject("amount", f"{amount / d:.{decimals}f} is more than {what} "
                     f"{open_ / d:.{decimals}f}")


def _price(value: float, decimals: int) -> str:
    """A unit price to the currency's decimals, or to its own last digit when finer (a
    0.048 PO price shown as 0.05 would hide the very difference being reported)."""
    return f"{value:.{decimals}f}" if round(value, decimals) == value else f"{value:g}"
