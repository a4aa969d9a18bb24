"""`apply_message`: one batch into the plant ledger exactly once, in one transaction.

The gateway's row in `plant_gateways` is locked first (`FOR UPDATE`), so consolidators
sharing a durable consumer apply one gateway's batches one at a time and in its order:

    already applied (same digest)            -> Duplicate      (the redelivery is a no-op)
    already quarantined (same digest)        -> Duplicate
    seq == last + 1, balances                -> Applied        (batch row + lines by COPY)
    seq == last + 1, does not balance / bad  -> Quarantined    (held; the sequence moves on)
    seq >  last + 1                          -> Ahead          (not final: wait for the gap)
                                                Quarantined    (final: a sequence gap)
    seq <= last, or same id other content    -> Quarantined

A batch held for a gap is applied by itself as soon as the missing one arrives (same
transaction). Nothing is acknowledged here: the caller acks the message after commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway import failpoints
from gateway.plant.batch import Batch, Identity, Problem, digest, identify, judge

__all__ = ["Ahead", "Applied", "Duplicate", "Outcome", "Quarantined", "Rules", "apply_message",
           "quarantine_message"]


@dataclass(frozen=True, slots=True)
class Rules:
    currency: str
    decimals: int
    gateways: frozenset[str]


@dataclass(frozen=True, slots=True)
class Applied:
    gateway: str
    batch_id: str
    lines: int
    healed: tuple[str, ...] = ()   # batches held for a gap, applied after this one


@dataclass(frozen=True, slots=True)
class Duplicate:
    gateway: str
    batch_id: str


@dataclass(frozen=True, slots=True)
class Ahead:
    gateway: str
    batch_id: str
    expected: int


@dataclass(frozen=True, slots=True)
class Quarantined:
    problem: Problem
    gateway: str | None
    batch_id: str | None


Outcome = Applied | Duplicate | Ahead | Quarantined

_LINE_COLUMNS = ("gateway", "batch_id", "line_no", "period", "account", "work_center",
                 "work_order", "item", "memo", "entry", "debit", "credit")


def apply_message(conn, body: bytes, rules: Rules, *, stream_seq: int | None = None,
                  final: bool = False) -> Outcome:
    """Apply one batch JSON (`final`: a batch ahead of its sequence is quarantined, not deferred)."""
    d = digest(body)
    ident = identify(body)
    with conn.transaction():
        if isinstance(ident, Problem):
            return _quarantine(conn, ident, None, body, d, stream_seq)
        g = ident.gateway
        if g not in rules.gateways:
            return _quarantine(conn, Problem("unknown_gateway", "batch_id",
                                             f"gateway {g!r} is not in plant.gateways"),
                               ident, body, d, stream_seq)
        last = conn.execute("SELECT last_seq FROM plant_gateways WHERE gateway = %s FOR UPDATE",
                            (g,)).fetchone()[0]
        prior = conn.execute("SELECT digest FROM plant_batches WHERE gateway = %s AND batch_id = %s",
                             (g, ident.batch_id)).fetchone()
        if prior is not None:
            if prior[0] == d:
                return Duplicate(g, ident.batch_id)
            return _quarantine(conn, Problem(
                "conflicting_duplicate", "batch_id",
                f"{ident.batch_id} was applied before with other content"), ident, body, d, stream_seq)
        if conn.execute("SELECT 1 FROM plant_quarantine WHERE digest = %s", (d,)).fetchone():
            return Duplicate(g, ident.batch_id)
        if ident.seq <= last:
            return _quarantine(conn, Problem(
                "stale_seq", "seq", f"seq {ident.seq}, but gateway {g} is already at seq {last}"),
                ident, body, d, stream_seq)
        if ident.seq > last + 1:
            if not final:
                return Ahead(g, ident.batch_id, last + 1)
            return _quarantine(conn, Problem(
                "sequence_gap", "seq",
                f"expected seq {last + 1} of gateway {g}, got {ident.seq}: "
                f"batches {last + 1}..{ident.seq - 1} never arrived"), ident, body, d, stream_seq)
        outcome = _take(conn, ident, rules, body, d, stream_seq)
        healed = _heal(conn, g, ident.seq, rules)
        failpoints.hit("plant.before_commit")
    if isinstance(outcome, Applied) and healed:
        return Applied(outcome.gateway, outcome.batch_id, outcome.lines, healed)
    return outcome


def quarantine_message(conn, body: bytes, problem: Problem, *,
                       stream_seq: int | None = None) -> Quarantined:
    """Keep a batch the database itself refused (a value out of range, say), in its own transaction."""
    ident = identify(body)
    with conn.transaction():
        return _quarantine(conn, problem, ident if isinstance(ident, Identity) else None,
                           body, digest(body), stream_seq)


def _take(conn, ident: Identity, rules: Rules, body: bytes, d: str,
          stream_seq: int | None) -> Applied | Quarantined:
    """The next batch in its gateway's sequence: applied, or held if it is not sound."""
    batch = judge(ident, rules.currency, rules.decimals)
    if isinstance(batch, Problem):
        outcome = _quarantine(conn, batch, ident, body, d, stream_seq)
        conn.execute("UPDATE plant_gateways SET last_seq = %s, last_batch_id = %s, "
                     "last_applied_at = now(), last_stream_seq = %s WHERE gateway = %s",
                     (ident.seq, ident.batch_id, stream_seq, ident.gateway))
        return outcome
    _insert(conn, batch, d, stream_seq)
    return Applied(batch.gateway, batch.batch_id, len(batch.lines))


