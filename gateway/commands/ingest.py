"""`gateway ingest -c FILE events.jsonl`: append events from a file, idempotently.

Each line is one canonical event (see docs/architecture.md). Rejected lines are reported with their
line number and reason, kept in the exceptions table, and the exit status is 1; every
other line is applied (or acknowledged as a duplicate) regardless. A line held for review
(an invoice line that does not match its PO, a receipt on no known PO line) is kept as an
exception to act on, not refused: it is counted apart ("N held for review", said only when
there are some) and does not change the exit status. A held invoice line that a receipt
later in the file releases is counted as applied.

Exit status: 0 when no line was rejected (held lines included), 1 when some was.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import msgspec

from gateway import failpoints
from gateway.commands._common import add_config, load_plant, open_journal
from gateway.commands.progress import Progress
from gateway.events import Event, EventError, decode_event, encode_events
from gateway.journal import Submission
from gateway.provenance import bind, file_source

BLOCK = 1 << 22  # bytes read at a time


def add_arguments(p) -> None:
    add_config(p)
    p.add_argument("file", metavar="FILE.jsonl", help="one canonical JSON event per line")
    p.add_argument("--batch", type=int, default=5000,
                   help="lines read, and at most events written, per transaction")


_event_list = msgspec.json.Decoder(list[Event])


def events_of(lines: list[bytes]) -> list[Event | None]:
    """Each line decoded as an event, None where it is not one (the journal then
    rejects it with its own reason): one decoder call for the lot, line by line only
    when some line fails."""
    try:
        return _event_list.decode(b"[" + b",".join(lines) + b"]")
    except (msgspec.DecodeError, RecursionError):  # a bad line, or one nested too deep
        pass
    out: list[Event | None] = []
    for raw in lines:
        try:
            out.append(decode_event(raw))
        except EventError:
            out.append(None)
    return out


def split_known(chunk: list[tuple[int, bytes]], events: list[Event | None],
                stored: dict[str, bytes], name: str, limit: int
                ) -> list[tuple[int, bytes, Event | None]]:
    """The lines of `chunk` the journal must see, with the event each holds: all but
    the duplicates of stored events. A line is a duplicate when its bytes are the stored
    payload, or when its event, bound to its channel as the journal binds it, encodes
    to those bytes. A line whose id is stored under another payload goes on, and the
    journal rejects it as a conflict; so does one over `limit` bytes (max_payload_bytes),
    which the journal rejects without decoding it."""
    todo: list[tuple[int, bytes, Event | None]] = []
    differ: list[tuple[int, bytes, Event, bytes]] = []
    for (lineno, raw), event in zip(chunk, events):
        if event is None or len(raw) > limit:
            todo.append((lineno, raw, None))
            continue
        before = stored.get(event.id)
        if before is None:
            todo.append((lineno, raw, event))
        elif before != raw:
            differ.append((lineno, raw, event, before))
    if not differ:
        return todo
    bound = [bind(event, file_source(name, lineno)) for lineno, _, event, _ in differ]
    for (lineno, raw, event, before), canon in zip(differ, encode_events(bound)):
        if canon != before:
            todo.append((lineno, raw, event))
    todo.sort(key=lambda t: t[0])  # in file order, as the journal must apply them
    return todo


class _Id(msgspec.Struct):
    id: object = None


_id_of = msgspec.json.Decoder(_Id)  # a line's id, nothing else decoded
_CLAIM, _NO_CLAIM, _NO_SOURCE = b'"claimed_source":', b'"claimed_source":null,', b'"source":null,'


def journaled_run(journal, lines: list[bytes], limit: int) -> bool:
    """Is each of `lines` the event journaled at the same place of a run of the journal,
    the run that starts at the first line's id? So is a file read back from the journal,
    or ingested again in the order it was first: then every line is a duplicate, found
    without decoding one. Anything else (a line written otherwise, another order, a new
    or changed event): False, and the chunk takes the way of `split_known`.

    A line is a duplicate when its bytes are the stored payload, or when binding its
    event (gateway.provenance.bind: its `source` becomes its `claimed_source`) gives the
    stored payload: then the line is the stored payload with that move undone. A stored
    payload is canonical and bound: a flat object holding each key once, `"source":null`
    followed by a later key, and no key text inside a string (its quotes are escaped),
    so the move is undone by replacing those two members' text.

    The run is compared whole first (its payloads and the lines, each joined by newlines,
    which neither holds), then with one claim undone throughout (a file from one source),
    and only then payload by payload."""
    if not lines or max(map(len, lines)) > limit:
        return False
    try:
        first = _id_of.decode(lines[0]).id
    except (msgspec.DecodeError, RecursionError):
        return False
    stored = journal.stored_run(first, len(lines)) if isinstance(first, str) else None
    if stored is None:
        return False
    text = b"\n".join(lines)
    if stored == text or _unbound(stored, len(lines)) == text:
        return True
    return _each_journaled(lines, stored.split(b"\n"))


def _unbound(stored: bytes, n: int) -> bytes | None:
    """`n` stored payloads (joined by newlines) as they were before binding, if all of them
    hold the same claim, else None. Each payload holds each key once, so when the bound
    claim and `"source":null,` are each found `n` times, each payload holds both once and
    replacing them throughout undoes each payload's move, as `_each_journaled` would."""
    claim = _first_claim(stored)
    move = _move(claim) if claim is not None else None
    if not move or stored.count(move[0]) != n or stored.count(_NO_SOURCE) != n:
        return None
    return stored.replace(move[0], _NO_CLAIM).replace(_NO_SOURCE, move[1])


