"""The rules of gateway.toml that span keys or reach outside the file: fail-closed
security, references between stations, devices and master data, topics and addresses.

Each check appends `(key.path, reason)` to `out`; it never raises, so one run reports
every problem. Called by `gateway.config` after the structural walk.
"""

from __future__ import annotations

import csv
import ipaddress
import pathlib
import re
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from drivers.urls import has_credentials, redact_url
from gateway.addresses import host_problem, is_loopback_host, node_id_problem, url_problem
from gateway.near_miss import unknown
from gateway.tls import server_context

if TYPE_CHECKING:  # gateway.config calls these rules: its structs are only named here
    from gateway.config import (DashboardSection, DemoSection, MqttDevice, MqttSection,
                                OpcuaDevice, ReconcileSection, Station, UpstreamSection)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECURE_POLICIES = {"Basic256Sha256,Sign", "Basic256Sha256,SignAndEncrypt"}
_RESERVED_SOURCES = {"manual", "erp"}


def _raw_gateway(doc: dict, base: pathlib.Path) -> dict[str, str]:
    """currency and master_data as written, so they are judged even when another key of
    [gateway] is broken."""
    g = doc.get("gateway")
    raw = {k: v for k, v in g.items() if isinstance(v, str)} if isinstance(g, dict) else {}
    if raw.get("master_data", "").strip():
        raw["master_data"] = str((base / raw["master_data"]).resolve())
    else:
        raw.pop("master_data", None)
    return raw


def check_semantics(parts: dict[str, Any], doc: dict,
                    base: pathlib.Path) -> list[tuple[str, str]]:
    """Problems of the converted sections `parts` (broken list items are None)."""
    out: list[tuple[str, str]] = []
    g = _raw_gateway(doc, base)
    demo = "demo" in doc
    known_locations = known_wcs = None
    currency = g.get("currency")
    if currency and not re.fullmatch(r"[A-Z]{3}", currency):
        out.append(("gateway.currency", f"expected an ISO 4217 code like 'EUR', got {currency!r}"))
    if "master_data" in g:
        if not pathlib.Path(g["master_data"]).is_dir():
            out.append(("gateway.master_data", f"folder not found: {g['master_data']}"))
        known_locations, known_wcs = _master_ids(g["master_data"])
    _check_statuses(parts["statuses"], parts["reconcile"], out)
    if parts.get("mqtt"):
        _check_mqtt(parts["mqtt"], demo, out)
    stations = _check_stations(parts.get("stations", []), known_locations, known_wcs, out)
    _check_devices(parts, stations, known_locations, known_wcs, out)
    if parts.get("upstream"):
        _check_upstream(parts["upstream"], parts.get("mqtt"), g.get("id"), demo, out)
    if parts.get("dashboard"):
        _check_dashboard(parts["dashboard"], demo, out)
    if parts.get("alerts"):
        _check_alert_routes(parts["alerts"].route, parts.get("mqtt"), demo, out)
        _check_scrap_window(parts["alerts"].scrap_rate, out)
    d: DemoSection | None = parts.get("demo")
    if d is not None and d.events and not pathlib.Path(d.events).is_file():
        out.append(("demo.events", f"file not found: {d.events}"))
    return out


def _check_statuses(statuses: list[str], reconcile: ReconcileSection, out: list) -> None:
    seen: set[str] = set()
    for i, status in enumerate(statuses):
        if status in seen:
            out.append((f"statuses[{i}]", f"duplicate status {status!r}"))
        seen.add(status)
    if "available" not in seen:
        out.append(("statuses", "must include 'available' (the only status backflush consumes)"))
    owner: dict[str, str] = {}
    for category, members in (reconcile.categories or {}).items():
        for i, status in enumerate(members):
            where = f"reconcile.categories.{category}[{i}]"
            if status not in seen:
                out.append((where, f"unknown status {status!r}; statuses are {sorted(seen)}"))
            elif status in owner:
                out.append((where, f"status {status!r} already counted in category "
                                   f"{owner[status]!r}; it would be counted twice"))
            owner.setdefault(status, category)


def _check_env(value: str | None, where: str, out: list) -> None:
    # never echo the value: someone may have pasted the secret itself here
    if value is not None and not _ENV_NAME.match(value):
        out.append((where, "expected the NAME of an environment variable "
                           "(letters, digits, _), not a secret"))