def _insert(conn, b: Batch, d: str, stream_seq: int | None) -> None:
    conn.execute(
        "INSERT INTO plant_batches(gateway, batch_id, seq, period, currency, created_at, "
        "stream_seq, debit, credit, n_lines, digest) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
        (b.gateway, b.batch_id, b.seq, b.period, b.currency, b.created_at, stream_seq,
         b.debit, b.credit, len(b.lines), d))
    with conn.cursor() as cur:
        with cur.copy(f"COPY plant_lines ({', '.join(_LINE_COLUMNS)}) FROM STDIN") as copy:
            for i, x in enumerate(b.lines, 1):
                copy.write_row((b.gateway, b.batch_id, i, b.period, x.account, x.work_center,
                                x.work_order, x.item, x.memo, x.entry, x.debit, x.credit))
    conn.execute(
        "UPDATE plant_gateways SET last_seq = %s, last_batch_id = %s, last_created_at = %s, "
        "last_applied_at = now(), last_stream_seq = %s, batches = batches + 1, "
        "lines = lines + %s WHERE gateway = %s",
        (b.seq, b.batch_id, b.created_at, stream_seq, len(b.lines), b.gateway))


def _heal(conn, gateway: str, seq: int, rules: Rules) -> tuple[str, ...]:
    """Apply, in order, the batches held for a gap that the batch just taken closed."""
    healed = []
    while True:
        row = conn.execute(
            "SELECT id, payload, stream_seq FROM plant_quarantine WHERE kind = 'sequence_gap' "
            "AND gateway = %s AND seq = %s ORDER BY id LIMIT 1",
            (gateway, seq + 1)).fetchone()
        if row is None:
            return tuple(healed)
        qid, payload, stream_seq = row
        body = bytes(payload)
        conn.execute("DELETE FROM plant_quarantine WHERE id = %s", (qid,))
        ident = identify(body)
        outcome = _take(conn, ident, rules, body, digest(body), stream_seq)
        if isinstance(outcome, Applied):
            healed.append(outcome.batch_id)
        seq += 1


def _quarantine(conn, problem: Problem, ident: Identity | None, body: bytes, d: str,
                stream_seq: int | None) -> Quarantined:
    conn.execute(
        "INSERT INTO plant_quarantine(kind, gateway, batch_id, seq, field, reason, stream_seq, "
        "digest, payload) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (digest) DO NOTHING",
        (problem.kind, ident.gateway if ident else None, ident.batch_id if ident else None,
         ident.seq if ident else None, problem.field, problem.reason, stream_seq, d, body))
    return Quarantined(problem, ident.gateway if ident else None, ident.batch_id if ident else None)
