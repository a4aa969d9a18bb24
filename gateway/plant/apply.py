"""`apply_fetch`: a fetch of batches into the plant ledger exactly once, in one transaction.

The rows in `plant_gateways` of every gateway in the fetch are locked first (`FOR UPDATE`,
in name order, so two consolidators never deadlock), so consolidators sharing a durable
consumer apply one gateway's batches one at a time and in its order. Within the fetch a
gateway's batches are taken in `seq` order, whatever order they arrived in:

    already applied (same digest)            -> Duplicate      (the redelivery is a no-op)
    already quarantined (same digest)        -> Duplicate
    seq == last + 1, balances                -> Applied        (batch row + lines by binary COPY)
    seq == last + 1, does not balance / bad  -> Quarantined    (held; the sequence moves on)
    seq >  last + 1                          -> Ahead          (not final: wait for the gap)
                                                Quarantined    (final: a sequence gap)
    seq <= last, or same id other content    -> Quarantined

A batch held for a gap is applied by itself as soon as the missing one arrives (same
transaction). The batches are judged (pure Python) before the transaction opens, so a
second consolidator's judging overlaps this one's writes. Nothing is acknowledged here:
the caller acks the messages after commit. A database error rolls the whole fetch back;
the caller then applies the messages one by one to find the batch the database refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway import failpoints
from gateway.plant.batch import Batch, Identity, Problem, digest, identify, judge
from gateway.plant.wire import read_sound

__all__ = ["Ahead", "Applied", "Delivery", "Duplicate", "Outcome", "Quarantined", "Rules",
           "apply_fetch", "apply_message", "quarantine_message"]


@dataclass(frozen=True, slots=True)
class Rules:
    currency: str
    decimals: int
    gateways: frozenset[str]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message of a fetch: the batch JSON, its stream sequence, whether it may still wait."""

    body: bytes
    stream_seq: int | None = None
    final: bool = False   # a batch ahead of its sequence is quarantined, not deferred


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
_LINE_TYPES = ("text", "text", "int4", "text", "text", "text", "text", "text", "text",
               "int8", "int8", "int8")
_BATCH_COLUMNS = ("gateway", "batch_id", "seq", "period", "currency", "created_at",
                  "stream_seq", "debit", "credit", "n_lines", "digest")
_BATCH_TYPES = ("text", "text", "int8", "text", "text", "timestamptz", "int8", "int8", "int8",
                "int4", "text")


def apply_message(conn, body: bytes, rules: Rules, *, stream_seq: int | None = None,
                  final: bool = False) -> Outcome:
    """Apply one batch JSON in its own transaction (a fetch of one)."""
    return apply_fetch(conn, [Delivery(body, stream_seq, final)], rules)[0]


def apply_fetch(conn, deliveries: Sequence[Delivery], rules: Rules) -> list[Outcome]:
    """Apply a fetch of batches in one transaction; one outcome per delivery, in their order."""
    ds = list(deliveries)
    digests = [digest(d.body) for d in ds]
    idents, judged = zip(*(_read(d.body, rules) for d in ds)) if ds else ((), ())
    known = [i for i, x in enumerate(idents) if judged[i] is not None]
    outcomes: list[Outcome | None] = [None] * len(ds)
    with conn.transaction():
        w = _Writer(conn, rules)
        for i, x in enumerate(idents):
            if judged[i] is not None:
                continue
            problem = x if isinstance(x, Problem) else Problem(
                "unknown_gateway", "batch_id", f"gateway {x.gateway!r} is not in plant.gateways")
            outcomes[i] = w.quarantine(problem, x if isinstance(x, Identity) else None,
                                       ds[i].body, digests[i], ds[i].stream_seq)
        if known:
            w.load([idents[i] for i in known], [digests[i] for i in known])
            for i in sorted(known, key=lambda i: (idents[i].gateway, idents[i].seq)):
                outcomes[i] = w.decide(ds[i], idents[i], judged[i], digests[i])
        w.flush()
        for _ in ds:  # counted per batch: `kill@N` dies in the transaction holding the N-th
            failpoints.hit("plant.before_commit")
    return outcomes


