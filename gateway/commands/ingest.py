"""`gateway ingest -c FILE events.jsonl`: append events from a file, idempotently.

Each line is one canonical event (DESIGN §4). Rejected lines are reported with their
line number and reason, kept in the exceptions table, and the exit status is 1; every
other line is applied (or acknowledged as a duplicate) regardless.
"""

from __future__ import annotations

import os
import sys

from gateway import failpoints
from gateway.commands._common import add_config, load_plant, open_journal
from gateway.journal import Submission
from gateway.provenance import file_source


def add_arguments(p) -> None:
    add_config(p)
    p.add_argument("file", metavar="FILE.jsonl", help="one canonical JSON event per line")
    p.add_argument("--batch", type=int, default=500, help="events per transaction")


def run(args) -> int:
    plant = load_plant(args)
    journal = open_journal(plant)
    name = os.path.basename(args.file)
    counts = {"applied": 0, "duplicate": 0, "rejected": 0}
    chunk: list[tuple[int, Submission]] = []

    def flush() -> None:
        results = journal.submit([s for _, s in chunk])
        for (lineno, _), res in zip(chunk, results):
            counts[res.status] += 1
            if res.status == "rejected":
                print(f"{name}:{lineno}: rejected: {res.reason}", file=sys.stderr)
        chunk.clear()
        failpoints.hit("ingest.after_line")

    with open(args.file, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            raw = raw.strip()
            if not raw:
                continue
            chunk.append((lineno, Submission(raw, source=file_source(name, lineno))))
            if len(chunk) >= args.batch:
                flush()
    if chunk:
        flush()
    journal.close()
    print(f"{counts['applied']} applied, {counts['duplicate']} duplicate, "
          f"{counts['rejected']} rejected", file=sys.stderr)
    return 1 if counts["rejected"] else 0
