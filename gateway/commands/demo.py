"""`gateway demo [--port N]`: the example plant, live, with nothing to configure.

Starts the simulators (OPC-UA PLC, MT-SICS scale and two GS1 scanners on pseudo-
terminals, an ERP receiver, and a Mosquitto broker of its own when the program is
installed), runs the gateway on config/demo with a scratch database, serves the
dashboard, and plays a looping shift. `--upstream nats` sends the GL batches to a private
NATS JetStream server (stream GL) instead of the simulated ERP, and writes a plant.toml
for `gateway consolidate` beside the books. Security is relaxed on purpose (see the [demo]
table of config/demo/gateway.toml): loopback only, demo logins printed below.
Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import re
import shutil
import sys
import tempfile

import msgspec

DEMO_DIR = pathlib.Path(__file__).resolve().parents[2] / "config" / "demo"
# The demo broker's login, handed to the gateway the way a site hands it: by environment.
DEMO_MQTT_USER_ENV, DEMO_MQTT_PASSWORD_ENV = "GATEWAY_DEMO_MQTT_USER", "GATEWAY_DEMO_MQTT_PASSWORD"
LOGINS = (("supervisor", "supervisor", "demo-supervisor"), ("controller", "controller", "demo-controller"),
          ("viewer", "viewer", "demo-viewer"))


def add_arguments(p) -> None:
    p.add_argument("--port", type=int, default=8080, help="dashboard port (default 8080)")
    p.add_argument("--tick", type=float, default=1.0,
                   help="seconds per scenario step (smaller = faster shift)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder at exit")
    p.add_argument("--upstream", choices=("http", "nats"), default="http",
                   help="where GL batches go: the simulated ERP over http (default) or a "
                        "private NATS JetStream server (needs nats-server, ./setup.sh)")


def run(args) -> int:
    from gateway.logs import console_log

    from simulators.nats_server import NatsServerMissing

    console_log(demo=True)
    try:
        return asyncio.run(demo(args.port, tick=args.tick, keep=args.keep, upstream=args.upstream))
    except KeyboardInterrupt:
        return 0
    except NatsServerMissing as exc:
        print(f"demo --upstream nats: {exc}", file=sys.stderr)
        return 1


def _say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


async def demo(port: int, *, tick: float = 1.0, keep: bool = False, cycles: int | None = None,
               workdir: pathlib.Path | None = None, upstream: str = "http") -> int:
    """Run the demo until Ctrl-C, or for `cycles` shifts (tests), in `workdir` if given;
    `upstream`: "http" (the simulated ERP) or "nats" (a private JetStream server)."""
    tmp = workdir or pathlib.Path(tempfile.mkdtemp(prefix="gateway-demo-"))
    keep = keep or workdir is not None
    stopped = False  # by Ctrl-C, SIGTERM or the end of `cycles`; not by a failed start
    try:
        await _demo(tmp, port, tick=tick, keep=keep, cycles=cycles, upstream=upstream)
        stopped = True
    except (asyncio.CancelledError, KeyboardInterrupt):
        stopped = True  # Ctrl-C before the signal handlers were up
        raise
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        if stopped:
            _say(*exit_hint(tmp, keep))
    return 0


def exit_hint(tmp: pathlib.Path, keep: bool) -> list[str]:
    """What the demo says when it stops: where its books are and how to read them, or
    that they went with the scratch folder."""
    if keep:
        return [f"demo stopped. Its books are kept in {tmp}; reports on them:",
                f"  gateway trial-balance -c {tmp / 'gateway.toml'}   (also: journal, "
                "stock, wip, replay)",
                f"Remove the folder when done: rm -r {tmp}"]
    return [f"demo stopped. Its scratch folder {tmp} (journal, broker store, users file) "
            "was removed with its books;",
            "  gateway demo --keep keeps them, for reports after the demo."]


async def _demo(tmp: pathlib.Path, port: int, *, tick: float, keep: bool,
                cycles: int | None, upstream: str) -> None:
    from gateway.commands.run import serve
    from gateway.config import load_config
    from gateway.masterdata import load_master
    from gateway.users import UserStore
    from simulators.erp import ErpSimulator
    from simulators.event_feed import EventFeed
    from simulators.mqtt_devices import MqttDeviceSimulator
    from simulators.plc import PlcSimulator
    from simulators.scale import ScaleSimulator
    from simulators.scanner import ScannerSimulator
    from simulators.scenario import PlantScenario

    config = load_config(DEMO_DIR / "gateway.toml")
    master = load_master(config)
    async with contextlib.AsyncExitStack() as stack:
        plc = PlcSimulator({"Assy": "UInt16", "Weld": "UInt16"})
        await plc.start()
        stack.push_async_callback(plc.stop)
        scale = await ScaleSimulator("mt-sics", tmp / "ttyScale", unit="g").start()
        stack.push_async_callback(scale.stop)
        dock = stack.enter_context(ScannerSimulator(tmp / "ttyDock"))
        mix = stack.enter_context(ScannerSimulator(tmp / "ttyMix"))
        if upstream == "nats":
            sink = _start_nats(tmp)
            stack.callback(sink.stop)
        else:
            sink = await ErpSimulator().start()
            stack.push_async_callback(sink.stop)
        broker = _start_broker(tmp)
        if broker is not None:
            stack.callback(broker.stop)
            publisher = await stack.enter_async_context(MqttDeviceSimulator(
                broker.url, broker.username, broker.password, client_id="demo-erp"))
            feed, publish = None, publisher.event
        else:
            publisher, feed = None, EventFeed("erp-feed")
            publish = feed.publish

        users = UserStore(tmp / "users.toml")
        for name, role, password in LOGINS:
            users.add(name, role, password, replace=True)
        users.save()
        config = _point_at_simulators(config, tmp, port, plc, sink, broker)
        drivers = _drivers(config, tmp, feed, broker)
        stop = asyncio.Event()
        # cycles 1-3 (~3 minutes) are the demo's moment of trouble: alerts to see
        scenario = PlantScenario(plc, scale, dock, mix, publish, tick=tick, trouble=(1, 2, 3))

        books = write_config(tmp, port)
        where = _upstream_lines(config, tmp) if upstream == "nats" else ()

        def ready(info: dict) -> None:
            _say("Shop-floor gateway demo: simulated PLC, scale, scanners and ERP on loopback.",
                 "Security is relaxed on purpose ([demo] config): never point this at a plant.",
                 "Dashboard:", info["dashboard"],
                 "Login: supervisor / demo-supervisor   (approves invoices: controller / "
                 "demo-controller; read-only: viewer / demo-viewer)",
                 f"Metrics: {info['dashboard']}metrics", f"Scratch folder: {tmp}",
                 "Reports on these books, from another terminal:",
                 f"  gateway trial-balance -c {books}   (also: journal, stock, wip)",
                 *where,
                 "Ctrl-C stops everything"
                 + (" (the folder is kept)." if keep else
                    "; --keep keeps the folder and its books."))

        async def play() -> None:
            await asyncio.sleep(0.5)
            sensors = asyncio.create_task(_line_sensors(publisher, stop, tick))
            try:
                await scenario.run(stop, cycles=cycles)
                if cycles is not None:
                    await asyncio.sleep(20 * tick + 1.0)  # let the last readings arrive
                    stop.set()
            finally:
                sensors.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sensors

        player = asyncio.create_task(play())
        try:
            await serve(config, master, drivers=drivers, stop=stop, users=users,
                        secure_cookies=False, on_ready=ready)
        finally:
            stop.set()
            player.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await player


def write_config(tmp: pathlib.Path, port: int) -> pathlib.Path:
    """A gateway.toml in the scratch folder whose journal is the one this demo writes, so
    the CLI reads the same books as the dashboard (config/demo's own points elsewhere)."""
    text = (DEMO_DIR / "gateway.toml").read_text(encoding="utf-8")
    moved = {"db": tmp / "demo.db", "master_data": DEMO_DIR / "master",
             "events": DEMO_DIR / "events.jsonl", "listen": f"127.0.0.1:{port}",
             "users_file": tmp / "users.toml"}
    for key, value in moved.items():
        text, n = re.subn(rf'^{key} = "[^"]*"', f"{key} = {json.dumps(str(value))}", text,
                          count=1, flags=re.M)
        assert n == 1, f"config/demo/gateway.toml has no {key} line"
    path = tmp / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _start_nats(tmp: pathlib.Path):
    """Our own JetStream server (no login: loopback, demo config); NatsServerMissing if
    the program is not installed."""
    from simulators.nats_server import NatsServer

    return NatsServer(tmp / "nats").start()


def _upstream_lines(config, tmp: pathlib.Path) -> tuple[str, ...]:
    """Where the batches go, and a plant.toml to consolidate them (see docs/plant.md)."""
    up = config.upstream
    plant = tmp / "plant.toml"
    plant.write_text(PLANT_TOML.format(plant=up.plant, gateway=config.gateway.id,
                                       currency=config.gateway.currency,
                                       decimals=config.gateway.currency_decimals,
                                       server=up.url, stream=up.stream), encoding="utf-8")
    return (f"Upstream: NATS JetStream {up.url}, stream {up.stream}, "
            f"subject {up.nats_subject(config.gateway.id)}",
            "Into a PostgreSQL plant ledger, from another terminal:",
            f"  PLANT_DSN='host=... dbname=plant' gateway consolidate -c {plant}")


PLANT_TOML = """\
[plant]
id = "{plant}"
currency = "{currency}"
currency_decimals = {decimals}
gateways = ["{gateway}"]

[nats]
servers = ["{server}"]
stream = "{stream}"
subject = "gl.{plant}.*"
durable = "{plant}-consolidator"

[postgres]
dsn_env = "PLANT_DSN"
"""


def _start_broker(tmp: pathlib.Path):
    """Our own Mosquitto when the program is installed (./setup.sh installs it), with the
    password in GATEWAY_DEMO_MQTT_PASSWORD if set (to connect a client of your own), else
    a random one."""
    from simulators.mosquitto import Mosquitto, MosquittoMissing

    try:
        broker = Mosquitto(tmp / "mqtt", username="demo",
                           password=os.environ.get(DEMO_MQTT_PASSWORD_ENV) or None)
        broker.start()
        return broker
    except (MosquittoMissing, RuntimeError) as exc:
        print(f"demo: MQTT devices off ({exc}); ERP events go in-process", file=sys.stderr)
        return None


async def _line_sensors(publisher, stop: asyncio.Event, tick: float) -> None:
    """Line 2's press and oven publish measurements, as plain MQTT devices do."""
    if publisher is None:
        return
    n = 0
    while not stop.is_set():
        n += 1
        for device, value, unit in (("line2-press", 182.0 + n % 7, "bar"),
                                    ("line2-oven", 231.5 + (n % 5) / 2, "C")):
            await publisher.reading(device, "measure", value, unit=unit,
                                    topic=f"plant/line2/{device}/readings")
        await asyncio.sleep(max(2 * tick, 0.5))


def _point_at_simulators(config, tmp: pathlib.Path, port: int, plc, sink, broker):
    """The demo config, with its endpoints moved onto this run's simulators; `sink` is
    the ERP simulator, or a NatsServer for `--upstream nats`."""
    replace = msgspec.structs.replace
    devices = []
    for dev in config.devices:
        tag = dev.__struct_config__.tag
        if tag == "opcua":
            dev = replace(dev, endpoint=plc.endpoint)
        if tag == "mqtt" and broker is None:
            continue
        devices.append(dev)
    return replace(
        config,
        gateway=replace(config.gateway, db=str(tmp / "demo.db")),
        devices=devices,
        upstream=_upstream_at(config.upstream, sink),
        dashboard=replace(config.dashboard, listen=f"127.0.0.1:{port}",
                          users_file=str(tmp / "users.toml")),
        mqtt=_mqtt_at(config.mqtt, broker),
    )


def _mqtt_at(mqtt, broker):
    """[mqtt] on this run's broker, its login from the environment as in production: the
    alert routes' sink reads username_env/password_env (anonymous would be refused)."""
    if broker is None:
        return None
    os.environ[DEMO_MQTT_USER_ENV] = broker.username
    os.environ[DEMO_MQTT_PASSWORD_ENV] = broker.password
    return msgspec.structs.replace(mqtt, url=broker.url, username_env=DEMO_MQTT_USER_ENV,
                                   password_env=DEMO_MQTT_PASSWORD_ENV)


def _upstream_at(upstream, sink):
    from simulators.nats_server import NatsServer

    if isinstance(sink, NatsServer):  # the stream is the demo's own: created on first start
        return msgspec.structs.replace(upstream, sink="nats", url=sink.url, stream="GL",
                                       plant="demo", create_stream=True)
    return msgspec.structs.replace(upstream, url=sink.url)


def _drivers(config, tmp: pathlib.Path, feed, broker) -> list:
    """The configured drivers on the simulators' ports, plus the moulding station's
    scanner (the demo has two scanners; the config shows one)."""
    from drivers import driver_class
    from gateway.devices import build_drivers

    overrides: dict = {"scale-mix": {"port": str(tmp / "ttyScale")},
                       "scanner-dock": {"port": str(tmp / "ttyDock")}}
    if broker is not None:
        login = {"username": broker.username, "password": broker.password}
        overrides.update({"line-mqtt": login, "mqtt-events": login})
    drivers = build_drivers(config, {}, overrides=overrides)
    drivers.append(driver_class("serial_scanner")(id="scanner-mix", port=str(tmp / "ttyMix"),
                                                  station="mix"))
    if feed is not None:
        drivers.append(feed)
    return drivers
