"""A hand-made stream for the trace tests, journaled by the real Journal: lot LOT-A1 of
steel goes into frames (WO-S, backflushed at WC1's L1), the frames into widgets (WO-F,
backflushed at WC2's L2), three widgets ship on SO-1. Two events carry the device reading
that caused them."""

from __future__ import annotations

import pathlib

from gateway.config import load_config
from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from tests.gateway.plant import ev, write_plant

SCAN = {"device": "scanner-dock", "kind": "scan", "value": "]C1\x1d01095011015300031710LOT-A1",
        "ts": "2026-11-20T07:59:58Z", "unit": None, "attrs": {"station": "dock"}}
COUNT = {"device": "plc-assy", "kind": "counter", "value": 4512, "ts": "2026-11-20T08:10:00Z",
         "unit": None, "attrs": {"node": "ns=2;s=Assy.Good", "epoch": 1}}


def _ts(minute: int) -> str:
    return f"2026-11-20T{8 + minute // 60:02d}:{minute % 60:02d}:00Z"


STREAM = [  # (event, source, reading)
    (ev("r1", "receipt", item="A", qty=100, location="L1", unit_price=2.1, po="PO-1",
        lot="LOT-A1"), "scanner-dock", SCAN),
    (ev("r2", "receipt", item="B", qty=50, location="L2", unit_price=1.2, po="PO-2"), "erp", None),
    (ev("r3", "receipt", item="C", qty=500, location="L2", unit_price=0.5, lot="LOT-C1"),
     "erp", None),
    (ev("rel-S", "wo_release", work_order="WO-S", item="S", qty=10, line="WC1"), "erp", None),
    (ev("c1", "completion", work_order="WO-S", qty=10, location="L2"), "plc-assy", COUNT),
    (ev("rel-F", "wo_release", work_order="WO-F", item="F", qty=5, line="WC2"), "erp", None),
    (ev("i1", "issue", work_order="WO-F", item="B", qty=5, location="L2"), "erp", None),
    (ev("c2", "completion", work_order="WO-F", qty=5, location="FG"), "plc-assy", None),
    (ev("s1", "shipment", item="F", qty=3, location="FG", unit_price=100, order="SO-1"), "erp",
     None),
    (ev("x1", "wo_close", work_order="WO-F"), "erp", None),
]


def build(where: pathlib.Path) -> pathlib.Path:
    """Write the plant and journal the stream; returns the gateway.toml."""
    cfg_path = write_plant(where)
    cfg = load_config(cfg_path)
    j = Journal(str(cfg.gateway.db), load_master(cfg))
    try:
        for n, (event, source, reading) in enumerate(STREAM):
            [res] = j.submit([Submission(event | {"ts": _ts(10 * n)}, source=source,
                                         reading=reading)])
            assert res.status == "applied", res
    finally:
        j.close()
    return cfg_path
