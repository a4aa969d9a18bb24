"""Free TCP ports for simulators, brokers and test servers on loopback."""

from __future__ import annotations

import random
import socket

# Below Linux's default ephemeral range (32768-60999): a port the OS picks for `bind(0)`
# comes from that range, and so do the source ports of every outgoing connection, so
# between the probe and the real bind a client elsewhere could take it (seen in CI:
# "address already in use" for a simulator's port). Ports below it are only taken by
# servers, and the probe sees those.
_LOW, _HIGH = 20000, 32767


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, outside the ephemeral range."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(_LOW, _HIGH)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # everything tried was taken: let the OS choose
        probe.bind((host, 0))
        return probe.getsockname()[1]