def _each_journaled(lines: list[bytes], stored: list[bytes]) -> bool:
    """Each of `lines` its stored payload, or that payload with its own claim undone."""
    if len(stored) != len(lines):
        return False
    moves: dict[bytes, tuple[bytes, bytes] | None] = {}  # claim -> (bound, unbound) text
    for raw, payload in zip(lines, stored):
        if raw == payload:
            continue
        claim = _first_claim(payload)
        if claim is None:
            return False
        move = moves.get(claim)
        if move is None:
            move = moves[claim] = _move(claim)
        if not move or payload.replace(move[0], _NO_CLAIM, 1).replace(
                _NO_SOURCE, move[1], 1) != raw:
            return False
    return True


def _first_claim(text: bytes) -> bytes | None:
    """The text of the first claim in `text` ('"erp",'), None where it claims nothing."""
    start = text.find(_CLAIM) + len(_CLAIM)
    end = text.find(b'",', start) + 2
    if start < len(_CLAIM) or end < 2 or text[start] != 34:  # no claim there ('"')
        return None
    return text[start:end]


def _move(claim: bytes) -> tuple[bytes, bytes] | None:
    """The bound and the unbound text of a stored claim ('"erp",'): `"claimed_source":"erp",`
    and `"source":"erp",`. None for a claim this does not undo: one with an escape, or one
    like a file's channel (which binding drops rather than keeps)."""
    if b"\\" in claim or claim.startswith(b'"file:'):
        return None
    return _CLAIM + claim, b'"source":' + claim


def read_lines(fh, batch: int, block_size: int = BLOCK
               ) -> Iterator[tuple[int, list[bytes], int]]:
    """(number of the first line, `batch` lines of the file as they are, bytes of the file
    up to the end of the last of them), as long as lines last; blank lines included (see
    `numbered`). Nothing a line in Python: this runs over every line of a file ingested
    again, whose lines, as written, are compared with the journal's."""
    pending: list[bytes] = []
    first, offset, tail = 1, 0, b""
    while True:
        block = fh.read(block_size)
        parts = (tail + block).split(b"\n")
        tail = parts.pop() if block else b""
        if not block and parts and not parts[-1]:
            parts.pop()  # the file ended with its newline
        pending += parts
        while len(pending) >= batch or (pending and not block):
            chunk = pending[:batch]
            del pending[:batch]
            offset += sum(map(len, chunk)) + len(chunk)
            yield first, chunk, offset
            first += len(chunk)
        if not block:
            return


def numbered(first: int, lines: list[bytes]) -> list[tuple[int, bytes]]:
    """The non-blank ones of `lines` (the first numbered `first`), stripped, numbered."""
    return [(n, raw) for n, raw in enumerate(map(bytes.strip, lines), first) if raw]


def run(args) -> int:
    plant = load_plant(args)
    journal = open_journal(plant, lazy=True)  # the engine is built when a line needs it
    name = os.path.basename(args.file)
    counts = {"applied": 0, "duplicate": 0, "held": 0, "rejected": 0}
    held: list[str] = []  # ids of the lines held for review
    progress = Progress("ingest", None)
    size = os.path.getsize(args.file)

    with open(args.file, "rb") as fh:
        for first, lines, done in read_lines(fh, max(1, args.batch)):
            if journaled_run(journal, lines, journal.limits.max_payload_bytes):
                counts["duplicate"] += len(lines)  # each a payload: none blank
                events = len(lines)
            else:
                chunk = numbered(first, lines)
                _ingest_chunk(journal, chunk, name, counts, held, progress)
                events = len(chunk)
            failpoints.hit("ingest.after_line")
            seen = progress.count + events
            progress.advance(events, total=round(seen * size / done) if seen else None)
    progress.done()
    released = len(journal.stored_payloads(held))  # posted since: a later receipt matched
    journal.close()
    counts["applied"] += released
    counts["held"] -= released
    print(summary(counts, released), file=sys.stderr)
    return 1 if counts["rejected"] else 0


def _ingest_chunk(journal, chunk: list[tuple[int, bytes]], name: str, counts: dict[str, int],
                  held: list[str], progress: Progress) -> None:
    """Submit the lines of `chunk` that are not duplicates; count each line's outcome."""
    events = events_of([raw for _, raw in chunk])
    stored = journal.stored_payloads([e.id for e in events if e is not None])
    todo = split_known(chunk, events, stored, name, journal.limits.max_payload_bytes)
    counts["duplicate"] += len(chunk) - len(todo)
    if not todo:
        return
    results = journal.submit([  # decoded once here: the journal binds, vets and values them
        Submission(raw, source=file_source(name, lineno), event=event)
        for lineno, raw, event in todo])
    for (lineno, _, _), res in zip(todo, results):
        counts[res.status_word] += 1
        if res.held:
            held.append(res.event_id)
            progress.note(f"{name}:{lineno}: held for review ({res.held}): {res.reason}")
        elif res.status == "rejected":
            progress.note(f"{name}:{lineno}: rejected: {res.reason}")


def summary(counts: dict[str, int], released: int = 0) -> str:
    """'N applied, D duplicate[, H held for review], R rejected'."""
    held = f"{counts['held']} held for review, " if counts["held"] else ""
    note = (f" ({released} held line{'s' * (released != 1)} released by a later receipt)"
            if released else "")
    return (f"{counts['applied']} applied, {counts['duplicate']} duplicate, {held}"
            f"{counts['rejected']} rejected{note}")
