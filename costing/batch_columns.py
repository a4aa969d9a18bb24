"""The batch kernel's inputs and outputs: event and alert codes, and the typed
NamedTuples of numpy arrays `run_batch` takes (costing.batch_kernel).

Each field's meaning is written beside it; costing.batch builds these from the
engine's state and reads back what the kernel wrote.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# event type codes of the encoded stream (those of costing.effects.EVENT_TYPES)
RECEIPT, ISSUE, RELEASE, COMPLETION, SCRAP, LABOR, SHIPMENT, COUNT, TRANSFER, CLOSE_WO, \
    REVERSAL, SUPPLIER_INVOICE, PAYMENT, CUSTOMER_PAYMENT, WO_START = range(15)
# alert kinds: valued beyond stock, drawn short, transfer short, close remainder
A_VALUE, A_DRAW, A_TRANSFER, A_ROUNDING = range(4)
# account roles (order of costing.master.Accounts.ROLES) and fixed memos
(R_WIP, R_GRNI, R_PPV, R_MUV, R_MPV, R_LEV, R_OEV, R_LAB, R_OVH, R_SCRAP, R_COGS, R_REV,
 R_AR, R_ADJ, R_ROUND, R_AP, R_BANK, R_IPV) = range(18)
FIXED_MEMOS = ("rounding", "purchase price variance", "issue", "completion: backflush",
               "scrap: backflush", "completion", "count", "material usage variance",
               "material price variance", "labor efficiency variance",
               "overhead efficiency variance", "close: WIP remainder",
               "invoice price variance")
(M_ROUND, M_PPV, M_ISSUE, M_COMPLETION_BF, M_SCRAP_BF, M_COMPLETION, M_COUNT, M_MUV, M_MPV,
 M_LEV, M_OEV, M_REST, M_IPV) = range(13)
HOURS_PREFIX = ("completion: backflush", "scrap: backflush", "reported")
NO_LIMIT = np.int64(2 ** 63 - 1)
# counters in ctr
C_EFF, C_LINE, C_ALERT, C_LAYER, C_CREATED, C_BAD, C_BAD_END = range(7)
N_COUNTERS = 7  # C_BAD: 1 + the event whose entry did not balance (0: none)

I64 = np.ndarray  # int64 (bool for flags), one value per row
F64 = np.ndarray  # float64


class Events(NamedTuple):
    """The encoded run, one row per event; what a field means depends on the type."""

    type: I64  # RECEIPT .. WO_START (costing.effects.EVENT_TYPES codes)
    item: I64  # item index, or -1
    wo: I64  # order index, or -1
    q: F64  # qty, hours or counted qty; a payment's amount (major units)
    price: F64  # unit price (receipt, shipment, supplier invoice)
    row: I64  # stock row (from-row of a transfer); reversal: its past effects' start;
    #           invoice: its PO line; customer payment: its sales order
    row2: I64  # transfer's to-row; reversal: its past effects' end; receipt: its receipt
    #            layer or -1; shipment: its sales order or -1; invoice, payment: invoice
    group: I64  # lot chain drawn after `row`, or -1; reversal: its past lines' start
    memo: I64  # memo id; reversal: its past lines' end
    step: I64  # routing step (scrap, labor); issue: material row; reversal: run position;
    #            invoice: receipt layers it may take (a bound)
    op: I64  # scrap: operation; close: first of its rows in Orders.xrows; reversal: order
    aux: F64  # scrap: standard cost through the operation
    flag: I64  # issue: 1 if it creates its material row; close: extra rows; reversal: 1
    #            if its target is in the run


class Past(NamedTuple):
    """Effects and lines of events accepted before the run that a reversal in it negates."""

    ints: I64  # (3, n): kind, a, v
    floats: F64  # (2, n): x, y
    lines: I64  # (6, n): as Lines.cols


class Costs(NamedTuple):
    method: I64  # per item: 0 standard, 1 average, 2 FIFO
    std: F64  # per item, major units
    scale: float  # minor units per major unit
    inv_acc: I64  # per item: its inventory account (ledger index)
    item_name: I64  # per item: its sku's name id
    acc: I64  # per account role (R_*): ledger index
    memo: I64  # per fixed memo (M_*): name id


class Bom(NamedTuple):
    ptr: I64  # parent p's lines are ptr[p]:ptr[p+1]
    comp: I64
    qty_eff: F64
    op: I64
    backflush: I64
    wc_name: I64  # name id of the work center consuming the line (0: none)


class Route(NamedTuple):
    ptr: I64  # parent p's steps are ptr[p]:ptr[p+1]
    op: I64
    wc: I64
    per_unit: F64
    wc_backflush: I64  # per work center
    wc_labor: F64
    wc_overhead: F64
    wc_name: I64
    hours_memo: I64  # (3 prefixes, labor/overhead, step): name id
    scrap_memo: I64  # per step: name id


class Items(NamedTuple):
    """Per-item quantity and value and the FIFO layers (costing.inventory.Inventory)."""

    qty: F64
    value: I64
    last_unit: F64
    layer_qty: F64
    layer_value: I64
    layer_next: I64
    layer_item: I64
    head: I64
    tail: I64


class Rows(NamedTuple):
    """Stock rows and their lot chains (costing.inventory.Inventory)."""

    qty: F64
    seq: I64
    group: I64
    next: I64
    group_head: I64
    group_tail: I64
    group_len: I64


class Orders(NamedTuple):
    """Work orders, their material and step rows (costing.workorders.WorkOrders), with
    the batch path's per-order name ids and backflush rows."""

    item: I64
    line: I64
    status: I64
    good: F64
    wip: I64
    live: I64
    var_usage: I64
    var_price: I64
    var_labor: I64
    var_overhead: I64
    mat_start: I64
    step_start: I64
    step_count: I64
    mat_item: I64
    mat_qty_eff: F64
    mat_op: I64
    mat_act_qty: F64
    mat_act_value: I64
    step_op: I64
    step_per_unit: F64
    step_labor: F64
    step_overhead: F64
    step_act_hours: F64
    step_scrap: F64
    name: I64
    bf_start: I64
    bf_row: I64
    bf_group: I64
    xrows: I64


