"""Supervisor actions against a real journal: each booking is an event committed with the
resolution of its exception; acting twice is refused, never applied twice."""

from __future__ import annotations

import json

import pytest

from gateway.actions import make_act
from gateway.config import load_config
from gateway.dashboard.state import ActionRefused
from gateway.journal import Journal, SideEffects, Submission
from gateway.mapping import Mapper
from gateway.masterdata import load_master
from tests.gateway.plant import ev, write_plant

TS = "2026-11-20T08:00:00Z"


@pytest.fixture
def setup(tmp_path):
    cfg = load_config(write_plant(tmp_path))
    master = load_master(cfg)
    journal = Journal(str(tmp_path / "a.db"), master)
    journal.submit([Submission(ev("rel", "wo_release", work_order="WO", item="F", qty=9,
                                  line="WC2"))])
    mapper = Mapper(cfg, master, lambda line: None)
    mapper.note_release("WO", "F")

    async def run(fn):
        return fn()

    yield journal, make_act(journal, mapper, run)
    journal.close()


def _exception(journal, kind, raw) -> int:
    journal.submit([], side=SideEffects(exceptions=[(kind, "plc", "test", json.dumps(raw))]))
    return journal.conn.execute("SELECT MAX(id) FROM exceptions").fetchone()[0]


COUNT = {"device": "plc", "kind": "counter", "value": 12, "ts": TS, "unit": None,
         "attrs": {"node": "n", "line": "WC2", "counter_kind": "good", "delta": 3,
                   "epoch": 0, "event_id": "plc:n:0:12"}}


async def test_assign_count_books_the_completion_and_resolves_once(setup):
    journal, act = setup
    exc = _exception(journal, "unassigned_count", COUNT)
    msg = await act("assign_count", user="sam", exception_id=exc, work_order="WO")
    assert "completion plc:n:0:12 booked" in msg
    row = journal.conn.execute("SELECT type, source, json_extract(payload, '$.qty'),"
                               " json_extract(payload, '$.location'), reading,"
                               " json_extract(payload, '$.claimed_source') FROM events"
                               " WHERE id='plc:n:0:12'").fetchone()
    # the supervisor who booked it is the actor; the device it came from is the claim
    assert row[:4] == ("completion", "supervisor:sam", 3, "FG")
    assert row[5] == "plc"
    assert json.loads(row[4])["attrs"]["delta"] == 3  # the reading stays traceable
    assert journal.conn.execute("SELECT status, resolved_by, resolution FROM exceptions"
                                " WHERE id=?", (exc,)).fetchone() == \
        ("resolved", "sam", "assigned to WO by sam")
    with pytest.raises(ActionRefused, match="already resolved"):
        await act("assign_count", user="sam", exception_id=exc, work_order="WO")
    assert journal.conn.execute("SELECT good FROM work_orders").fetchone() == (3.0,)


async def test_a_booking_the_engine_refuses_leaves_the_exception_open(setup):
    journal, act = setup
    journal.submit([Submission(ev("x", "wo_close", work_order="WO"))])
    exc = _exception(journal, "unassigned_count", COUNT)
    with pytest.raises(ActionRefused, match="closed"):
        await act("assign_count", user="sam", exception_id=exc, work_order="WO")
    assert journal.conn.execute("SELECT status FROM exceptions WHERE id=?",
                                (exc,)).fetchone() == ("open",)


async def test_confirm_po_prices_the_draft_receipt_from_the_po_line(setup):
    journal, act = setup
    draft = {"id": "scanner:0001", "type": "receipt", "ts": TS, "source": "scanner",
             "item": "A", "qty": 10.0, "location": "L1"}
    exc = _exception(journal, "no_po", {"reason": "no open PO line", "draft": draft})
    with pytest.raises(ActionRefused, match="PO-2 has no line for A"):
        await act("confirm_po", user="sam", exception_id=exc, po="PO-2")
    await act("confirm_po", user="sam", exception_id=exc, po="PO-1")
    payload = json.loads(journal.conn.execute("SELECT payload FROM events WHERE"
                                              " id='scanner:0001'").fetchone()[0])
    assert (payload["po"], payload["unit_price"], payload["qty"]) == ("PO-1", 2.10, 10.0)


async def test_dismiss_needs_a_reason_and_records_who_and_why(setup):
    journal, act = setup
    exc = _exception(journal, "unassigned_count", COUNT)
    with pytest.raises(ActionRefused, match="needs a reason"):
        await act("dismiss", user="sam", exception_id=exc, reason="  ")
    await act("dismiss", user="sam", exception_id=exc, reason="test piece, not production")
    assert journal.conn.execute("SELECT status, resolution, resolved_by FROM exceptions"
                                " WHERE id=?", (exc,)).fetchone() == \
        ("dismissed", "test piece, not production", "sam")
    with pytest.raises(ActionRefused, match="not open"):
        await act("dismiss", user="sam", exception_id=exc, reason="again")


async def test_a_receipt_held_on_an_unknown_po_is_confirmed_on_a_real_line(setup):
    journal, act = setup
    [res] = journal.submit([Submission(ev("r9", "receipt", item="A", qty=4, location="L1",
                                          unit_price=9.99, po="PO-9999"), source="erp")])
    assert res.status == "rejected" and "held for a supervisor" in res.reason
    (exc,) = journal.conn.execute("SELECT id FROM exceptions WHERE kind='no_po'"
                                  " AND event_id='r9'").fetchone()
    await act("confirm_po", user="sam", exception_id=exc, po="PO-1")
    src, payload = journal.conn.execute("SELECT source, payload FROM events WHERE"
                                        " id='r9'").fetchone()
    payload = json.loads(payload)
    assert (src, payload["po"], payload["unit_price"]) == ("supervisor:sam", "PO-1", 2.10)


