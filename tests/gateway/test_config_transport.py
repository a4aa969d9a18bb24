"""gateway.toml rules for what crosses the network: the dashboard's https, proxies and
names; no credentials inside any URL; no login, password or token in clear to another
host outside [demo] unless `allow_insecure = true`, which `gateway check` prints as a
warning."""

from __future__ import annotations

import pytest

from drivers.urls import redact_url
from gateway.config import load_config
from gateway.config_rules import insecure_warnings
from simulators.certs import make_tls
from tests.gateway.test_check import check
from tests.gateway.test_config import MINIMAL, problems, write

USERS = 'users_file = "users.toml"\n'
MQTT_LOGIN = 'username_env = "MQTT_USER"\npassword_env = "MQTT_PASSWORD"\n'


@pytest.mark.parametrize("url, shown", [
    ("mqtt://bob:s3cret@broker:1883", "mqtt://bob:***@broker:1883"),
    ("https://erp.example/gl?token=abc", "https://erp.example/gl?***"),
    ("mqtts://bob@broker", "mqtts://bob@broker"),
    ("http://erp.example:8080/gl", "http://erp.example:8080/gl"),
])
def test_redact_url_hides_password_and_query(url, shown):
    assert redact_url(url) == shown


def test_plain_http_off_loopback_is_refused_unless_allowed(tmp_path):
    text = MINIMAL + '\n[dashboard]\nlisten = "0.0.0.0:8443"\n' + USERS
    assert problems(write(tmp_path, text)) == [
        "dashboard.listen: plain http on 0.0.0.0, which is not loopback, would carry "
        "passwords and session cookies in clear; set tls_cert and tls_key (or listen on "
        "127.0.0.1 behind a TLS proxy, or set allow_insecure = true on a network you trust)"]
    config = load_config(write(tmp_path, text + "allow_insecure = true\n"))
    assert insecure_warnings(config) == [
        f"warning: {config.file}: dashboard.allow_insecure: plain http on 0.0.0.0: "
        "passwords and session cookies cross the network in clear"]
    # loopback (behind a proxy on this host) and the demo need neither
    for ok in (MINIMAL + '\n[dashboard]\nlisten = "127.0.0.1:8080"\n' + USERS,
               "[demo]\n" + text):
        assert insecure_warnings(load_config(write(tmp_path, ok))) == []


def test_tls_files_are_checked_at_load(tmp_path):
    tls = make_tls(tmp_path / "tls")
    base = MINIMAL + '\n[dashboard]\nlisten = "0.0.0.0:8443"\n' + USERS
    assert problems(write(tmp_path, base + f'tls_cert = "{tls.server.cert}"\n')) == [
        "dashboard.tls_key: tls_cert and tls_key go together"]
    wrong = base + f'tls_cert = "{tls.server.cert}"\ntls_key = "{tls.ca.key}"\n'
    (got,) = problems(write(tmp_path, wrong))
    assert got.startswith(f"dashboard.tls_cert: cannot serve https with {tls.server.cert} "
                          f"and {tls.ca.key}: ")
    good = load_config(write(tmp_path, base + f'tls_cert = "tls/server.pem"\n'
                                              f'tls_key = "tls/server.key.pem"\n'))
    assert good.dashboard.tls_cert == str(tls.server.cert)
    assert insecure_warnings(good) == []


def test_proxies_origins_and_names_are_validated(tmp_path):
    text = MINIMAL + ('\n[dashboard]\n' + USERS
                      + 'trusted_proxies = ["10.0.0.5", "10.1.0.0/16", "proxy.lan"]\n'
                      + 'allowed_origins = ["https://gw.plant.example", "https://a:b@x/p"]\n'
                      + 'server_names = ["gw.plant.example", "bad_name!"]\n'
                      + 'metrics_token_env = "not a name"\n')
    assert problems(write(tmp_path, text)) == [
        "dashboard.trusted_proxies[2]: expected an IP address or CIDR like '10.0.0.5' or "
        "'10.0.0.0/24', got 'proxy.lan'",
        "dashboard.allowed_origins[1]: expected scheme://host[:port] like "
        "'https://gateway.plant.example', got 'https://a:***@x/p'",
        "dashboard.server_names[1]: 'bad_name!' is neither an IP address nor a valid host name",
        "dashboard.metrics_token_env: expected the NAME of an environment variable "
        "(letters, digits, _), not a secret",
    ]


