"""Readings become events by the station rules of the demo plant (see docs/architecture.md)."""

from __future__ import annotations

import json

import pytest

from drivers.base import Reading
from gateway.commands.demo import DEMO_DIR
from gateway.config import load_config
from gateway.mapping import Mapper, convert_mass
from gateway.masterdata import load_master
from simulators.scanner import check_digit, gs1_element_string

TS = "2026-11-20T08:00:00Z"
STEEL, FG = "4001234000015", "4001234001012"


@pytest.fixture(scope="module")
def demo():
    cfg = load_config(DEMO_DIR / "gateway.toml")
    return cfg, load_master(cfg)


@pytest.fixture
def mapper(demo):
    cfg, master = demo
    active = {"WC-ASSY": "WO-W", "WC-MOLD": "WO-W"}
    m = Mapper(cfg, master, active.get)
    m.note_release("WO-W", "FG-WIDGET")
    return m


def counter(delta, line="WC-ASSY", kind="good", value=10, **extra):
    return Reading("plc", "counter", value, TS, attrs={
        "node": f"ns=2;s=Assy.{kind}", "line": line, "counter_kind": kind, "delta": delta,
        "epoch": 0, "event_id": f"plc:Assy.{kind}:0:{value}", **extra})


def scan(station, text, device="scanner"):
    from drivers.gs1 import decode_scan
    return Reading(device, "scan", text, TS, attrs={"station": station,
                                                    **decode_scan(text).attrs})


def test_good_counts_complete_the_active_order_into_finished_goods(mapper):
    m = mapper.map(counter(3))
    assert m.event == {"id": "plc:Assy.good:0:10", "type": "completion", "ts": TS,
                       "source": "plc", "work_order": "WO-W", "qty": 3, "location": "FG"}


def test_scrap_counts_carry_the_configured_operation(mapper):
    m = mapper.map(counter(1, kind="scrap", operation=10))
    assert (m.event["type"], m.event["operation"], m.event["qty"]) == ("scrap", 10, 1)


def test_counts_with_no_active_order_become_exceptions(mapper):
    m = mapper.map(counter(4, line="WC-WELD"))
    assert m.event is None
    assert m.exception == ("unassigned_count",
                           "4 good count(s) on WC-WELD with no active work order")


def test_a_semi_finished_order_delivers_where_the_next_step_draws_it(demo):
    cfg, master = demo
    m = Mapper(cfg, master, {"WC-WELD": "WO-F"}.get)
    m.note_release("WO-F", "SA-FRAME")
    assert m.map(counter(2, line="WC-WELD")).event["location"] == "LINE2"


def test_receiving_scan_is_a_receipt_priced_from_the_po_line(mapper):
    text = "]C1" + gs1_element_string(sscc="40012340000000001", gtin="0" + STEEL,
                                      contained=True, net_kg=60.0, lot="H1")
    m = mapper.map(scan("dock-in", text))
    ev = m.event
    assert (ev["type"], ev["item"], ev["qty"], ev["location"], ev["po"], ev["unit_price"],
            ev["lot"]) == ("receipt", "RM-STEEL", 60.0, "RM", "PO-1001", 2.45, "H1")
    # The pallet's SSCC names the receipt: a rescan of the same pallet is a duplicate.
    assert ev["id"] == "scanner:" + "40012340000000001" + check_digit("40012340000000001")


def test_receipt_without_a_po_line_waits_for_a_supervisor_with_its_draft(mapper):
    text = "]C1" + gs1_element_string(gtin="0" + FG, count=5)
    m = mapper.map(scan("dock-in", text))
    kind, detail = m.exception
    assert kind == "no_po"
    draft = json.loads(detail)["draft"]
    assert (draft["type"], draft["item"], draft["qty"]) == ("receipt", "FG-WIDGET", 5.0)


def test_line_scan_then_stable_weight_is_one_issue_in_the_items_uom(mapper):
    note = mapper.map(scan("mix", "]C1" + gs1_element_string(gtin="04001234000022")))
    assert note.event is None and "RM-RESIN" in note.note
    w = Reading("scale-mix", "weight", 350.0, TS, unit="g",
                attrs={"station": "mix", "weighing": 7, "session": "s1"})
    ev = mapper.map(w).event
    assert (ev["type"], ev["item"], ev["qty"], ev["work_order"]) == \
        ("issue", "RM-RESIN", 0.35, "WO-W")


def test_weight_before_any_scan_is_an_exception(mapper):
    w = Reading("scale-mix", "weight", 1.0, TS, unit="kg", attrs={"station": "mix"})
    assert mapper.map(w).exception[0] == "weight_without_item"


def test_work_order_barcode_starts_the_order_on_the_stations_line(mapper):
    start = mapper.map(scan("mix", "WO:WO-77")).event
    assert (start["type"], start["work_order"], start["line"]) == ("wo_start", "WO-77", "WC-MOLD")
    # the id is the reading's: the same scan redelivered is the same event
    assert mapper.map(scan("mix", "WO:WO-77")).event["id"] == start["id"]
    assert mapper.map(scan("dock-in", "WO:WO-77")).exception[0] == "unmapped"