def _check_file(value: str | None, where: str, out: list) -> None:
    if value is not None and not pathlib.Path(value).is_file():
        out.append((where, f"file not found: {value}"))


def _check_mqtt(m: MqttSection, demo: bool, out: list) -> None:
    url = urlsplit(m.url)
    reason = url_problem(m.url, ("mqtt", "mqtts"), "mqtt://host[:port] or mqtts://host[:port]")
    if reason:
        out.append(("mqtt.url", reason))
    _check_no_credentials(m.url, "mqtt.url", "username_env and password_env", out)
    if m.username_env is not None and url.scheme == "mqtt" and not demo \
            and not m.allow_insecure and not is_loopback_host(url.hostname):
        out.append(("mqtt.url", f"the broker login would cross the network in clear over "
                    f"mqtt:// to {url.hostname}; use mqtts:// (and ca_file), or set "
                    "allow_insecure = true on a network you trust"))
    _check_env(m.username_env, "mqtt.username_env", out)
    _check_env(m.password_env, "mqtt.password_env", out)
    if m.allow_anonymous and not demo:
        out.append(("mqtt.allow_anonymous", "anonymous MQTT is only accepted in a [demo] "
                                            "config; set username_env and password_env"))
    if m.username_env is None and not (m.allow_anonymous and demo):
        out.append(("mqtt.username_env", "missing: the broker login comes from the "
                                         "environment variables named by username_env "
                                         "and password_env"))
    if (m.username_env is None) != (m.password_env is None):
        out.append(("mqtt.password_env", "username_env and password_env go together"))
    if m.events_topic is not None:
        _check_topic(m.events_topic, "mqtt.events_topic", out, wildcards=True)
    for key in ("ca_file", "cert_file", "key_file"):
        value = getattr(m, key)
        if value is not None and url.scheme != "mqtts":
            out.append((f"mqtt.{key}", f"TLS files need an mqtts:// url, got {redact_url(m.url)!r}"))
        _check_file(value, f"mqtt.{key}", out)
    if (m.cert_file is None) != (m.key_file is None):
        out.append(("mqtt.key_file", "cert_file and key_file go together"))


def _check_no_credentials(url: str, where: str, instead: str, out: list) -> None:
    if has_credentials(url):
        out.append((where, f"credentials inside the url are refused ({redact_url(url)!r}): "
                           f"like every secret they come from the environment ({instead})"))


def _check_topic(topic: str, where: str, out: list, wildcards: bool) -> None:
    levels = topic.split("/")
    bad = (not topic or "\x00" in topic
           or any(("+" in lv and lv != "+") or ("#" in lv and lv != "#") for lv in levels)
           or "#" in levels[:-1])
    if not wildcards and ("+" in topic or "#" in topic):
        out.append((where, f"a publish topic cannot contain + or #, got {topic!r}"))
    elif bad:
        out.append((where, f"not a valid MQTT topic filter: {topic!r}"))


def _master_ids(folder: str) -> tuple[set[str] | None, set[str] | None]:
    """Location and work-center ids, or None when unreadable (masterdata reports that)."""
    def ids(name: str) -> set[str] | None:
        try:
            with open(pathlib.Path(folder) / name, newline="", encoding="utf-8-sig") as fh:
                return {(row.get("id") or "").strip() for row in csv.DictReader(fh)}
        except (OSError, UnicodeDecodeError, csv.Error):
            return None
    return ids("locations.csv"), ids("work_centers.csv")


def _check_stations(items: list[Station], locations: set[str] | None,
                    wcs: set[str] | None, out: list) -> dict[str, Station]:
    stations: dict[str, Station] = {}
    for i, s in enumerate(items):
        if s is None:
            continue
        where = f"stations[{i}]"
        if s.id in stations:
            out.append((f"{where}.id", f"duplicate station id {s.id!r}"))
        stations.setdefault(s.id, s)
        if s.kind == "line":
            if s.work_center is None:
                out.append((f"{where}.work_center", "missing: a line station names its work center"))
            elif wcs is not None and s.work_center not in wcs:
                out.append((f"{where}.work_center", unknown("work center", s.work_center, wcs,
                                                             "work_centers.csv")))
            if s.location is not None:
                out.append((f"{where}.location", "a line station names a work_center, not a location"))
        else:
            if s.location is None:
                out.append((f"{where}.location", f"missing: a {s.kind} station names its location"))
            elif locations is not None and s.location not in locations:
                out.append((f"{where}.location", unknown("location", s.location, locations,
                                                          "locations.csv")))
            if s.work_center is not None:
                out.append((f"{where}.work_center",
                            f"a {s.kind} station names a location, not a work_center"))
    return stations


