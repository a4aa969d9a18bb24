"""A shift of the example plant (config/demo), played through the simulators.

Each cycle: the ERP releases a frame order (WC-WELD) and a widget order (WC-ASSY);
pallets are received at the dock by GS1 scans and replenished to the lines; the PLC
counts frames and widgets (with some scrap); at the moulding station an operator scans
the order and the resin, and the scale weighs each charge; at the end the ERP reports
moulding labor, closes the orders and ships widgets. Everything reaches the gateway the
way it would in a plant: over OPC-UA, serial ptys and canonical events.

The money loop closes each cycle too (docs/accounting.md): once the pallets are booked the
suppliers invoice them — the steel and cartons at the PO price, the resin a little dearer
but within the 2 % tolerance, the screws 4 % dearer, held as an `invoice_mismatch` for a
controller to approve; at the end the two matched invoices are paid and the customer pays
the sales order that was shipped.

A moment of trouble (`trouble`: the cycles it lasts, a few minutes at the demo's pace):
from the tenth count on, the welding line scraps one frame in two instead of one in
seventeen, and in its first cycle one resin charge weighs 2.9 kg instead of ~1.7 kg —
so the alerts page has a scrap-rate and a consumption alert to show within the first
minute (docs/alerts.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Awaitable, Callable

GTIN = {  # as printed on the labels (GTIN-13), see config/demo/master/items.csv
    "RM-STEEL": "4001234000015", "RM-RESIN": "4001234000022",
    "RM-SCREW": "4001234000039", "RM-BOX": "4001234000046",
}


def _ts() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class PlantScenario:
    """Drives PLC, scale and scanners and publishes the ERP's events, cycle after cycle."""

    def __init__(self, plc, scale, dock, mix, publish: Callable[[dict], Awaitable[None]], *,
                 tick: float = 1.0, run_id: str = "", trouble: tuple[int, ...] = ()):
        self.plc, self.scale, self.dock, self.mix = plc, scale, dock, mix
        self.publish = publish
        self.tick = tick
        self.run_id = run_id or dt.datetime.now().strftime("%H%M%S")
        self.cycle = 0
        self._pallet = 0
        self.trouble = tuple(trouble)

    def _id(self, what: str) -> str:
        return f"demo-{self.run_id}-{self.cycle}-{what}"

    async def _event(self, type_: str, what: str, **fields) -> None:
        await self.publish({"id": self._id(what), "type": type_, "ts": _ts(), "source": "erp",
                            **fields})

    def _sscc(self) -> str:
        self._pallet += 1
        return f"400123400{int(self.run_id[-4:] or 0):04d}{self._pallet:04d}"[:17]

    async def _weigh(self, grams: float) -> None:
        """An operator's charge (a fifth of an order's resin): the load stays on
        until it has settled and been read."""
        self.scale.place(grams)
        await asyncio.sleep(max(1.2, 3 * self.tick))
        self.scale.remove()

    async def run(self, stop: asyncio.Event, cycles: int | None = None) -> None:
        """Play cycles until `stop` is set (or `cycles` have been played)."""
        while not stop.is_set() and (cycles is None or self.cycle < cycles):
            self.cycle += 1
            await self.one_cycle(stop)

    async def _sleep(self, stop: asyncio.Event, ticks: float) -> bool:
        try:
            await asyncio.wait_for(stop.wait(), ticks * self.tick)
            return True
        except asyncio.TimeoutError:
            return False

    async def one_cycle(self, stop: asyncio.Event) -> None:
        frames, widgets = f"WO-F{self.run_id}-{self.cycle}", f"WO-W{self.run_id}-{self.cycle}"
        await self._event("wo_release", "rel-f", work_order=frames, item="SA-FRAME", qty=40,
                          line="WC-WELD")
        await self._event("wo_release", "rel-w", work_order=widgets, item="FG-WIDGET", qty=25,
                          line="WC-ASSY")
        # Goods in: one pallet per raw material, priced by the gateway from the PO line.
        heat, batch = f"H{self.run_id}{self.cycle}", f"R{self.run_id}{self.cycle}"
        self.dock.scan_gs1(sscc=self._sscc(), gtin="0" + GTIN["RM-STEEL"], contained=True,
                           net_kg=70.0, lot=heat)
        self.dock.scan_gs1(sscc=self._sscc(), gtin="0" + GTIN["RM-RESIN"], contained=True,
                           net_kg=12.0, lot=batch)
        self.dock.scan_gs1(sscc=self._sscc(), gtin="0" + GTIN["RM-SCREW"], contained=True,
                           count=600)
        self.dock.scan_gs1(sscc=self._sscc(), gtin="0" + GTIN["RM-BOX"], contained=True,
                           count=30)
        if await self._sleep(stop, 1):
            return
        # Replenish the lines (lot-tracked material moves with its lot).
        for sku, qty, to, lot in (("RM-STEEL", 66, "LINE1", heat),
                                  ("RM-SCREW", 420, "LINE1", None),
                                  ("RM-SCREW", 120, "LINE2", None),
                                  ("RM-BOX", 30, "LINE2", None),
                                  ("RM-RESIN", 10, "LINE2", batch)):
            await self._event("transfer", f"move-{sku}-{to}", item=sku, qty=qty,
                              from_location="RM", to_location=to,
                              **({"lot": lot} if lot else {}))
        weighings: list[asyncio.Task] = []
        if await self._sleep(stop, 2):  # let the replenishment reach the lines first
            return
        await self._invoice_receipts()
        bad = self.cycle in self.trouble
        for t in range(2, 50):
            weld_scrap = t % 17 == 0 or (bad and t >= 10 and t % 2 == 0)
            await self.plc.count("Weld", good=1, scrap=1 if weld_scrap else 0)
            if t % 2 == 0:
                await self.plc.count("Assy", good=1, scrap=1 if t % 12 == 0 else 0)
            if t % 10 == 3:
                self.mix.scan_work_order(widgets)
                self.mix.scan_gs1(gtin="0" + GTIN["RM-RESIN"])
            if t % 10 == 4:
                heavy = bad and t == 24 and self.cycle == self.trouble[0]
                weighings.append(asyncio.create_task(
                    self._weigh(2900.0 if heavy else 1720.0 + 15 * (t % 3))))
            if await self._sleep(stop, 1):
                return
        await asyncio.gather(*weighings)
        await self._event("labor", "labor", work_order=widgets, operation=20, hours=0.9)
        await self._event("wo_close", "close-f", work_order=frames)
        await self._event("wo_close", "close-w", work_order=widgets)
        await self._event("shipment", "ship", item="FG-WIDGET", qty=15, location="FG",
                          unit_price=45.00, order=f"SO-{self.run_id}-{self.cycle}")
        await self._pay()
        await self._sleep(stop, 2)

    def _invoice_no(self, supplier: str) -> str:
        return f"{supplier}-{self.run_id}-{self.cycle}"

    async def _invoice_receipts(self) -> None:
        """The suppliers' invoices for this cycle's pallets (PO lines in
        config/demo/master/purchase_orders.csv)."""
        for supplier, po, sku, qty, price in (
                ("ACME", "PO-1001", "RM-STEEL", 70, 2.45),   # at the PO price
                ("ACME", "PO-1001", "RM-RESIN", 12, 3.40),   # 1.5 % over 3.35: matches
                ("PACK", "PO-1002", "RM-BOX", 30, 0.42),     # at the PO price
                ("FIX", "PO-1002", "RM-SCREW", 600, 0.050)):  # 4.2 % over 0.048: held
            await self._event("supplier_invoice", f"inv-{sku}", invoice=self._invoice_no(supplier),
                              supplier=supplier, po=po, item=sku, qty=qty, unit_price=price)

    async def _pay(self) -> None:
        """Pay the matched invoices in full, and take the customer's payment for the order."""
        for supplier, amount in (("ACME", 70 * 2.45 + 12 * 3.40), ("PACK", 30 * 0.42)):
            await self._event("payment", f"pay-{supplier}", invoice=self._invoice_no(supplier),
                              amount=round(amount, 2))
        await self._event("customer_payment", "receipt-so", order=f"SO-{self.run_id}-{self.cycle}",
                          amount=15 * 45.00)
