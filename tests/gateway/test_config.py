"""gateway.toml: the demo loads; a bad file lists every problem at once, as
`<file>: <key.path>: <reason>`, and security shortcuts are refused outside [demo]."""

from __future__ import annotations

import copy
import pathlib
import shutil
import tempfile

import pytest
from hypothesis import given, settings, strategies as st

import msgspec
import tomllib

from gateway.config import (
    Config, ConfigError, MqttDevice, OpcuaDevice, SerialScaleDevice, SerialScannerDevice,
    inspect_config, inspect_document, load_config,
)
from tests.gateway.plant import ACCOUNTS

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "demo"


GATEWAY = """
[gateway]
id = "plant1-line1"
db = "var/gateway.db"
master_data = "master"
currency = "EUR"
currency_decimals = 2
"""

MINIMAL = GATEWAY + ACCOUNTS


def write(folder: pathlib.Path, text: str) -> pathlib.Path:
    """A gateway.toml in `folder` next to a copy of the demo master data."""
    if not (folder / "master").exists():
        shutil.copytree(DEMO / "master", folder / "master")
    path = folder / "gateway.toml"
    path.write_text(text)
    return path


def problems(path: pathlib.Path) -> list[str]:
    """The problems of `path`, each checked to start with the file and stripped of it."""
    with pytest.raises(ConfigError) as info:
        load_config(path)
    prefix = f"{path}: "
    assert all(p.startswith(prefix) for p in info.value.problems), info.value.problems
    return [p[len(prefix):] for p in info.value.problems]


# ---- valid files ----

def test_demo_config_loads_with_every_section_typed():
    config = load_config(DEMO / "gateway.toml")
    assert config.gateway.id == "demo-line"
    assert config.gateway.db == str(DEMO / "var" / "demo.db")
    assert config.gateway.master_data == str(DEMO / "master")
    assert config.gateway.synchronous == "FULL"
    assert config.accounts.inventory.semi == "1320"
    assert config.accounts.to_master().inventory == {"raw": "1310", "semi": "1320",
                                                     "finished": "1330"}
    assert [(d.id, type(d)) for d in config.devices] == [
        ("plc", OpcuaDevice), ("scale-mix", SerialScaleDevice),
        ("scanner-dock", SerialScannerDevice), ("line-mqtt", MqttDevice)]
    assert [d.driver for d in config.devices] == ["opcua", "serial_scale", "serial_scanner",
                                                  "mqtt"]
    plc = config.device("plc")
    assert (plc.security, plc.allow_insecure) == ("None", True)
    assert [(c.node, c.line, c.kind, c.operation) for c in plc.counters] == [
        ("ns=2;s=Assy.Good", "WC-ASSY", "good", None),
        ("ns=2;s=Assy.Scrap", "WC-ASSY", "scrap", 10),
        ("ns=2;s=Weld.Good", "WC-WELD", "good", None),
        ("ns=2;s=Weld.Scrap", "WC-WELD", "scrap", 10)]
    assert config.station("mix").work_center == "WC-MOLD"
    assert config.station("dock-in").location == "RM"
    assert config.mqtt is not None and config.mqtt.allow_anonymous
    assert config.upstream is not None and config.upstream.url == \
        "http://127.0.0.1:9000/gl/batches"
    assert config.dashboard is not None and (config.dashboard.host, config.dashboard.port) \
        == ("127.0.0.1", 8080)
    assert config.demo is not None and config.demo.events == str(DEMO / "events.jsonl")
    assert config.categories == {"available": ["available"],
                                 "unavailable": ["quality", "damaged", "pending_putaway"]}


def test_smallest_file_gets_the_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert isinstance(config, Config)
    assert config.costing.method == "standard"
    assert config.gateway.synchronous == "FULL"
    assert config.statuses == ["available", "quality", "damaged", "pending_putaway"]
    assert config.categories == {"available": ["available"],
                                 "unavailable": ["quality", "damaged", "pending_putaway"]}
    assert (config.mqtt, config.upstream, config.dashboard, config.demo) == (None,) * 4
    assert config.devices == [] and config.stations == []
    assert config.file == str(tmp_path / "gateway.toml")


