"""`gateway outbox list | retry | export` on a real journal file, through the real CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.upstream.batcher import Batcher
from tests.gateway.plant import ACCOUNTS

from .ledger import labor, open_db

ROOT = Path(__file__).resolve().parents[3]



def gateway(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def plant(tmp_path):
    (tmp_path / "master").mkdir()
    (tmp_path / "var").mkdir()
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[gateway]\nid = "plant1"\ndb = "var/gateway.db"\nmaster_data = "master"\n'
                   'currency = "EUR"\ncurrency_decimals = 2\n\n' + ACCOUNTS)
    conn = open_db(tmp_path / "var" / "gateway.db")
    b = Batcher(conn, "plant1", "EUR", 2, max_lines=2)
    for cents in (123456, 250, 99):
        labor(conn, cents)
    b.run_once(force=True)
    conn.execute("UPDATE batches SET state='acked', attempts=1, acked_at='2026-11-22T04:00:00.000Z' WHERE seq=1")
    conn.execute("UPDATE batches SET state='quarantined', attempts=1, last_error='HTTP 422: no such account' "
                 "WHERE seq=2")
    yield cfg, conn
    conn.close()


def test_list_is_an_aligned_table_with_totals_and_the_backlog(plant):
    cfg, _ = plant
    out = gateway("outbox", "list", "-c", str(cfg))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["seq", "batch_id", "period", "state", "attempts", "lines", "debit",
                                "credit", "last_error"]
    assert lines[2].split() == ["1", "plant1-1", "2026-11", "acked", "1", "2", "1,234.56", "1,234.56"]
    assert lines[3].split()[:8] == ["2", "plant1-2", "2026-11", "quarantined", "1", "2", "2.50", "2.50"]
    assert lines[3].endswith("HTTP 422: no such account")
    assert lines[4].split() == ["3", "plant1-3", "2026-11", "pending", "0", "2", "0.99", "0.99"]
    assert lines[6].split() == ["total", "3", "batches", "1,238.05", "1,238.05"]
    # aligned: ids start under their header, amounts end under theirs
    assert lines[0].index("batch_id") == lines[2].index("plant1-1") == lines[3].index("plant1-2")
    end = lines[0].index("debit") + len("debit")
    assert lines[2][:end].endswith("1,234.56") and lines[4][:end].endswith("0.99")
    assert lines[-1].startswith("backlog: 1 pending, oldest unacked ")
    assert lines[-1].endswith("1 quarantined, last ack 2026-11-22T04:00:00.000Z")


def test_retry_puts_a_quarantined_batch_back_and_names_a_wrong_seq(plant):
    cfg, conn = plant
    out = gateway("outbox", "retry", "2", "-c", str(cfg))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "batch plant1-2 (seq 2) is pending again; it is sent next in seq order"
    assert conn.execute("SELECT state FROM batches WHERE seq = 2").fetchone()[0] == "pending"
    again = gateway("outbox", "retry", "2", "-c", str(cfg))
    assert again.returncode == 1
    assert "seq: batch 2 is pending, only a quarantined batch can be retried" in again.stderr


def test_export_writes_the_exact_payloads_by_state(plant):
    cfg, conn = plant
    out = gateway("outbox", "export", "--state", "pending", "--state", "quarantined", "-c", str(cfg))
    assert out.returncode == 0, out.stderr
    stored = [p for (p,) in conn.execute("SELECT payload FROM batches WHERE seq IN (2, 3) ORDER BY seq")]
    assert out.stdout.splitlines() == stored
    assert [json.loads(x)["batch_id"] for x in out.stdout.splitlines()] == ["plant1-2", "plant1-3"]


def test_list_json_and_a_missing_journal(plant, tmp_path):
    cfg, _ = plant
    out = gateway("outbox", "list", "--format", "json", "-c", str(cfg))
    body = json.loads(out.stdout)
    assert [b["state"] for b in body["batches"]] == ["acked", "quarantined", "pending"]
    assert (body["depth"], body["quarantined"], body["batches"][0]["debit"]) == (1, 1, "1234.56")
    (tmp_path / "var" / "gateway.db").rename(tmp_path / "var" / "moved.db")
    missing = gateway("outbox", "list", "-c", str(cfg))
    assert missing.returncode == 1 and "no journal at " in missing.stderr
