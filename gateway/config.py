"""`gateway.toml` as typed structs: a file loads completely valid, or every problem in it
is reported at once as `<file>: <key.path>: <reason>` (see docs/configuration.md).

Security fails closed: secrets only through `*_env` names, OPC-UA policy None only with
`allow_insecure = true`, anonymous MQTT and a dashboard without users only in a config
that carries a `[demo]` table. Unknown keys are errors, because a typo that silently
falls back to a default is worse than a refusal.
"""

from __future__ import annotations

import copy
import pathlib
import re
import tomllib
from typing import Annotated, Any, Literal, Union

import msgspec
import msgspec.inspect as mi

from costing.master import DEFAULT_STATUSES, Accounts

from gateway import config_rules
from gateway.alerts.config import AlertsSection
from gateway.bounds import Limits
from gateway.near_miss import did_you_mean

__all__ = [
    "Config", "ConfigError", "load_config", "inspect_config", "inspect_document",
    "GatewaySection", "CostingSection", "AccountsSection", "InventoryAccounts",
    "ReconcileSection", "MqttSection", "Counter", "OpcuaDevice", "SerialScaleDevice",
    "SerialScannerDevice", "MqttDevice", "Device", "Station", "UpstreamSection",
    "DashboardSection", "DemoSection",
]

Name = Annotated[str, msgspec.Meta(min_length=1)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]


class ConfigError(Exception):
    """A config or master data set that must not be run; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class GatewaySection(_Section):
    id: Name
    db: Name  # absolute after loading
    master_data: Name  # absolute after loading
    currency: Name
    currency_decimals: Annotated[int, msgspec.Meta(ge=0, le=6)]
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # a snapshot of the cost engine beside the journal at a clean stop; start-up replays
    # only the events after it
    snapshots: bool = True
    # also a snapshot after this many new events while running (0: only at a clean stop);
    # writing one pauses commits for a time that grows with the history (docs/performance.md)
    snapshot_every: Annotated[int, msgspec.Meta(ge=0)] = 0
    # group commit: readings commit together once the oldest of them waited this long (or 1,000 are waiting)
    commit_wait_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 5.0


class CostingSection(_Section):
    method: Literal["standard", "average", "fifo"] = "standard"
    # a receipt naming a PO line master data does not know: held as a `no_po` exception
    # for a supervisor to confirm, or booked at the event's price
    unknown_po: Literal["hold", "accept"] = "hold"
    # a wo_release whose direct components are not available for its planned quantity
    # (stock at the consuming locations minus other open orders' remaining needs): booked
    # and flagged as a `short_components` exception, held as one instead, or not checked
    release_check: Literal["warn", "refuse", "off"] = "warn"


class InventoryAccounts(_Section):
    raw: Name
    semi: Name
    finished: Name


class AccountsSection(_Section):
    inventory: InventoryAccounts
    wip: Name
    grni: Name
    ppv: Name
    material_usage_variance: Name
    material_price_variance: Name
    labor_efficiency_variance: Name
    overhead_efficiency_variance: Name
    applied_labor: Name
    applied_overhead: Name
    scrap: Name
    cogs: Name
    revenue: Name
    ar: Name
    inventory_adjustment: Name
    rounding: Name
    ap: Name = "2000"  # accounts payable: matched supplier invoices until paid
    bank: Name = "1000"  # what payments and customer payments move
    invoice_price_variance: Name = "5215"  # invoice price against the received value
    # account code -> its name on screen; unnamed accounts get their role's default name
    names: dict[str, Name] = msgspec.field(default_factory=dict)

    def to_master(self) -> Accounts:
        """The engine's view: costing.master.Accounts."""
        roles = {role: getattr(self, role) for role in Accounts.ROLES}
        inv = {"raw": self.inventory.raw, "semi": self.inventory.semi,
               "finished": self.inventory.finished}
        return Accounts(inventory=inv, **roles)

    def by_key(self) -> dict[str, str]:
        """Account code by key: `wip`, ..., `inventory.raw`, `inventory.semi`, ..."""
        keys = {role: getattr(self, role) for role in Accounts.ROLES}
        for kind in ("raw", "semi", "finished"):
            keys[f"inventory.{kind}"] = getattr(self.inventory, kind)
        return keys