async def test_an_action_booking_beyond_the_bounds_is_refused_and_the_exception_stays(setup):
    journal, act = setup
    draft = {"id": "scanner:0002", "type": "receipt", "ts": TS, "item": "A",
             "qty": 1e20, "location": "L1"}
    exc = _exception(journal, "no_po", {"reason": "no open PO line", "draft": draft})
    with pytest.raises(ActionRefused, match="qty: 1e\\+20 is outside the plausible range"):
        await act("confirm_po", user="sam", exception_id=exc, po="PO-1")
    assert journal.conn.execute("SELECT status FROM exceptions WHERE id=?",
                                (exc,)).fetchone() == ("open",)


async def test_dismiss_many_dismisses_all_or_none(setup):
    journal, act = setup
    a, b = (_exception(journal, "unassigned_count", COUNT) for _ in range(2))
    await act("dismiss", user="sam", exception_id=b, reason="done already")
    with pytest.raises(ActionRefused, match=f"exception {b} is not open"):
        await act("dismiss_many", user="sam", exception_ids=[a, b], reason="cable fixed")
    assert journal.conn.execute("SELECT status FROM exceptions WHERE id=?", (a,)).fetchone() \
        == ("open",)
    c = _exception(journal, "unassigned_count", COUNT)
    assert await act("dismiss_many", user="sam", exception_ids=[a, c], reason="cable fixed") \
        == "2 exceptions dismissed"
    assert journal.conn.execute(
        "SELECT id, status, resolution, resolved_by FROM exceptions WHERE id IN (?, ?)"
        " ORDER BY id", (a, c)).fetchall() == [(a, "dismissed", "cable fixed", "sam"),
                                              (c, "dismissed", "cable fixed", "sam")]


def _lines(journal, event_id, codes) -> set[tuple]:
    role = {code: key for key, code in codes.items()}
    return {(role[a], d, c) for a, d, c in journal.conn.execute(
        "SELECT account, debit, credit FROM journal_lines WHERE event_id=?", (event_id,))}


async def test_a_price_mismatch_approved_posts_the_draft_with_who_approved_it(setup, tmp_path):
    journal, act = setup
    codes = load_config(str(tmp_path / "gateway.toml")).accounts.by_key()
    journal.submit([Submission(ev("r1", "receipt", item="A", qty=10, location="L1",
                                  unit_price=2.10, po="PO-1"), source="erp")])
    # 2.20 is 4.76 % over PO-1's 2.10: held
    [res] = journal.submit([Submission(ev("i1", "supplier_invoice", invoice="INV-7", po="PO-1",
                                          item="A", qty=10, unit_price=2.20), source="erp")])
    assert res.status == "rejected"
    (exc,) = journal.conn.execute("SELECT id FROM exceptions WHERE kind='invoice_mismatch'"
                                  " AND event_id='i1'").fetchone()
    with pytest.raises(ActionRefused, match="is a invoice_mismatch, not a no_po"):
        await act("confirm_po", user="cora", exception_id=exc, po="PO-1")
    assert await act("approve_invoice", user="cora", exception_id=exc) == \
        f"supplier_invoice i1 booked; exception {exc} resolved"
    src, by = journal.conn.execute("SELECT source, json_extract(payload, '$.approved_by')"
                                   " FROM events WHERE id='i1'").fetchone()
    assert (src, by) == ("supervisor:cora", "cora")
    # GRNI 10 x 2.10 = 21.00 cleared; AP 10 x 2.20 = 22.00; the 1.00 between is the variance
    assert _lines(journal, "i1", codes) == {("grni", 2100, 0), ("ap", 0, 2200),
                                            ("invoice_price_variance", 100, 0)}
    assert journal.conn.execute("SELECT status, resolved_by, resolution FROM exceptions"
                                " WHERE id=?", (exc,)).fetchone() == \
        ("resolved", "cora", "price approved by cora")
    with pytest.raises(ActionRefused, match="already resolved"):
        await act("approve_invoice", user="cora", exception_id=exc)


async def test_a_quantity_mismatch_cannot_be_approved_only_dismissed(setup):
    journal, act = setup
    journal.submit([Submission(ev("r1", "receipt", item="A", qty=4, location="L1",
                                  unit_price=2.10, po="PO-1"), source="erp")])
    journal.submit([Submission(ev("i2", "supplier_invoice", invoice="INV-8", po="PO-1",
                                  item="A", qty=6, unit_price=2.10), source="erp")])
    (exc, reason) = journal.conn.execute("SELECT id, reason FROM exceptions"
                                         " WHERE kind='invoice_mismatch'").fetchone()
    assert "qty 6 > 4 received and not invoiced on PO-1 A" in reason
    with pytest.raises(ActionRefused, match="is a qty mismatch: only a price mismatch"):
        await act("approve_invoice", user="cora", exception_id=exc)
    assert journal.conn.execute("SELECT status FROM exceptions WHERE id=?",
                                (exc,)).fetchone() == ("open",)
    assert journal.conn.execute("SELECT COUNT(*) FROM events WHERE id='i2'").fetchone() == (0,)
    await act("dismiss", user="cora", exception_id=exc, reason="supplier sends a credit note")
    assert journal.conn.execute("SELECT status FROM exceptions WHERE id=?",
                                (exc,)).fetchone() == ("dismissed",)
