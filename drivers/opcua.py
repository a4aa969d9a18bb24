"""PLC production counters over OPC-UA: every unit counted once, across reconnects and restarts.

`OpcUaCounters` subscribes to counter nodes (data change, not polling), turns raw values
into deltas with `drivers.counters.CounterBook`, and delivers one `Reading(kind="counter")`
per delta. After every (re)connect it reads all nodes once *before* subscribing, so
units made while the link or the server was down are caught up exactly once; the
subscription's own first notification then repeats a value already seen (Δ = 0).

The connection is ours, not asyncua's: each attempt builds a fresh client with
`auto_reconnect` off, and this driver reconnects with capped exponential backoff. That
keeps one ordered path for values (read, then notifications in order) and one place
where certificates are checked.

Security: "Basic256Sha256,Sign" or "Basic256Sha256,SignAndEncrypt" with a client
certificate and the server certificate PINNED — the endpoint's certificate must be
byte-identical to `server_cert` (checked on the unsecured discovery call, before any
session or password) and within its validity dates, or the driver refuses (AuthError). "None" only with
`allow_insecure=True`.

Vendor errors are translated here: certificate, signature and identity failures →
AuthError; everything else on the wire → TransportError; a non-integer counter value →
DecodeError carrying the raw value.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import pathlib
from typing import Any, Iterable, Mapping

from asyncua import Client, ua
from asyncua.crypto import security_policies
from asyncua.common.subscription import DataChangeEvent
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from drivers.base import AuthError, DecodeError, DriverError, Reading, Sink, TransportError
from drivers.reconnect import Reconnecting
from drivers.counters import CounterBook, CounterSpec

log = logging.getLogger(__name__)

MODES = {"Sign": ua.MessageSecurityMode.Sign, "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt}
_AUTH_STATUS = (
    "BadCertificate",
    "BadSecurity",
    "BadIdentityToken",
    "BadUserAccessDenied",
    "BadUserSignatureInvalid",
    "BadApplicationSignatureInvalid",
    "BadNonceInvalid",
)


# Counter types small enough to roll over within a shift or a week; with no wrap_max a
# roll-over reads as a reset. (A UInt32 at 10 units/s lasts 13 years: not worth a warning.)
_WRAPS = {ua.VariantType.Byte: 0xFF, ua.VariantType.UInt16: 0xFFFF}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def _load_der(path: str | pathlib.Path, field: str) -> bytes:
    """Read a PEM or DER certificate file as DER bytes, naming the config field on failure."""
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{field}: cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        x509.load_der_x509_certificate(data)
        return data
    except ValueError as exc:
        raise ValueError(f"{field}: {str(path)!r} is not a certificate ({exc})") from None


def _fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()[:16]


def _application_uri(der: bytes) -> str | None:
    """The URI in a certificate's subjectAltName: OPC-UA requires the client to claim it."""
    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def _first_der(chain: bytes | None) -> bytes | None:
    """The leaf of a DER chain as servers send it (one or more certificates back to back)."""
    if not chain:
        return None
    # A DER SEQUENCE header: 0x30 0x82 <len:2> for any RSA certificate of sane size.
    if len(chain) > 4 and chain[0] == 0x30 and chain[1] == 0x82:
        return chain[: 4 + int.from_bytes(chain[2:4], "big")]
    return chain


def translate(exc: BaseException, during: str) -> DriverError:
    """Map an asyncua / socket / crypto failure to the driver error tree."""
    if isinstance(exc, DriverError):
        return exc
    text = f"{during}: {type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, InvalidSignature):
        return AuthError(f"{during}: server signature does not verify against the pinned certificate")
    if isinstance(exc, ua.UaStatusCodeError):
        name = ua.StatusCode(exc.code).name if hasattr(exc, "code") else ""
        if name.startswith(_AUTH_STATUS):
            return AuthError(f"{during}: {name}")
        return TransportError(f"{during}: {name or exc}")
    if isinstance(exc, ua.UaError) and "certificate" in str(exc).lower():
        return AuthError(text)
    return TransportError(text)