def _check_devices(parts: dict[str, Any], stations: dict[str, Station],
                   locations: set[str] | None, wcs: set[str] | None, out: list) -> None:
    seen: set[str] = set()
    for i, d in enumerate(parts.get("devices", [])):
        if d is None:
            continue
        where = f"devices[{i}]"
        if d.id in seen:
            out.append((f"{where}.id", f"duplicate device id {d.id!r}"))
        elif d.id in _RESERVED_SOURCES:
            out.append((f"{where}.id", f"{d.id!r} is reserved for events that come from no device"))
        seen.add(d.id)
        if d.driver == "opcua":
            _check_opcua(d, where, wcs, out)
        elif d.driver in ("serial_scale", "serial_scanner"):
            station = stations.get(d.station)
            if station is None:
                out.append((f"{where}.station",
                            unknown("station", d.station, stations, "[[stations]]")))
            elif d.driver == "serial_scale" and station.kind != "line":
                out.append((f"{where}.station", f"a scale weighs issues at a line station; "
                                                f"{d.station!r} is a {station.kind} station"))
            if d.driver == "serial_scanner" and d.separator is not None \
                    and len(d.separator) != 1:
                out.append((f"{where}.separator", f"expected one character, got {d.separator!r}"))
        elif d.driver == "mqtt":
            _check_topic(d.topic, f"{where}.topic", out, wildcards=True)
            _check_binding(d, where, locations, wcs, out)
            if parts.get("mqtt") is None:
                out.append((f"{where}.driver", "an mqtt device needs an [mqtt] section"))


def _check_binding(d: MqttDevice, where: str, locations: set[str] | None,
                   wcs: set[str] | None, out: list) -> None:
    """What an MQTT device entry binds its readings to must exist (gateway.binding)."""
    if d.line is not None and wcs is not None and d.line not in wcs:
        out.append((f"{where}.line", unknown("work center", d.line, wcs, "work_centers.csv")))
    for j, location in enumerate(d.locations or ()):
        if locations is not None and location not in locations:
            out.append((f"{where}.locations[{j}]",
                        unknown("location", location, locations, "locations.csv")))


def _check_opcua(d: OpcuaDevice, where: str, wcs: set[str] | None, out: list) -> None:
    reason = url_problem(d.endpoint, ("opc.tcp",), "opc.tcp://host:port")
    if reason:
        out.append((f"{where}.endpoint", reason))
    _check_no_credentials(d.endpoint, f"{where}.endpoint", "username_env and password_env", out)
    if d.security == "None":
        if not d.allow_insecure:
            clear = (" (and the username and password would cross the network in clear)"
                     if d.username_env else "")
            out.append((f"{where}.security",
                        f"policy None refused{clear}; set allow_insecure = true to allow it"))
    elif d.security not in _SECURE_POLICIES:
        out.append((f"{where}.security", "expected 'Basic256Sha256,Sign', "
                    f"'Basic256Sha256,SignAndEncrypt' or 'None', got {d.security!r}"))
    else:
        for key in ("server_cert", "client_cert", "client_key"):
            value = getattr(d, key)
            if value is None:
                out.append((f"{where}.{key}", f"missing: policy {d.security} needs it "
                            "(server_cert pins the PLC's certificate)"))
            _check_file(value, f"{where}.{key}", out)
    _check_env(d.username_env, f"{where}.username_env", out)
    _check_env(d.password_env, f"{where}.password_env", out)
    if (d.username_env is None) != (d.password_env is None):
        out.append((f"{where}.password_env", "username_env and password_env go together"))
    if not d.counters:
        out.append((f"{where}.counters", "an opcua device needs at least one counter"))
    nodes: set[str] = set()
    for j, c in enumerate(d.counters):
        cw = f"{where}.counters[{j}]"
        reason = node_id_problem(c.node)
        if reason:
            out.append((f"{cw}.node", reason))
        elif c.node in nodes:
            out.append((f"{cw}.node", f"duplicate node {c.node!r}"))
        nodes.add(c.node)
        if wcs is not None and c.line not in wcs:
            out.append((f"{cw}.line", unknown("work center", c.line, wcs, "work_centers.csv")))
        if c.kind == "scrap" and c.operation is None:
            out.append((f"{cw}.operation", "missing: a scrap counter names the operation it scraps at"))
        if c.kind == "good" and c.operation is not None:
            out.append((f"{cw}.operation", f"only scrap counters take an operation, got {c.operation}"))


