"""`consolidate()`: a durable JetStream pull consumer that applies every batch exactly once.

Several consolidator processes may share the durable consumer: JetStream hands each
message to one of them, and `apply_fetch` serialises a gateway's batches in
PostgreSQL. Each fetch is applied in one transaction and its messages are acked only
after it committed; a process killed anywhere leaves its unacked messages to come back after `ack_wait_s`, and their
redelivery is a no-op by key. A batch ahead of its gateway's sequence is put back
(`nak` with a delay) until the missing one arrives or `gap_wait_s` has passed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time

import nats
import nats.errors
import nats.js.errors
import psycopg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from gateway import failpoints
from gateway.plant.apply import (Ahead, Applied, Delivery, Duplicate, Outcome, Rules,
                                 apply_fetch, quarantine_message)
from gateway.plant.batch import Problem
from gateway.plant.config import PlantConfig
from gateway.plant.metrics import PlantMetrics
from gateway.plant.schema import ensure_schema, register_gateways
from gateway.startup import StartupError

__all__ = ["consolidate", "rules_of"]

log = logging.getLogger("gateway.plant")

_FILTER_NOT_IN_STREAM = 10093  # JetStream: consumer filter subject is not a valid subset


def rules_of(cfg: PlantConfig) -> Rules:
    p = cfg.plant
    return Rules(currency=p.currency, decimals=p.currency_decimals, gateways=frozenset(p.gateways))


def open_ledger(cfg: PlantConfig) -> psycopg.Connection:
    """An autocommit connection (each batch is its own explicit transaction), schema ready."""
    try:
        conn = psycopg.connect(cfg.dsn(), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise StartupError(f"PostgreSQL ({cfg.postgres.dsn_env}): {str(exc).strip()}") from None
    ensure_schema(conn)
    register_gateways(conn, list(cfg.plant.gateways))
    return conn


async def _connect_nats(cfg: PlantConfig):
    n = cfg.nats
    tls = ssl.create_default_context(cafile=n.ca_file) if n.ca_file else None

    async def error_cb(exc):  # nats-py reconnects by itself; say so once per error
        log.warning("NATS %s: %s", type(exc).__name__, exc)

    try:
        return await nats.connect(servers=list(n.servers), tls=tls, name="plant-consolidator",
                                  connect_timeout=n.connect_timeout_s, allow_reconnect=True,
                                  max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                  error_cb=error_cb, **cfg.nats_credentials())
    except (nats.errors.NoServersError, OSError, asyncio.TimeoutError) as exc:
        raise StartupError(f"NATS {', '.join(n.servers)}: cannot connect: {exc}") from None


async def _subscribe(js, cfg: PlantConfig):
    n = cfg.nats
    try:
        info = await js.stream_info(n.stream)
    except nats.js.errors.NotFoundError:
        raise StartupError(
            f"NATS stream {n.stream!r} does not exist on {', '.join(n.servers)}: create it "
            "(the gateways' nats sink does with create_stream = true) or fix nats.stream") from None
    config = ConsumerConfig(durable_name=n.durable, ack_policy=AckPolicy.EXPLICIT,
                            deliver_policy=DeliverPolicy.ALL, ack_wait=n.ack_wait_s,
                            max_deliver=-1, filter_subject=n.subject,
                            max_ack_pending=max(1000, 20 * n.fetch_batch))
    try:
        return await js.pull_subscribe(n.subject, durable=n.durable, stream=n.stream, config=config)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != _FILTER_NOT_IN_STREAM:
            raise
        raise StartupError(
            f"nats.subject {n.subject!r} is not within stream {n.stream!r}'s subjects "
            f"{info.config.subjects}: JetStream refuses it as the consumer's filter (a stream "
            "made by the gateways takes gl.*.*: use gl.<plant>.*)") from None


def _report(outcome: Outcome, metrics: PlantMetrics, msg) -> None:
    where = f"stream seq {msg.metadata.sequence.stream}, delivery {msg.metadata.num_delivered}"
    if isinstance(outcome, Applied):
        metrics.batches.labels(outcome.gateway).inc(1 + len(outcome.healed))
        metrics.lines.labels(outcome.gateway).inc(outcome.lines)
        if outcome.healed:
            log.warning("plant: %s closed a gap; applied the batches held for it: %s",
                        outcome.batch_id, ", ".join(outcome.healed))
    elif isinstance(outcome, Duplicate):
        metrics.duplicates.labels(outcome.gateway).inc()
        log.info("plant: %s already applied (%s): dropped", outcome.batch_id, where)
    elif isinstance(outcome, Ahead):
        metrics.deferred.labels(outcome.gateway).inc()
    else:
        p = outcome.problem
        metrics.quarantined.labels(p.kind).inc()
        log.error("ALARM plant: batch %s from %s quarantined (%s) at %s: %s: %s",
                  outcome.batch_id or "?", outcome.gateway or "?", p.kind, where,
                  p.field or "batch", p.reason)


async def consolidate(cfg: PlantConfig, stop: asyncio.Event, *,
                      metrics: PlantMetrics | None = None) -> None:
    """Apply batches from the stream until `stop` is set."""
    metrics = metrics or PlantMetrics()
    rules = rules_of(cfg)
    n = cfg.nats
    ledger = _Ledger(cfg)
    ledger.conn = await asyncio.to_thread(open_ledger, cfg)  # fails start-up if unreachable
    nc = await _connect_nats(cfg)
    try:
        sub = await _subscribe(nc.jetstream(), cfg)
        log.info("plant %s: consolidating %s (durable %s) into PostgreSQL for %d gateways",
                 cfg.plant.id, n.subject, n.durable, len(cfg.plant.gateways))
        # Batches ahead of their gateway's sequence, kept in hand (unacked) for up to
        # gap_retry_s and tried again with every fetch: the missing one is usually in the
        # other consolidator's transaction and committed a moment later. Then nak'd.
        waiting: list[tuple[object, float]] = []   # (message, since); messages are unhashable
        while not stop.is_set():
            try:
                msgs = await sub.fetch(n.fetch_batch, timeout=0.02 if waiting else n.fetch_wait_s)
            except (nats.errors.TimeoutError, asyncio.TimeoutError):  # nats-py raises either
                msgs = []
            except (nats.errors.ConnectionClosedError, nats.errors.Error) as exc:
                log.warning("NATS fetch: %s: %s; retrying", type(exc).__name__, exc)
                await asyncio.sleep(0.5)
                continue
            if not msgs and not waiting:
                continue
            since = {id(m): t for m, t in waiting}
            ahead = await _handle(ledger, [m for m, _ in waiting] + msgs, rules, cfg, metrics)
            now = time.monotonic()
            waiting = []
            for m in ahead:
                t = since.get(id(m), now)
                if now - t < n.gap_retry_s:
                    waiting.append((m, t))
                else:
                    await m.nak(delay=n.gap_retry_s)
    finally:
        # Every message handled was acked (or nak'd) already; one in hand comes back after
        # ack_wait_s. A drain would wait for the pull subscription's own timeouts.
        await nc.close()
        ledger.close()


class _Ledger:
    """The consolidator's PostgreSQL connection, made again after the server went away."""

    def __init__(self, cfg: PlantConfig):
        self.cfg = cfg
        self.conn: psycopg.Connection | None = None

    async def get(self) -> psycopg.Connection:
        while self.conn is None or self.conn.closed:
            try:
                self.conn = await asyncio.to_thread(open_ledger, self.cfg)
            except StartupError as exc:
                log.warning("%s; retrying in 1 s", exc)
                await asyncio.sleep(1.0)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