class OpcUaCounters(Reconnecting):
    """OPC-UA counter driver: subscription deltas, catch-up read after each connect, pinned server cert."""

    def __init__(
        self,
        id: str,
        endpoint: str,
        counters: Iterable[Mapping[str, Any] | CounterSpec] = (),
        security: str = "Basic256Sha256,SignAndEncrypt",
        allow_insecure: bool = False,
        server_cert: str | pathlib.Path | None = None,
        client_cert: str | pathlib.Path | None = None,
        client_key: str | pathlib.Path | None = None,
        username: str | None = None,
        password: str | None = None,
        state: Mapping[str, tuple[int, int]] | None = None,
        *,
        publishing_interval_ms: float = 100.0,
        timeout: float = 4.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ):
        self.id = id
        if not endpoint.startswith("opc.tcp://"):
            raise ValueError(f"endpoint: must start with opc.tcp://, got {endpoint!r}")
        self.endpoint = endpoint
        specs = []
        # Notifications name nodes by NodeId; the book, the event ids and the stored
        # state use the node string exactly as configured ("i=5" and "ns=0;i=5" alike).
        self._configured: dict[ua.NodeId, str] = {}
        for i, raw in enumerate(counters):
            spec = raw if isinstance(raw, CounterSpec) else CounterSpec.from_mapping(raw, f"counters[{i}]")
            try:
                node_id = ua.NodeId.from_string(spec.node)
            except Exception:
                raise ValueError(f"counters[{i}].node: not an OPC-UA node id: {spec.node!r}") from None
            if node_id in self._configured:
                raise ValueError(
                    f"counters[{i}].node: {spec.node!r} is the same node as {self._configured[node_id]!r}"
                )
            self._configured[node_id] = spec.node
            specs.append(spec)
        if not specs:
            raise ValueError("counters: at least one counter node is required")
        self.book = CounterBook(specs, state)
        self.policy, self.mode = self._parse_security(security, allow_insecure)
        self.server_cert = self.client_cert = None
        if self.policy is not None:
            missing = [n for n, v in (("server_cert", server_cert), ("client_cert", client_cert),
                                      ("client_key", client_key)) if not v]
            if missing:
                raise ValueError(
                    f"{', '.join(missing)}: required with security {security!r} "
                    "(the server certificate is pinned, the client proves its own)"
                )
            self.server_cert = _load_der(server_cert, "server_cert")
            self.client_cert = _load_der(client_cert, "client_cert")
            self.client_key = pathlib.Path(client_key)
            if not self.client_key.is_file():
                raise ValueError(f"client_key: cannot read {str(client_key)!r}")
        self.username, self.password = username, password
        self.publishing_interval_ms = publishing_interval_ms
        self.timeout = timeout
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._task: asyncio.Task | None = None
        self._client: Client | None = None
        self._sink: Sink | None = None
        self.connects = 0  # successful sessions, for tests and the dashboard
        self._warned: set[str] = set()

    @staticmethod
    def _parse_security(security: str, allow_insecure: bool):
        policy, _, mode = (part.strip() for part in security.partition(","))
        if policy == "None":
            if not allow_insecure:
                raise AuthError(
                    "security 'None' refused: OPC-UA traffic would be unsigned and unencrypted; "
                    "set allow_insecure = true to accept that (demo only)"
                )
            return None, ua.MessageSecurityMode.None_
        if policy != "Basic256Sha256" or mode not in MODES:
            raise ValueError(
                "security: must be 'Basic256Sha256,Sign', 'Basic256Sha256,SignAndEncrypt' "
                f"or 'None', got {security!r}"
            )
        return security_policies.SecurityPolicyBasic256Sha256, MODES[mode]

    # -- lifecycle ---------------------------------------------------------------------

    def state(self) -> dict[str, tuple[int, int]]:
        """Last (epoch, value) per node as this driver saw it (the gateway stores committed ones)."""
        return self.book.state()

    def _translate(self, exc: BaseException) -> DriverError:
        return translate(exc, f"opcua {self.endpoint}")

    async def _lost(self) -> None:
        await self._close_client()

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(client.disconnect(), timeout=2)

    # -- one connection ----------------------------------------------------------------

    async def _session(self) -> None:
        """Connect, catch up, subscribe, and deliver until the connection is lost."""
        client = Client(self.endpoint, timeout=self.timeout, watchdog_intervall=1.0)
        lost = asyncio.Event()

        async def on_lost(exc: Exception) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        if self.username is not None:
            client.set_user(self.username)
            client.set_password(self.password or "")
        if self.policy is not None:
            await self._check_pin(client)
            client.application_uri = _application_uri(self.client_cert) or client.application_uri
            await client.set_security(
                self.policy,
                certificate=self.client_cert,
                private_key=str(self.client_key),
                server_certificate=self.server_cert,
                mode=self.mode,
            )
        self._client = client
        await client.connect()
        self.connects += 1
        nodes = [client.get_node(node_id) for node_id in self._configured]
        # Catch-up first, subscription second: the subscription samples later than the
        # read, so values reach the book in the order the PLC made them.
        for node, data_value in zip(nodes, await client.read_attributes(nodes)):
            await self._book(node.nodeid, data_value)
        subscription = await client.create_subscription(self.publishing_interval_ms, None)
        await subscription.subscribe_data_change(nodes)
        self._sink.connection(self.id, "connected")
        pump = asyncio.create_task(self._pump(subscription))
        waiter = asyncio.create_task(lost.wait())
        try:
            await asyncio.wait({pump, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pump.cancel()
            waiter.cancel()
            outcome = await asyncio.gather(pump, waiter, return_exceptions=True)
        if isinstance(outcome[0], Exception):
            raise outcome[0]  # e.g. the sink failed: reconnect, the catch-up read resends
        raise TransportError(f"opcua {self.endpoint}: connection lost")

    async def _pump(self, subscription) -> None:
        async for event in subscription:
            if isinstance(event, DataChangeEvent):
                await self._book(event.node.nodeid, event.data.monitored_item.Value)

    async def _check_pin(self, client: Client) -> None:
        """Refuse a server whose certificate is not the pinned one, before sending anything secret."""
        pinned = x509.load_der_x509_certificate(self.server_cert)
        now = dt.datetime.now(dt.timezone.utc)
        if not pinned.not_valid_before_utc <= now <= pinned.not_valid_after_utc:
            raise AuthError(
                f"opcua {self.endpoint}: pinned server certificate is valid only from "
                f"{pinned.not_valid_before_utc:%Y-%m-%d %H:%M} to {pinned.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; "
                "refusing to connect"
            )
        endpoints = await client.connect_and_get_server_endpoints()
        offered = [
            e for e in endpoints
            if e.SecurityPolicyUri == self.policy.URI and e.SecurityMode == self.mode
        ]
        if not offered:
            raise AuthError(
                f"opcua {self.endpoint}: server offers no {self.policy.URI.rsplit('#', 1)[-1]} "
                f"{self.mode.name} endpoint"
            )
        presented = _first_der(offered[0].ServerCertificate)
        if presented != self.server_cert:
            raise AuthError(
                f"opcua {self.endpoint}: server certificate does not match the pinned one "
                f"(pinned sha256 {_fingerprint(self.server_cert)}…, presented sha256 "
                f"{_fingerprint(presented) if presented else 'none'}…); refusing to connect"
            )

    async def _book(self, node_id: ua.NodeId, data_value: ua.DataValue) -> None:
        node = self._configured.get(node_id)
        if node is None:
            return
        spec = self.book.specs[node]
        status = data_value.StatusCode
        if status is not None and not status.is_good():
            await self._report(DecodeError(f"{node}: status {status.name}", raw=repr(data_value.Value)))
            return
        raw = data_value.Value.Value if data_value.Value is not None else None
        variant = data_value.Value.VariantType if data_value.Value is not None else None
        if spec.wrap_max is None and variant in _WRAPS and node not in self._warned:
            self._warned.add(node)
            log.warning(
                "%s: %s is %s but has no wrap_max; set wrap_max = %d or its roll-over will be "
                "booked as a PLC reset", self.id, node, variant.name, _WRAPS[variant],
            )
        before = self.book.state().get(node)
        try:
            count = self.book.observe(node, raw)
        except ValueError as exc:
            await self._report(DecodeError(str(exc), raw=repr(raw)))
            return
        stamp = data_value.SourceTimestamp or data_value.ServerTimestamp
        ts = stamp.replace(tzinfo=stamp.tzinfo or dt.timezone.utc).isoformat() if stamp else _now()
        if count is None:
            after = self.book.state().get(node)
            if after != before:
                # A baseline or a reset seen at 0: nothing was made, but the position moved.
                # A zero-delta reading lets the gateway store it with its next commit, so
                # a crash before the next unit neither re-baselines nor loses the reset.
                epoch, value = after
                await self._sink.reading(Reading(
                    device=self.id, kind="counter", value=value, ts=ts,
                    attrs={"node": node, "line": spec.line, "counter_kind": spec.kind,
                           "operation": spec.operation, "epoch": epoch,
                           "previous": before[1] if before else None, "delta": 0,
                           "cause": "baseline" if before is None else "reset",
                           "event_id": None}))
            return
        reading = Reading(
            device=self.id,
            kind="counter",
            value=count.value,
            ts=ts,
            attrs={
                "node": node,
                "line": spec.line,
                "counter_kind": spec.kind,
                "operation": spec.operation,
                "epoch": count.epoch,
                "previous": count.previous,
                "delta": count.delta,
                "cause": count.cause,
                "event_id": count.event_id(self.id),
            },
        )
        try:
            await self._sink.reading(reading)
        except BaseException:
            self.book.undo(count)  # not delivered: the next read must report it again
            raise


DRIVER = OpcUaCounters
