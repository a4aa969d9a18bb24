"""A day of the small plant (tests/gateway/plant.py) through the real command line,
every figure computed by hand from the posting rules in docs/accounting.md and written out below."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.gateway.plant import ev, gateway, gateway_on_tty, write_events, write_plant

DAY = [
    ev("r1", "receipt", item="A", qty=100, location="L1", unit_price=2.10, po="PO-1"),
    ev("r2", "receipt", item="B", qty=10, location="L2", unit_price=1.20, po="PO-2"),
    ev("r3", "receipt", item="B", qty=10, location="L2", unit_price=1.50),
    ev("r4", "receipt", item="C", qty=20, location="L2", unit_price=0.40),
    ev("r5", "receipt", item="C", qty=20, location="L2", unit_price=0.60),
    ev("w1", "wo_release", work_order="WO-S", item="S", qty=10, line="WC1"),
    ev("c1", "completion", work_order="WO-S", qty=10, location="L2"),
    ev("x1", "wo_close", work_order="WO-S"),
    ev("w2", "wo_release", work_order="WO-F", item="F", qty=5, line="WC2"),
    ev("c2", "completion", work_order="WO-F", qty=4, location="FG"),
    ev("s1", "scrap", work_order="WO-F", qty=1, operation=10),
    ev("i1", "issue", work_order="WO-F", item="B", qty=5),
    ev("l1", "labor", work_order="WO-F", operation=20, hours=2.5),
    ev("x2", "wo_close", work_order="WO-F"),
    ev("sh1", "shipment", item="F", qty=3, location="FG", unit_price=100.00, order="SO-9"),
    ev("k1", "count", item="C", location="L2", counted_qty=20),
    ev("t1", "transfer", item="F", qty=1, from_location="FG", to_location="QA",
       to_status="quality"),
    ev("rv1", "reversal", reverses="r3"),
    # duplicates and bad lines: none of them may change a figure above
    ev("r1", "receipt", item="A", qty=100, location="L1", unit_price=2.10, po="PO-1"),
    ev("r1", "receipt", item="A", qty=999, location="L1", unit_price=2.10, po="PO-1"),
    ev("bad1", "receipt", item="NOPE", qty=1, location="L1", unit_price=1),
    ev("bad2", "receipt", item="A", qty=-1, location="L1", unit_price=1),
    '{"id": "bad3", "type": "receipt", ',
    ev("bad4", "completion", work_order="WO-F", qty=1, location="FG"),
]

# Per account: debit, credit (by hand from the posting rules in docs/accounting.md; see the module docstring of plant.py)
TRIAL_BALANCE = {
    #        debit      credit
    "1200": ("300.00", "0.00"),      # ar: shipment 3 x 100.00
    "1310": ("247.00", "69.75"),     # raw: receipts 200+12+15+8+12; out 40+4.80+1.20+6.75+2+15
    "1320": ("90.00", "45.00"),      # semi: S completed 10 x 9.00; backflushed 4+1 x 9.00
    "1330": ("246.00", "184.50"),    # finished: F 4 x 61.50 in; 3 x 61.50 shipped
    "1400": ("397.75", "397.75"),    # wip: zero after both closes
    "2100": ("15.00", "257.00"),     # grni: receipts at price; reversal of r3
    "4000": ("0.00", "300.00"),      # revenue
    "5000": ("184.50", "0.00"),      # cogs
    "5210": ("10.00", "0.00"),       # ppv: A 100 x (2.10 - 2.00)
    "5220": ("1.00", "0.00"),        # usage: B 5 actual vs 4 std, x 1.00
    "5230": ("0.25", "0.00"),        # price: C 6.00 - 15 x 0.50 = -1.50; B 6.75 - 5 x 1.00 = 1.75
    "5240": ("25.00", "0.00"),       # labor eff: WC3 (2.5 - 0.5 x 4) h x 50
    "5250": ("15.00", "0.00"),       # overhead eff: 0.5 h x 30
    "5310": ("0.00", "195.00"),      # applied labor: 30 + 32 + 8 + 125
    "5320": ("0.00", "105.00"),      # applied overhead: 20 + 8 + 2 + 75
    "5400": ("20.50", "0.00"),       # scrap: 1 x std_through(F, 10)
    "5500": ("2.00", "0.00"),        # count: C 25 -> 20, oldest FIFO layer at 0.40
}

STOCK = [
    {"item": "A", "location": "L1", "status": "available", "lot": None, "qty": 80,
     "value": "160.00"},
    {"item": "B", "location": "L2", "status": "available", "lot": None, "qty": 5,
     "value": "5.25"},
    {"item": "C", "location": "L2", "status": "available", "lot": None, "qty": 20,
     "value": "12.00"},
    {"item": "F", "location": "QA", "status": "quality", "lot": None, "qty": 1,
     "value": "61.50"},
    {"item": "S", "location": "L2", "status": "available", "lot": None, "qty": 5,
     "value": "45.00"},
]

WIP = [
    {"work_order": "WO-S", "item": "S", "status": "closed", "good": 10, "scrap": 0,
     "wip": "0.00", "variances": {"material_usage": "0.00", "material_price": "0.00",
                                  "labor_efficiency": "0.00", "overhead_efficiency": "0.00"}},
    {"work_order": "WO-F", "item": "F", "status": "closed", "good": 4, "scrap": 1,
     "wip": "0.00", "variances": {"material_usage": "1.00", "material_price": "0.25",
                                  "labor_efficiency": "25.00", "overhead_efficiency": "15.00"}},
]

ERP_SNAPSHOT = "sku,category,qty\nA,available,80\nB,available,6\nC,available,20\nF,unavailable,0\n"
RECONCILE = [
    {"sku": "F", "category": "unavailable", "erp_qty": 0, "gateway_qty": 1, "diff_qty": 1,
     "diff_value": "61.50", "direction": "+"},
    {"sku": "S", "category": "available", "erp_qty": 0, "gateway_qty": 5, "diff_qty": 5,
     "diff_value": "45.00", "direction": "+"},
    {"sku": "B", "category": "available", "erp_qty": 6, "gateway_qty": 5, "diff_qty": -1,
     "diff_value": "-1.05", "direction": "-"},
]


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    where = tmp_path_factory.mktemp("plant")
    cfg = write_plant(where)
    events = write_events(where / "day.jsonl", DAY)
    first = gateway("ingest", "-c", str(cfg), str(events))
    return cfg, events, first


def test_ingest_reports_each_rejected_line_and_exits_1(plant):
    _, _, proc = plant
    assert proc.returncode == 1, proc.stderr
    rejected = [l for l in proc.stderr.splitlines() if ": rejected: " in l]
    assert [l.split(":")[1] for l in rejected] == ["20", "21", "22", "23", "24"]
    assert "item: unknown item 'NOPE'" in rejected[1]
    assert "qty" in rejected[2] and "-1" in rejected[2]
    assert "malformed JSON" in rejected[3]
    assert "WO-F" in rejected[4] and "closed" in rejected[4]
    assert "different payload" in rejected[0]
    assert "18 applied, 1 duplicate, 5 rejected" in proc.stderr


def test_trial_balance_matches_hand_computation(plant):
    cfg, _, _ = plant
    tb = json.loads(gateway("trial-balance", "-c", str(cfg), "--format", "json",
                            check=True).stdout)
    got = {a["account"]: (a["debit"], a["credit"]) for a in tb["accounts"]}
    assert got == TRIAL_BALANCE
    assert tb["debit"] == tb["credit"] == "1554.00"
    for a in tb["accounts"]:
        assert a["balance"] == f"{float(a['debit']) - float(a['credit']):.2f}"


def test_journal_and_trial_balance_speak_every_report_format(plant):
    """Every report takes table, json, jsonl and csv; the machine forms carry the same rows."""
    cfg, _, _ = plant

    def out(report, fmt):
        return gateway(report, "-c", str(cfg), "--format", fmt, check=True).stdout

    lines = [json.loads(l) for l in out("journal", "jsonl").splitlines()]
    assert json.loads(out("journal", "json")) == lines
    assert list(csv.DictReader(io.StringIO(out("journal", "csv")))) == [
        {k: "" if v is None else str(v) for k, v in line.items()} for line in lines]
    accounts = json.loads(out("trial-balance", "json"))["accounts"]
    assert [json.loads(l) for l in out("trial-balance", "jsonl").splitlines()] == accounts
    assert list(csv.DictReader(io.StringIO(out("trial-balance", "csv")))) == accounts


def test_stock_matches_and_equals_inventory_accounts(plant):
    cfg, _, _ = plant
    stock = json.loads(gateway("stock", "-c", str(cfg), "--format", "json", check=True).stdout)
    assert stock == STOCK


def test_wip_and_variances(plant):
    cfg, _, _ = plant
    wip = json.loads(gateway("wip", "-c", str(cfg), "--format", "json", check=True).stdout)
    assert wip == WIP


def test_reconcile_reports_out_of_sync_rows_largest_value_first(plant, tmp_path):
    cfg, _, _ = plant
    erp = tmp_path / "erp.csv"
    erp.write_text(ERP_SNAPSHOT)
    rows = json.loads(gateway("reconcile", "-c", str(cfg), "--erp", str(erp), "--format",
                              "json", check=True).stdout)
    assert rows == RECONCILE


def test_journal_lines_trace_to_events_and_every_entry_balances(plant):
    cfg, _, _ = plant
    lines = [json.loads(l) for l in gateway("journal", "-c", str(cfg), "--format", "jsonl",
                                            check=True).stdout.splitlines()]
    assert set(lines[0]) == {"entry", "event", "ts", "account", "debit", "credit",
                             "work_order", "item", "memo"}
    by_entry: dict[int, list] = {}
    for line in lines:
        by_entry.setdefault(line["entry"], []).append(line)
    for entry, group in by_entry.items():
        cents = sum(round(float(l["debit"]) * 100) - round(float(l["credit"]) * 100)
                    for l in group)
        assert cents == 0, f"entry {entry} does not balance: {group}"
        assert len({l["event"] for l in group}) == 1
    events = {l["event"] for l in lines}
    assert events == {"r1", "r2", "r3", "r4", "r5", "c1", "c2", "s1", "i1", "l1", "x2", "sh1",
                      "k1", "rv1"}
    reversal = [(l["account"], l["debit"], l["credit"]) for l in lines if l["event"] == "rv1"]
    assert sorted(reversal) == [("1310", "0.00", "15.00"), ("2100", "15.00", "0.00")]


def test_table_formats_are_aligned_with_totals(plant):
    cfg, _, _ = plant
    out = gateway("trial-balance", "-c", str(cfg), check=True).stdout.splitlines()
    assert out[0].split() == ["account", "debit", "credit", "balance"]
    assert out[-1].split() == ["total", "1,554.00", "1,554.00", "0.00"]
    widths = {len(l) for l in out if not l.startswith("-")}
    assert len(widths) <= 2  # right-aligned numbers: every row as wide as the header


def test_second_ingest_of_the_same_file_changes_nothing(plant):
    cfg, events, _ = plant
    before = gateway("journal", "-c", str(cfg), "--format", "csv", check=True).stdout
    again = gateway("ingest", "-c", str(cfg), str(events))
    assert "0 applied, 19 duplicate, 5 rejected" in again.stderr
    assert gateway("journal", "-c", str(cfg), "--format", "csv", check=True).stdout == before


def test_replay_rebuilds_identical_books(plant):
    cfg, _, _ = plant
    proc = gateway("replay", "-c", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "replay identical" in proc.stdout


def test_replay_summary_as_json(plant):
    cfg, _, _ = plant
    proc = gateway("replay", "-c", str(cfg), "--format", "json", "--chunk", "4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert (out["events"], out["not_applied"], out["identical"], out["differences"]) == \
        (18, 0, True, [])
    assert out["journal_lines"] > 18 and out["events_per_s"] > 0


def test_replay_shows_its_progress_on_a_terminal_and_only_there(plant):
    cfg, _, _ = plant
    status, out, tty = gateway_on_tty("replay", "-c", str(cfg))
    assert status == 0 and "replay identical" in out
    assert "replay: 18 of 18 events (100 %)" in tty and "events/s" in tty, tty
    piped = gateway("replay", "-c", str(cfg))
    assert "replay:" not in piped.stderr and "\r" not in piped.stderr
