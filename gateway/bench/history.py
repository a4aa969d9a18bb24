"""History stage: the journal commands over a plant's history, through the real CLI.

A file of `n` generated events of the plant mix (gateway.bench.synth) is ingested with
`gateway ingest` into a fresh journal, ingested again (every line a duplicate), and
replayed with `gateway replay`; each command runs in its own process under
`python -m gateway.bench.peak`, so its peak RSS is its own. Reported: events/s and
peak RSS of each, and the journal's bytes per event.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

from gateway.bench.synth import EventStream, make_master
from gateway.events import encode_event

CHUNK = 50_000


def write_events(path: pathlib.Path, n: int, items: int, depth: int) -> pathlib.Path:
    """A JSON-lines file of `n` canonical events that all apply, in order (cached by size)."""
    if path.exists():
        return path
    partial = path.with_suffix(f".{os.getpid()}.part")
    stream = EventStream(make_master(items, depth))
    done = 0
    with open(partial, "wb") as fh:
        while done < n:
            batch = stream.take(min(CHUNK, n - done))
            fh.write(b"".join(encode_event(ev) + b"\n" for ev in batch))
            done += len(batch)
    os.replace(partial, path)
    return path
