"""The release check (gateway.release_check) on a real journal file.

The test plant's S is made of 2 A at 10 % scrap, consumed at operation 10 on WC1, whose
stock is L1: one S needs 2 x 1.10 = 2.2 A at L1, ten of them 22.
"""

from __future__ import annotations

import textwrap

import pytest

from gateway.config import load_config
from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from tests.gateway.plant import ev, write_plant

BOMS = """\
    parent,component,qty_per,scrap_pct,consumption,operation
    S,A,2,10,backflush,10
    F,S,1,0,backflush,10
    F,C,3,0,backflush,10
    F,B,1,0,issue,20
    """


@pytest.fixture
def master(tmp_path):
    cfg_path = write_plant(tmp_path)
    (tmp_path / "master" / "boms.csv").write_text(textwrap.dedent(BOMS))
    cfg = load_config(cfg_path)
    assert cfg.costing.release_check == "warn"  # the default
    return load_master(cfg)


def _journal(tmp_path, master, mode):
    return Journal(str(tmp_path / f"{mode}.db"), master, release_check=mode)


def _receipt(id_, qty):
    return ev(id_, "receipt", item="A", qty=qty, location="L1", unit_price=2.0)


def _release(id_, order, qty):
    return ev(id_, "wo_release", work_order=order, item="S", qty=qty, line="WC1")


def _submit(j, *events):
    return j.submit([Submission(e, source="test") for e in events])


def _shorts(j):
    return j.conn.execute("SELECT event_id, field, reason, status FROM exceptions"
                          " WHERE kind='short_components'").fetchall()


def test_enough_stock_raises_no_exception(tmp_path, master):
    j = _journal(tmp_path, master, "warn")
    _submit(j, _receipt("r1", 22))
    [res] = _submit(j, _release("w1", "WO1", 10))
    assert res.status == "applied" and _shorts(j) == []
    j.close()


def test_short_by_three_is_booked_and_flagged_naming_item_needed_and_available(
        tmp_path, master):
    j = _journal(tmp_path, master, "warn")
    _submit(j, _receipt("r1", 19))
    [res] = _submit(j, _release("w1", "WO1", 10))
    assert res.status == "applied"
    assert _shorts(j) == [("w1", "work_order", "work_order: 'WO1' released short of"
                           " components: A at L1: needs 22, 19 available", "open")]
    assert j.conn.execute("SELECT status FROM work_orders WHERE work_order='WO1'"
                          ).fetchone() == ("open",)
    j.close()


def test_another_open_orders_remaining_need_counts_against_availability(tmp_path, master):
    j = _journal(tmp_path, master, "warn")
    _submit(j, _receipt("r1", 44))
    _submit(j, _release("w1", "WO1", 10))  # needs 22 of the 44
    # 5 of WO1 done: 11 A backflushed (stock 33), WO1 still needs 5 x 2.2 = 11
    _submit(j, ev("c1", "completion", work_order="WO1", qty=5, location="FG"))
    [res] = _submit(j, _release("w2", "WO2", 12))  # needs 26.4; 33 - 11 = 22 left
    assert res.status == "applied"
    assert [r[2] for r in _shorts(j)] == [
        "work_order: 'WO2' released short of components: A at L1: needs 26.4,"
        " 22 available"]
    j.close()


def test_an_earlier_release_in_the_same_batch_counts_too(tmp_path, master):
    j = _journal(tmp_path, master, "warn")
    _submit(j, _receipt("r1", 30))
    _submit(j, _release("w1", "WO1", 10), _release("w2", "WO2", 5))  # 22, then 11 of 8
    assert [r[2] for r in _shorts(j)] == [
        "work_order: 'WO2' released short of components: A at L1: needs 11, 8 available"]
    j.close()


def test_refuse_holds_the_release_naming_the_short_components(tmp_path, master):
    j = _journal(tmp_path, master, "refuse")
    _submit(j, _receipt("r1", 19))
    [res] = _submit(j, _release("w1", "WO1", 10))
    assert (res.status, res.field) == ("rejected", "work_order")
    assert "A at L1: needs 22, 19 available" in res.reason
    [(eid, field, reason, status)] = _shorts(j)
    assert (eid, field, status) == ("w1", "work_order", "open")
    assert j.conn.execute("SELECT count(*) FROM work_orders").fetchone() == (0,)
    assert j.conn.execute("SELECT count(*) FROM events WHERE type='wo_release'"
                          ).fetchone() == (0,)
    # the same release redelivered is still one open exception
    _submit(j, _release("w1", "WO1", 10))
    assert len(_shorts(j)) == 1
    # enough stock arrives: the release goes through
    _submit(j, _receipt("r2", 3))
    [res] = _submit(j, _release("w1", "WO1", 10))
    assert res.status == "applied"
    j.close()


def test_off_checks_nothing(tmp_path, master):
    j = _journal(tmp_path, master, "off")
    [res] = _submit(j, _release("w1", "WO1", 10))
    assert res.status == "applied" and _shorts(j) == []
    j.close()