class MatchingSection(_Section):
    """Three-way match of supplier invoices (PO line, receipts, invoice)."""

    # how far an invoice price may lie from the PO price and still match, in percent of it
    price_tolerance_pct: Annotated[float, msgspec.Meta(ge=0)] = 2.0


class ReconcileSection(_Section):
    # ERP category -> gateway statuses summed into it; None = available / the rest
    categories: dict[str, list[Name]] | None = None


class MqttSection(_Section):
    url: Name  # mqtt://host[:port] or mqtts://host[:port]
    username_env: str | None = None
    password_env: str | None = None
    events_topic: str | None = None  # canonical events published by other systems
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    allow_anonymous: bool = False  # honoured only in a [demo] config
    # accept a login over plain mqtt:// to a host that is not this machine (`gateway check` warns)
    allow_insecure: bool = False
    # MQTT version: 5, or 3 (3.1.1); unset = 5, falling back to 3.1.1 if the broker refuses 5
    protocol: Literal[3, 5] | None = None
    # MQTT 5: most QoS 1 messages the broker may have in flight to the gateway (1..65535)
    receive_maximum: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 65535
    # MQTT 5: how long the broker keeps the gateway's session (and its messages) while it is away
    session_expiry_s: PositiveInt = 604800
    # the broker's counter of dropped messages, watched for rises ("" = do not watch)
    drop_counter_topic: str = "$SYS/broker/publish/messages/dropped"


class Counter(_Section):
    node: Name  # OPC-UA node id, e.g. "ns=2;s=Assy.Good"
    line: Name  # work center whose active work order the counts belong to
    kind: Literal["good", "scrap"]
    operation: PositiveInt | None = None  # routing step a scrap count happened at
    wrap_max: PositiveInt | None = None  # counter rolls over after this value (None = never)


class _Device(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
              tag_field="driver"):
    id: Name

    @property
    def driver(self) -> str:
        return self.__struct_config__.tag


class OpcuaDevice(_Device, tag="opcua", kw_only=True):
    endpoint: Name
    security: str = "Basic256Sha256,SignAndEncrypt"
    allow_insecure: bool = False
    server_cert: str | None = None  # pinned server certificate (absolute after loading)
    client_cert: str | None = None
    client_key: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    counters: list[Counter] = []


class _SerialDevice(_Device, kw_only=True):
    port: Name
    baudrate: PositiveInt = 9600
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    station: Name


class SerialScaleDevice(_SerialDevice, tag="serial_scale", kw_only=True):
    protocol: Literal["mt-sics", "toledo", "sbi", "generic"]


class SerialScannerDevice(_SerialDevice, tag="serial_scanner", kw_only=True):
    separator: str | None = None  # stands for FNC1 when the scanner cannot send GS (0x1D)


class MqttDevice(_Device, tag="mqtt", kw_only=True):
    topic: Name  # subscription filter; + and # allowed
    # What the topic binds (gateway.binding); unset = the defaults documented there.
    line: str | None = None  # only line it books to (default: the reading's)
    devices: list[Name] | None = None  # ids that may publish (default: named in topic)
    work_orders: list[Name] | None = None  # default: its line's active order
    locations: list[Name] | None = None  # default: its line's locations


Device = Union[OpcuaDevice, SerialScaleDevice, SerialScannerDevice, MqttDevice]


class Station(_Section):
    id: Name
    kind: Literal["receiving", "line", "shipping"]
    location: str | None = None  # receiving / shipping
    work_center: str | None = None  # line


NATS_SUBJECT = "gl.{plant}.{gateway}"  # upstream.subject when not set
_PLACEHOLDER = re.compile(r"\{(\w*)\}")