def test_unknown_gtin_and_shipping_without_price_are_exceptions(mapper):
    text = "]C1" + gs1_element_string(gtin="0400123400999")
    assert mapper.map(scan("dock-in", text)).exception[0] == "unknown_gtin"
    ship = mapper.map(scan("dock-out", "]C1" + gs1_element_string(gtin="0" + FG, count=3)))
    assert ship.exception[0] == "no_price"


def test_mqtt_units_and_scans(mapper):
    good = Reading("line2-counter", "good", 2, TS, attrs={"line": "WC-ASSY",
                                                           "event_id": "m-1"})
    assert mapper.map(good).event["type"] == "completion"
    scrap = Reading("line2-counter", "scrap", 1, TS, attrs={"work_order": "WO-9",
                                                             "operation": 20, "event_id": "m-2"})
    assert (mapper.map(scrap).event["work_order"], mapper.map(scrap).event["operation"]) == \
        ("WO-9", 20)
    lost = Reading("line2-counter", "good", 2, TS, attrs={"event_id": "m-3"})
    assert mapper.map(lost).exception[0] == "unmapped"
    raw = Reading("tablet", "scan", "WO:WO-5", TS, attrs={"station": "mix", "event_id": "m-4"})
    start = mapper.map(raw).event
    assert (start["id"], start["type"], start["line"]) == ("m-4", "wo_start", "WC-MOLD")


@pytest.mark.parametrize("value, unit, to, want", [
    (350, "g", "kg", 0.35), (1, "lb", "kg", 0.45359237), (2, "kg", "g", 2000.0),
    (1, "kg", "ea", None), (1, "stone", "kg", None)])
def test_mass_conversion(value, unit, to, want):
    assert convert_mass(value, unit, to) == want


def units(device="press-1", topic="plant/line2/press-1/readings", **attrs):
    return Reading(device, "good", 2, TS, attrs={"via": "line-mqtt", "topic": topic,
                                                 "event_id": f"{device}:1", **attrs})


def test_a_device_topic_books_the_device_to_its_line_active_order(mapper):
    m = mapper.map(units(line="WC-ASSY"))
    assert (m.event["work_order"], m.event["location"], m.event["source"]) == \
        ("WO-W", "FG", "press-1")
    # naming its own line's active order and a location of that line is allowed too
    assert mapper.map(units(line="WC-ASSY", work_order="WO-W", location="LINE2")).event


@pytest.mark.parametrize("reading, why", [
    (units(line="WC-ASSY", work_order="WO-P2", location="QA"),
     "work_order: 'press-1' may not book to 'WO-P2'"),
    (units(line="WC-ASSY", location="QA"), "location: 'press-1' may not book into 'QA'"),
    (units(device="press-9", line="WC-ASSY"),
     "device: 'press-9' is not the device of topic 'plant/line2/press-1/readings'"),
    (units(device="supervisor:alice", line="WC-ASSY"), "device: 'supervisor:alice'"),
])
def test_a_device_may_not_book_beyond_what_its_topic_binds(mapper, reading, why):
    m = mapper.map(reading)
    assert m.event is None
    kind, reason = m.exception
    assert kind == "unbound_device" and reason.startswith(why)


def test_the_config_can_list_who_may_publish_and_where_they_book(demo):
    import msgspec
    cfg, master = demo
    dev = next(d for d in cfg.devices if d.id == "line-mqtt")
    bound = msgspec.structs.replace(dev, line="WC-ASSY", devices=["press-1"],
                                    work_orders=["WO-W", "WO-X"], locations=["QA"])
    cfg = msgspec.structs.replace(cfg, devices=[bound if d is dev else d for d in cfg.devices])
    m = Mapper(cfg, master, {"WC-ASSY": "WO-W"}.get)
    assert m.map(units(work_order="WO-X", location="QA")).event["work_order"] == "WO-X"
    assert m.map(units(line="WC-MOLD")).exception[1].startswith(
        "line: 'press-1' books to line 'WC-ASSY', not 'WC-MOLD'")
    assert m.map(units(device="press-2", topic="plant/line2/press-2/readings")
                 ).exception[1].startswith("device: 'press-2' may not publish")


def test_a_misspelled_name_in_a_reading_gets_the_nearest_known_one(demo):
    import msgspec
    cfg, master = demo
    dev = next(d for d in cfg.devices if d.id == "line-mqtt")
    bound = msgspec.structs.replace(dev, line="WC-ASSY", devices=["press-1", "press-2"],
                                    locations=["LINE2"])
    cfg = msgspec.structs.replace(cfg, devices=[bound if d is dev else d for d in cfg.devices])
    m = Mapper(cfg, master, {"WC-ASSY": "WO-W"}.get)
    assert m.map(units(device="pres-1", topic="plant/line2/pres-1/readings")).exception[1] == (
        "device: 'pres-1' may not publish on 'plant/line2/pres-1/readings' (allowed: press-1, "
        "press-2); did you mean 'press-1'?")
    assert m.map(units(location="LINE-2")).exception[1] == (
        "location: 'press-1' may not book into 'LINE-2' (allowed: LINE2); did you mean 'LINE2'?")
    scan = Reading("tablet", "scan", "WO:WO-5", TS, attrs={"station": "mixx", "event_id": "s"})
    assert m.map(scan).exception == (
        "unmapped", "scan from tablet at unknown station 'mixx' (not in [[stations]]); "
        "did you mean 'mix'?")
