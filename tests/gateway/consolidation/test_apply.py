"""One batch into the plant ledger on a real PostgreSQL: exactly once, refused when unsound."""

from __future__ import annotations

import psycopg
import pytest

from gateway.plant.apply import Ahead, Applied, Duplicate, Quarantined, Rules, apply_message
from gateway.plant.schema import ensure_schema, register_gateways
from tests.support.postgres import pg_cluster, postgres_dsn  # noqa: F401 (fixtures)

from .batches import batch, body

RULES = Rules(currency="EUR", decimals=2, gateways=frozenset({"line1", "line2"}))


@pytest.fixture
def conn(postgres_dsn):
    with psycopg.connect(postgres_dsn, autocommit=True) as c:
        ensure_schema(c)
        register_gateways(c, sorted(RULES.gateways))
        yield c


def _totals(conn) -> dict:
    return {g: (d, c) for g, d, c in conn.execute(
        "SELECT gateway, sum(debit), sum(credit) FROM plant_lines GROUP BY gateway ORDER BY 1")}


def _quarantine(conn) -> list[tuple]:
    return conn.execute("SELECT kind, batch_id, field FROM plant_quarantine ORDER BY id").fetchall()


def test_a_batch_is_applied_with_its_lines_in_minor_units(conn):
    out = apply_message(conn, body(batch("line1", 1, [1234, 99])), RULES, stream_seq=7)
    assert out == Applied("line1", "line1-1", 2)  # summarized: 1300/WC1 and 1400/WC1
    assert _totals(conn) == {"line1": (1333, 1333)}
    assert conn.execute("SELECT last_seq, last_batch_id, last_stream_seq, batches, lines "
                        "FROM plant_gateways WHERE gateway = 'line1'").fetchone() == (1, "line1-1", 7, 1, 2)


def test_detailed_lines_keep_their_dimensions(conn):
    apply_message(conn, body(batch("line1", 1, [500], summarize=False)), RULES)
    assert conn.execute("SELECT line_no, account, work_order, item, entry, debit, credit "
                        "FROM plant_lines ORDER BY line_no").fetchall() == [
        (1, "1400", "WO1", "F", 100, 500, 0), (2, "1300", "WO1", "A", 100, 0, 500)]


def test_a_redelivery_is_a_no_op(conn):
    b = body(batch("line1", 1, [1000]))
    assert isinstance(apply_message(conn, b, RULES), Applied)
    assert apply_message(conn, b, RULES) == Duplicate("line1", "line1-1")
    assert _totals(conn) == {"line1": (1000, 1000)}
    assert conn.execute("SELECT count(*) FROM plant_batches").fetchone()[0] == 1


def test_an_unbalanced_batch_is_quarantined_and_the_sequence_goes_on(conn):
    doc = batch("line1", 1, [1000])
    debit_line = next(x for x in doc["lines"] if x["debit"] != "0.00")
    debit_line["debit"] = "10.01"
    out = apply_message(conn, body(doc), RULES)
    assert isinstance(out, Quarantined) and out.problem.kind == "unbalanced"
    assert "debit 1001 != credit 1000" in out.problem.reason
    assert _quarantine(conn) == [("unbalanced", "line1-1", "lines")]
    assert _totals(conn) == {}
    assert isinstance(apply_message(conn, body(batch("line1", 2, [5])), RULES), Applied)
    assert apply_message(conn, body(doc), RULES) == Duplicate("line1", "line1-1")  # no second row
    assert len(_quarantine(conn)) == 1


def test_totals_that_disagree_with_the_lines_are_refused(conn):
    doc = batch("line1", 1, [1000])
    doc["totals"] = {"debit": "10.00", "credit": "10.01"}
    out = apply_message(conn, body(doc), RULES)
    assert isinstance(out, Quarantined) and out.problem.field == "totals.credit"


@pytest.mark.parametrize("change, field", [
    (lambda d: d["lines"][0].update(debit=12.5), "lines[0].debit"),
    (lambda d: d["lines"][0].update(debit="1.234"), "lines[0].debit"),
    (lambda d: d["lines"][1].pop("account"), "lines[1].account"),
    (lambda d: d.update(currency="USD"), "currency"),
    (lambda d: d.update(created_at="yesterday"), "created_at"),
])
def test_a_bad_field_is_named_in_the_quarantine(conn, change, field):
    doc = batch("line1", 1, [1000])
    change(doc)
    out = apply_message(conn, body(doc), RULES)
    assert isinstance(out, Quarantined) and out.problem.field == field, out


def test_a_batch_from_an_unknown_gateway_is_quarantined(conn):
    out = apply_message(conn, body(batch("line9", 1, [1000])), RULES)
    assert isinstance(out, Quarantined) and out.problem.kind == "unknown_gateway"
    assert _totals(conn) == {}


def test_a_batch_ahead_of_its_sequence_waits_then_is_quarantined_as_a_gap(conn):
    apply_message(conn, body(batch("line1", 1, [100])), RULES)
    b3 = body(batch("line1", 3, [300]))
    assert apply_message(conn, b3, RULES) == Ahead("line1", "line1-3", 2)
    assert _quarantine(conn) == []
    out = apply_message(conn, b3, RULES, final=True)
    assert isinstance(out, Quarantined) and out.problem.kind == "sequence_gap"
    assert "batches 2..2 never arrived" in out.problem.reason
    assert _totals(conn) == {"line1": (100, 100)}
    assert conn.execute("SELECT last_seq FROM plant_gateways WHERE gateway = 'line1'").fetchone() == (1,)


def test_the_missing_batch_releases_the_ones_held_for_the_gap(conn):
    apply_message(conn, body(batch("line1", 1, [100])), RULES)
    for seq in (3, 4):
        apply_message(conn, body(batch("line1", seq, [seq * 100])), RULES, final=True)
    out = apply_message(conn, body(batch("line1", 2, [200])), RULES)
    assert out == Applied("line1", "line1-2", 2, healed=("line1-3", "line1-4"))
    assert _quarantine(conn) == []
    assert _totals(conn) == {"line1": (1000, 1000)}
    assert conn.execute("SELECT last_seq FROM plant_gateways WHERE gateway = 'line1'").fetchone() == (4,)


def test_an_old_seq_with_new_content_is_quarantined(conn):
    apply_message(conn, body(batch("line1", 1, [100])), RULES)
    apply_message(conn, body(batch("line1", 2, [200])), RULES)
    other = batch("line1", 1, [999])  # a gateway whose journal was reset, say
    out = apply_message(conn, body(other), RULES)
    assert isinstance(out, Quarantined) and out.problem.kind == "conflicting_duplicate"
    assert _totals(conn) == {"line1": (300, 300)}


def test_gateways_have_sequences_of_their_own(conn):
    apply_message(conn, body(batch("line1", 1, [100])), RULES)
    assert isinstance(apply_message(conn, body(batch("line2", 1, [7])), RULES), Applied)
    assert _totals(conn) == {"line1": (100, 100), "line2": (7, 7)}


def test_not_json_is_quarantined_whole(conn):
    out = apply_message(conn, b"\xff not json", RULES)
    assert isinstance(out, Quarantined) and out.problem.kind == "unreadable"
    assert bytes(conn.execute("SELECT payload FROM plant_quarantine").fetchone()[0]) == b"\xff not json"