def fill_subject(template: str, **values: str | None) -> str:
    """`gl.{plant}.{gateway}` with the values given; a placeholder without one stays."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or m.group(0), template)


class UpstreamSection(_Section):
    sink: Literal["http", "mqtt", "file", "nats"]
    url: str | None = None  # http; nats: one or more servers, comma-separated
    token_env: str | None = None  # http: bearer token from this environment variable
    topic: str | None = None  # mqtt: publish topic (uses the [mqtt] connection)
    path: str | None = None  # file: JSON-lines file (absolute after loading)
    subject: str | None = None  # nats
    stream: str | None = None  # nats: the JetStream stream that stores the batches
    create_stream: bool = False  # nats
    plant: str | None = None  # nats: fills {plant} in the subject
    user_env: str | None = None  # nats: user name from this environment variable
    password_env: str | None = None  # nats: password from this environment variable
    creds_file: str | None = None  # nats
    ca_file: str | None = None  # nats, tls:// only
    cert_file: str | None = None  # nats, tls:// only
    key_file: str | None = None  # nats, tls:// only
    batch_max_lines: PositiveInt = 500
    batch_max_seconds: Positive = 5.0
    summarize: bool = True
    timeout_s: Positive = 10.0
    backoff_max_s: Positive = 60.0
    # accept, warned, a login in clear to a host that is not this machine: the http token
    # over plain http://, the nats login over plain nats://
    allow_insecure: bool = False

    def nats_servers(self) -> list[str]:
        return [part.strip() for part in (self.url or "").split(",") if part.strip()]

    @property
    def subject_template(self) -> str:
        """nats: the subject as configured, placeholders unfilled (NATS_SUBJECT when unset)."""
        return self.subject or NATS_SUBJECT

    def nats_subject(self, gateway_id: str) -> str:
        """The subject with {plant} and {gateway} filled in."""
        return fill_subject(self.subject_template, plant=self.plant, gateway=gateway_id)


class DashboardSection(_Section):
    listen: Name = "127.0.0.1:8080"
    users_file: str | None = None  # absolute after loading
    secure_cookies: bool = True
    allow_anonymous: bool = False  # honoured only in a [demo] config
    # a login ends this many hours after it began, however busy (idle logins end after 8 h)
    session_max_hours: Positive = 12.0
    tls_cert: str | None = None  # PEM certificate (chain, leaf first): serve https, not http
    tls_key: str | None = None  # its PEM private key
    # plain http on an address that is not loopback (`gateway check` warns)
    allow_insecure: bool = False
    # reverse proxies (addresses or CIDRs) whose X-Forwarded-Proto/-For are believed
    trusted_proxies: list[Name] = []
    # more Origins a POST may come from, e.g. "https://gateway.plant.example"
    allowed_origins: list[Name] = []
    # host names the dashboard is reached by; other names in Host are refused
    server_names: list[Name] = []
    # the environment variable holding the bearer token that scrapes /metrics
    metrics_token_env: str | None = None
    metrics_public: bool = False  # /metrics without token or login

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


class DemoSection(_Section):
    """Marks a demonstration config: security shortcuts are relaxed on purpose."""

    note: str = ""
    events: str | None = None  # a JSON-lines day of events (absolute after loading)


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole, valid gateway.toml; paths absolute, defaults filled in."""

    gateway: GatewaySection
    accounts: AccountsSection
    costing: CostingSection = CostingSection()
    matching: MatchingSection = MatchingSection()
    statuses: list[Name] = msgspec.field(default_factory=lambda: list(DEFAULT_STATUSES))
    reconcile: ReconcileSection = ReconcileSection()
    mqtt: MqttSection | None = None
    devices: list[Device] = []
    stations: list[Station] = []
    upstream: UpstreamSection | None = None
    dashboard: DashboardSection | None = None
    demo: DemoSection | None = None
    limits: Limits = Limits()
    alerts: AlertsSection = AlertsSection()
    file: str = ""  # the config file itself (set by the loader, not read from the file)

    @property
    def base_dir(self) -> pathlib.Path:
        return pathlib.Path(self.file).parent

    @property
    def categories(self) -> dict[str, list[str]]:
        """ERP category -> statuses, defaults applied."""
        return dict(self.reconcile.categories or {})

    def device(self, device_id: str) -> Device:
        return next(d for d in self.devices if d.id == device_id)

    def station(self, station_id: str) -> Station:
        return next(s for s in self.stations if s.id == station_id)