def test_paths_are_relative_to_the_file_not_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "plant").mkdir()
    path = write(tmp_path / "plant", MINIMAL)
    monkeypatch.chdir(tmp_path)
    config = load_config(pathlib.Path("plant") / "gateway.toml")
    assert config.gateway.db == str(tmp_path / "plant" / "var" / "gateway.db")
    assert config.gateway.master_data == str(tmp_path / "plant" / "master")
    assert config.file == str(path)


def test_configured_statuses_drive_the_default_categories(tmp_path):
    config = load_config(write(tmp_path, 'statuses = ["available", "blocked"]\n' + MINIMAL))
    assert config.categories == {"available": ["available"], "unavailable": ["blocked"]}


# ---- every problem at once ----

BROKEN = """
statuses = ["available", "quality", "available"]

[gateway]
id = "x"
db = "var/x.db"
master_data = "master"
currency = "euro"
currency_decimals = 9
synchronus = "FULL"

[costing]
method = "lifo"

[accounts]
wip = 1400
grni = "2100"
ppv = "5210"
material_usage_variance = "5220"
material_price_variance = "5230"
labor_efficiency_variance = "5240"
overhead_efficiency_variance = "5250"
applied_labor = "5310"
applied_overhead = "5320"
scrap = "5400"
cogs = "5000"
revenue = "4000"
ar = "1200"
inventory_adjustment = "5500"

[accounts.inventory]
raw = "1310"
semi = "1320"

[reconcile.categories]
available = ["available", "lost"]

[mqtt]
url = "tcp://broker"
password = "hunter2"

[[devices]]
id = "plc"
driver = "opcua"
endpoint = "opc.tcp://10.0.0.5:4840"
security = "None"
counters = [
  { node = "ns=2;s=A.Good", line = "WC-NOPE", kind = "good" },
  { node = "ns=2;s=A.Scrap", line = "WC-ASSY", kind = "scrap" },
]

[[devices]]
id = "plc"
driver = "mqtt"
topic = "plant/#/x"

[[devices]]
id = "scale"
driver = "serial_scale"
port = "/dev/ttyUSB0"
baudrat = 9600
protocol = "mt-sics"
station = "nowhere"

[[stations]]
id = "dock"
kind = "receiving"
location = "DOCK9"

[dashboard]
listen = "8080"
"""


def test_a_broken_file_lists_every_problem_at_once(tmp_path):
    found = problems(write(tmp_path, BROKEN))
    expected = [
        "gateway.currency_decimals: must be <= 6, got 9",
        "gateway.synchronus: unknown key (value 'FULL'); did you mean 'synchronous'?",
        "costing.method: expected one of 'average', 'fifo', 'standard', got 'lifo'",
        "accounts.wip: expected a string, got 1400",
        "accounts.inventory.finished: missing (required)",
        "accounts.rounding: missing (required)",
        "mqtt.password: secrets come from environment variables; use password_env",
        "devices.scale.baudrat: unknown key (value 9600); did you mean 'baudrate'?",
        "gateway.currency: expected an ISO 4217 code like 'EUR', got 'euro'",
        "statuses[2]: duplicate status 'available'",
        "reconcile.categories.available[1]: unknown status 'lost'; "
        "statuses are ['available', 'quality']",
        "mqtt.url: expected mqtt://host[:port] or mqtts://host[:port], got 'tcp://broker'",
        "mqtt.username_env: missing: the broker login comes from the environment variables "
        "named by username_env and password_env",
        "stations[0].location: unknown location 'DOCK9' (not in locations.csv)",
        "devices.plc.security: policy None refused; set allow_insecure = true to allow it",
        "devices.plc.counters[0].line: unknown work center 'WC-NOPE' (not in work_centers.csv)",
        "devices.plc.counters[1].operation: missing: a scrap counter names the operation "
        "it scraps at",
        "devices[1].id: duplicate device id 'plc'",
        "devices[1].topic: not a valid MQTT topic filter: 'plant/#/x'",
        "devices.scale.station: unknown station 'nowhere' (not in [[stations]])",
        "dashboard.listen: expected host:port like '127.0.0.1:8080', got '8080'",
        "dashboard.users_file: missing: the dashboard requires a login "
        "(create the file with `gateway user`)",
    ]
    assert sorted(found) == sorted(expected)
    assert not any("hunter2" in p for p in found)  # a secret is never echoed


