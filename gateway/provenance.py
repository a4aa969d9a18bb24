"""Who sent an event: the channel it came in on, never what the payload says.

The journal's `source` column (the actor shown on the dashboard and in reports) is set
by the code that received the event: the device id, the MQTT topic and the client that took it, the file
and the OS user for `gateway ingest`, `supervisor:<user>` for a dashboard action. A
`source` inside the payload is only a claim: it is kept as the event's `claimed_source`
and never becomes the actor, so no producer can write "supervisor:alice" into the trail.
"""

from __future__ import annotations

import functools
import getpass

import msgspec

from gateway.events import Event


def bind(event: Event, channel: str) -> Event:
    """`event` with its payload `source` moved to `claimed_source` (dropped when it only
    repeats the channel): what the journal stores."""
    claim = event.claimed_source if event.claimed_source is not None else event.source
    if claim == channel:
        claim = None
    if event.source is None and claim == event.claimed_source:
        return event
    return msgspec.structs.replace(event, source=None, claimed_source=claim)


@functools.cache  # asked once a process: getuser() reads the environment and passwd
def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def file_source(name: str, lineno: int) -> str:
    """`gateway ingest`: the file, the line and the user running the command."""
    return f"file:{name}:{lineno} user:{_os_user()}"


def mqtt_source(topic: str, via: str) -> str:
    """An event from the MQTT events topic: the topic and the gateway client that took it
    (MQTT does not tell a subscriber who published)."""
    return f"mqtt:{topic} via:{via}"


def supervisor_source(user: str) -> str:
    return f"supervisor:{user}"