_NATS_KEYS = ("subject", "stream", "plant", "user_env", "password_env", "creds_file",
              "ca_file", "cert_file", "key_file")
_NATS_FLAGS = ("create_stream",)


def _check_upstream(u: UpstreamSection, mqtt: MqttSection | None, gateway_id: str | None,
                    demo: bool, out: list) -> None:
    # the mqtt sink publishes on the [mqtt] connection; its topic has a default
    needs = {"http": "url", "file": "path", "nats": "url"}.get(u.sink)
    if needs and getattr(u, needs) is None:
        out.append((f"upstream.{needs}", f"missing: sink {u.sink!r} needs it"))
    used = {"http": {"url", "token_env"}, "file": {"path"}, "mqtt": {"topic"},
            "nats": {"url", *_NATS_KEYS}}[u.sink]
    for key in ("url", "token_env", "topic", "path", *_NATS_KEYS):
        if key not in used and getattr(u, key) is not None:
            out.append((f"upstream.{key}", f"not used by sink {u.sink!r}"))
    for key in _NATS_FLAGS:
        if u.sink != "nats" and getattr(u, key):
            out.append((f"upstream.{key}", f"not used by sink {u.sink!r}"))
    if u.sink == "nats":
        _check_nats(u, gateway_id, demo, out)
    if u.sink == "http" and u.url is not None:
        reason = url_problem(u.url, ("http", "https"), "http(s)://host/path")
        if reason:
            out.append(("upstream.url", reason))
        _check_no_credentials(u.url, "upstream.url", "token_env", out)
        host = urlsplit(u.url).hostname
        if u.token_env is not None and u.url.startswith("http://") and not demo \
                and not u.allow_insecure and not is_loopback_host(host):
            out.append(("upstream.url", f"the bearer token would cross the network in clear "
                        f"over http:// to {host}; use https://, or set allow_insecure = true "
                        "on a network you trust"))
    if u.sink == "mqtt":
        if u.topic is not None:
            _check_topic(u.topic, "upstream.topic", out, wildcards=False)
        if mqtt is None:
            out.append(("upstream.sink", "sink 'mqtt' needs an [mqtt] section"))
    _check_env(u.token_env, "upstream.token_env", out)


_NATS_TOKEN = re.compile(r"^[^\s.*>{}]+$")  # one subject token: no space, dot or wildcard
_STREAM_NAME = re.compile(r"^[^\s.*>/\\]+$")


