"""OPC-UA counters against the real PLC simulator (an asyncua server on a free port)."""

from __future__ import annotations

import json
import sqlite3

import pytest
import pytest_asyncio

from drivers.base import AuthError
from drivers.opcua import OpcUaCounters
from gateway import schema
from simulators.certs import make_opcua_cert
from simulators.plc import APPLICATION_URI, PlcSimulator
from tests.support.net import RecordingSink as _AnyReadingSink
from tests.support.net import wait_until


class RecordingSink(_AnyReadingSink):
    """Counts in `readings`; zero-delta position readings (a baseline, a reset seen at 0,
    which the gateway stores so a crash cannot re-baseline) in `positions`."""

    def __init__(self):
        super().__init__()
        self.positions = []

    async def reading(self, reading):
        if reading.attrs.get("delta") == 0:
            self.positions.append(reading)
        else:
            await super().reading(reading)

# One event loop for the module, so the unsecured PLC (slow to build: ~1.5 s of address
# space) is shared; each test counts on its own line, so tests cannot see each other.
on_shared_loop = pytest.mark.asyncio(loop_scope="module")


def line_counters(line: str) -> list[dict]:
    return [
        {"node": f"ns=2;s={line}.Good", "line": f"WC-{line.upper()}", "kind": "good"},
        {"node": f"ns=2;s={line}.Scrap", "line": f"WC-{line.upper()}", "kind": "scrap", "operation": 10},
    ]