def test_unknown_keys_are_named_with_their_full_path(tmp_path):
    text = MINIMAL + """
[[devices]]
id = "plc"
driver = "opcua"
endpoint = "opc.tcp://127.0.0.1:4840"
security = "None"
allow_insecure = true
counters = [{ node = "ns=2;s=A", lin = "WC-ASSY", kind = "good" }]

[upstrem]
sink = "file"
"""
    assert problems(write(tmp_path, text)) == [
        "devices.plc.counters[0].lin: unknown key (value 'WC-ASSY'); did you mean 'line'?",
        "devices.plc.counters[0].line: missing (required)",
        "upstrem: unknown table; did you mean 'upstream'?",
    ]


def test_a_driver_specific_key_on_another_driver_is_unknown(tmp_path):
    text = MINIMAL + """
[mqtt]
url = "mqtt://127.0.0.1:1883"
username_env = "U"
password_env = "P"

[[devices]]
id = "line2"
driver = "mqtt"
topic = "plant/+/readings"
protocol = "mt-sics"
"""
    assert problems(write(tmp_path, text)) == [
        "devices.line2.protocol: unknown key (value 'mt-sics')"]


@pytest.mark.parametrize("section, key, hint", [
    ("mqtt", "password", "use password_env"),
    ("mqtt", "username", "use username_env"),
    ("upstream", "token", "use token_env"),
    ("dashboard", "secret", "name one with a *_env key"),
])
def test_secrets_in_the_file_are_refused_without_echoing_them(tmp_path, section, key, hint):
    body = {
        "mqtt": 'url = "mqtt://127.0.0.1:1883"\nusername_env = "U"\npassword_env = "P"\n',
        "upstream": 'sink = "http"\nurl = "http://127.0.0.1:9000/gl"\n',
        "dashboard": 'users_file = "users.toml"\n',
    }[section]
    text = MINIMAL + f"\n[{section}]\n{body}{key} = \"s3cr3t-value\"\n"
    found = problems(write(tmp_path, text))
    assert found == [f"{section}.{key}: secrets come from environment variables; {hint}"]


def test_an_env_name_that_looks_like_a_secret_is_refused_without_echo(tmp_path):
    text = MINIMAL + '\n[mqtt]\nurl = "mqtt://localhost"\nusername_env = "U"\npassword_env = "p@ss w0rd!"\n'
    found = problems(write(tmp_path, text))
    assert found == ["mqtt.password_env: expected the NAME of an environment variable "
                     "(letters, digits, _), not a secret"]


OPCUA = """
[[devices]]
id = "plc"
driver = "opcua"
endpoint = "opc.tcp://10.0.0.5:4840"
counters = [{ node = "ns=2;s=A.Good", line = "WC-ASSY", kind = "good" }]
"""


def test_opcua_policy_none_needs_allow_insecure(tmp_path):
    path = write(tmp_path, MINIMAL + OPCUA + 'security = "None"\n')
    assert problems(path) == [
        "devices.plc.security: policy None refused; set allow_insecure = true to allow it"]
    path.write_text(MINIMAL + OPCUA + 'security = "None"\nallow_insecure = true\n')
    assert load_config(path).devices[0].security == "None"