def _check_nats(u: UpstreamSection, gateway_id: str | None, demo: bool, out: list) -> None:
    servers = u.nats_servers()
    if u.url is not None and not servers:
        out.append(("upstream.url", "expected nats://host:port or tls://host:port, got nothing"))
    plain_remote = []
    for server in servers:
        reason = url_problem(server, ("nats", "tls"), "nats://host:port or tls://host:port")
        if reason:
            out.append(("upstream.url", reason))
            continue
        parts = urlsplit(server)
        if parts.username or parts.password:
            # never echo the url: it holds the secret
            out.append(("upstream.url", "credentials do not go in the url; name environment "
                                        "variables with user_env and password_env"))
        elif parts.scheme == "nats" and not is_loopback_host(parts.hostname):
            plain_remote.append(server)
    if plain_remote and not u.allow_insecure:
        out.append(("upstream.url", f"plain nats:// to {', '.join(plain_remote)} sends the login "
                                    "and the ledger unencrypted; use tls:// or set "
                                    "allow_insecure = true"))
    _check_env(u.user_env, "upstream.user_env", out)
    _check_env(u.password_env, "upstream.password_env", out)
    if (u.user_env is None) != (u.password_env is None):
        out.append(("upstream.password_env", "user_env and password_env go together"))
    if u.creds_file is not None and u.user_env is not None:
        out.append(("upstream.creds_file", "either creds_file or user_env/password_env, not both"))
    if u.creds_file is None and u.user_env is None and not demo:
        out.append(("upstream.user_env", "missing: the NATS login comes from the environment "
                                         "variables named by user_env and password_env, or "
                                         "from creds_file"))
    for key in ("creds_file", "ca_file", "cert_file", "key_file"):
        value = getattr(u, key)
        if value is not None and key != "creds_file" \
                and not any(s.startswith("tls://") for s in servers):
            out.append((f"upstream.{key}", f"TLS files need tls:// urls, got {u.url!r}"))
        _check_file(value, f"upstream.{key}", out)
    if (u.cert_file is None) != (u.key_file is None):
        out.append(("upstream.key_file", "cert_file and key_file go together"))
    if u.stream is None:
        out.append(("upstream.stream", "missing: sink 'nats' needs the JetStream stream name"))
    elif not _STREAM_NAME.match(u.stream):
        out.append(("upstream.stream", f"a stream name has no spaces, '.', '*', '>' or "
                                       f"slashes, got {u.stream!r}"))
    _check_subject(u, gateway_id, out)


def _check_subject(u: UpstreamSection, gateway_id: str | None, out: list) -> None:
    template = u.subject_template
    unknown = sorted(set(re.findall(r"\{(\w*)\}", template)) - {"plant", "gateway"})
    if unknown:
        out.append(("upstream.subject", f"unknown placeholder {{{unknown[0]}}} in {template!r}; "
                                        "known: {plant}, {gateway}"))
        return
    if "{plant}" in template and u.plant is None:
        out.append(("upstream.plant", f"missing: the subject {template!r} uses {{plant}}"))
        return
    for key, name, value in (("upstream.plant", "plant", u.plant),
                             ("gateway.id", "gateway", gateway_id)):
        if f"{{{name}}}" in template and value is not None and not _NATS_TOKEN.match(value):
            out.append((key, f"{value!r} cannot be a NATS subject token (no spaces, '.', "
                             "'*', '>')"))
            return
    if gateway_id is None:
        return
    subject = u.nats_subject(gateway_id)
    if not all(_NATS_TOKEN.match(t) for t in subject.split(".")):
        out.append(("upstream.subject", f"not a NATS publish subject: {subject!r} (tokens "
                                        "separated by '.', no spaces or wildcards)"))


def _check_alert_routes(routes: list, mqtt: MqttSection | None, demo: bool,
                        out: list) -> None:
    from gateway.users import ROLES

    for i, r in enumerate(routes):
        where = f"alerts.route[{i}]"
        for role in r.roles:
            if role not in ROLES:
                out.append((f"{where}.roles", f"unknown role {role!r}; roles are {list(ROLES)}"))
        if r.webhook is not None:
            # outside a demo an alert (what failed where) leaves the plant encrypted only
            schemes = ("http", "https") if demo else ("https",)
            reason = url_problem(r.webhook, schemes, "https://host/path")
            if reason:
                out.append((f"{where}.webhook", reason))
        elif r.token_env is not None:
            out.append((f"{where}.token_env", "not used without a webhook"))
        _check_env(r.token_env, f"{where}.token_env", out)
        if r.mqtt_topic is not None:
            _check_topic(r.mqtt_topic, f"{where}.mqtt_topic", out, wildcards=False)
            if mqtt is None:
                out.append((f"{where}.mqtt_topic", "needs an [mqtt] section for the connection"))


def _check_scrap_window(rule, out: list) -> None:
    if rule.window_units < rule.min_units:
        out.append(("alerts.scrap_rate.window_units",
                    f"{rule.window_units} is below min_units {rule.min_units}: the window"
                    " would never hold enough units to judge"))