ASSY = line_counters("Assy")
LINES = {
    "Assy": "UInt32", "Restart": "UInt32", "Reset": "UInt32", "Stored": "UInt32",
    "Flaky": "UInt32", "Journal": "UInt32", "Weld": "UInt16", "Position": "UInt32",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def plc():
    """The shared PLC with security None (the demo's setting)."""
    async with PlcSimulator(LINES) as plc:
        yield plc


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("opcua-certs")
    return {
        "server": make_opcua_cert(folder, "plc", APPLICATION_URI, server=True),
        "impostor": make_opcua_cert(folder, "impostor", APPLICATION_URI, server=True),
        "client": make_opcua_cert(folder, "gateway", "urn:shopfloor-gateway:client", server=False),
    }


def insecure(plc: PlcSimulator, counters=ASSY, **kw) -> OpcUaCounters:
    return OpcUaCounters(
        "plc1", plc.endpoint, counters, security="None", allow_insecure=True,
        backoff_initial=0.1, backoff_max=0.5, **kw,
    )


def booked(sink: RecordingSink, kind: str = "good") -> int:
    return sum(r.attrs["delta"] for r in sink.readings if r.attrs["counter_kind"] == kind)


async def started(driver: OpcUaCounters) -> RecordingSink:
    sink = RecordingSink()
    await driver.start(sink)
    await wait_until(lambda: sink.state == "connected", what="driver connected")
    return sink


@on_shared_loop
async def test_subscription_delivers_deltas_after_a_baseline(plc):
    await plc.count("Assy", good=7)  # made before the gateway ever looked: baseline
    driver = insecure(plc)
    sink = await started(driver)
    try:
        await plc.count("Assy", good=5)
        await plc.count("Assy", scrap=2)
        await wait_until(lambda: booked(sink) == 5 and booked(sink, "scrap") == 2, what="5 good, 2 scrap")
    finally:
        await driver.stop()
    good = [r for r in sink.readings if r.attrs["counter_kind"] == "good"]
    assert good[-1].value == 12 and good[0].attrs["previous"] == 7
    scrap = [r for r in sink.readings if r.attrs["counter_kind"] == "scrap"][-1]
    assert scrap.kind == "counter" and scrap.device == "plc1"
    assert scrap.attrs | {"previous": None} == {
        "node": "ns=2;s=Assy.Scrap", "line": "WC-ASSY", "counter_kind": "scrap", "operation": 10,
        "epoch": 0, "previous": None, "delta": 2, "cause": "count",
        "event_id": "plc1:ns=2;s=Assy.Scrap:0:2",
    }
    assert sink.problems == []
    assert sink.state == "down"


@on_shared_loop
async def test_baseline_and_reset_at_zero_are_delivered_as_positions_to_store(plc):
    driver = insecure(plc, line_counters("Position"))
    sink = await started(driver)
    try:
        await wait_until(lambda: len(sink.positions) == 2, what="two baselines")
        assert {(r.attrs["cause"], r.attrs["epoch"], r.attrs["event_id"])
                for r in sink.positions} == {("baseline", 0, None)}
        await plc.count("Position", good=3)
        await wait_until(lambda: booked(sink) == 3, what="3 good")
        await plc.reset("Position", "Good")
        await wait_until(lambda: len(sink.positions) == 3, what="the reset's position")
    finally:
        await driver.stop()
    reset = sink.positions[-1]
    assert (reset.value, reset.attrs["epoch"], reset.attrs["cause"]) == (0, 1, "reset")
    assert booked(sink) == 3  # positions never count


@on_shared_loop
async def test_server_restart_mid_shift_catches_up_counts_made_while_down_once(plc):
    driver = insecure(plc, line_counters("Restart"))
    sink = await started(driver)
    try:
        await plc.count("Restart", good=3)
        await wait_until(lambda: booked(sink) == 3, what="3 good before the restart")
        await plc.restart(downtime=0.3, count_while_down={"Restart": 4})
        await wait_until(lambda: driver.connects == 2 and sink.state == "connected", what="reconnect")
        await wait_until(lambda: booked(sink) == 7, what="catch-up of the 4 made while down")
        await plc.count("Restart", good=1)
        await wait_until(lambda: booked(sink) == 8, what="counting resumes")
    finally:
        await driver.stop()
    ids = [r.attrs["event_id"] for r in sink.readings]
    assert len(ids) == len(set(ids))
    assert "reconnecting" in sink.states and booked(sink) == 8
    # The lost session, then refused connects while the PLC was down: all transport.
    assert sink.problems and {type(p).__name__ for p in sink.problems} == {"TransportError"}
    assert "connection lost" in str(sink.problems[0])


@on_shared_loop
async def test_plc_reset_counts_from_zero_in_a_new_epoch(plc):
    driver = insecure(plc, line_counters("Reset"))
    sink = await started(driver)
    try:
        await plc.count("Reset", good=10)
        await wait_until(lambda: booked(sink) == 10, what="10 before the reset")
        await plc.reset("Reset")
        await plc.count("Reset", good=3)
        await wait_until(lambda: booked(sink) == 13, what="3 after the reset")
    finally:
        await driver.stop()
    last = sink.readings[-1]
    assert (last.value, last.attrs["epoch"]) == (3, 1)
    assert driver.state()["ns=2;s=Reset.Good"] == (1, 3)


@on_shared_loop
async def test_uint16_counter_rolls_over(plc):
    weld = [{"node": "ns=2;s=Weld.Good", "line": "WC-WELD", "kind": "good", "wrap_max": 65535}]
    await plc.preset("Weld", "Good", 65530)
    driver = insecure(plc, weld)
    sink = await started(driver)
    try:
        await plc.count("Weld", good=10)
        await wait_until(lambda: booked(sink) == 10, what="10 across the roll-over")
    finally:
        await driver.stop()
    assert await plc.value("Weld") == 4
    last = sink.readings[-1]
    assert (last.attrs["cause"], last.attrs["epoch"], last.value) == ("rollover", 1, 4)


@on_shared_loop
async def test_uint16_counter_without_wrap_max_is_flagged(plc, caplog):
    driver = insecure(plc, [{"node": "ns=2;s=Weld.Scrap", "line": "WC-WELD", "kind": "scrap"}])
    await started(driver)
    await driver.stop()
    assert "ns=2;s=Weld.Scrap is UInt16 but has no wrap_max; set wrap_max = 65535" in caplog.text


@on_shared_loop
async def test_driver_restart_with_stored_state_counts_nothing_twice(plc):
    stored_line = line_counters("Stored")
    await plc.count("Stored", good=100)
    # 10 made since the last commit
    first = insecure(plc, stored_line, state={"ns=2;s=Stored.Good": (0, 90)})
    sink = await started(first)
    await wait_until(lambda: booked(sink) == 10, what="catch-up from stored state")
    await plc.count("Stored", good=5)
    await wait_until(lambda: booked(sink) == 15, what="live count")
    await first.stop()
    # The gateway stored what it committed; the PLC keeps counting with nobody reading.
    stored = {r.attrs["node"]: (r.attrs["epoch"], r.value) for r in sink.readings}
    await plc.count("Stored", good=6)
    second = insecure(plc, stored_line, state=stored)
    sink2 = await started(second)
    await wait_until(lambda: booked(sink2) == 6, what="the 6 made between drivers")
    await second.stop()
    ids = [r.attrs["event_id"] for r in sink.readings + sink2.readings]
    assert len(ids) == len(set(ids)) and booked(sink) + booked(sink2) == 21


class JournalSink(RecordingSink):
    """The gateway's side of the counter seam on the real schema: event and counter
    state in one transaction, the state written only when the event id was new."""

    def __init__(self, db, commit_limit: int | None = None):
        super().__init__()
        self.db, self.commit_limit = db, commit_limit

    async def reading(self, reading):
        await super().reading(reading)
        if self.commit_limit is not None and len(self.readings) > self.commit_limit:
            return  # the process died before this commit
        a = reading.attrs
        with self.db:
            new = self.db.execute(
                "INSERT OR IGNORE INTO events(id, type, ts, source, payload, received_at) "
                "VALUES (?, ?, ?, ?, ?, datetime('now'))",
                (a["event_id"], "completion", reading.ts, reading.device, json.dumps({"qty": a["delta"]})),
            ).rowcount
            if new:
                self.db.execute(
                    "INSERT INTO counters(device, node, epoch, value) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(device, node) DO UPDATE SET epoch = excluded.epoch, value = excluded.value",
                    (reading.device, a["node"], a["epoch"], reading.value),
                )

    def booked(self) -> int:
        return sum(json.loads(p)["qty"] for (p,) in self.db.execute("SELECT payload FROM events"))

    def stored_state(self, device: str) -> dict:
        rows = self.db.execute("SELECT node, epoch, value FROM counters WHERE device = ?", (device,))
        return {node: (epoch, value) for node, epoch, value in rows}


@on_shared_loop
async def test_counter_state_survives_a_crash_through_the_counters_table(plc, tmp_path):
    db = sqlite3.connect(tmp_path / "gateway.db")
    schema.create(db)
    counters = line_counters("Journal")
    # First run: three counts arrive, only the first two are committed before the crash.
    crashed = JournalSink(db, commit_limit=2)
    first = insecure(plc, counters)
    await first.start(crashed)
    await wait_until(lambda: crashed.state == "connected", what="first driver connected")
    for n, units in enumerate((3, 4, 5), start=1):
        await plc.count("Journal", good=units)
        await wait_until(lambda: len(crashed.readings) == n, what=f"reading {n}")
    assert booked(crashed) == 12
    await first.stop()
    assert crashed.booked() == 7  # the third reading died uncommitted
    await plc.count("Journal", good=2)  # production goes on while the gateway restarts
    # Second run: built from what the table holds, it books exactly what is missing.
    journal = JournalSink(db)
    second = insecure(plc, counters, state=journal.stored_state("plc1"))
    await second.start(journal)
    await wait_until(lambda: journal.booked() == 14, what="5 + 2 caught up")
    await second.stop()
    db.close()


@on_shared_loop
async def test_signed_and_encrypted_session_with_pinned_certificate_and_password(certs):
    async with PlcSimulator(["Assy"], security="Basic256Sha256", users={"gw": "s3cret"},
                            cert_file=str(certs["server"].cert), key_file=str(certs["server"].key)) as plc:

        def secure(mode: str, password: str) -> OpcUaCounters:
            return OpcUaCounters(
                "plc1", plc.endpoint, ASSY, security=f"Basic256Sha256,{mode}",
                server_cert=certs["server"].cert, client_cert=certs["client"].cert,
                client_key=certs["client"].key, username="gw", password=password,
                backoff_initial=0.1,
            )

        for mode in ("SignAndEncrypt", "Sign"):
            driver = secure(mode, "s3cret")
            sink = await started(driver)
            try:
                await plc.count("Assy", good=2)
                await wait_until(lambda: booked(sink) == 2, what=f"count over {mode}")
            finally:
                await driver.stop()
            assert sink.problems == []

        driver = secure("SignAndEncrypt", "wrong")
        sink = RecordingSink()
        await driver.start(sink)
        try:
            await wait_until(lambda: sink.problems, what="a refused password")
        finally:
            await driver.stop()
        assert isinstance(sink.problems[0], AuthError) and "BadUserAccessDenied" in str(sink.problems[0])
        assert driver.connects == 0


@on_shared_loop
async def test_server_presenting_another_certificate_is_refused(certs):
    async with PlcSimulator(["Assy"], security="Basic256Sha256",
                            cert_file=str(certs["impostor"].cert), key_file=str(certs["impostor"].key)) as plc:
        driver = OpcUaCounters(
            "plc1", plc.endpoint, ASSY, server_cert=certs["server"].cert,
            client_cert=certs["client"].cert, client_key=certs["client"].key, backoff_initial=0.1,
        )
        sink = RecordingSink()
        await driver.start(sink)
        try:
            await wait_until(lambda: sink.problems, what="a refusal")
        finally:
            await driver.stop()
    assert isinstance(sink.problems[0], AuthError)
    assert "does not match the pinned one" in str(sink.problems[0])
    assert "connected" not in sink.states and driver.connects == 0


@on_shared_loop
async def test_expired_pinned_certificate_is_refused_before_any_traffic(tmp_path, certs):
    expired = make_opcua_cert(tmp_path, "old-plc", APPLICATION_URI, server=True, days=0)
    driver = OpcUaCounters(
        "plc1", "opc.tcp://127.0.0.1:9", ASSY, server_cert=expired.cert,  # nothing listens there
        client_cert=certs["client"].cert, client_key=certs["client"].key,
    )
    sink = RecordingSink()
    await driver.start(sink)
    try:
        await wait_until(lambda: sink.problems, what="a refusal")
    finally:
        await driver.stop()
    assert isinstance(sink.problems[0], AuthError)
    assert "pinned server certificate is valid only from" in str(sink.problems[0])


@on_shared_loop
async def test_policy_none_refused_unless_allowed():
    with pytest.raises(AuthError, match=r"security 'None' refused.*allow_insecure = true"):
        OpcUaCounters("plc1", "opc.tcp://127.0.0.1:4840", ASSY, security="None")


@on_shared_loop
async def test_secure_driver_refuses_a_server_that_offers_only_none(certs, plc):
    driver = OpcUaCounters(
        "plc1", plc.endpoint, ASSY, server_cert=certs["server"].cert,
        client_cert=certs["client"].cert, client_key=certs["client"].key,
    )
    sink = RecordingSink()
    await driver.start(sink)
    try:
        await wait_until(lambda: sink.problems, what="a refusal")
    finally:
        await driver.stop()
    assert isinstance(sink.problems[0], AuthError)
    assert "offers no Basic256Sha256 SignAndEncrypt endpoint" in str(sink.problems[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint": "tcp://x"}, "endpoint: must start with opc.tcp://, got 'tcp://x'"),
        ({"counters": [{"node": "Assy.Good", "line": "L"}]}, "counters[0].node: not an OPC-UA node id: 'Assy.Good'"),
        ({"security": "Basic128,Sign"}, "security: must be 'Basic256Sha256,Sign'"),
        ({}, "server_cert, client_cert, client_key: required with security"),
        ({"counters": [{"node": "i=2258", "line": "L"}, {"node": "ns=0;i=2258", "line": "L"}]},
         "counters[1].node: 'ns=0;i=2258' is the same node as 'i=2258'"),
        ({"server_cert": "/nonexistent.pem", "client_cert": "c", "client_key": "k"},
         "server_cert: cannot read '/nonexistent.pem': No such file or directory"),
    ],
)
def test_bad_configuration_names_the_field(kwargs, message):
    args = {"id": "plc1", "endpoint": "opc.tcp://127.0.0.1:4840", "counters": ASSY} | kwargs
    with pytest.raises(ValueError) as err:
        OpcUaCounters(**args)
    assert message in str(err.value)


@on_shared_loop
async def test_simulator_refuses_what_a_plc_could_not_do():
    with pytest.raises(ValueError, match="line X: counter type must be one of"):
        PlcSimulator({"X": "Int8"})
    with pytest.raises(ValueError, match="needs cert_file and key_file"):
        PlcSimulator(["X"], security="Basic256Sha256")
    idle = PlcSimulator({"Weld": "UInt16"})
    with pytest.raises(ValueError, match=r"Weld.Good: value 70000 outside 0..65535"):
        await idle.preset("Weld", "Good", 70000)
    with pytest.raises(RuntimeError, match="start\\(\\) the simulator before counting"):
        await idle.count("Weld", good=1)
    with pytest.raises(KeyError, match="no counter Assy.Good"):
        idle.node_id("Assy")
    assert idle.node_id("Weld", "scrap") == "ns=2;s=Weld.Scrap"