def test_opcua_secure_policy_needs_a_pinned_server_certificate(tmp_path):
    path = write(tmp_path, MINIMAL + OPCUA + 'security = "Basic256Sha256,SignAndEncrypt"\n'
                 'client_cert = "pki/client.der"\nclient_key = "pki/client.pem"\n')
    found = problems(path)
    assert found == [
        "devices.plc.server_cert: missing: policy Basic256Sha256,SignAndEncrypt needs it "
        "(server_cert pins the PLC's certificate)",
        f"devices.plc.client_cert: file not found: {tmp_path / 'pki' / 'client.der'}",
        f"devices.plc.client_key: file not found: {tmp_path / 'pki' / 'client.pem'}",
    ]
    (tmp_path / "pki").mkdir()
    for name in ("client.der", "client.pem", "plc.der"):
        (tmp_path / "pki" / name).write_bytes(b"x")
    path.write_text(path.read_text() + 'server_cert = "pki/plc.der"\n')
    device = load_config(path).devices[0]
    assert device.server_cert == str(tmp_path / "pki" / "plc.der")


def test_opcua_default_policy_is_the_encrypted_one(tmp_path):
    found = problems(write(tmp_path, MINIMAL + OPCUA))
    assert found[0].startswith("devices.plc.server_cert: missing: policy "
                               "Basic256Sha256,SignAndEncrypt")


def test_unknown_opcua_policy_is_named(tmp_path):
    found = problems(write(tmp_path, MINIMAL + OPCUA + 'security = "Basic128Rsa15,Sign"\n'))
    assert found == ["devices.plc.security: expected 'Basic256Sha256,Sign', "
                     "'Basic256Sha256,SignAndEncrypt' or 'None', got 'Basic128Rsa15,Sign'"]


def test_anonymous_mqtt_only_in_a_demo_config(tmp_path):
    anonymous = '\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\nallow_anonymous = true\n'
    assert problems(write(tmp_path, MINIMAL + anonymous)) == [
        "mqtt.allow_anonymous: anonymous MQTT is only accepted in a [demo] config; "
        "set username_env and password_env",
        "mqtt.username_env: missing: the broker login comes from the environment "
        "variables named by username_env and password_env",
    ]
    config = load_config(write(tmp_path, "[demo]\n" + MINIMAL + anonymous))
    assert config.mqtt is not None and config.mqtt.username_env is None


def test_mqtt_tls_files_need_mqtts_and_must_exist(tmp_path):
    text = MINIMAL + ('\n[mqtt]\nurl = "mqtt://127.0.0.1:8883"\nusername_env = "U"\n'
                      'password_env = "P"\nca_file = "ca.pem"\n')
    assert problems(write(tmp_path, text)) == [
        "mqtt.ca_file: TLS files need an mqtts:// url, got 'mqtt://127.0.0.1:8883'",
        f"mqtt.ca_file: file not found: {tmp_path / 'ca.pem'}",
    ]
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "gateway.toml").write_text(text.replace("mqtt://", "mqtts://"))
    assert load_config(tmp_path / "gateway.toml").mqtt.ca_file == str(tmp_path / "ca.pem")


def test_dashboard_needs_users_unless_demo(tmp_path):
    assert problems(write(tmp_path, MINIMAL + "\n[dashboard]\nallow_anonymous = true\n")) == [
        "dashboard.allow_anonymous: anonymous access is only accepted in a [demo] config; "
        "set users_file",
        "dashboard.users_file: missing: the dashboard requires a login "
        "(create the file with `gateway user`)",
    ]
    config = load_config(write(tmp_path, '[demo]\nnote = "relaxed"\n' + MINIMAL
                               + "\n[dashboard]\nlisten = \"127.0.0.1:0\"\n"))
    assert config.dashboard is not None and config.dashboard.port == 0


STATIONS = """
[[stations]]
id = "dock"
kind = "shipping"
location = "FG"

[[stations]]
id = "mix"
kind = "line"
work_center = "WC-MOLD"
"""


