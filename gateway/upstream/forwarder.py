"""`forward()`: journal lines become batches and leave for upstream until told to stop.

Runs two loops in the gateway's asyncio process: the batcher (its SQLite work in a
worker thread, on its own connection; a round every `poll_s`, or at once while a backlog
is read `read_limit` lines at a time) and the durable outbox (short transactions on
the loop, its own connection). The batcher wakes the outbox as soon as it wrote a batch.
Nothing here holds state that is not on disk: kill the process anywhere and the next
start carries on — unbatched lines are batched, pending batches are (re)sent in order.

Also runnable on its own (used by the crash tests; `gateway run` composes `forward()`):

    python -m gateway.upstream.forwarder --db var/gateway.db --url http://…/gl/batches \
        --gateway-id plant1 [--sink http|file|mqtt] [--exit-when-drained]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sqlite3
import ssl
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

from drivers.urls import has_credentials, redact_url

from gateway.upstream.batcher import Batcher
from gateway.upstream.outbox import DurableOutbox
from gateway.upstream.sink import UpstreamSink

__all__ = ["ForwarderConfig", "forward", "connect", "make_sink", "sink_from_config",
           "nats_sink_from_config", "main"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ForwarderConfig:
    gateway_id: str
    currency: str = "EUR"
    decimals: int = 2
    max_lines: int = 500
    max_seconds: float = 5.0
    summarize: bool = True
    poll_s: float = 0.2          # how often the batcher looks for new lines
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    synchronous: str = "FULL"

    @classmethod
    def from_config(cls, cfg) -> "ForwarderConfig":
        """From the gateway's loaded config (gateway.config.Config: [gateway], [upstream])."""
        g = cfg.gateway
        up = getattr(cfg, "upstream", None)
        if up is None:
            return cls(gateway_id=g.id, currency=g.currency, decimals=g.currency_decimals,
                       synchronous=g.synchronous)
        return cls(gateway_id=g.id, currency=g.currency, decimals=g.currency_decimals,
                   max_lines=up.batch_max_lines, max_seconds=up.batch_max_seconds,
                   summarize=up.summarize, backoff_cap=up.backoff_max_s,
                   synchronous=g.synchronous)


def connect(db_path: str, synchronous: str = "FULL") -> sqlite3.Connection:
    """An autocommit connection in WAL mode (transactions are explicit BEGIN IMMEDIATE)."""
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'NORMAL' if synchronous.upper() == 'NORMAL' else 'FULL'}")
    return conn


async def forward(db_path: str, sink: UpstreamSink, cfg: ForwarderConfig, stop_event: asyncio.Event,
                  *, exit_when_drained: bool = False, metrics=None) -> None:
    """Batch and forward until `stop_event` is set (the caller owns and closes `sink`).

    `cfg` is a ForwarderConfig or the gateway's loaded config. With `exit_when_drained`,
    return as soon as every line is batched and every batch acked or quarantined.
    `metrics` (gateway.metrics.Metrics) receives upstream send latency and errors.
    """
    if not isinstance(cfg, ForwarderConfig):
        cfg = ForwarderConfig.from_config(cfg)
    batch_conn = connect(db_path, cfg.synchronous)
    send_conn = connect(db_path, cfg.synchronous)
    batcher = Batcher(batch_conn, cfg.gateway_id, cfg.currency, cfg.decimals,
                      cfg.max_lines, cfg.max_seconds, cfg.summarize)
    outbox = DurableOutbox(send_conn, sink, backoff_base=cfg.backoff_base,
                           backoff_cap=cfg.backoff_cap, metrics=metrics)
    wake = asyncio.Event()
    done = asyncio.Event()
    in_flight: set[asyncio.Future] = set()

    async def off_loop(fn, *args):
        # Shielded: cancelling the caller must not leave a thread using a closed connection.
        fut = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        in_flight.add(fut)
        fut.add_done_callback(in_flight.discard)
        return await asyncio.shield(fut)

    async def batching() -> None:
        while not stop_event.is_set() and not done.is_set():
            try:
                written = await off_loop(batcher.run_once, exit_when_drained)
            except sqlite3.OperationalError as exc:   # disk full, busy: lines stay, try again
                log.warning("batcher: %s; retrying", exc)
                written = []
            if written:
                wake.set()
                if batcher.backlog:
                    await asyncio.sleep(0)   # go on batching, but let the loop breathe
                    continue
                # Under load a round every poll_s, each writing all that closed meanwhile
                # in one transaction, rather than one round (and sync) per batch.
            if exit_when_drained and await off_loop(_drained, batch_conn, batcher):
                done.set()
                return
            try:
                await asyncio.wait_for(stop_event.wait(), cfg.poll_s)
            except asyncio.TimeoutError:
                pass

    async def sending() -> None:
        if not exit_when_drained:
            await outbox.drain(stop_event, wake, idle_poll=cfg.poll_s)
            return
        while not stop_event.is_set():
            finished = done.is_set()   # read BEFORE the drain: batches written until then go too
            await outbox.drain(stop_event, until_empty=True)
            if finished:
                return
            try:
                await asyncio.wait_for(wake.wait(), cfg.poll_s)
            except asyncio.TimeoutError:
                pass
            wake.clear()

    tasks = [asyncio.ensure_future(batching()), asyncio.ensure_future(sending())]
    try:
        # If one loop fails, stop the other too: a half-running forwarder hides the fault.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in tasks:
            if t.done() and t.exception() is not None:
                raise t.exception()
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*in_flight, return_exceptions=True)
        batch_conn.close()
        send_conn.close()