_NOT_FROM_FILE = {"file"}
_SECTION_TYPES = {f.name: f.type for f in msgspec.structs.fields(Config)}
_SECRET_WORDS = ("password", "passwd", "token", "secret", "api_key", "apikey", "credential")


def load_config(path: str | pathlib.Path) -> Config:
    """Read and validate `path`; raise ConfigError listing every problem."""
    config, problems = inspect_config(path)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def inspect_config(path: str | pathlib.Path) -> tuple[Config | None, list[str]]:
    """Every problem of `path`, and the Config when its [gateway] and [accounts] are
    usable (broken optional sections dropped), so `gateway check` can go on to check the
    master data and report everything in one run."""
    doc, problems = read_toml(path)
    return (None, problems) if doc is None else inspect_document(doc, path)


def read_toml(path: str | pathlib.Path) -> tuple[dict | None, list[str]]:
    """The parsed document, or None and why the file cannot be read as TOML."""
    label = str(path)
    try:
        return tomllib.loads(pathlib.Path(path).read_text(encoding="utf-8")), []
    except FileNotFoundError:
        return None, [f"{label}: file not found"]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{label}: cannot read: {exc}"]
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{label}: not valid TOML: {exc}"]


def inspect_document(doc: dict, path: str | pathlib.Path) -> tuple[Config | None, list[str]]:
    """As inspect_config, for a document already parsed from `path` (the file's name
    labels the problems and anchors relative paths)."""
    path = pathlib.Path(path)
    label = str(path)
    found: list[tuple[str, str]] = []
    _walk(doc, mi.type_info(Config), "", found, top=True)
    parts = _convert_sections(doc, found)
    base = path.resolve().parent
    parts = {name: _resolve_paths(value, base) for name, value in parts.items()}
    parts.setdefault("statuses", list(DEFAULT_STATUSES))
    parts["reconcile"] = _default_categories(parts.get("reconcile"), parts["statuses"])
    found.extend(config_rules.check_semantics(parts, doc, base))
    found = _by_device_id(found, doc)
    if "gateway" not in parts or "accounts" not in parts:
        return None, _render(label, found)
    for name in ("devices", "stations"):
        if name in parts:
            parts[name] = [x for x in parts[name] if x is not None]
    return Config(file=str(path.resolve()), **parts), _render(label, found)


def _convert_sections(doc: dict, found: list[tuple[str, str]]) -> dict[str, Any]:
    """Each section converted after dropping the keys the walk complained about, so the
    rules that span keys still judge the rest. A list item that cannot be converted
    stays as None, keeping the positions that problem paths count."""
    repaired = _without_bad_keys(doc, found)
    parts: dict[str, Any] = {}
    for name, kind in _SECTION_TYPES.items():
        if name not in repaired or name in _NOT_FROM_FILE:
            continue
        value = repaired[name]
        if name in ("devices", "stations") and isinstance(value, list):
            parts[name] = [_convert(v, kind.__args__[0], f"{name}[{i}]", found)
                           for i, v in enumerate(value)]
        else:
            converted = _convert(value, kind, name, found)
            if converted is not None:
                parts[name] = converted
    return parts


def _convert(value: Any, kind: Any, where: str, found: list[tuple[str, str]]) -> Any:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        if not any(p == where or p.startswith((where + ".", where + "[")) for p, _ in found):
            found.append((where, str(exc)))  # a case the walk missed: never accept silently
        return None


def _without_bad_keys(doc: dict, found: list[tuple[str, str]]) -> dict:
    repaired = copy.deepcopy(doc)
    for path, _ in found:
        steps = [int(x[1:-1]) if x.startswith("[") else x
                 for x in re.findall(r"\[\d+\]|[^.\[\]]+", path)]
        node: Any = repaired
        for step in steps[:-1]:
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                break
        else:
            if isinstance(node, dict) and steps and steps[-1] in node:
                del node[steps[-1]]
    return repaired


