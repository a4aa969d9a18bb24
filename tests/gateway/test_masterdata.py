"""Master-data CSVs: the demo plant loads; each cross-check is reported as
`<csv file>: row <n>: <column>: <reason>` with n the line in the file."""

from __future__ import annotations

import pathlib
import shutil
import tempfile

import pytest
from hypothesis import given, settings, strategies as st

from costing.master import BomLine, Item, MasterData
from gateway.config import ConfigError, load_config
from gateway.masterdata import gtin_check_digit, load_master

from tests.gateway.test_config import DEMO, MINIMAL

ITEMS_HEADER = "sku,description,uom,kind,costing,standard_cost,lot_size,gtin,inventory_account\n"


def plant(folder: pathlib.Path, toml: str = MINIMAL, **files: str):
    """A config in `folder` with the demo master data, `files` replacing some CSVs
    (keyword `items` -> items.csv, ...)."""
    shutil.copytree(DEMO / "master", folder / "master", dirs_exist_ok=True)
    for name, text in files.items():
        target = folder / "master" / f"{name}.csv"
        if text is None:
            target.unlink()
        else:
            target.write_text(text)
    (folder / "gateway.toml").write_text(toml)
    return load_config(folder / "gateway.toml")


def problems(config) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_master(config)
    prefix = config.gateway.master_data + "/"
    assert all(p.startswith(prefix) for p in info.value.problems), info.value.problems
    return [p[len(prefix):] for p in info.value.problems]


def test_demo_master_data_loads():
    master = load_master(load_config(DEMO / "gateway.toml"))
    assert isinstance(master, MasterData)
    assert [i.sku for i in master.items] == ["RM-STEEL", "RM-RESIN", "RM-SCREW", "RM-BOX",
                                             "SA-FRAME", "FG-WIDGET"]
    widget = master.items[-1]
    assert widget == Item("FG-WIDGET", "Widget assembled and packed", "ea", "finished",
                          "standard", None, 100.0, "4001234001012", None)
    assert master.boms[0] == BomLine("SA-FRAME", "RM-STEEL", 1.2, 5.0, "backflush", 10)
    assert {(w.id, w.labor, w.location) for w in master.work_centers} == {
        ("WC-WELD", "backflush", "LINE1"), ("WC-ASSY", "backflush", "LINE2"),
        ("WC-MOLD", "reported", "LINE2"), ("WC-PACK", "backflush", "LINE2")}
    assert [l.id for l in master.locations] == ["RM", "LINE1", "LINE2", "FG", "QA"]
    assert [(p.po, p.sku, p.unit_price) for p in master.purchase_orders] == [
        ("PO-1001", "RM-STEEL", 2.45), ("PO-1001", "RM-RESIN", 3.35),
        ("PO-1002", "RM-SCREW", 0.048), ("PO-1002", "RM-BOX", 0.42)]
    assert master.accounts.inventory["finished"] == "1330"
    assert (master.currency, master.currency_decimals) == ("EUR", 2)
    for item in master.items:
        if item.gtin:
            assert int(item.gtin[-1]) == gtin_check_digit(item.gtin[:-1])


def test_blank_costing_takes_the_config_method_and_accounts_resolve(tmp_path):
    items = ITEMS_HEADER + (
        "RM-STEEL,Steel,kg,raw,,2.50,,,\n"
        "RM-RESIN,Resin,kg,raw,average,3.20,,,inventory.semi\n"
        "RM-SCREW,Screw,ea,raw,,0.05,,,1330\n"
        "RM-BOX,Box,ea,raw,,0.40,,,\n"
        "SA-FRAME,Frame,ea,semi,,,50,,\n"
        "FG-WIDGET,Widget,ea,finished,,12.00,100,,\n")
    toml = MINIMAL + '\n[costing]\nmethod = "fifo"\n'
    master = load_master(plant(tmp_path, toml, items=items))
    by_sku = {i.sku: i for i in master.items}
    assert by_sku["RM-STEEL"].costing == "fifo"
    assert by_sku["RM-RESIN"].costing == "average"
    assert by_sku["RM-RESIN"].inventory_account == "1320"  # a key becomes its code
    assert by_sku["RM-SCREW"].inventory_account == "1330"
    assert by_sku["RM-STEEL"].lot_size == 1.0
    assert by_sku["FG-WIDGET"].standard_cost == 12.0  # given on a made item: frozen