def _drained(conn: sqlite3.Connection, batcher: Batcher) -> bool:
    unbatched = conn.execute(
        "SELECT COUNT(DISTINCT entry) FROM journal_lines WHERE batch_seq IS NULL").fetchone()[0]
    return unbatched <= len(batcher.held_entries)


def make_sink(kind: str, url: str, token: str | None = None, timeout: float = 10.0,
              topic: str = "gateway/gl/batches", username: str | None = None,
              password: str | None = None, tls_context=None, **options) -> UpstreamSink:
    """A sink by name: http (url), file (path), mqtt (mqtt://host:port). A login inside
    the url is refused: it comes from the environment like every secret."""
    if kind in ("http", "mqtt") and has_credentials(url):
        raise ValueError(f"url: credentials inside the url are refused ({redact_url(url)!r}); "
                         "pass them through environment variables")
    if kind == "http":
        from gateway.upstream.http_sink import HttpSink
        return HttpSink(url, token=token, timeout=timeout, **options)
    if kind == "file":
        from gateway.upstream.file_sink import FileSink
        return FileSink(url)
    if kind == "mqtt":
        from gateway.upstream.mqtt_sink import MqttSink
        u = urlsplit(url)
        if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
            raise ValueError(f"url: expected mqtt://host:port for the mqtt sink "
                             f"(got {redact_url(url)!r})")
        tls = tls_context
        if u.scheme == "mqtts" and tls is None:
            tls = ssl.create_default_context()
        return MqttSink(u.hostname, u.port or (8883 if tls else 1883), topic,
                        username=username, password=password,
                        tls_context=tls, timeout=timeout, **options)
    raise ValueError(f"sink: expected http, file or mqtt (got {kind!r})")


def sink_from_config(cfg, environ=os.environ) -> UpstreamSink:
    """The sink `[upstream]` names; secrets come from the environment variables it names."""
    up = cfg.upstream
    if up is None:
        raise ValueError("upstream: section missing, nothing to forward to")
    if up.sink == "http":
        token = environ.get(up.token_env) if up.token_env else None
        return make_sink("http", up.url, token=token, timeout=up.timeout_s)
    if up.sink == "file":
        return make_sink("file", up.path)
    if up.sink == "nats":
        return nats_sink_from_config(cfg, environ)
    if cfg.mqtt is None:
        raise ValueError("upstream.sink: 'mqtt' needs an [mqtt] section for the connection")
    return mqtt_sink_from_config(cfg, up.topic or f"gateway/{cfg.gateway.id}/gl/batches",
                                 environ, timeout=up.timeout_s)