def test_references_between_devices_stations_and_master_data(tmp_path):
    text = MINIMAL + STATIONS + """
[[stations]]
id = "dock"
kind = "line"
location = "RM"

[[stations]]
id = "weld"
kind = "line"
work_center = "WC-LASER"

[[devices]]
id = "scale"
driver = "serial_scale"
port = "/dev/ttyUSB0"
protocol = "toledo"
station = "dock"

[[devices]]
id = "scan"
driver = "serial_scanner"
port = "/dev/ttyUSB1"
station = "gate"
separator = "||"

[[devices]]
id = "manual"
driver = "serial_scanner"
port = "/dev/ttyUSB2"
station = "mix"
"""
    assert problems(write(tmp_path, text)) == [
        "stations[2].id: duplicate station id 'dock'",
        "stations[2].work_center: missing: a line station names its work center",
        "stations[2].location: a line station names a work_center, not a location",
        "stations[3].work_center: unknown work center 'WC-LASER' (not in work_centers.csv)",
        "devices.scale.station: a scale weighs issues at a line station; "
        "'dock' is a shipping station",
        "devices.scan.station: unknown station 'gate' (not in [[stations]])",
        "devices.scan.separator: expected one character, got '||'",
        "devices.manual.id: 'manual' is reserved for events that come from no device",
    ]


def test_upstream_sink_needs_its_target(tmp_path):
    cases = {
        '\n[upstream]\nsink = "file"\n': ["upstream.path: missing: sink 'file' needs it"],
        '\n[upstream]\nsink = "http"\nurl = "ftp://erp/gl"\n':
            ["upstream.url: expected http(s)://host/path, got 'ftp://erp/gl'"],
        '\n[upstream]\nsink = "mqtt"\ntopic = "erp/gl/+"\n':
            ["upstream.topic: a publish topic cannot contain + or #, got 'erp/gl/+'",
             "upstream.sink: sink 'mqtt' needs an [mqtt] section"],
        '\n[upstream]\nsink = "file"\npath = "out.jsonl"\nbatch_max_lines = 0\n':
            ["upstream.batch_max_lines: must be > 0, got 0"],
        '\n[upstream]\nsink = "file"\npath = "o.jsonl"\nurl = "http://erp/gl"\n':
            ["upstream.url: not used by sink 'file'"],
    }
    for tail, expected in cases.items():
        assert problems(write(tmp_path, MINIMAL + tail)) == expected, tail
    config = load_config(write(tmp_path, MINIMAL + '\n[upstream]\nsink = "file"\npath = "o.jsonl"\n'))
    assert config.upstream.path == str(tmp_path / "o.jsonl")
    assert (config.upstream.batch_max_lines, config.upstream.batch_max_seconds,
            config.upstream.summarize) == (500, 5.0, True)


def test_categories_may_not_count_a_status_twice(tmp_path):
    text = MINIMAL + '\n[reconcile.categories]\nfree = ["available"]\nall = ["available", "quality"]\n'
    assert problems(write(tmp_path, text)) == [
        "reconcile.categories.all[0]: status 'available' already counted in category 'free'; "
        "it would be counted twice"]


def test_required_sections_missing(tmp_path):
    assert problems(write(tmp_path, 'statuses = ["available"]\n')) == [
        "gateway: missing (required)", "accounts: missing (required)"]


def test_not_toml_and_not_found_are_one_clear_problem(tmp_path):
    path = write(tmp_path, MINIMAL + "\n[mqtt\nurl = 1\n")
    (found,) = problems(path)
    assert found.startswith("not valid TOML: ")
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.problems == [f"{missing}: file not found"]


def test_master_data_folder_must_exist(tmp_path):
    path = write(tmp_path, MINIMAL.replace('master_data = "master"', 'master_data = "mstr"'))
    assert problems(path) == [f"gateway.master_data: folder not found: {tmp_path / 'mstr'}"]