def _by_device_id(found: list[tuple[str, str]], doc: dict) -> list[tuple[str, str]]:
    """`devices[1].endpoint` -> `devices.plc.endpoint`: people know devices by id, not by
    position (a missing or repeated id keeps the position)."""
    names: dict[str, str] = {}
    seen: set[str] = set()
    for i, dev in enumerate(doc.get("devices") if isinstance(doc.get("devices"), list) else []):
        dev_id = dev.get("id") if isinstance(dev, dict) else None
        if isinstance(dev_id, str) and re.fullmatch(r"[A-Za-z0-9_-]+", dev_id) \
                and dev_id not in seen:
            names[f"devices[{i}]"] = f"devices.{dev_id}"
            seen.add(dev_id)

    def rename(path: str) -> str:
        head, dot, rest = path.partition("]")
        new = names.get(head + "]") if dot else None
        return new + rest if new else path

    return [(rename(p), reason) for p, reason in found]


def _render(label: str, found: list[tuple[str, str]]) -> list[str]:
    return [f"{label}: {p}: {reason}" if p else f"{label}: {reason}" for p, reason in found]


# ---- the structural walk: mirrors msgspec's checks, but collects instead of stopping ----

def structural_problems(doc: dict, kind: type) -> list[tuple[str, str]]:
    """Every (path, reason) where `doc` does not fit the msgspec Struct `kind`, all at once
    (the same walk as gateway.toml's; other config files, e.g. plant.toml, use it too)."""
    found: list[tuple[str, str]] = []
    _walk(doc, mi.type_info(kind), "", found)
    return found


def _walk(value: Any, t: Any, path: str, out: list, top: bool = False) -> None:
    if isinstance(t, mi.UnionType):
        options = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if value is None and len(options) < len(t.types):
            return
        tagged = [x for x in options if isinstance(x, mi.StructType) and x.tag_field]
        if tagged:
            _walk_tagged(value, tagged, path, out)
        elif len(options) == 1:
            _walk(value, options[0], path, out)
        else:  # not used by Config; keep msgspec's own verdict
            out.append((path, f"unsupported union at {path}"))
        return
    if isinstance(t, mi.StructType):
        _walk_struct(value, t, path, out, top)
    elif isinstance(t, mi.ListType):
        if not isinstance(value, list):
            out.append((path, f"expected a list, got {value!r}"))
            return
        if t.min_length and len(value) < t.min_length:
            out.append((path, f"must hold at least {t.min_length} item(s)"))
        for i, item in enumerate(value):
            _walk(item, t.item_type, f"{path}[{i}]", out)
    elif isinstance(t, mi.DictType):
        if not isinstance(value, dict):
            out.append((path, f"expected a table, got {value!r}"))
            return
        for key, item in value.items():
            _walk(item, t.value_type, f"{path}.{key}", out)
    elif isinstance(t, mi.LiteralType):
        if value not in t.values or type(value) not in {type(v) for v in t.values}:
            allowed = ", ".join(repr(v) for v in t.values)
            out.append((path, f"expected one of {allowed}, got {value!r}"))
    elif isinstance(t, mi.BoolType):
        if not isinstance(value, bool):
            out.append((path, f"expected true or false, got {value!r}"))
    elif isinstance(t, mi.IntType):
        if not isinstance(value, int) or isinstance(value, bool):
            out.append((path, f"expected an integer, got {value!r}"))
        else:
            _bounds(value, t, path, out)
    elif isinstance(t, mi.FloatType):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            out.append((path, f"expected a number, got {value!r}"))
        else:
            _bounds(value, t, path, out)
    elif isinstance(t, mi.StrType):
        if not isinstance(value, str):
            out.append((path, f"expected a string, got {value!r}"))
        elif t.min_length and len(value.strip()) < t.min_length:
            out.append((path, "must not be empty"))
        elif t.pattern and not re.search(t.pattern, value):
            out.append((path, f"must match {t.pattern}, got {value!r}"))


