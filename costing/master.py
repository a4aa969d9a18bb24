"""Master data as plain, validated rows: what the cost engine is built from.

The gateway loads and cross-checks the CSVs (reporting `file: row: reason`) and hands
clean rows here; the engine turns them into arrays (`costing.plant`). Nothing in this
module does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["raw", "semi", "finished"]
Method = Literal["standard", "average", "fifo"]
Consumption = Literal["backflush", "issue"]
LaborMode = Literal["backflush", "reported"]

DEFAULT_STATUSES: tuple[str, ...] = ("available", "quality", "damaged", "pending_putaway")


@dataclass(frozen=True, slots=True)
class Item:
    sku: str
    description: str
    uom: str
    kind: Kind
    costing: Method  # already resolved: a blank CSV cell becomes [costing].method
    standard_cost: float | None  # given value; None = computed by roll-up (items with a BOM)
    lot_size: float = 1.0
    gtin: str | None = None
    inventory_account: str | None = None  # overrides [accounts.inventory].<kind>


@dataclass(frozen=True, slots=True)
class BomLine:
    parent: str
    component: str
    qty_per: float
    scrap_pct: float
    consumption: Consumption
    operation: int  # routing step of `parent` that consumes it


@dataclass(frozen=True, slots=True)
class RoutingStep:
    parent: str
    operation: int
    work_center: str
    setup_hours: float
    run_hours: float


@dataclass(frozen=True, slots=True)
class WorkCenter:
    id: str
    labor_rate: float
    overhead_rate: float
    labor: LaborMode
    location: str  # line-side stock that backflush draws from


@dataclass(frozen=True, slots=True)
class Location:
    id: str
    kind: str


@dataclass(frozen=True, slots=True)
class PurchaseOrderLine:
    po: str
    sku: str
    unit_price: float


@dataclass(frozen=True, slots=True)
class Accounts:
    """GL account codes by role (`[accounts]`, see docs/configuration.md)."""

    inventory: dict[str, str]  # kind -> account: raw, semi, finished
    wip: str
    grni: str
    ppv: str
    material_usage_variance: str
    material_price_variance: str
    labor_efficiency_variance: str
    overhead_efficiency_variance: str
    applied_labor: str
    applied_overhead: str
    scrap: str
    cogs: str
    revenue: str
    ar: str
    inventory_adjustment: str
    rounding: str
    ap: str = "2000"  # accounts payable: matched supplier invoices, until paid
    bank: str = "1000"
    invoice_price_variance: str = "5215"  # invoice price against the received value

    ROLES = (
        "wip", "grni", "ppv", "material_usage_variance", "material_price_variance",
        "labor_efficiency_variance", "overhead_efficiency_variance", "applied_labor",
        "applied_overhead", "scrap", "cogs", "revenue", "ar", "inventory_adjustment",
        "rounding", "ap", "bank", "invoice_price_variance",
    )


@dataclass(frozen=True, slots=True)
class MasterData:
    """Everything the engine needs to value events, already cross-checked."""

    items: tuple[Item, ...]
    boms: tuple[BomLine, ...]
    routings: tuple[RoutingStep, ...]
    work_centers: tuple[WorkCenter, ...]
    locations: tuple[Location, ...]
    purchase_orders: tuple[PurchaseOrderLine, ...]
    accounts: Accounts
    currency: str = "EUR"
    currency_decimals: int = 2
    statuses: tuple[str, ...] = field(default=DEFAULT_STATUSES)
    # an invoice price this far (in percent of the PO price) from the PO price matches
    price_tolerance_pct: float = 2.0
