"""hypothesis strategies: random small plants and random event streams for them."""

from __future__ import annotations

from hypothesis import strategies as st

from costing.master import (BomLine, Item, Location, MasterData, PurchaseOrderLine,
                            RoutingStep, WorkCenter)
from gateway.events import (Completion, Count, CustomerPayment, Issue, Labor, Payment,
                            Receipt, Reversal, Scrap, Shipment, SupplierInvoice, Transfer,
                            WoClose, WoRelease)
from tests.costing.toy_plant import ACCOUNTS

LOCATIONS = ("STORES", "LINE-A", "LINE-B", "FG")
METHODS = ("standard", "average", "fifo")


def amounts(lo: int, hi: int, places: int) -> st.SearchStrategy[float]:
    return st.integers(lo, hi).map(lambda x: x / 10 ** places)


@st.composite
def masters(draw) -> MasterData:
    n_wc = draw(st.integers(1, 3))
    work_centers = tuple(
        WorkCenter(f"WC{k}", draw(amounts(0, 9000, 2)), draw(amounts(0, 5000, 2)),
                   draw(st.sampled_from(("backflush", "reported"))),
                   draw(st.sampled_from(LOCATIONS)))
        for k in range(n_wc))
    items, boms, routings = [], [], []
    for k in range(draw(st.integers(1, 4))):
        items.append(Item(f"R{k}", "raw", "ea", "raw", draw(st.sampled_from(METHODS)),
                          draw(amounts(1, 50000, 3))))
    for k in range(draw(st.integers(1, 3))):
        sku = f"M{k}"
        ops = sorted(draw(st.sets(st.sampled_from((10, 20, 30)), min_size=1, max_size=3)))
        for op in ops:
            routings.append(RoutingStep(sku, op, f"WC{draw(st.integers(0, n_wc - 1))}",
                                        draw(amounts(0, 200, 2)), draw(amounts(0, 100, 3))))
        for c in draw(st.lists(st.sampled_from([it.sku for it in items]), min_size=1,
                               max_size=3, unique=True)):
            boms.append(BomLine(sku, c, draw(amounts(1, 5000, 3)), draw(amounts(0, 100, 1)),
                                draw(st.sampled_from(("backflush", "issue"))),
                                draw(st.sampled_from(ops))))
        given = draw(st.none() | amounts(1, 100000, 2))
        items.append(Item(sku, "made", "ea", draw(st.sampled_from(("semi", "finished"))),
                          draw(st.sampled_from(METHODS)), given,
                          lot_size=float(draw(st.integers(1, 50)))))
    locations = tuple(Location(x, "stores") for x in LOCATIONS + ("QA",))
    raw = [it.sku for it in items if it.kind == "raw"]
    pos = tuple(PurchaseOrderLine(f"PO-{k}", sku, draw(amounts(0, 50000, 3)))
                for k in range(draw(st.integers(0, 3)))
                for sku in draw(st.lists(st.sampled_from(raw), min_size=1, max_size=2,
                                         unique=True)))
    return MasterData(tuple(items), tuple(boms), tuple(routings), work_centers, locations,
                      pos, ACCOUNTS, currency_decimals=draw(st.sampled_from((2, 2, 0, 3))),
                      price_tolerance_pct=draw(st.sampled_from((2.0, 0.0, 10.0))))


def _qty() -> st.SearchStrategy[float]:
    return amounts(1, 3000, 2)