def test_row_numbers_are_file_lines_counting_blank_lines_and_a_byte_order_mark(tmp_path):
    items = "\ufeff" + ITEMS_HEADER + (
        "RM-STEEL,Steel,kg,raw,standard,2.50,1,,\n"
        "\n"
        "RM-RESIN,Resin,kg,raw,average,three,1,,\n"
        "RM-SCREW,Screw,ea,raw,fifo,0.05,1,,\n"
        "RM-BOX,Box,ea,raw,standard,0.40,1,,\n"
        "SA-FRAME,Frame,ea,semi,standard,,50,,\n"
        "FG-WIDGET,Widget,ea,finished,standard,,100,,\n")
    assert problems(plant(tmp_path, items=items)) == [
        "items.csv: row 4: standard_cost: expected a number, got 'three'"]


BROKEN_ITEMS = ITEMS_HEADER + (
    "RM-STEEL,Steel,kg,raw,standard,2.50,1,4001234000015,\n"            # 2
    "RM-RESIN,Resin,kg,raw,avg,3.20,1,4001234000023,\n"                 # 3 costing, gtin
    "RM-SCREW,Screw,ea,raw,fifo,,1,,\n"                                 # 4 no std
    "RM-BOX,Box,ea,packaging,standard,0.40,1,,\n"                       # 5 kind
    "SA-FRAME,Frame,ea,semi,standard,,50,,inventory.wip\n"              # 6 account key
    "FG-WIDGET,Widget,ea,finished,standard,,100,4001234000015,1399\n"   # 7 dup gtin, account
    "RM-STEEL,Steel again,kg,raw,standard,2.60,1,,\n"                   # 8 duplicate
    "SA-BRACKET,Bracket,ea,semi,standard,,1,,\n"                        # 9 no BOM, no std
    "RM-PAINT,Paint,l,raw,standard,-4.10,0,,\n")                        # 10 negative, lot 0
BROKEN_BOMS = (
    "parent,component,qty_per,scrap_pct,consumption,operation\n"
    "SA-FRAME,RM-STEEL,1.2,5,backflush,10\n"                            # 2
    "SA-FRAME,RM-SCREW,-8,0,backflush,20\n"                             # 3 negative qty
    "FG-WIDGET,SA-FRAME,1,0,backflush,10\n"                             # 4
    "FG-WIDGET,RM-BOLT,4,0,backflush,10\n"                              # 5 unknown comp
    "FG-WIDGET,RM-BOX,1,x,pull,30\n"                                    # 6 scrap, enum
    "FG-WIDGET,RM-RESIN,0.35,2,issue,40\n"                              # 7 no routing op 40
    "SA-FRAME,FG-WIDGET,1,0,backflush,20\n"                             # 8 closes a cycle
    "FG-GADGET,RM-BOX,1,0,backflush,10\n")                              # 9 unknown parent
BROKEN_WORK_CENTERS = (
    "id,labor_rate,overhead_rate,labor,location\n"
    "WC-WELD,38.50,-22.00,backflush,LINE1\n"                            # 2 negative rate
    "WC-ASSY,,18.00,backflush,LINE2\n"                                  # 3 no labor rate
    "WC-MOLD,41.00,35.00,manual,LINE2\n"                                # 4 labor enum
    "WC-PACK,28.00,12.00,backflush,LINE9\n")                            # 5 unknown location
