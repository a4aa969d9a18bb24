"""`gateway trace`: a GL line back to the reading that caused it, a lot forward to the
shipment that took it, a shipment back to its lots — on a real journal, by the real CLI."""

from __future__ import annotations

import json

import pytest

from tests.gateway import trace_plant
from tests.gateway.plant import gateway


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return str(trace_plant.build(tmp_path_factory.mktemp("trace")))


def _json(cfg: str, *what: str) -> dict:
    return json.loads(gateway("trace", "-c", cfg, "--format", "json", *what, check=True).stdout)


def test_a_gl_line_leads_to_its_entry_event_and_the_raw_counter_reading(cfg):
    # entry of c1 (the frames' completion): the finished-frames debit is its 7th line
    out = _json(cfg, "line", "14")
    assert out["kind"] == "line"
    assert (out["line"]["account"], out["line"]["debit"], out["line"]["memo"]) == \
        ("1320", "90.00", "completion")
    assert out["event"]["id"] == "c1" and out["event"]["source"] == "plc-assy"
    assert out["reading"] == trace_plant.COUNT
    assert [ln["line"] for ln in out["lines"]] == list(range(8, 16))
    table = gateway("trace", "-c", cfg, "14", check=True).stdout
    assert "event #5 c1 (completion)" in table and '"node": "ns=2;s=Assy.Good"' in table
    assert "→    14  1320" in table  # the line asked for is marked


def test_an_event_id_and_an_event_without_reading(cfg):
    out = _json(cfg, "i1")
    assert out["kind"] == "event" and out["reading"] is None
    assert out["payload"]["item"] == "B" and out["lines"][0]["debit"] == "6.00"
    assert "none (not from a device reading)" in gateway("trace", "-c", cfg, "event", "i1",
                                                         check=True).stdout


def test_unknown_keys_say_what_was_tried(cfg):
    p = gateway("trace", "-c", cfg, "nope")
    assert p.returncode == 1
    assert "'nope': no batch id, event id or journal line number matches" in p.stderr
    p = gateway("trace", "-c", cfg, "lot", "LOT-ZZ")
    assert p.returncode == 1 and "lot 'LOT-ZZ': no event in the journal names this lot" in p.stderr
    p = gateway("trace", "-c", cfg, "lots", "LOT-A1")
    assert p.returncode == 2 and "KIND: 'lots' is not one of" in p.stderr


def test_lot_forward_reaches_the_shipment_and_marks_the_backflush_as_possible(cfg):
    nodes = _json(cfg, "lot", "LOT-A1")["nodes"]
    assert [(n["depth"], n["label"], n["event_id"], n["certain"]) for n in nodes] == [
        (0, "lot LOT-A1", None, True),
        (1, "received on PO-1", "r1", True),
        (2, "backflushed into WO-S", "c1", False),  # the lot is not on the backflush
        (3, "WO-S produced S", "c1", True),
        (4, "backflushed into WO-F", "c2", True),
        (5, "WO-F produced F", "c2", True),
        (6, "shipped on SO-1", "s1", True),
    ]


def test_shipment_backward_lists_every_lot_it_can_hold(cfg):
    out = _json(cfg, "shipment", "SO-1")
    leaves = [(n["label"], n["item"], n["lot"]) for n in out["nodes"] if n["type"] == "receipt"]
    assert leaves == [("received on PO-2", "B", None), ("received", "C", "LOT-C1"),
                      ("received on PO-1", "A", "LOT-A1")]
    table = gateway("trace", "-c", cfg, "shipment", "SO-1", check=True).stdout
    assert "made by WO-F" in table and "backflushed S" in table


def test_a_batch_leads_to_exactly_its_lines_and_their_events(tmp_path):
    from gateway.trace import batch_chain
    from gateway.upstream.batcher import Batcher
    from gateway.upstream.forwarder import connect

    trace_plant.build(tmp_path)
    [db] = (tmp_path / "var").glob("*.db")
    conn = connect(str(db), "FULL")
    seqs = Batcher(conn, "trace", "EUR", 2, max_lines=10).run_once(force=True)
    assert len(seqs) > 2  # several batches, so a batch's lines are some of them
    for seq in seqs:
        (batch_id,) = conn.execute("SELECT batch_id FROM batches WHERE seq = ?", (seq,)).fetchone()
        marked = [ln for (ln,) in conn.execute(
            "SELECT line FROM journal_line_ids WHERE batch_seq = ? ORDER BY line", (seq,))]
        chain = batch_chain(conn, batch_id)
        assert [ln["line"] for ln in chain["lines"]] == marked and marked
        events = {ln["event_id"] for ln in chain["lines"]}
        assert {ev["id"] for ev in chain["events"]} == events
    conn.close()
