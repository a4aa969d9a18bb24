"""Config `[[devices]]` entries become driver instances; secrets come from the environment.

One path for every driver: the entry's keys are the constructor's arguments (a `*_env`
key becomes the secret it names, without `_env`), plus what the device takes from outside
its entry (`SHARED`). Keys the gateway itself reads are listed in `GATEWAY_KEYS`; any
other key that the constructor does not take is a problem, so an option cannot be lost
on the way (tests/gateway/test_devices.py checks every key of every driver).
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Callable

import msgspec

from drivers import driver_class

from gateway.config import ConfigError

# keys of a [[devices]] entry that are not the driver's: `id`'s binding (gateway.binding)
GATEWAY_KEYS = {"mqtt": {"line", "devices", "work_orders", "locations"}}
# keys of [mqtt] that are the gateway's: events_topic is a connection of its own, the
# rest are judged when the config loads
MQTT_GATEWAY_KEYS = {"url", "events_topic", "allow_anonymous", "allow_insecure",
                     "drop_counter_topic", "session_expiry_s"}
# config key -> (constructor argument, how the value is passed)
RENAMED: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "topic": ("topics", lambda topic: [topic]),
}


def _secret(env_name: str | None, where: str, problems: list[str]) -> str | None:
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if value is None:
        problems.append(f"{where}: environment variable {env_name} is not set")
    return value


def entry_args(entry: Any, where: str, problems: list[str], skip: set[str] = frozenset()
               ) -> dict[str, Any]:
    """Constructor arguments from a config struct's keys: `*_env` read from the
    environment, `RENAMED` keys renamed, `skip` left out."""
    args: dict[str, Any] = {}
    for key, value in msgspec.to_builtins(entry).items():
        if key in skip or key == "driver":
            continue
        if key.endswith("_env"):
            args[key[:-len("_env")]] = _secret(value, where, problems)
        elif key in RENAMED:
            name, convert = RENAMED[key]
            args[name] = convert(value)
        else:
            args[key] = value
    return args


def mqtt_connection(config: Any, where: str, problems: list[str], *, client: str,
                    watch: bool) -> dict[str, Any]:
    """The [mqtt] section as arguments of one connection; the broker's drop counter (one
    total for all its clients) is watched by the first connection only."""
    m = config.mqtt
    return dict(entry_args(m, where, problems, skip=MQTT_GATEWAY_KEYS), url=m.url,
                client_id=f"{config.gateway.id}-{client}",
                max_payload_bytes=config.limits.max_payload_bytes,
                session_expiry=m.session_expiry_s,
                drop_counter_topic=m.drop_counter_topic if watch else None)


def _opcua_shared(config: Any, dev: Any, where: str, problems: list[str], state: dict,
                  watch: bool) -> dict:
    return dict(state=state.get(dev.id, {}))


def _mqtt_shared(config: Any, dev: Any, where: str, problems: list[str], state: dict,
                 watch: bool) -> dict:
    # a loaded config has the [mqtt] section an mqtt device needs (gateway.config_rules)
    return mqtt_connection(config, where, problems, client=dev.id, watch=watch)


# what a device takes from outside its own entry: OPC-UA the journalled counter state it
# resumes from, MQTT the [mqtt] connection
SHARED: dict[str, Callable[..., dict]] = {"opcua": _opcua_shared, "mqtt": _mqtt_shared}


def build_drivers(config: Any, counter_state: dict[str, dict], overrides: dict | None = None
                  ) -> list:
    """One driver per configured device (+ one for the canonical events topic).

    `counter_state[device]` is {node: (epoch, value)} from the journal, so a restarted
    OPC-UA driver resumes where the last committed count left it. `overrides[device]`
    replaces constructor arguments (the demo points serial devices at its ptys). Every
    problem (a secret not set, an argument a driver refuses) is listed at once.
    """
    problems: list[str] = []
    overrides = overrides or {}
    planned: list[tuple[str, str, dict]] = []
    for dev in config.devices:
        where = f"{config.file}: devices.{dev.id}"
        kind = dev.driver
        args = entry_args(dev, where, problems, skip=GATEWAY_KEYS.get(kind, set()))
        shared = SHARED.get(kind)
        if shared is not None:
            watch = not any(k == "mqtt" for k, _, _ in planned)
            args.update(shared(config, dev, where, problems, counter_state, watch))
        args.update(overrides.get(dev.id, {}))
        planned.append((kind, where, args))
    if config.mqtt is not None and config.mqtt.events_topic:
        where = f"{config.file}: mqtt"
        watch = not any(k == "mqtt" for k, _, _ in planned)
        args = dict(mqtt_connection(config, where, problems, client="events", watch=watch),
                    id="mqtt-events", topics=[], events_topic=config.mqtt.events_topic)
        args.update(overrides.get("mqtt-events", {}))
        planned.append(("mqtt", where, args))
    if problems:
        raise ConfigError(problems)
    out = []
    for kind, where, args in planned:
        cls = driver_class(kind)
        try:
            inspect.signature(cls).bind(**args)
            out.append(cls(**args))
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise ConfigError(problems)
    return out