BROKEN_ROUTINGS = (
    "parent,operation,work_center,setup_hours,run_hours\n"
    "SA-FRAME,10,WC-WELD,0.50,0.050\n"
    "SA-FRAME,20,WC-WELD,0.25,0.040\n"
    "FG-WIDGET,10,WC-ASSY,1.00,0.080\n"
    "FG-WIDGET,20,WC-LASER,0.50,0.030\n"                                # 5 unknown wc
    "FG-WIDGET,30,WC-PACK,0.20,-0.01\n"                                 # 6 negative run
    "FG-WIDGET,30,WC-PACK,0.20,0.010\n"                                 # 7 duplicate step
    "FG-THING,10,WC-PACK,0,0.1\n"                                       # 8 unknown parent
    "FG-WIDGET,ten,WC-PACK,0,0.1\n")                                    # 9 operation
BROKEN_POS = (
    "po,sku,unit_price\n"
    "PO-1001,RM-STEEL,2.45\n"
    "PO-1001,RM-STEEL,2.55\n"                                           # 3 duplicate line
    "PO-1002,RM-COPPER,7.10\n"                                          # 4 unknown sku
    "PO-1003,RM-BOX,free\n")                                            # 5 not a number


def test_every_master_data_problem_is_reported_at_once_with_its_row(tmp_path):
    config = plant(tmp_path, items=BROKEN_ITEMS, boms=BROKEN_BOMS,
                   work_centers=BROKEN_WORK_CENTERS, routings=BROKEN_ROUTINGS,
                   purchase_orders=BROKEN_POS)
    assert sorted(problems(config)) == sorted([
        "work_centers.csv: row 2: overhead_rate: must not be negative, got '-22.00'",
        "work_centers.csv: row 3: labor_rate: missing (blank)",
        "work_centers.csv: row 4: labor: expected one of backflush, reported, got 'manual'",
        "work_centers.csv: row 5: location: unknown location 'LINE9' (not in locations.csv); did you mean 'LINE2'?",
        "routings.csv: row 5: work_center: unknown work center 'WC-LASER' "
        "(not in work_centers.csv)",
        "routings.csv: row 6: run_hours: must not be negative, got '-0.01'",
        "routings.csv: row 7: operation: duplicate routing step ('FG-WIDGET', 30) "
        "(first at row 6)",
        "routings.csv: row 8: parent: unknown sku 'FG-THING' (not in items.csv)",
        "routings.csv: row 9: operation: expected a positive whole number, got 'ten'",
        "items.csv: row 3: costing: expected one of standard, average, fifo, got 'avg'",
        "items.csv: row 3: gtin: bad check digit in '4001234000023': the last digit "
        "should be 2",
        "items.csv: row 4: standard_cost: missing: a purchased (raw) item needs one",
        "items.csv: row 5: kind: expected one of raw, semi, finished, got 'packaging'",
        "items.csv: row 6: inventory_account: unknown account key 'inventory.wip'; keys are "
        "ap, applied_labor, applied_overhead, ar, bank, cogs, grni, inventory.finished, "
        "inventory.raw, inventory.semi, inventory_adjustment, invoice_price_variance, "
        "labor_efficiency_variance, material_price_variance, material_usage_variance, "
        "overhead_efficiency_variance, ppv, revenue, rounding, scrap, wip",
        "items.csv: row 7: gtin: duplicate GTIN '04001234000015' (first at row 2)",
        "items.csv: row 7: inventory_account: unknown account '1399': not one of the codes "
        "in [accounts]",
        "items.csv: row 8: sku: duplicate sku 'RM-STEEL' (first at row 2)",
        "items.csv: row 9: standard_cost: missing: an item without a BOM or routing cannot "
        "be rolled up",
        "items.csv: row 10: standard_cost: must not be negative, got '-4.10'",
        "items.csv: row 10: lot_size: must be > 0, got '0'",
        "boms.csv: row 3: qty_per: must not be negative, got '-8'",
        "boms.csv: row 5: component: unknown sku 'RM-BOLT' (not in items.csv)",
        "boms.csv: row 6: scrap_pct: expected a number, got 'x'",
        "boms.csv: row 6: consumption: expected one of backflush, issue, got 'pull'",
        "boms.csv: row 7: operation: no routing operation 40 for 'FG-WIDGET' in routings.csv",
        "boms.csv: row 8: component: BOM cycle SA-FRAME -> FG-WIDGET -> SA-FRAME",
        "boms.csv: row 9: parent: unknown sku 'FG-GADGET' (not in items.csv)",
        "purchase_orders.csv: row 3: sku: duplicate PO line ('PO-1001', 'RM-STEEL') "
        "(first at row 2)",
        "purchase_orders.csv: row 4: sku: unknown sku 'RM-COPPER' (not in items.csv)",
        "purchase_orders.csv: row 5: unit_price: expected a number, got 'free'",
    ])


