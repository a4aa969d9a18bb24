"""What a device topic lets a device book: the topic binds the device.

An MQTT device entry says which device names may publish on its topic and which line,
work orders and locations their readings may book to. Unset, the defaults are: the
device's name is one level of the topic it published on, its line is the entry's `line`
(or the one the reading names), the work order is that line's active order and the
location is one of that line's (its work center's location, or where the active order's
output goes). Anything else is refused with a reason; the mapper keeps it as an
exception for a supervisor.
"""

from __future__ import annotations

from typing import Any, Callable

from gateway.near_miss import id_hint


def refusal(cfg: Any, device: str, attrs: dict, active: Callable[[str], str | None],
            line_locations: Callable[[str, str | None], set[str]]) -> str | None:
    """Why this reading may not book as it asks, or None when it may."""
    topic = str(attrs.get("topic") or "")
    allowed_devices = getattr(cfg, "devices", None)
    if allowed_devices is not None:
        if device not in allowed_devices:
            return f"device: {device!r} may not publish on {topic!r} (allowed: " \
                   f"{', '.join(allowed_devices)}){id_hint(device, allowed_devices)}"
    elif device != cfg.id and device not in topic.split("/"):
        return f"device: {device!r} is not the device of topic {topic!r}"
    line = attrs.get("line")
    bound_line = getattr(cfg, "line", None)
    if bound_line is not None and line not in (None, bound_line):
        return f"line: {device!r} books to line {bound_line!r}, not {line!r}"
    line = bound_line or line
    order = attrs.get("work_order")
    orders = getattr(cfg, "work_orders", None)
    if order is not None:
        allowed = set(orders) if orders is not None else {active(line)} if line else set()
        if order not in allowed:
            return f"work_order: {device!r} may not book to {order!r} (its line " \
                   f"{line!r} runs {active(line) if line else None!r})"
    location = attrs.get("location")
    if location is not None:
        locations = getattr(cfg, "locations", None)
        allowed = (set(locations) if locations is not None else
                   line_locations(line, order or (active(line) if line else None))
                   if line else set())
        if location not in allowed:
            return f"location: {device!r} may not book into {location!r} (allowed: " \
                   f"{', '.join(sorted(allowed)) or 'none'}){id_hint(location, allowed)}"
    return None
