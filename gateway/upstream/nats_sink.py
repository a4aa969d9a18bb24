"""`NatsSink`: publish a batch to a JetStream stream; acknowledged only on its PubAck.

Every batch goes out with `Nats-Msg-Id: <batch_id>`, so a resend after a crash (same
batch, same id) falls inside the stream's duplicate window and is stored once; the
PubAck then says `duplicate` and that is an Ack too. The Ack's detail names the stream
and the sequence the batch got there, and the outbox records it.

Verdicts: a PubAck → Ack. Server down or refusing us, a timeout, no stream taking the
subject, JetStream unavailable, any other PubAck error → Retry (the connection is
dropped and made again on the next send, to whichever of the servers answers). A batch
bigger than the server or the stream accepts can never succeed → Reject.

At start-up `verify()` checks the stream (or creates it with `create_stream`) and
raises UpstreamSetupError naming it when it is missing or does not take our subject. A
server that is down at start-up is not an error (batches wait in the outbox); the
stream is checked again on every new connection and a missing one is then a Retry.
"""

from __future__ import annotations

import json
import logging
import ssl

import nats.aio.client
import nats.errors
import nats.js.errors
from nats.js.api import StorageType, StreamConfig

from gateway.upstream.sink import Ack, Reject, Retry, UpstreamSetupError, Verdict

__all__ = ["NatsSink", "subject_matches", "stream_subjects_for"]

log = logging.getLogger(__name__)

# PubAck error codes that no resend of the same batch can cure.
_PERMANENT = {
    10054,  # message size exceeds the stream's max_msg_size
}
_STREAM_NOT_FOUND = 10059
# A created stream keeps batch ids this long: a gateway that crashed between publishing
# and recording the ack may come back hours later and resend; the server still drops it.
_DUPLICATE_WINDOW_S = 24 * 3600.0


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a trailing `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


def stream_subjects_for(template: str) -> str:
    """The subjects a created stream takes: each placeholder token of the template as `*`,
    so one stream holds the batches of every gateway (and plant) on that scheme."""
    return ".".join("*" if "{" in token else token for token in template.split("."))


class _StreamNotReady(Exception):
    """The stream is missing or does not take our subject (message says which)."""


async def _quiet(error: Exception) -> None:
    # nats-py logs every failed connection attempt with a traceback; the verdict says it.
    log.debug("nats: %s: %s", type(error).__name__, error)


async def _close_quietly(nc) -> None:
    transport = getattr(nc, "_transport", None)
    try:
        if not nc.is_closed:
            await nc.close()
    except (nats.errors.Error, OSError, TimeoutError):
        pass  # already gone; nothing to tell the server
    if transport is not None:
        transport.close()   # idempotent; the one nats-py may have left open


class NatsSink:
    """Delivers batches to a JetStream stream, deduplicated by batch_id, one connection kept."""

    def __init__(self, servers: list[str], subject: str, stream: str, *,
                 stream_subjects: str | None = None, create_stream: bool = False,
                 user: str | None = None, password: str | None = None,
                 creds_file: str | None = None, tls_context: ssl.SSLContext | None = None,
                 timeout: float = 10.0, name: str | None = None):
        self.servers = list(servers)
        self.subject = subject
        self.stream = stream
        self.stream_subjects = stream_subjects or subject
        self.create_stream = create_stream
        self.user = user
        self.password = password
        self.creds_file = creds_file
        self.tls_context = tls_context
        self.timeout = timeout
        self.name = name
        self._nc = None
        self._js = None

    def __repr__(self) -> str:  # never show the password
        return f"NatsSink({','.join(self.servers)}, subject={self.subject!r}, stream={self.stream!r})"

    async def _connect(self) -> None:
        # No background reconnects: a dropped connection fails the send at once (Retry)
        # instead of buffering publishes we could not account for; the next send connects
        # again. max_reconnect_attempts=0 would mean "forever" to nats-py's first connect.
        nc = nats.aio.client.Client()
        try:
            await nc.connect(
                servers=self.servers, user=self.user, password=self.password,
                user_credentials=self.creds_file, tls=self.tls_context, name=self.name,
                connect_timeout=self.timeout, allow_reconnect=False, max_reconnect_attempts=1,
                reconnect_time_wait=0.1, error_cb=_quiet)
        except BaseException:
            await _close_quietly(nc)   # nats-py leaves the socket open when the login fails
            raise
        js = nc.jetstream(timeout=self.timeout)
        try:
            await self._ensure_stream(js)
        except BaseException:
            await _close_quietly(nc)
            raise
        self._nc, self._js = nc, js

    async def _ensure_stream(self, js) -> None:
        try:
            info = await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError as exc:
            if exc.err_code not in (None, _STREAM_NOT_FOUND):
                raise
            if not self.create_stream:
                raise _StreamNotReady(
                    f"JetStream stream {self.stream!r} does not exist on {','.join(self.servers)}; "
                    f"create it (taking subject {self.subject!r}) or set "
                    "upstream.create_stream = true") from None
            await js.add_stream(StreamConfig(
                name=self.stream, subjects=[self.stream_subjects], storage=StorageType.FILE,
                duplicate_window=_DUPLICATE_WINDOW_S))
            log.info("nats: created stream %s for %s", self.stream, self.stream_subjects)
            return
        subjects = info.config.subjects or []
        if not any(subject_matches(s, self.subject) for s in subjects):
            raise _StreamNotReady(
                f"JetStream stream {self.stream!r} does not take subject {self.subject!r} "
                f"(its subjects: {subjects}); add it to the stream or change upstream.subject")

    async def verify(self) -> None:
        """Start-up check: the stream exists (or is created) and takes our subject.

        Raises UpstreamSetupError if not; a server that cannot be reached is only logged."""
        try:
            if self._js is None:
                await self._connect()
        except _StreamNotReady as exc:
            raise UpstreamSetupError(str(exc)) from None
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            log.warning("nats: %s unreachable at start-up (%s: %s); batches wait in the outbox",
                        ",".join(self.servers), type(exc).__name__, exc)

    async def send(self, batch: dict) -> Verdict:
        body = json.dumps(batch, separators=(",", ":")).encode()
        where = f"NATS {','.join(self.servers)}"
        try:
            if self._nc is None or not self._nc.is_connected:
                await self._drop()
                await self._connect()
            ack = await self._js.publish(
                self.subject, body, timeout=self.timeout, stream=self.stream,
                headers={"Nats-Msg-Id": str(batch["batch_id"])})
        except _StreamNotReady as exc:
            return Retry(str(exc))
        except nats.errors.MaxPayloadError as exc:
            return Reject(f"{where}: batch of {len(body)} bytes exceeds the server's max_payload ({exc})")
        except nats.js.errors.NoStreamResponseError:
            await self._drop()
            return Retry(f"{where}: no JetStream stream answered on subject {self.subject!r} "
                         f"(stream {self.stream!r} gone, or JetStream not ready)")
        except nats.js.errors.APIError as exc:
            reason = f"{where}: PubAck error {exc.code}/{exc.err_code}: {exc.description}"
            if exc.err_code in _PERMANENT:
                return Reject(reason)
            return Retry(reason)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            await self._drop()
            return Retry(f"{where}: {type(exc).__name__}: {exc}")
        return Ack(f"stream {ack.stream} seq {ack.seq}" + (" duplicate" if ack.duplicate else ""))

    async def _drop(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            await _close_quietly(nc)

    async def close(self) -> None:
        await self._drop()
