"""kill -9 of the forwarder process at each named failpoint, then a restart: the ERP
applied exactly the journal, each batch once (see docs/architecture.md)."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from .ledger import assert_delivered, labor, post

ROOT = Path(__file__).resolve().parents[3]


async def run_forwarder(db_path, erp, failpoints: str = "", *extra: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_FAILPOINTS"}
    if failpoints:
        env["GATEWAY_FAILPOINTS"] = failpoints
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.upstream.forwarder", "--db", str(db_path), "--url", erp.url,
        "--gateway-id", "plant1", "--max-lines", "4", "--max-seconds", "0.1", "--poll", "0.05",
        "--backoff-base", "0.05", "--backoff-cap", "0.2", "--timeout", "2", *extra,
        cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    if proc.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"forwarder exited {proc.returncode}: {err.decode()[-2000:]}")
    return proc.returncode


def write_journal(conn, n: int = 12) -> None:
    for i in range(n):
        labor(conn, 1000 + i, wc=f"WC-{i % 2}", period="2026-10" if i < 5 else "2026-11")


@pytest.mark.parametrize("point,resent", [
    ("batcher.before_commit", 0),
    ("outbox.before_send", 0),
    ("outbox.after_send", 1),     # the ERP has batch 3, we never recorded the ack
    ("outbox.after_ack", 0),
])
async def test_kill_at_failpoint_then_restart_delivers_exactly_once(conn, db_path, erp, point, resent):
    write_journal(conn)
    assert await run_forwarder(db_path, erp, f"{point}=kill@3", "--exit-when-drained") == -signal.SIGKILL
    acked_before = conn.execute("SELECT COUNT(*) FROM batches WHERE state = 'acked'").fetchone()[0]
    assert acked_before == (3 if point == "outbox.after_ack" else 2 if point.startswith("outbox") else 0)
    assert await run_forwarder(db_path, erp, "", "--exit-when-drained") == 0
    assert erp.duplicates == resent
    assert [b for b in erp.applied] == sorted(erp.applied, key=lambda b: int(b.rsplit("-", 1)[1]))
    assert_delivered(conn, erp)


async def test_erp_down_at_start_then_up_drains_in_order(conn, db_path, erp):
    write_journal(conn, 20)
    await erp.refuse_for(1.0)
    assert await run_forwarder(db_path, erp, "", "--exit-when-drained") == 0
    assert erp.applied == [f"plant1-{i}" for i in range(1, len(erp.applied) + 1)]
    assert_delivered(conn, erp)


async def test_forwarder_alongside_a_writing_journal_then_sigterm(conn, db_path, erp):
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_FAILPOINTS"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.upstream.forwarder", "--db", str(db_path), "--url", erp.url,
        "--gateway-id", "plant1", "--max-lines", "6", "--max-seconds", "0.1", "--poll", "0.05",
        "--detail", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE)
    for i in range(40):                                      # the journal keeps writing meanwhile
        post(conn, [("1400", 100 + i, 0, "WC-A", f"WO-{i}"), ("1310", 0, 60), ("5100", 0, 40 + i)])
        await asyncio.sleep(0.01)
    for _ in range(200):
        if conn.execute("SELECT COUNT(*) FROM journal_lines WHERE batch_seq IS NULL").fetchone()[0] == 0 \
                and conn.execute("SELECT COUNT(*) FROM batches WHERE state != 'acked'").fetchone()[0] == 0:
            break
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert_delivered(conn, erp)