@pytest.mark.parametrize("section, where, instead", [
    ('\n[mqtt]\nurl = "mqtts://gw:hunter2-secret@broker:8883"\n' + MQTT_LOGIN,
     "mqtt.url", "username_env and password_env"),
    ('\n[upstream]\nsink = "http"\nurl = "https://erp:hunter2-secret@erp.example/gl"\n',
     "upstream.url", "token_env"),
])
def test_credentials_inside_a_url_are_refused_with_the_password_redacted(
        tmp_path, section, where, instead):
    got = problems(write(tmp_path, MINIMAL + section))
    assert got == [f"{where}: credentials inside the url are refused "
                   f"('{redact_url(section.split(chr(34))[1 if where == 'mqtt.url' else 3])}'): "
                   f"like every secret they come from the environment ({instead})"]
    assert "hunter2" not in "".join(got) and ":***@" in got[0]


def test_an_unparsable_url_is_not_echoed_with_its_password(tmp_path):
    text = MINIMAL + '\n[mqtt]\nurl = "tcp://gw:hunter2-secret@broker"\n' + MQTT_LOGIN
    assert all("hunter2" not in p for p in problems(write(tmp_path, text)))


def test_mqtt_login_in_clear_to_another_host(tmp_path):
    text = MINIMAL + '\n[mqtt]\nurl = "mqtt://broker.plant:1883"\n' + MQTT_LOGIN
    assert problems(write(tmp_path, text)) == [
        "mqtt.url: the broker login would cross the network in clear over mqtt:// to "
        "broker.plant; use mqtts:// (and ca_file), or set allow_insecure = true on a network "
        "you trust"]
    config = load_config(write(tmp_path, text + "allow_insecure = true\n"))
    assert insecure_warnings(config) == [
        f"warning: {config.file}: mqtt.allow_insecure: the broker login goes over plain "
        "mqtt:// to broker.plant"]
    for ok in (text.replace("broker.plant", "127.0.0.1"), "[demo]\n" + text):
        load_config(write(tmp_path, ok))


def test_upstream_token_in_clear_to_another_host(tmp_path):
    text = MINIMAL + ('\n[upstream]\nsink = "http"\nurl = "http://erp.plant/gl"\n'
                      'token_env = "ERP_TOKEN"\n')
    assert problems(write(tmp_path, text)) == [
        "upstream.url: the bearer token would cross the network in clear over http:// to "
        "erp.plant; use https://, or set allow_insecure = true on a network you trust"]
    config = load_config(write(tmp_path, text + "allow_insecure = true\n"))
    assert insecure_warnings(config) == [
        f"warning: {config.file}: upstream.allow_insecure: batches and the token go over "
        "plain http:// to erp.plant"]
    for ok in (text.replace("erp.plant", "localhost"), text.replace("http:", "https:"),
               "[demo]\n" + text):
        load_config(write(tmp_path, ok))


OPCUA = """
[[devices]]
id = "plc"
driver = "opcua"
endpoint = "opc.tcp://plc.plant:4840"
security = "None"
username_env = "PLC_USER"
password_env = "PLC_PASSWORD"
counters = [{ node = "ns=2;s=Assy.Good", line = "WC-ASSY", kind = "good" }]
"""


def test_opcua_password_over_security_none(tmp_path):
    assert problems(write(tmp_path, MINIMAL + OPCUA)) == [
        "devices.plc.security: policy None refused (and the username and password would "
        "cross the network in clear); set allow_insecure = true to allow it"]
    config = load_config(write(tmp_path, MINIMAL + OPCUA + "allow_insecure = true\n"))
    assert insecure_warnings(config) == [
        f"warning: {config.file}: devices.plc.allow_insecure: OPC-UA security None: "
        "username and password in clear"]


def test_gateway_check_prints_the_warnings(tmp_path):
    text = MINIMAL + ('\n[mqtt]\nurl = "mqtt://broker.plant:1883"\n' + MQTT_LOGIN
                      + "allow_insecure = true\n")
    result = check(write(tmp_path, text))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {tmp_path / 'gateway.toml'}: mqtt.allow_insecure: the broker login goes "
        "over plain mqtt:// to broker.plant"]


def test_dashboard_transport_keys_reach_the_dashboards_settings(tmp_path):
    """allowed_origins, trusted_proxies, server_names set in the file are what the
    dashboard enforces (the settings `gateway run` gives it)."""
    from gateway.commands.run import dashboard_settings
    from gateway.masterdata import load_master

    text = (MINIMAL + '\n[dashboard]\nlisten = "127.0.0.1:8080"\n' + USERS
            + 'allowed_origins = ["https://gw.plant.example"]\n'
              'trusted_proxies = ["127.0.0.2"]\nserver_names = ["gw.plant.example"]\n'
              'session_max_hours = 2.5\n')
    (tmp_path / "users.toml").write_text("")
    config = load_config(write(tmp_path, text))
    settings = dashboard_settings(config, load_master(config))
    assert settings.allowed_origins == ("https://gw.plant.example",)
    assert settings.trusted_proxies == ("127.0.0.2",)
    assert settings.server_names == ("gw.plant.example", "127.0.0.1")
    assert settings.session_max_s == 2.5 * 3600 and settings.secure_cookies is True