def test_inspect_returns_the_usable_config_alongside_its_problems(tmp_path):
    config, found = inspect_config(write(tmp_path, MINIMAL + "\n[dashboard]\n"))
    assert config is not None and config.gateway.id == "plant1-line1"
    assert found == [f"{tmp_path / 'gateway.toml'}: dashboard.users_file: missing: the "
                     "dashboard requires a login (create the file with `gateway user`)"]


_FIELDS = {"id", "db", "master_data", "currency", "currency_decimals", "synchronous"}


_SECRETISH = ("password", "passwd", "token", "secret", "api_key", "apikey", "credential",
              "username")


@settings(max_examples=40, deadline=None)
@given(st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True).filter(
    lambda k: k not in _FIELDS and not any(w in k for w in _SECRETISH)))
def test_any_unknown_key_is_reported_by_its_path(key):
    with tempfile.TemporaryDirectory() as folder:
        path = write(pathlib.Path(folder), MINIMAL.replace(
            "currency_decimals = 2", f"currency_decimals = 2\n{key} = 1"))
        found = problems(path)
    assert len(found) == 1 and found[0].startswith(f"gateway.{key}: unknown key (value 1)")


def test_secret_looking_keys_and_unknown_tables_are_never_echoed(tmp_path):
    text = MINIMAL + ('\n[mqtt]\nurl = "mqtt://localhost"\nusername_env = "U"\npassword_env = "P"\n'
                      'mqtt_password = "pw-1"\n\n[upstrem]\nsink = "http"\ntoken = "tk-2"\n')
    found = problems(write(tmp_path, text))
    assert found == [
        "mqtt.mqtt_password: secrets come from environment variables; "
        "name one with a *_env key",
        "upstrem: unknown table; did you mean 'upstream'?",
    ]


def test_a_float_where_a_literal_integer_is_expected_is_refused(tmp_path):
    text = MINIMAL + STATIONS + """
[[devices]]
id = "scale"
driver = "serial_scale"
port = "/dev/ttyUSB0"
protocol = "sbi"
station = "mix"
bytesize = 7.0
"""
    assert problems(write(tmp_path, text)) == [
        "devices.scale.bytesize: expected one of 7, 8, got 7.0"]


DEMO_DOC = tomllib.loads((DEMO / "gateway.toml").read_text())
_VALUES = st.one_of(st.integers(-3, 70000), st.floats(allow_nan=False), st.booleans(),
                    st.text(max_size=6), st.lists(st.integers(0, 3), max_size=2),
                    st.dictionaries(st.sampled_from(["id", "x"]), st.text(max_size=3),
                                    max_size=2))


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


_DEMO_PATHS = list(_paths(DEMO_DOC))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_DEMO_PATHS), st.one_of(st.none(), _VALUES))
def test_no_mutation_of_the_demo_is_accepted_that_msgspec_would_refuse(path, value):
    """Replace (or, for None, delete) one node of the demo: the loader never crashes,
    and whatever the typed structs cannot hold is reported, never silently dropped."""
    doc = copy.deepcopy(DEMO_DOC)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    config, found = inspect_document(doc, DEMO / "gateway.toml")
    assert all(p.startswith(f"{DEMO / 'gateway.toml'}: ") for p in found)
    try:
        msgspec.convert(doc, Config)
    except msgspec.ValidationError:
        assert found, f"accepted silently: {path} = {value!r}"
    if not found:
        assert isinstance(config, Config)


def test_limits_have_defaults_and_report_bad_values_by_key(tmp_path):
    from gateway.config import inspect_config
    from tests.gateway.plant import GATEWAY_TOML, write_plant
    config, found = inspect_config(write_plant(tmp_path))
    assert found == [] and config.limits.max_qty == 1e9 and config.costing.unknown_po == "hold"
    cfg = write_plant(tmp_path, GATEWAY_TOML + "\n[limits]\nmax_qty = -1\nmax_qtty = 3\n")
    _, found = inspect_config(cfg)
    assert [p.split(": ", 1)[1] for p in found] == [
        "limits.max_qty: must be > 0, got -1",
        "limits.max_qtty: unknown key (value 3); did you mean 'max_qty'?"]


