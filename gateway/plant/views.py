"""Plant views over the consolidated tables: trial balance per gateway, lag per gateway.

Read-only queries; money stays in integer minor units (the commands format it).
"""

from __future__ import annotations

__all__ = ["lag", "trial_balance"]


def trial_balance(conn) -> list[dict]:
    """Debit, credit and balance per gateway and account, ordered by gateway then account."""
    rows = conn.execute(
        "SELECT gateway, account, sum(debit)::bigint, sum(credit)::bigint FROM plant_lines "
        "GROUP BY gateway, account ORDER BY gateway, account").fetchall()
    return [{"gateway": g, "account": a, "debit": d, "credit": c, "balance": d - c}
            for g, a, d, c in rows]


def lag(conn) -> list[dict]:
    """Per gateway: the sequence applied so far, its last batch, how far behind, what is held."""
    rows = conn.execute(
        "SELECT g.gateway, g.last_seq, g.last_batch_id, g.last_created_at, g.last_applied_at, "
        "extract(epoch FROM g.last_applied_at - g.last_created_at)::float8, "
        "extract(epoch FROM now() - g.last_applied_at)::float8, g.batches, g.lines, "
        "(SELECT count(*) FROM plant_quarantine q WHERE q.gateway = g.gateway) "
        "FROM plant_gateways g ORDER BY g.gateway").fetchall()
    keys = ("gateway", "last_seq", "last_batch", "last_created_at", "last_applied_at",
            "behind_s", "idle_s", "batches", "lines", "quarantined")
    return [dict(zip(keys, r)) for r in rows]