# output buffers as few 2-D arrays (rows are columns): fewer arguments to pass per call
class Lines(NamedTuple):
    cols: I64  # (6, n): account, amount, item, wo, wc, memo
    balance: I64  # the ledger's running balances, updated in place
    touched: I64  # bool per account


class Effects(NamedTuple):
    ints: I64  # (3, n): kind, a, v
    floats: F64  # (2, n): x, y


class Alerts(NamedTuple):
    ints: I64  # (2, n): kind, id
    floats: F64  # (2, n): f1, f2


class Ends(NamedTuple):
    """Per event of the run: the end of its effects, lines and alerts in the buffers."""

    eff: I64
    line: I64
    alert: I64


class Run(NamedTuple):
    """What is applied: the encoded events and the past a reversal among them negates."""

    events: Events
    past: Past


class Plant(NamedTuple):
    """The plant's fixed tables, built once per engine."""

    costs: Costs
    bom: Bom
    route: Route


class Money(NamedTuple):
    """What is owed (costing.settlement.Settlement): receipt layers, invoices, sales orders."""

    line_head: I64  # per PO line: its first receipt layer, or -1
    rl_next: I64  # per receipt layer: the next of its PO line, or -1
    rl_price: F64
    rl_qty: F64  # not invoiced yet
    rl_value: I64
    billed: I64  # per invoice
    paid: I64
    so_qty: F64  # per sales order
    so_revenue: I64
    so_cogs: I64
    so_paid: I64


class State(NamedTuple):
    """The engine's state the run changes in place."""

    items: Items
    rows: Rows
    orders: Orders
    money: Money


class Out(NamedTuple):
    """What the run writes; `ctr` holds the C_* counters (buffer positions)."""

    lines: Lines
    effects: Effects
    alerts: Alerts
    ends: Ends
    ctr: I64