@st.composite
def event_streams(draw, master: MasterData, max_size: int = 40) -> list:
    raw = [it.sku for it in master.items]
    made = sorted({b.parent for b in master.boms} | {r.parent for r in master.routings})
    wcs = [wc.id for wc in master.work_centers]
    released: list[tuple[str, list[int]]] = []  # (work order, its operations)
    routing_ops = {p: sorted(r.operation for r in master.routings if r.parent == p)
                   for p in made}
    loc = st.sampled_from(LOCATIONS)
    lot = st.sampled_from((None, None, "L1", "L2"))
    status = st.sampled_from((None, None, "available", "quality"))
    po_lines = [(p.po, p.sku, p.unit_price) for p in master.purchase_orders]
    po = st.sampled_from([None, "PO-9"] + [p for p, _, _ in po_lines])
    sales_order = st.sampled_from((None, "SO-0", "SO-1"))
    invoice = st.sampled_from(("INV-0", "INV-1", "INV-2"))
    money_kinds = ("invoice", "invoice", "payment", "customer_payment") if po_lines else (
        "customer_payment",)
    events = []
    for k in range(draw(st.integers(1, max_size))):
        eid, ts = f"e{k}", "2026-11-20T08:00:00Z"
        kind = draw(st.sampled_from((
            "receipt", "receipt", "receipt", "release", "completion", "completion", "scrap",
            "labor", "issue", "shipment", "count", "transfer", "close", "reversal",
            "reversal", "money", "money", "money")))
        if kind == "money":
            kind = draw(st.sampled_from(money_kinds))
        wo_kinds = ("completion", "scrap", "labor", "issue", "close")
        if not released and kind in wo_kinds and draw(st.integers(0, 4)) > 0:
            kind = "release"  # most streams should have an order to work on
        if released and draw(st.integers(0, 9)) > 0:
            wo, wo_ops = draw(st.sampled_from(released))
        else:
            wo, wo_ops = f"WO-{draw(st.integers(0, 3))}", []
        op = draw(st.sampled_from(wo_ops + [10, 40] if wo_ops else [10, 40]))
        if kind == "receipt":
            sku = draw(st.sampled_from(raw))
            ours = [p for p, s, _ in po_lines if s == sku]
            e = Receipt(id=eid, ts=ts, item=sku, qty=draw(_qty()),
                        location=draw(loc), unit_price=draw(amounts(0, 50000, 3)),
                        lot=draw(lot), status=draw(status),
                        po=draw(st.sampled_from(ours) if ours and draw(st.booleans())
                                else po))
        elif kind == "release":
            item = draw(st.sampled_from(made))
            wo = f"WO-{len(released)}" if draw(st.integers(0, 5)) else wo
            e = WoRelease(id=eid, ts=ts, work_order=wo, item=item,
                          qty=draw(_qty()), line=draw(st.sampled_from(wcs)),
                          order=draw(sales_order))
            released.append((wo, routing_ops[item]))
        elif kind == "completion":
            e = Completion(id=eid, ts=ts, work_order=wo, qty=draw(_qty()), location=draw(loc))
        elif kind == "scrap":
            e = Scrap(id=eid, ts=ts, work_order=wo, qty=draw(_qty()), operation=op)
        elif kind == "labor":
            e = Labor(id=eid, ts=ts, work_order=wo, operation=op,
                      hours=draw(amounts(1, 2000, 2)))
        elif kind == "issue":
            e = Issue(id=eid, ts=ts, work_order=wo, item=draw(st.sampled_from(raw)),
                      qty=draw(_qty()), location=draw(st.none() | loc), lot=draw(lot))
        elif kind == "shipment":
            e = Shipment(id=eid, ts=ts, item=draw(st.sampled_from(raw)), qty=draw(_qty()),
                         location=draw(loc), unit_price=draw(amounts(0, 90000, 2)),
                         lot=draw(lot), order=draw(sales_order))
        elif kind == "count":
            e = Count(id=eid, ts=ts, item=draw(st.sampled_from(raw)), location=draw(loc),
                      counted_qty=draw(amounts(0, 3000, 2)), lot=draw(lot),
                      status=draw(status))
        elif kind == "transfer":
            e = Transfer(id=eid, ts=ts, item=draw(st.sampled_from(raw)), qty=draw(_qty()),
                         from_location=draw(loc), to_location=draw(loc),
                         from_status=draw(status), to_status=draw(status), lot=draw(lot))
        elif kind == "close":
            e = WoClose(id=eid, ts=ts, work_order=wo)
        elif kind == "invoice":
            p, sku, base = draw(st.sampled_from(po_lines))
            if draw(st.integers(0, 5)) == 0:  # the wrong item for that PO line
                sku = draw(st.sampled_from(raw))
            off = draw(st.sampled_from((0.0, 0.0, 0.01, -0.015, 0.05, -0.3)))
            e = SupplierInvoice(id=eid, ts=ts, invoice=draw(invoice), po=p, item=sku,
                                qty=draw(amounts(1, 600, 2)),
                                unit_price=round(base * (1 + off), 3),
                                supplier=draw(st.sampled_from((None, "ACME"))),
                                approved_by=draw(st.sampled_from((None, None, "ctl"))))
        elif kind == "payment":
            e = Payment(id=eid, ts=ts, invoice=draw(invoice), amount=draw(amounts(1, 500, 2)))
        elif kind == "customer_payment":
            e = CustomerPayment(id=eid, ts=ts, order=draw(st.sampled_from(("SO-0", "SO-1"))),
                                amount=draw(amounts(1, 20000, 2)))
        else:
            target = draw(st.integers(0, max(k - 1, 0)))
            e = Reversal(id=eid, ts=ts, reverses=f"e{target}")
        events.append(e)
    return events