def _bounds(value: float, t: Any, path: str, out: list) -> None:
    if t.gt is not None and not value > t.gt:
        out.append((path, f"must be > {t.gt}, got {value!r}"))
    if t.ge is not None and not value >= t.ge:
        out.append((path, f"must be >= {t.ge}, got {value!r}"))
    if t.le is not None and not value <= t.le:
        out.append((path, f"must be <= {t.le}, got {value!r}"))


def _walk_tagged(value: Any, options: list, path: str, out: list) -> None:
    field = options[0].tag_field
    if not isinstance(value, dict):
        out.append((path, f"expected a table, got {value!r}"))
        return
    by_tag = {x.tag: x for x in options}
    tag = value.get(field)
    if not isinstance(tag, str) or tag not in by_tag:
        allowed = ", ".join(repr(k) for k in by_tag)
        got = "nothing" if tag is None else repr(tag)
        out.append((_join(path, field), f"expected one of {allowed}, got {got}"))
        return
    _walk_struct({k: v for k, v in value.items() if k != field}, by_tag[tag], path, out)


def _walk_struct(value: Any, t: Any, path: str, out: list, top: bool = False) -> None:
    if not isinstance(value, dict):
        out.append((path, f"expected a table, got {value!r}"))
        return
    fields = {f.encode_name: f for f in t.fields if not (top and f.name in _NOT_FROM_FILE)}
    for key, item in value.items():
        where = _join(path, key)
        if key in fields:
            _walk(item, fields[key].type, where, out)
        elif _looks_secret(key):
            hint = f"use {key}_env" if f"{key}_env" in fields else "name one with a *_env key"
            out.append((where, f"secrets come from environment variables; {hint}"))
        else:
            hint = did_you_mean(key, fields)
            # a table is not echoed: it may hold what should have been a secret
            what = ("unknown table" if isinstance(item, dict) else "unknown key (a list)"
                    if isinstance(item, list) else f"unknown key (value {item!r})")
            out.append((where, f"{what}{hint}"))
    for key, f in fields.items():
        if f.required and key not in value:
            out.append((_join(path, key), "missing (required)"))


def _looks_secret(key: str) -> bool:
    k = key.lower()
    return k == "username" or (not k.endswith("_env") and any(w in k for w in _SECRET_WORDS))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# ---- after the walk: paths, defaults, and the rules that span keys ----

def _resolve_paths(value: Any, base: pathlib.Path) -> Any:
    """Paths in the file are relative to the file's folder; the loaded config holds
    absolute ones, so no consumer depends on the working directory."""
    if isinstance(value, list):
        return [_resolve_paths(v, base) for v in value]
    if value is None:
        return None
    keys = _PATH_KEYS.get(type(value), ())
    changes = {k: str((base / getattr(value, k)).resolve()) for k in keys
               if getattr(value, k) is not None}
    return msgspec.structs.replace(value, **changes) if changes else value


_PATH_KEYS: dict[type, tuple[str, ...]] = {
    GatewaySection: ("db", "master_data"),
    MqttSection: ("ca_file", "cert_file", "key_file"),
    OpcuaDevice: ("server_cert", "client_cert", "client_key"),
    UpstreamSection: ("path", "creds_file", "ca_file", "cert_file", "key_file"),
    DashboardSection: ("users_file", "tls_cert", "tls_key"),
    DemoSection: ("events",),
}


def _default_categories(reconcile: ReconcileSection | None,
                        statuses: list[str]) -> ReconcileSection:
    if reconcile is not None and reconcile.categories is not None:
        return reconcile
    others = [s for s in statuses if s != "available"]
    return ReconcileSection(categories={"available": ["available"], "unavailable": others})


def split_listen(listen: str) -> tuple[str, int]:
    """"127.0.0.1:8080" -> ("127.0.0.1", 8080); "[::1]:8080" -> ("::1", 8080)."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port like '127.0.0.1:8080', got {listen!r}")
    return host, int(port)