def test_a_longer_bom_cycle_is_named_along_its_path(tmp_path):
    boms = ("parent,component,qty_per,scrap_pct,consumption,operation\n"
            "SA-FRAME,RM-STEEL,1.2,5,backflush,10\n"
            "FG-WIDGET,SA-FRAME,1,0,backflush,10\n"
            "SA-FRAME,SA-FRAME,1,0,backflush,20\n"
            "RM-STEEL,FG-WIDGET,1,0,backflush,10\n")
    routings = ("parent,operation,work_center,setup_hours,run_hours\n"
                "SA-FRAME,10,WC-WELD,0.5,0.05\nSA-FRAME,20,WC-WELD,0.25,0.04\n"
                "FG-WIDGET,10,WC-ASSY,1,0.08\nRM-STEEL,10,WC-WELD,0,0.01\n")
    assert problems(plant(tmp_path, boms=boms, routings=routings)) == [
        "boms.csv: row 4: component: BOM cycle SA-FRAME -> SA-FRAME",
        "boms.csv: row 5: parent: 'RM-STEEL' is a raw (purchased) item; only semi and "
        "finished items have a BOM",
        "boms.csv: row 5: component: BOM cycle RM-STEEL -> FG-WIDGET -> SA-FRAME -> RM-STEEL",
    ]


def test_header_problems_are_row_1_and_name_the_column(tmp_path):
    config = plant(tmp_path,
                   locations="id,knd\nRM,stores\n",
                   work_centers="id,labor_rate,labor,location\nWC-WELD,38.5,backflush,RM\n")
    assert problems(config) == [
        "work_centers.csv: row 1: overhead_rate: missing column",
        "locations.csv: row 1: knd: unknown column; expected id, kind",
    ]


def test_missing_files(tmp_path):
    config = plant(tmp_path, items=None, purchase_orders=None, boms=None)
    # boms and purchase orders may be absent; rows naming skus are not blamed for the
    # missing items.csv
    assert problems(config) == [
        f"items.csv: file not found: {tmp_path / 'master' / 'items.csv'}"]


def test_a_row_with_too_many_cells_keeps_the_raw_row_in_the_message(tmp_path):
    config = plant(tmp_path, purchase_orders="po,sku,unit_price\nPO-1,RM-BOX,0,42\n")
    assert problems(config) == [
        "purchase_orders.csv: row 2: 4 cells but the header has 3; the raw row is "
        "['PO-1', 'RM-BOX', '0', '42']"]


@settings(max_examples=30, deadline=None)
@given(st.from_regex(r"[0-9]{12}", fullmatch=True), st.integers(1, 9))
def test_a_gtin_loads_only_with_its_check_digit(body, shift):
    good = body + str(gtin_check_digit(body))
    bad = body + str((int(good[-1]) + shift) % 10)
    items = ITEMS_HEADER + (
        f"RM-STEEL,Steel,kg,raw,standard,2.50,1,{{}},\n"
        "RM-RESIN,Resin,kg,raw,average,3.20,1,,\nRM-SCREW,Screw,ea,raw,fifo,0.05,1,,\n"
        "RM-BOX,Box,ea,raw,standard,0.40,1,,\nSA-FRAME,Frame,ea,semi,standard,,50,,\n"
        "FG-WIDGET,Widget,ea,finished,standard,,100,,\n")
    with tempfile.TemporaryDirectory() as folder:
        config = plant(pathlib.Path(folder), items=items.format(good))
        assert load_master(config).items[0].gtin == good
        config = plant(pathlib.Path(folder), items=items.format(bad))
        assert problems(config) == [
            f"items.csv: row 2: gtin: bad check digit in {bad!r}: the last digit should "
            f"be {good[-1]}"]


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126,
                                      exclude_characters=",\""),
               min_size=1, max_size=8).filter(lambda s: s.strip() and not _is_number(s)))
