"""A PLC on OPC-UA: Good and Scrap production counters per line, counted on demand.

Each line (e.g. "Assy", "Weld") has two counters at `ns=2;s=<Line>.Good` and
`ns=2;s=<Line>.Scrap`, UInt32 by default or UInt16 per line, so a roll-over is a few
counts away after `preset(...)`. The server can be stopped and started again on the
same port mid-shift: the counters keep their values (and can be counted while the
server is down, as a real PLC keeps producing while its OPC-UA stack restarts).

Security "None" or "Basic256Sha256" (Sign and SignAndEncrypt endpoints) with a
certificate from `simulators.certs`. Client certificates are accepted without a trust
list: the simulator tests the gateway's side of the handshake, not its own. With
`users={name: password}` the PLC asks for a user name and password and refuses
anonymous sessions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Iterable, Mapping

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole

from simulators.ports import free_port  # noqa: F401 (tests and the demo take it from here)

NAMESPACE = "urn:shopfloor-gateway:plc-simulator"
APPLICATION_URI = "urn:shopfloor-gateway:plc-simulator:server"
KINDS = ("Good", "Scrap")
TYPES = {"UInt16": (ua.VariantType.UInt16, 0xFFFF), "UInt32": (ua.VariantType.UInt32, 0xFFFFFFFF)}


@dataclass(frozen=True, slots=True)
class Counter:
    line: str
    kind: str  # "Good" | "Scrap"
    variant: ua.VariantType
    maximum: int

    @property
    def node_id(self) -> str:
        return f"ns=2;s={self.line}.{self.kind}"


class _Passwords:
    """asyncua user manager: only the configured name/password pairs get a session."""

    def __init__(self, users: Mapping[str, str]):
        self.users = dict(users)

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username in self.users and self.users[username] == password:
            return User(role=UserRole.User, name=username)
        return None


class PlcSimulator:
    """An asyncua server holding production counters that tests and the demo drive."""

    def __init__(
        self,
        lines: Iterable[str] | Mapping[str, str] = ("Assy", "Weld"),
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        security: str = "None",
        cert_file: str | None = None,
        key_file: str | None = None,
        users: Mapping[str, str] | None = None,
    ):
        types = dict(lines) if isinstance(lines, Mapping) else {line: "UInt32" for line in lines}
        self.counters: dict[tuple[str, str], Counter] = {}
        for line, type_name in types.items():
            if type_name not in TYPES:
                raise ValueError(f"line {line}: counter type must be one of {sorted(TYPES)}, got {type_name!r}")
            variant, maximum = TYPES[type_name]
            for kind in KINDS:
                self.counters[(line, kind)] = Counter(line, kind, variant, maximum)
        if security not in ("None", "Basic256Sha256"):
            raise ValueError(f"security must be 'None' or 'Basic256Sha256', got {security!r}")
        if security != "None" and not (cert_file and key_file):
            raise ValueError("security Basic256Sha256 needs cert_file and key_file")
        self.host = host
        self.port = port or free_port(host)
        self.security = security
        self.cert_file = cert_file
        self.key_file = key_file
        self.users = dict(users) if users else None
        self._server: Server | None = None
        self._nodes: dict[tuple[str, str], object] = {}
        self.running = False

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}"

    def node_id(self, line: str, kind: str = "Good") -> str:
        return self._counter(line, kind).node_id

    def _counter(self, line: str, kind: str) -> Counter:
        try:
            return self.counters[(line, kind.capitalize())]
        except KeyError:
            raise KeyError(f"no counter {line}.{kind} (have {sorted(self.counters)})") from None

    async def _build(self) -> Server:
        # Building the address space is the slow part (~1 s); done once, kept across restarts.
        server = Server(user_manager=_Passwords(self.users) if self.users else None)
        await server.init()
        if self.users:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        server.set_endpoint(self.endpoint)
        server.set_server_name("shopfloor PLC simulator")
        await server.set_application_uri(APPLICATION_URI)
        if self.security == "None":
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            server.set_security_policy(
                [
                    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                    ua.SecurityPolicyType.Basic256Sha256_Sign,
                ]
            )
            await server.load_certificate(self.cert_file)
            await server.load_private_key(self.key_file)
        index = await server.register_namespace(NAMESPACE)
        assert index == 2, f"simulator namespace got index {index}, node ids assume ns=2"
        plc = await server.nodes.objects.add_object(ua.NodeId("PLC", index), "PLC")
        for key, counter in self.counters.items():
            self._nodes[key] = await plc.add_variable(
                ua.NodeId(f"{counter.line}.{counter.kind}", index),
                f"{counter.line}{counter.kind}",
                ua.Variant(0, counter.variant),
            )
        return server

    async def start(self) -> None:
        """Listen on the endpoint; counters keep their values across stop/start."""
        if self._server is None:
            self._server = await self._build()
        await self._server.start()
        self.running = True

    async def stop(self) -> None:
        """Close the listener and every client session (a PLC reboot, as the network sees it)."""
        if self._server is not None and self.running:
            self.running = False
            await self._server.stop()

    async def restart(self, downtime: float = 0.0, *, count_while_down: Mapping[str, int] | None = None) -> None:
        """Stop, optionally count `{line: good}` while down, and start on the same port."""
        await self.stop()
        for line, good in (count_while_down or {}).items():
            await self.count(line, good=good)
        await asyncio.sleep(downtime)
        await self.start()

    async def value(self, line: str, kind: str = "Good") -> int:
        return await self._nodes[self._key(line, kind)].read_value()

    def _key(self, line: str, kind: str) -> tuple[str, str]:
        counter = self._counter(line, kind)
        return (counter.line, counter.kind)

    async def _write(self, line: str, kind: str, value: int) -> None:
        counter = self._counter(line, kind)
        await self._nodes[(counter.line, counter.kind)].write_value(ua.Variant(value, counter.variant))

    async def count(self, line: str, good: int = 0, scrap: int = 0) -> None:
        """Count units made; a counter past its type's maximum rolls over to 0 like a PLC's."""
        if self._server is None:
            raise RuntimeError("start() the simulator before counting")
        for kind, units in (("Good", good), ("Scrap", scrap)):
            if units < 0:
                raise ValueError(f"{kind.lower()}: units must be >= 0, got {units}")
            if units:
                counter = self._counter(line, kind)
                current = await self.value(line, kind)
                await self._write(line, kind, (current + units) % (counter.maximum + 1))

    async def reset(self, line: str, kind: str | None = None) -> None:
        """Set a line's counters (or one of them) back to 0, as an operator's reset does."""
        for each in (kind,) if kind else KINDS:
            await self._write(line, each, 0)

    async def preset(self, line: str, kind: str, value: int) -> None:
        """Load a counter with a value, e.g. just below its maximum to provoke a roll-over."""
        counter = self._counter(line, kind)
        if not 0 <= value <= counter.maximum:
            raise ValueError(f"{line}.{kind}: value {value} outside 0..{counter.maximum}")
        await self._write(line, kind, value)

    async def __aenter__(self) -> "PlcSimulator":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()
