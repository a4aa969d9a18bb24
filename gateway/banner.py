"""What `gateway run` says when it starts: what it runs, where its books are, where to
look. Plain lines for the console of whoever started it."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from drivers.urls import redact_url
from gateway.config_rules import insecure_warnings


def version() -> str:
    try:
        return metadata.version("shopfloor-gateway")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def endpoint(dev: Any, config: Any) -> str:
    """Where a configured device is reached."""
    if hasattr(dev, "endpoint"):
        return f"{dev.endpoint} ({dev.security})"
    if hasattr(dev, "port"):
        return f"{dev.port} at {dev.baudrate} baud"
    if hasattr(dev, "topic") and config.mqtt is not None:
        return f"{redact_url(config.mqtt.url)} topic {dev.topic}"
    return "-"


def upstream(config: Any) -> str:
    u = config.upstream
    if u is None:
        return "none (entries stay in the journal)"
    mqtt = redact_url(config.mqtt.url) if config.mqtt else "?"
    target = {"http": u.url and redact_url(u.url), "file": u.path,
              "mqtt": f"{mqtt} topic {u.topic or '(default)'}"}
    return f"{u.sink} {target.get(u.sink) or ''}".rstrip()


def banner(config: Any, events: int, dashboard: str | None) -> list[str]:
    lines = [f"gateway {version()} ({config.gateway.id}), config {config.file}",
             f"journal {config.gateway.db}: {events} event{'s' if events != 1 else ''}"]
    for dev in config.devices:
        lines.append(f"device {dev.id}: {dev.driver} {endpoint(dev, config)}")
    if config.mqtt is not None and config.mqtt.events_topic:
        lines.append(f"events: {redact_url(config.mqtt.url)} topic {config.mqtt.events_topic}")
    lines.append(f"upstream: {upstream(config)}")
    lines.append(f"dashboard: {dashboard or 'off (no [dashboard] table)'}")
    return lines + insecure_warnings(config)  # what allow_insecure = true let through
