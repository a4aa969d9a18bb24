"""Standard-cost roll-up against the hand-costed toy plant (see toy_plant.py)."""

from __future__ import annotations

import dataclasses

import pytest

from costing.master import BomLine
from costing.plant import MasterDataError
from costing.rollup import roll_up
from tests.costing.toy_plant import toy_master

#  sku      level  material  labor  overhead  std     given  difference
EXPECTED = """
R-STD    0      2.00      0      0         2.00    2.00   -
R-AVG    0      1.50      0      0         1.50    1.50   -
R-FIFO   0      0.10      0      0         0.10    0.10   -
S-SUB    1      4.55      7.50   2.50      14.55   -      -
F-FIX    1      6.00      30.00  10.00     50.00   50.00  -4.00
F-TOP    2      15.53     41.00  20.50     77.03   -      -
"""


def _table(text):
    rows = []
    for line in text.strip().splitlines():
        sku, level, *nums = line.split()
        rows.append((sku, int(level), *(None if x == "-" else float(x) for x in nums)))
    return rows


def test_rollup_matches_the_hand_costing_in_level_order():
    rollup = roll_up(toy_master())
    got = [(r.sku, r.level, round(r.material, 6), round(r.labor, 6), round(r.overhead, 6),
            round(r.std, 6), r.given, None if r.difference is None else round(r.difference, 6))
           for r in rollup.rows]
    assert got == _table(EXPECTED)
    assert rollup.std["F-TOP"] == pytest.approx(77.03, abs=1e-12)
    assert [r.kind for r in rollup.rows][:3] == ["raw", "raw", "raw"]
    assert rollup.rows[-1].method == "standard"


def test_std_through_counts_only_components_and_steps_up_to_the_operation():
    rollup = roll_up(toy_master())
    assert rollup.std_through("F-TOP", 10) == pytest.approx(14.55 + 12 + 6, abs=1e-12)
    assert rollup.std_through("F-TOP", 20) == pytest.approx(70.83, abs=1e-12)
    assert rollup.std_through("F-TOP", 30) == pytest.approx(77.03, abs=1e-12)
    assert rollup.std_through("F-TOP", 5) == 0.0
    assert rollup.std_through("R-STD", 10) == 2.00


def test_a_purchased_item_without_standard_cost_is_named():
    master = toy_master()
    items = tuple(dataclasses.replace(it, standard_cost=None) if it.sku == "R-AVG" else it
                  for it in master.items)
    with pytest.raises(MasterDataError, match=r"items.csv: R-AVG: standard_cost: required"):
        roll_up(dataclasses.replace(master, items=items))


def test_a_bom_cycle_is_refused_with_its_path():
    master = toy_master()
    boms = master.boms + (BomLine("S-SUB", "F-TOP", 1, 0, "backflush", 10),)
    with pytest.raises(MasterDataError, match=r"BOM cycle (S-SUB -> F-TOP -> S-SUB|"
                                              r"F-TOP -> S-SUB -> F-TOP)"):
        roll_up(dataclasses.replace(master, boms=boms))


def test_unknown_component_is_named_with_its_line():
    master = toy_master()
    boms = master.boms + (BomLine("S-SUB", "NOPE", 1, 0, "backflush", 10),)
    with pytest.raises(MasterDataError, match=r"boms.csv: line 7: component: unknown item 'NOPE'"):
        roll_up(dataclasses.replace(master, boms=boms))


