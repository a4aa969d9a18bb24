"""Config `[[devices]]` entries become driver instances; secrets come from the environment."""

from __future__ import annotations

import os
from typing import Any

from drivers import driver_class

from gateway.config import ConfigError


def _secret(env_name: str | None, where: str, problems: list[str]) -> str | None:
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if value is None:
        problems.append(f"{where}: environment variable {env_name} is not set")
    return value


def build_drivers(config: Any, counter_state: dict[str, dict], overrides: dict | None = None
                  ) -> list:
    """One driver per configured device (+ one for the canonical events topic).

    `counter_state[device]` is {node: (epoch, value)} from the journal, so a restarted
    OPC-UA driver resumes where the last committed count left it. `overrides[device]`
    replaces constructor arguments (the demo points serial devices at its ptys).
    """
    problems: list[str] = []
    overrides = overrides or {}
    mqtt = config.mqtt
    out = []
    for i, dev in enumerate(config.devices):
        where = f"{config.file}: devices.{dev.id}"
        kind = dev.driver if hasattr(dev, "driver") else dev.__struct_config__.tag
        if kind == "opcua":
            args = dict(id=dev.id, endpoint=dev.endpoint,
                        counters=[{"node": c.node, "line": c.line, "kind": c.kind,
                                   "operation": c.operation, "wrap_max": c.wrap_max}
                                  for c in dev.counters],
                        security=dev.security, allow_insecure=dev.allow_insecure,
                        server_cert=dev.server_cert, client_cert=dev.client_cert,
                        client_key=dev.client_key,
                        username=_secret(dev.username_env, where, problems),
                        password=_secret(dev.password_env, where, problems),
                        state=counter_state.get(dev.id, {}))
        elif kind == "serial_scale":
            args = dict(id=dev.id, port=dev.port, baudrate=dev.baudrate, protocol=dev.protocol,
                        station=dev.station, **_framing(dev))
        elif kind == "serial_scanner":
            args = dict(id=dev.id, port=dev.port, baudrate=dev.baudrate, station=dev.station,
                        separator=dev.separator, **_framing(dev))
        elif kind == "mqtt":
            if mqtt is None:
                problems.append(f"{where}: an mqtt device needs the [mqtt] section")
                continue
            args = dict(id=dev.id, url=mqtt.url, topics=[dev.topic], **_mqtt_auth(
                config, where, problems), client_id=f"{config.gateway.id}-{dev.id}",
                        max_payload_bytes=config.limits.max_payload_bytes,
                        **_mqtt_session(mqtt, watch=not any(k == "mqtt" for k, _ in out)))
        else:
            problems.append(f"{where}.driver: unknown driver {kind!r}")
            continue
        args.update(overrides.get(dev.id, {}))
        out.append((kind, args))
    if mqtt is not None and mqtt.events_topic:
        args = dict(id="mqtt-events", url=mqtt.url, topics=[],
                    events_topic=mqtt.events_topic,
                    **_mqtt_auth(config, f"{config.file}: mqtt", problems),
                    client_id=f"{config.gateway.id}-events",
                    max_payload_bytes=config.limits.max_payload_bytes,
                    **_mqtt_session(mqtt, watch=not any(k == "mqtt" for k, _ in out)))
        args.update(overrides.get("mqtt-events", {}))
        out.append(("mqtt", args))
    if problems:
        raise ConfigError(problems)
    return [driver_class(kind)(**args) for kind, args in out]


def _framing(dev: Any) -> dict:
    """Serial framing (Toledo indicators often speak 7E1)."""
    return dict(bytesize=dev.bytesize, parity=dev.parity, stopbits=dev.stopbits)


def _mqtt_auth(config: Any, where: str, problems: list[str]) -> dict:
    m = config.mqtt
    return dict(username=_secret(m.username_env, where, problems),
                password=_secret(m.password_env, where, problems),
                ca_file=m.ca_file, cert_file=m.cert_file, key_file=m.key_file)


def _mqtt_session(m: Any, watch: bool) -> dict:
    """Protocol and session of every MQTT connection; the broker's drop counter (one
    total for all its clients) is watched by the first connection only."""
    return dict(protocol=m.protocol, receive_maximum=m.receive_maximum,
                session_expiry=m.session_expiry_s,
                drop_counter_topic=m.drop_counter_topic if watch else None)