def mqtt_sink_from_config(cfg, topic: str, environ=os.environ, timeout: float = 10.0,
                          **options) -> UpstreamSink:
    """A sink on the `[mqtt]` connection (credentials from its environment variables)."""
    mqtt = cfg.mqtt
    user = environ.get(mqtt.username_env) if mqtt.username_env else None
    password = environ.get(mqtt.password_env) if mqtt.password_env else None
    tls = None
    if mqtt.url.startswith("mqtts:"):
        tls = ssl.create_default_context(cafile=mqtt.ca_file)
        if mqtt.cert_file:
            tls.load_cert_chain(mqtt.cert_file, mqtt.key_file)
    return make_sink("mqtt", mqtt.url, timeout=timeout, topic=topic, username=user,
                     password=password, tls_context=tls, **options)


def nats_sink_from_config(cfg, environ=os.environ) -> UpstreamSink:
    """The JetStream sink of `[upstream] sink = "nats"` (the config rules checked its keys)."""
    from gateway.upstream.nats_sink import NatsSink, stream_subjects_for

    up = cfg.upstream
    servers = up.nats_servers()
    tls = None
    if any(s.startswith("tls://") for s in servers):
        tls = ssl.create_default_context(cafile=up.ca_file)
        if up.cert_file:
            tls.load_cert_chain(up.cert_file, up.key_file)
    return NatsSink(
        servers, up.nats_subject(cfg.gateway.id), up.stream,
        stream_subjects=stream_subjects_for(up.subject_template),
        create_stream=up.create_stream,
        user=environ.get(up.user_env) if up.user_env else None,
        password=environ.get(up.password_env) if up.password_env else None,
        creds_file=up.creds_file, tls_context=tls, timeout=up.timeout_s,
        name=f"gateway {cfg.gateway.id}")


async def _main(args: argparse.Namespace) -> int:
    env = os.environ
    token = env.get(args.token_env) if args.token_env else None
    sink = make_sink(args.sink, args.url, token=token, timeout=args.timeout, topic=args.topic,
                     username=env.get(args.mqtt_user_env) if args.mqtt_user_env else None,
                     password=env.get(args.mqtt_password_env) if args.mqtt_password_env else None)
    cfg = ForwarderConfig(gateway_id=args.gateway_id, currency=args.currency, decimals=args.decimals,
                          max_lines=args.max_lines, max_seconds=args.max_seconds,
                          summarize=not args.detail, poll_s=args.poll,
                          backoff_base=args.backoff_base, backoff_cap=args.backoff_cap)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await forward(args.db, sink, cfg, stop, exit_when_drained=args.exit_when_drained)
    finally:
        await sink.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gateway.upstream.forwarder",
                                description="batch journal lines and forward them upstream")
    p.add_argument("--db", required=True, help="the gateway's SQLite file")
    p.add_argument("--url", required=True, help="http(s) URL, file path, or mqtt://host:port")
    p.add_argument("--sink", choices=("http", "file", "mqtt"), default="http")
    p.add_argument("--gateway-id", default="gateway")
    p.add_argument("--currency", default="EUR")
    p.add_argument("--decimals", type=int, default=2)
    p.add_argument("--max-lines", type=int, default=500)
    p.add_argument("--max-seconds", type=float, default=5.0)
    p.add_argument("--detail", action="store_true", help="one batch line per journal line")
    p.add_argument("--token-env", default="GATEWAY_UPSTREAM_TOKEN",
                   help="environment variable holding the bearer token")
    p.add_argument("--topic", default="gateway/gl/batches", help="MQTT topic (mqtt sink)")
    p.add_argument("--mqtt-user-env", default="GATEWAY_MQTT_USER",
                   help="environment variable holding the MQTT user name (mqtt sink)")
    p.add_argument("--mqtt-password-env", default="GATEWAY_MQTT_PASSWORD",
                   help="environment variable holding the MQTT password (mqtt sink)")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--poll", type=float, default=0.2)
    p.add_argument("--backoff-base", type=float, default=0.5)
    p.add_argument("--backoff-cap", type=float, default=60.0)
    p.add_argument("--exit-when-drained", action="store_true",
                   help="exit once every line is batched and every batch acked or quarantined")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
