"""A small plant for the cost-engine tests, small enough to cost by hand.

Two BOM levels (S-SUB inside F-TOP), all three costing methods on raw materials,
both consumption modes (R-AVG is issued, the rest backflushed) and both labor modes
(WC-R is reported, WC-A/WC-B backflush). F-FIX has a frozen given standard cost.

Roll-up by hand (see docs/accounting.md):
  S-SUB  (lot 10): material 2·2.00 + 5·1.10·0.10 = 4.55; hours 0.20 + 0.05 = 0.25
         labor 0.25·30 = 7.50, overhead 0.25·10 = 2.50             std 14.55
  F-TOP  (lot 20): material 14.55 + 0.5·1.04·1.50 + 2·0.10 = 15.53
         op10 0.30 h·(40+20), op20 0.50 h·(50+25), op30 0.10 h·(40+20)
         labor 12 + 25 + 4 = 41.00, overhead 6 + 12.5 + 2 = 20.50   std 77.03
  F-FIX  rolled 3·2.00 + 1 h·(30+10) = 46.00, given 50.00 (frozen) difference −4.00
"""

from __future__ import annotations

from costing.master import (Accounts, BomLine, Item, Location, MasterData,
                            PurchaseOrderLine, RoutingStep, WorkCenter)

ACCOUNTS = Accounts(
    inventory={"raw": "1310", "semi": "1320", "finished": "1330"},
    wip="1400", grni="2100", ppv="5100", material_usage_variance="5200",
    material_price_variance="5210", labor_efficiency_variance="5300",
    overhead_efficiency_variance="5310", applied_labor="5400", applied_overhead="5410",
    scrap="5500", cogs="5000", revenue="4000", ar="1200", inventory_adjustment="5600",
    rounding="5900",
)


def toy_master() -> MasterData:
    items = (
        Item("R-STD", "steel", "kg", "raw", "standard", 2.00),
        Item("R-AVG", "resin", "kg", "raw", "average", 1.50),
        Item("R-FIFO", "screw", "ea", "raw", "fifo", 0.10),
        Item("S-SUB", "frame", "ea", "semi", "standard", None, lot_size=10),
        Item("F-TOP", "widget", "ea", "finished", "standard", None, lot_size=20),
        Item("F-FIX", "bracket", "ea", "finished", "average", 50.00),
    )
    boms = (
        BomLine("S-SUB", "R-STD", 2, 0, "backflush", 10),
        BomLine("S-SUB", "R-FIFO", 5, 10, "backflush", 20),
        BomLine("F-TOP", "S-SUB", 1, 0, "backflush", 10),
        BomLine("F-TOP", "R-AVG", 0.5, 4, "issue", 20),
        BomLine("F-TOP", "R-FIFO", 2, 0, "backflush", 30),
        BomLine("F-FIX", "R-STD", 3, 0, "backflush", 10),
    )
    routings = (
        RoutingStep("S-SUB", 10, "WC-A", 1.0, 0.1),
        RoutingStep("S-SUB", 20, "WC-A", 0.0, 0.05),
        RoutingStep("F-TOP", 10, "WC-B", 2.0, 0.2),
        RoutingStep("F-TOP", 20, "WC-R", 0.0, 0.5),
        RoutingStep("F-TOP", 30, "WC-B", 0.0, 0.1),
        RoutingStep("F-FIX", 10, "WC-A", 0.0, 1.0),
    )
    work_centers = (
        WorkCenter("WC-A", 30.0, 10.0, "backflush", "LINE-A"),
        WorkCenter("WC-B", 40.0, 20.0, "backflush", "LINE-B"),
        WorkCenter("WC-R", 50.0, 25.0, "reported", "LINE-B"),
    )
    locations = tuple(Location(x, k) for x, k in (
        ("STORES", "stores"), ("LINE-A", "line"), ("LINE-B", "line"), ("FG", "finished"),
        ("QA", "quality")))
    pos = (PurchaseOrderLine("PO-1", "R-STD", 2.10),)
    return MasterData(items, boms, routings, work_centers, locations, pos, ACCOUNTS)