def test_ports_host_names_and_node_ids_are_checked_for_syntax_and_range(tmp_path):
    def opcua(endpoint: str, node: str = "ns=2;s=A.Good") -> str:
        return MINIMAL + OPCUA.replace("opc.tcp://10.0.0.5:4840", endpoint).replace(
            "ns=2;s=A.Good", node) + 'security = "None"\nallow_insecure = true\n'

    cases = {
        opcua("opc.tcp://127.0.0.1:99999"): [
            "devices.plc.endpoint: port '99999' is out of range 1-65535 "
            "in 'opc.tcp://127.0.0.1:99999'"],
        opcua("opc.tcp://127.0.0.1:0"): [
            "devices.plc.endpoint: port '0' is out of range 1-65535 in 'opc.tcp://127.0.0.1:0'"],
        opcua("opc.tcp://plc_7..local:4840"): [
            "devices.plc.endpoint: 'plc_7..local' is neither an IP address nor a valid host "
            "name in 'opc.tcp://plc_7..local:4840'"],
        opcua("opc.tcp://plc-7.local", "ns=70000;s=A.Good"): [
            "devices.plc.counters[0].node: namespace 70000 is out of range 0-65535 "
            "in 'ns=70000;s=A.Good'"],
        opcua("opc.tcp://[::1]:4840", "A.Good"): [
            "devices.plc.counters[0].node: not an OPC-UA node id: 'A.Good'; expected "
            "ns=<n>;s=<name> (or i=<number>, g=<guid>, b=<base64>)"],
        MINIMAL + '\n[upstream]\nsink = "http"\nurl = "https://erp:70000/gl"\n': [
            "upstream.url: port '70000' is out of range 1-65535 in 'https://erp:70000/gl'"],
        MINIMAL + '\n[dashboard]\nlisten = "0.0.0.0.0:8080"\nusers_file = "u.toml"\n': [
            "dashboard.listen: '0.0.0.0.0' is neither an IP address nor a valid host name"],
    }
    for text, expected in cases.items():
        assert problems(write(tmp_path, text)) == expected, text
    assert load_config(write(tmp_path, opcua("opc.tcp://plc-7.local", "ns=2;i=2258")))


def test_unknown_work_centers_and_locations_suggest_the_near_miss(tmp_path):
    text = MINIMAL + """
[[stations]]
id = "mix"
kind = "line"
work_center = "WC-MOLDD"

[[stations]]
id = "dock"
kind = "shipping"
location = "XYZ"
"""
    assert problems(write(tmp_path, text)) == [
        "stations[0].work_center: unknown work center 'WC-MOLDD' (not in work_centers.csv); "
        "did you mean 'WC-MOLD'?",
        "stations[1].location: unknown location 'XYZ' (not in locations.csv)"]


def test_misspelled_stations_and_device_bindings_suggest_the_near_miss(tmp_path):
    text = MINIMAL + """
[mqtt]
url = "mqtt://127.0.0.1:1883"
username_env = "HOME"
password_env = "HOME"
allow_insecure = true

[[stations]]
id = "dock-in"
kind = "receiving"
location = "RM"

[[devices]]
id = "scan"
driver = "serial_scanner"
port = "/dev/ttyUSB1"
station = "dock_in"

[[devices]]
id = "press"
driver = "mqtt"
topic = "plant/press/#"
line = "WC-ASY"
locations = ["LINE2", "LINE-1"]
"""
    assert problems(write(tmp_path, text)) == [
        "devices.scan.station: unknown station 'dock_in' (not in [[stations]]); "
        "did you mean 'dock-in'?",
        "devices.press.line: unknown work center 'WC-ASY' (not in work_centers.csv); "
        "did you mean 'WC-ASSY'?",
        "devices.press.locations[1]: unknown location 'LINE-1' (not in locations.csv); "
        "did you mean 'LINE1'?"]
