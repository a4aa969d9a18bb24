"""Device drivers, registered by name (the `driver` key of a `[[devices]]` entry)."""

from __future__ import annotations

import importlib

from drivers.base import AuthError, DecodeError, Driver, DriverError, Reading, Sink, TransportError

REGISTRY: dict[str, str] = {
    "serial_scale": "drivers.serial_scale:SerialScale",
    "serial_scanner": "drivers.serial_scanner:SerialScanner",
    "opcua": "drivers.opcua:OpcUaCounters",
    "mqtt": "drivers.mqtt:MqttDevices",
}


def driver_class(name: str) -> type:
    """The class registered for `name` (imported on first use: asyncua is slow to import)."""
    try:
        module, _, cls = REGISTRY[name].partition(":")
    except KeyError:
        raise ValueError(f"driver: unknown driver {name!r}; known: {sorted(REGISTRY)}") from None
    return getattr(importlib.import_module(module), cls)


__all__ = ["REGISTRY", "driver_class", "Reading", "Driver", "Sink", "DriverError",
           "TransportError", "DecodeError", "AuthError"]