def _read(body: bytes, rules: Rules) -> tuple[Identity | Problem, Batch | Problem | None]:
    """Who sent the batch and the batch judged (None: not from a gateway of this plant)."""
    sound = read_sound(body, rules.currency, rules.decimals)
    ident, batch = sound if sound is not None else (identify(body), None)
    if not isinstance(ident, Identity) or ident.gateway not in rules.gateways:
        return ident, None
    return ident, batch or judge(ident, rules.currency, rules.decimals)


def quarantine_message(conn, body: bytes, problem: Problem, *,
                       stream_seq: int | None = None) -> Quarantined:
    """Keep a batch the database itself refused (a value out of range, say), in its own transaction."""
    ident = identify(body)
    with conn.transaction():
        w = _Writer(conn, None)
        out = w.quarantine(problem, ident if isinstance(ident, Identity) else None, body,
                           digest(body), stream_seq)
        w.flush()
        return out


class _Writer:
    """One transaction's decisions: what the database held when locked, and the rows to write."""

    def __init__(self, conn, rules: Rules | None):
        self.conn = conn
        self.rules = rules
        self.last: dict[str, int] = {}
        self.prior: dict[tuple[str, str], str] = {}   # (gateway, batch_id) -> digest applied
        self.held_digests: set[str] = set()           # in plant_quarantine
        self.gaps: dict[str, set[int]] = {}           # seqs held as sequence_gap, per gateway
        self.batches: list[tuple] = []
        self.lines: list[tuple] = []
        self.held: list[tuple] = []
        self.moves: dict[str, list] = {}              # gateway -> its plant_gateways update

    def load(self, idents: list[Identity], digests: list[str]) -> None:
        """Lock the gateways' rows and read what is already there, in one round trip."""
        conn = self.conn
        gateways = sorted({x.gateway for x in idents})
        with conn.pipeline():
            locked = conn.execute("SELECT gateway, last_seq FROM plant_gateways WHERE gateway = ANY(%s) "
                                  "ORDER BY gateway FOR UPDATE", (gateways,))
            prior = conn.execute(
                "SELECT b.gateway, b.batch_id, b.digest FROM plant_batches b JOIN "
                "unnest(%s::text[], %s::text[]) AS k(gateway, batch_id) USING (gateway, batch_id)",
                ([x.gateway for x in idents], [x.batch_id for x in idents]))
            held = conn.execute("SELECT digest FROM plant_quarantine WHERE digest = ANY(%s)", (digests,))
            gaps = conn.execute("SELECT gateway, seq FROM plant_quarantine WHERE kind = 'sequence_gap' "
                                "AND gateway = ANY(%s)", (gateways,))
            self.last = dict(locked.fetchall())
            self.prior = {(g, b): d for g, b, d in prior.fetchall()}
            self.held_digests = {d for (d,) in held.fetchall()}
            for g, s in gaps.fetchall():
                self.gaps.setdefault(g, set()).add(s)

    def decide(self, dv: Delivery, ident: Identity, batch: Batch | Problem, d: str) -> Outcome:
        g = ident.gateway
        last = self.last[g]
        prior = self.prior.get((g, ident.batch_id))
        if prior is not None:
            if prior == d:
                return Duplicate(g, ident.batch_id)
            return self.quarantine(Problem(
                "conflicting_duplicate", "batch_id",
                f"{ident.batch_id} was applied before with other content"), ident, dv.body, d, dv.stream_seq)
        if d in self.held_digests:
            return Duplicate(g, ident.batch_id)
        if ident.seq <= last:
            return self.quarantine(Problem(
                "stale_seq", "seq", f"seq {ident.seq}, but gateway {g} is already at seq {last}"),
                ident, dv.body, d, dv.stream_seq)
        if ident.seq > last + 1:
            if not dv.final:
                return Ahead(g, ident.batch_id, last + 1)
            return self.quarantine(Problem(
                "sequence_gap", "seq",
                f"expected seq {last + 1} of gateway {g}, got {ident.seq}: "
                f"batches {last + 1}..{ident.seq - 1} never arrived"), ident, dv.body, d, dv.stream_seq)
        outcome = self._take(ident, batch, dv.body, d, dv.stream_seq)
        healed = self._heal(g)
        if isinstance(outcome, Applied) and healed:
            return Applied(outcome.gateway, outcome.batch_id, outcome.lines, healed)
        return outcome

    def _take(self, ident: Identity, b: Batch | Problem, body: bytes, d: str,
              stream_seq: int | None) -> Applied | Quarantined:
        """The next batch in its gateway's sequence: applied, or held if it is not sound."""
        g = ident.gateway
        self.last[g] = ident.seq
        self.prior[(g, ident.batch_id)] = d
        move = self.moves.setdefault(g, [0, None, None, None, 0, 0])
        move[0:2] = ident.seq, ident.batch_id
        move[3] = stream_seq
        if isinstance(b, Problem):
            return self.quarantine(b, ident, body, d, stream_seq)
        move[2] = b.created_at
        move[4] += 1
        move[5] += len(b.lines)
        self.batches.append((g, b.batch_id, b.seq, b.period, b.currency, b.created_at, stream_seq,
                             b.debit, b.credit, len(b.lines), d))
        self.lines.extend((g, b.batch_id, i, b.period, x.account, x.work_center, x.work_order,
                           x.item, x.memo, x.entry, x.debit, x.credit)
                          for i, x in enumerate(b.lines, 1))
        return Applied(g, b.batch_id, len(b.lines))

    def _heal(self, g: str) -> tuple[str, ...]:
        """Apply, in order, the batches held for a gap that the batch just taken closed."""
        healed = []
        held = self.gaps.get(g, set())
        while self.last[g] + 1 in held:
            seq = self.last[g] + 1
            qid, payload, stream_seq = self.conn.execute(
                "DELETE FROM plant_quarantine WHERE id = (SELECT id FROM plant_quarantine WHERE "
                "kind = 'sequence_gap' AND gateway = %s AND seq = %s ORDER BY id LIMIT 1) "
                "RETURNING id, payload, stream_seq", (g, seq)).fetchone()
            held.discard(seq)
            body = bytes(payload)
            d = digest(body)
            self.held_digests.discard(d)
            ident, batch = _read(body, self.rules)
            outcome = self._take(ident, batch, body, d, stream_seq)
            if isinstance(outcome, Applied):
                healed.append(outcome.batch_id)
        return tuple(healed)

    def quarantine(self, problem: Problem, ident: Identity | None, body: bytes, d: str,
                   stream_seq: int | None) -> Quarantined:
        if d not in self.held_digests:
            self.held_digests.add(d)
            self.held.append((problem.kind, ident.gateway if ident else None,
                              ident.batch_id if ident else None, ident.seq if ident else None,
                              problem.field, problem.reason, stream_seq, d, body))
        return Quarantined(problem, ident.gateway if ident else None, ident.batch_id if ident else None)

    def flush(self) -> None:
        """Write the transaction's rows: few statements, lines by one binary COPY."""
        conn = self.conn
        with conn.cursor() as cur:
            if self.held:
                cur.executemany(
                    "INSERT INTO plant_quarantine(kind, gateway, batch_id, seq, field, reason, "
                    "stream_seq, digest, payload) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) "
                    "ON CONFLICT (digest) DO NOTHING", self.held)
            for table, columns, types, rows in (
                    ("plant_batches", _BATCH_COLUMNS, _BATCH_TYPES, self.batches),
                    ("plant_lines", _LINE_COLUMNS, _LINE_TYPES, self.lines)):
                if rows:
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN "
                                  "(FORMAT BINARY)") as copy:
                        copy.set_types(types)
                        for row in rows:
                            copy.write_row(row)
            if self.moves:
                cur.executemany(
                    "UPDATE plant_gateways SET last_seq = %s, last_batch_id = %s, "
                    "last_created_at = coalesce(%s, last_created_at), last_applied_at = now(), "
                    "last_stream_seq = %s, batches = batches + %s, lines = lines + %s "
                    "WHERE gateway = %s", [(*m, g) for g, m in self.moves.items()])