def _check_dashboard(d: DashboardSection, demo: bool, out: list) -> None:
    host = None
    try:
        host = d.host
    except ValueError as exc:
        out.append(("dashboard.listen", str(exc)))
    else:
        reason = host_problem(host)
        if reason:
            out.append(("dashboard.listen", reason))
            host = None
    if d.allow_anonymous and not demo:
        out.append(("dashboard.allow_anonymous",
                    "anonymous access is only accepted in a [demo] config; set users_file"))
    if d.users_file is None and not demo:
        out.append(("dashboard.users_file", "missing: the dashboard requires a login "
                                            "(create the file with `gateway user`)"))
    _check_dashboard_tls(d, out)
    if host is not None and d.tls_cert is None and not is_loopback_host(host) \
            and not demo and not d.allow_insecure:
        out.append(("dashboard.listen", f"plain http on {host}, which is not loopback, "
                    "would carry passwords and session cookies in clear; set tls_cert and "
                    "tls_key (or listen on 127.0.0.1 behind a TLS proxy, or set "
                    "allow_insecure = true on a network you trust)"))
    for i, proxy in enumerate(d.trusted_proxies):
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            out.append((f"dashboard.trusted_proxies[{i}]",
                        f"expected an IP address or CIDR like '10.0.0.5' or '10.0.0.0/24', "
                        f"got {proxy!r}"))
    for i, origin in enumerate(d.allowed_origins):
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname \
                or parts.path not in ("", "/") or parts.query or "@" in parts.netloc:
            out.append((f"dashboard.allowed_origins[{i}]",
                        f"expected scheme://host[:port] like 'https://gateway.plant.example', "
                        f"got {redact_url(origin)!r}"))
    for i, name in enumerate(d.server_names):
        reason = host_problem(name)
        if reason:
            out.append((f"dashboard.server_names[{i}]", reason))
    _check_env(d.metrics_token_env, "dashboard.metrics_token_env", out)


def _check_dashboard_tls(d: DashboardSection, out: list) -> None:
    if (d.tls_cert is None) != (d.tls_key is None):
        out.append(("dashboard.tls_key", "tls_cert and tls_key go together"))
        return
    _check_file(d.tls_cert, "dashboard.tls_cert", out)
    _check_file(d.tls_key, "dashboard.tls_key", out)
    if d.tls_cert and pathlib.Path(d.tls_cert).is_file() and pathlib.Path(d.tls_key).is_file():
        try:
            server_context(d.tls_cert, d.tls_key)
        except (ssl.SSLError, OSError) as exc:
            out.append(("dashboard.tls_cert", f"cannot serve https with {d.tls_cert} and "
                        f"{d.tls_key}: {exc}"))


def insecure_warnings(config) -> list[str]:
    """What a valid config accepts only because `allow_insecure = true` says so, one line
    each, for `gateway check` and the log of `gateway run`. A [demo] config has none to
    show: it is relaxed on purpose, and says so."""
    if config.demo is not None:
        return []
    label = config.file
    found: list[tuple[str, str]] = []
    d = config.dashboard
    if d is not None and d.tls_cert is None and not is_loopback_host(d.host):
        found.append(("dashboard.allow_insecure", f"plain http on {d.host}: passwords and "
                      "session cookies cross the network in clear"))
    if d is not None and d.metrics_public:
        found.append(("dashboard.metrics_public", "/metrics answers anyone who reaches it"))
    m = config.mqtt
    if m is not None and m.allow_insecure and _plain_remote(m.url, "mqtt"):
        found.append(("mqtt.allow_insecure", f"the broker login goes over plain mqtt:// to "
                      f"{urlsplit(m.url).hostname}"))
    for dev in config.devices:
        if dev.driver == "opcua" and dev.security == "None":
            what = ("username and password in clear" if dev.username_env
                    else "counts unsigned and unencrypted")
            found.append((f"devices.{dev.id}.allow_insecure", f"OPC-UA security None: {what}"))
    u = config.upstream
    if u is not None and u.allow_insecure and u.url and _plain_remote(u.url, "http"):
        found.append(("upstream.allow_insecure", f"batches{' and the token' if u.token_env else ''} "
                      f"go over plain http:// to {urlsplit(u.url).hostname}"))
    return [f"warning: {label}: {key}: {reason}" for key, reason in found]


def _plain_remote(url: str, plain_scheme: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == plain_scheme and not is_loopback_host(parts.hostname)