def test_any_non_numeric_qty_is_reported_with_its_value(cell):
    boms = ("parent,component,qty_per,scrap_pct,consumption,operation\n"
            "SA-FRAME,RM-STEEL,1.2,5,backflush,10\nSA-FRAME,RM-SCREW,8,0,backflush,20\n"
            f"FG-WIDGET,SA-FRAME,{cell},0,backflush,10\n")
    with tempfile.TemporaryDirectory() as folder:
        found = problems(plant(pathlib.Path(folder), boms=boms))
    assert found == [f"boms.csv: row 4: qty_per: expected a number, got {cell.strip()!r}"]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("cell", ["1_000", "nan", "inf", "1,5", "0x10", "2.5 kg"])
def test_numbers_python_would_accept_or_locales_write_are_refused(tmp_path, cell):
    routings = ("parent,operation,work_center,setup_hours,run_hours\n"
                "SA-FRAME,10,WC-WELD,0.5,0.05\nSA-FRAME,20,WC-WELD,0.25,0.04\n"
                "FG-WIDGET,10,WC-ASSY,1,0.08\nFG-WIDGET,20,WC-MOLD,0.5,0.03\n"
                f'FG-WIDGET,30,WC-PACK,"{cell}",0.01\n')
    assert problems(plant(tmp_path, routings=routings)) == [
        f"routings.csv: row 6: setup_hours: expected a number, got {cell!r}"]


_DEMO_CSV = {name: (DEMO / "master" / f"{name}.csv").read_text().splitlines()
             for name in ("items", "boms", "routings", "work_centers", "locations",
                          "purchase_orders")}
_CELLS = st.one_of(
    st.sampled_from(["", "0", "-1", "1.5", "1e3", "x", "RM-STEEL", "SA-FRAME", "FG-WIDGET",
                     "WC-WELD", "LINE2", "raw", "semi", "issue", "reported", "fifo", "10",
                     "30", "4001234000015", "inventory.raw", "1400"]),
    st.text(alphabet="AZ09-.,", max_size=5))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(_DEMO_CSV)), st.data())
def test_master_data_that_passes_the_checks_is_accepted_by_the_cost_engine(name, data):
    """Change one cell of the demo: either a problem names the file, or the engine's
    roll-up takes the data as it is (check never passes what the engine refuses)."""
    from costing.rollup import roll_up

    lines = list(_DEMO_CSV[name])
    row = data.draw(st.integers(1, len(lines) - 1), label="row")
    cells = lines[row].split(",")
    col = data.draw(st.integers(0, len(cells) - 1), label="column")
    cells[col] = data.draw(_CELLS, label="value")
    lines[row] = ",".join(f'"{c}"' if "," in c else c for c in cells)
    with tempfile.TemporaryDirectory() as folder:
        config = plant(pathlib.Path(folder), **{name: "\n".join(lines) + "\n"})
        try:
            master = load_master(config)
        except ConfigError as exc:
            assert all(": row " in p or "file not found" in p for p in exc.problems)
            return
    roll_up(master)  # raises costing.plant.MasterDataError on data it cannot cost


def test_a_missing_routings_file_is_one_problem_not_one_per_bom_line(tmp_path):
    found = problems(plant(tmp_path, routings=None))
    path = tmp_path / "master" / "routings.csv"
    assert found == [f"routings.csv: file not found: {path} (boms.csv needs it)"]


def test_an_unknown_sku_suggests_the_near_miss(tmp_path):
    boms = (DEMO / "master" / "boms.csv").read_text().replace("RM-STEEL", "RM-STEL", 1)
    found = problems(plant(tmp_path, boms=boms))
    assert [p for p in found if "RM-STEL" in p] == [
        "boms.csv: row 2: component: unknown sku 'RM-STEL' "
        "(not in items.csv); did you mean 'RM-STEEL'?"], found
