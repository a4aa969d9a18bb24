"""Hypothesis mutates valid events (types, magnitudes, strings, nesting, raw bytes) and
feeds them, a micro-batch at a time, to a real journal: no exception escapes, every
outcome is applied, a duplicate or rejected with a reason, the ledger stays balanced and
no book value goes beyond what int64 money holds."""

from __future__ import annotations

import collections
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.bounds import MONEY_CEILING
from gateway.config import load_config
from gateway.journal import Journal, Submission
from gateway.masterdata import load_master
from tests.gateway.plant import ev, write_plant

BASES = [
    ev("", "receipt", item="A", qty=10, location="RM", unit_price=2.10, po="PO-1"),
    ev("", "receipt", item="C", qty=5, location="L2", unit_price=0.45),
    ev("", "issue", work_order="WO-F", item="B", qty=1),
    ev("", "labor", work_order="WO-F", operation=20, hours=0.5),
    ev("", "completion", work_order="WO-F", qty=1, location="FG"),
    ev("", "scrap", work_order="WO-F", qty=1, operation=10),
    ev("", "shipment", item="A", qty=1, location="RM", unit_price=3.0),
    ev("", "count", item="A", location="RM", counted_qty=12),
    ev("", "transfer", item="A", qty=1, from_location="RM", to_location="L1"),
]

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([0, 1e-300, 2 ** 53 + 1, 1e9, 1e17, 2e17, 1e20, 1e308, 8784, 0.5]),
)
texts = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", "x" * 300, "2026-W47-6", "20261121T070000Z", "2026-11-20 08:00:00Z",
     "2026-11-20T08:00:00", "9999-12-31T23:59:59Z", "supervisor:alice", "PO-9999"]))
values = st.one_of(numbers, texts, st.none(), st.booleans(),
                   st.lists(st.integers(), max_size=3),
                   st.integers(1, 3000).map(lambda d: "[" * d + "]" * d))


@st.composite
def mutated(draw) -> object:
    event = dict(draw(st.sampled_from(BASES)))
    how = draw(st.sampled_from(["valid", "set", "set", "drop", "add", "nest", "bytes"]))
    field = draw(st.sampled_from(sorted(event)))
    if how == "set":
        event[field] = draw(values)
    elif how == "drop" and field != "id":
        del event[field]
    elif how == "add":
        event[draw(st.sampled_from(["source", "claimed_source", "colour", "lot"]))] = draw(values)
    elif how == "nest":
        depth = draw(st.integers(10, 40_000))
        text = json.dumps(event)
        return text[:-1] + ', "lot": ' + "[" * depth + "]" * depth + "}"
    elif how == "bytes":
        text = json.dumps(event).encode()
        cut = draw(st.integers(0, len(text)))
        return text[:cut] + draw(st.binary(max_size=8)) + text[cut:]
    return event


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    where = tmp_path_factory.mktemp("fuzz")
    cfg = load_config(write_plant(where))
    j = Journal(str(where / "fuzz.db"), load_master(cfg), synchronous="NORMAL")
    j.submit([Submission(ev("rel", "wo_release", work_order="WO-F", item="F", qty=50,
                            line="WC2"))])
    yield j
    j.close()


TALLY: collections.Counter = collections.Counter()
_ids = itertools.count()


@settings(max_examples=600, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(mutated(), min_size=1, max_size=10))
def test_mutated_events_are_applied_or_rejected_with_a_reason(journal, batch):
    subs = []
    for raw in batch:
        if isinstance(raw, dict) and raw.get("id") == "":
            raw = {**raw, "id": f"e{next(_ids)}"}
        subs.append(Submission(raw, source="fuzz"))
    results = journal.submit(subs)
    assert len(results) == len(subs)
    for res in results:
        TALLY[res.status] += 1
        assert res.status in ("applied", "duplicate", "rejected")
        if res.status == "rejected":
            assert res.reason
    conn = journal.conn
    debit, credit = conn.execute(
        "SELECT COALESCE(SUM(debit), 0), COALESCE(SUM(credit), 0) FROM journal_lines").fetchone()
    assert debit == credit
    assert conn.execute("SELECT COUNT(*) FROM (SELECT entry FROM journal_lines GROUP BY entry"
                        " HAVING SUM(debit) != SUM(credit))").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM journal_lines WHERE event_id NOT IN"
                        " (SELECT id FROM events)").fetchone()[0] == 0
    biggest = conn.execute("SELECT MAX(ABS(value)) FROM item_costs").fetchone()[0] or 0
    assert biggest < MONEY_CEILING


def test_the_fuzz_tried_thousands_of_events_and_both_outcomes(journal):
    # runs after the property above (file order): it must have exercised both paths
    assert sum(TALLY.values()) >= 2000, TALLY
    assert TALLY["applied"] > 0 and TALLY["rejected"] > 0, TALLY
    print(f"fuzz outcomes: {dict(TALLY)}")
