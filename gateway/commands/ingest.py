"""`gateway ingest -c FILE events.jsonl`: append events from a file, idempotently.

Each line is one canonical event (see docs/architecture.md). Rejected lines are reported with their
line number and reason, kept in the exceptions table, and the exit status is 1; every
other line is applied (or acknowledged as a duplicate) regardless.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import msgspec

from gateway import failpoints
from gateway.commands._common import add_config, load_plant, open_journal
from gateway.commands.progress import Progress
from gateway.journal import Submission
from gateway.provenance import file_source

BLOCK = 1 << 22  # bytes read at a time


def add_arguments(p) -> None:
    add_config(p)
    p.add_argument("file", metavar="FILE.jsonl", help="one canonical JSON event per line")
    p.add_argument("--batch", type=int, default=5000, help="events per transaction")


class _Id(msgspec.Struct):
    id: str = ""  # all a line is asked before the journal sees it


_id_list = msgspec.json.Decoder(list[_Id])
_id_one = msgspec.json.Decoder(_Id).decode


def ids_of(lines: list[bytes]) -> list[str | None]:
    """The id each line claims, None where it claims none readable (the journal then
    rejects the line with its own reason). One decoder call for the lot, unless a line
    is not a JSON object with a string id: then line by line."""
    try:
        return [r.id or None for r in _id_list.decode(b"[" + b",".join(lines) + b"]")]
    except (msgspec.DecodeError, RecursionError):  # a line too deeply nested, say
        pass
    out: list[str | None] = []
    for raw in lines:
        try:
            out.append(_id_one(raw).id or None)
        except (msgspec.DecodeError, RecursionError):
            out.append(None)
    return out


def read_lines(fh, batch: int, block_size: int = BLOCK
               ) -> Iterator[tuple[list[tuple[int, bytes]], int]]:
    """(non-blank lines with their 1-based numbers, bytes of the file up to the end of
    the last of them), `batch` lines at a time."""
    pending: list[tuple[int, bytes, int]] = []
    lineno, offset, tail = 0, 0, b""
    while True:
        block = fh.read(block_size)
        parts = (tail + block).split(b"\n")
        tail = parts.pop() if block else b""
        for raw in parts:
            lineno += 1
            offset += len(raw) + 1
            raw = raw.strip()
            if raw:
                pending.append((lineno, raw, offset))
        while len(pending) >= batch or (pending and not block):
            head, pending = pending[:batch], pending[batch:]
            yield [(n, raw) for n, raw, _ in head], head[-1][2]
        if not block:
            return


def run(args) -> int:
    plant = load_plant(args)
    journal = open_journal(plant, lazy=True)  # the engine is built when a line needs it
    name = os.path.basename(args.file)
    counts = {"applied": 0, "duplicate": 0, "rejected": 0}
    progress = Progress("ingest", None)
    size = os.path.getsize(args.file)

    with open(args.file, "rb") as fh:
        for chunk, done in read_lines(fh, max(1, args.batch)):
            ids = ids_of([raw for _, raw in chunk])
            stored = journal.stored_payloads([i for i in ids if i is not None])
            todo = [(lineno, raw) for (lineno, raw), eid in zip(chunk, ids)
                    if eid is None or stored.get(eid) != raw]
            counts["duplicate"] += len(chunk) - len(todo)
            if todo:
                results = journal.submit([Submission(raw, source=file_source(name, lineno))
                                          for lineno, raw in todo])
                for (lineno, _), res in zip(todo, results):
                    counts[res.status] += 1
                    if res.status == "rejected":
                        progress.note(f"{name}:{lineno}: rejected: {res.reason}")
            failpoints.hit("ingest.after_line")
            seen = progress.count + len(chunk)
            progress.advance(len(chunk), total=round(seen * size / done) if done else None)
    progress.done()
    journal.close()
    print(f"{counts['applied']} applied, {counts['duplicate']} duplicate, "
          f"{counts['rejected']} rejected", file=sys.stderr)
    return 1 if counts["rejected"] else 0