async def _handle(ledger: _Ledger, msgs: list, rules: Rules, cfg: PlantConfig,
                  metrics: PlantMetrics) -> list:
    """Apply a fetch in one transaction, then ack each of its messages but those ahead of
    their sequence, which it returns (still unacked)."""
    n = cfg.nats
    deliveries = [Delivery(m.data, m.metadata.sequence.stream,
                           final=m.metadata.num_delivered * n.gap_retry_s >= n.gap_wait_s)
                  for m in msgs]
    conn = await ledger.get()
    started = time.perf_counter()
    try:
        outcomes = await asyncio.to_thread(_apply, conn, deliveries, rules)
    except psycopg.OperationalError as exc:  # the server went away: nothing committed
        log.warning("PostgreSQL: %s; %d batches from stream seq %d put back", str(exc).strip(),
                    len(msgs), deliveries[0].stream_seq)
        conn.close()
        await asyncio.gather(*(m.nak(delay=1.0) for m in msgs))
        return []
    metrics.apply_seconds.observe(time.perf_counter() - started)
    for msg, outcome in zip(msgs, outcomes):
        _report(outcome, metrics, msg)
    ahead = []
    for msg, outcome in zip(msgs, outcomes):
        if isinstance(outcome, Ahead):
            ahead.append(msg)
            continue
        failpoints.hit("plant.after_commit")  # per message: the fetch committed, this one not acked
        await msg.ack()
    return ahead


def _apply(conn, deliveries: list[Delivery], rules: Rules) -> list[Outcome]:
    """The fetch in one transaction; if the database refuses it, message by message, so
    only the batch it refuses (a value out of range, say) goes to quarantine."""
    try:
        return apply_fetch(conn, deliveries, rules)
    except psycopg.OperationalError:
        raise
    except psycopg.DatabaseError:
        if len(deliveries) == 1:
            raise
    return [_apply_one(conn, d, rules) for d in deliveries]


def _apply_one(conn, d: Delivery, rules: Rules) -> Outcome:
    try:
        return apply_fetch(conn, [d], rules)[0]
    except psycopg.OperationalError:
        raise
    except psycopg.DatabaseError as exc:  # this batch's values, not the server
        return quarantine_message(conn, d.body, Problem(
            "refused_by_database", "", f"{type(exc).__name__}: {str(exc).strip()}"),
            stream_seq=d.stream_seq)
