"""The SQLite schema: the one contract between journal, outbox, dashboard and CLI.

`events` is the append-only journal (the source of truth, replayable); everything else
but `exceptions`, `batches` and `device_state` is a projection written in the same
transaction as the event that caused it. Money is INTEGER minor units.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 9
# What changed at each version, and how a journal written by the one before is brought up:
#   2: journal_lines no longer repeat their entry's ts (the entry keeps it; a line traces
#      to its entry and its event as before), ~28 bytes a line
#   3: exceptions count occurrences (see _to_3)
#   4: batches.ack_detail: what upstream said when it took the batch (a JetStream stream
#      and sequence); batches acked before have none
#   5: journal_lines_unbatched indexes batch_seq alone: an index entry carries the line
#      (the rowid) already, and (batch_seq, line) stored it twice (~4 bytes a line); the
#      batcher's and the trace's queries use it the same way, in line order
#   6: master_versions: each content of the master data a writer opened the journal
#      with, and the seq from which it values events (gateway/master_versions.py); the
#      events of a journal migrated from 5 are valued against the master data of the
#      first open after the migration, which records version 1 from seq 1
#   7: journal lines keep account, work order, item, work center and memo as ids into
#      `names` (journal_line_ids); the view journal_lines shows the same rows as before,
#      with their text (see _to_compact_lines)
#   8: journal_line_ids_unbatched holds the unbatched lines only (a partial index, WHERE
#      batch_seq IS NULL): what the batcher, the backlog figures and the dashboard ask;
#      a batched line leaves it instead of moving in it (~65 bytes an event of a journal
#      whose lines are all batched). A batch's lines are found through its entries.
#   9: journal_line_ids no longer repeat their entry's event id and period (~30 bytes a
#      line); the view journal_lines takes them from the entry and shows the same rows
#      (see _to_9)

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The journal: one row per applied event, in the gateway's own order (seq).
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,            -- gateway sequence: the only ordering
    id TEXT NOT NULL UNIQUE,            -- idempotency key
    type TEXT NOT NULL,
    ts TEXT NOT NULL,                   -- the event's own timestamp (recorded only)
    source TEXT NOT NULL,
    payload TEXT NOT NULL,              -- canonical JSON (gateway.events.encode_event)
    received_at TEXT NOT NULL,          -- gateway wall clock at commit (recorded only)
    reading TEXT                        -- JSON of the device reading that caused it, if any
);

-- The master data each stored event was valued against (gateway/master_versions.py):
-- a version values the events from its from_seq up to the next version's.
CREATE TABLE IF NOT EXISTS master_versions (
    version INTEGER PRIMARY KEY,        -- 1, 2, ...
    from_seq INTEGER NOT NULL,          -- the first event it values (seq)
    loaded_at TEXT NOT NULL,            -- UTC wall clock when a writer recorded it
    sha256 TEXT NOT NULL,               -- of the content, uncompressed
    content BLOB NOT NULL,              -- the master data as JSON, zlib-compressed
    changes TEXT NOT NULL               -- JSON: rows added, removed, changed vs the one before
);

-- One entry per event that posts; its lines below.
CREATE TABLE IF NOT EXISTS entries (
    entry INTEGER PRIMARY KEY,
    event_seq INTEGER NOT NULL REFERENCES events(seq),
    event_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    period TEXT NOT NULL                -- YYYY-MM of the event ts
);

-- Journal lines name their account, order, item, work center and memo by an id into
-- `names` (each text stored once); the view `journal_lines` shows them as text, and is
-- what readers query (inserts, updates and deletes through it are rewritten by its
-- triggers, below). The journal itself writes the ids.
CREATE TABLE IF NOT EXISTS names (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- A line's event id and period are its entry's, kept there only (the view looks them up).
CREATE TABLE IF NOT EXISTS journal_line_ids (
    line INTEGER PRIMARY KEY,
    entry INTEGER NOT NULL REFERENCES entries(entry),
    account INTEGER NOT NULL,           -- names(id)
    debit INTEGER NOT NULL,
    credit INTEGER NOT NULL,
    work_order INTEGER,                 -- names(id), NULL when none
    item INTEGER,
    work_center INTEGER,
    memo INTEGER NOT NULL,              -- names(id) ('' is a name like any other)
    batch_seq INTEGER                   -- NULL until the batcher has put it in a batch
);
CREATE INDEX IF NOT EXISTS journal_line_ids_unbatched ON journal_line_ids(batch_seq)
    WHERE batch_seq IS NULL;
CREATE INDEX IF NOT EXISTS journal_line_ids_entry ON journal_line_ids(entry);

-- Projections (rebuilt identically by `gateway replay`).
CREATE TABLE IF NOT EXISTS stock (
    item TEXT NOT NULL,
    location TEXT NOT NULL,
    status TEXT NOT NULL,
    lot TEXT NOT NULL DEFAULT '',       -- '' = no lot
    qty REAL NOT NULL,
    value INTEGER NOT NULL,             -- share of the item's book value (sums exactly)
    PRIMARY KEY (item, location, status, lot)
);

CREATE TABLE IF NOT EXISTS item_costs (
    item TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    qty REAL NOT NULL,
    value INTEGER NOT NULL,             -- book value, equals the GL per inventory account
    unit_cost REAL NOT NULL             -- std, moving average, or FIFO value/qty
);

CREATE TABLE IF NOT EXISTS work_orders (
    work_order TEXT PRIMARY KEY,
    item TEXT NOT NULL,
    line TEXT NOT NULL,                 -- work center whose counters drive it
    planned REAL NOT NULL,
    status TEXT NOT NULL,               -- open | closed
    good REAL NOT NULL DEFAULT 0,
    scrap REAL NOT NULL DEFAULT 0,
    wip INTEGER NOT NULL DEFAULT 0,
    material_usage INTEGER NOT NULL DEFAULT 0,
    material_price INTEGER NOT NULL DEFAULT 0,
    labor_efficiency INTEGER NOT NULL DEFAULT 0,
    overhead_efficiency INTEGER NOT NULL DEFAULT 0,
    released_seq INTEGER,
    closed_seq INTEGER
);
-- the release check reads the open orders that make a given item
CREATE INDEX IF NOT EXISTS work_orders_open ON work_orders(status, item);

-- Which work order runs on which line now (set by wo_release or a work-order scan).
CREATE TABLE IF NOT EXISTS active_orders (
    line TEXT PRIMARY KEY,
    work_order TEXT NOT NULL,
    since_seq INTEGER NOT NULL
);

-- Anything a supervisor must see or resolve. Raw input is kept verbatim.
CREATE TABLE IF NOT EXISTS exceptions (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,      -- rejected | conflict | negative_stock | unassigned_count |
                             -- no_po | short_components | decode_error | dead_letter | disk | ...
    source TEXT NOT NULL,    -- device id, 'manual', 'erp', file:line
    event_id TEXT,
    field TEXT,
    reason TEXT NOT NULL,
    raw TEXT,                -- the raw frame / line / payload, verbatim
    status TEXT NOT NULL DEFAULT 'open',   -- open | resolved | dismissed
    resolution TEXT,
    resolved_by TEXT,
    resolved_at TEXT,
    occurrences INTEGER NOT NULL DEFAULT 1,  -- a device fault: tries of one episode
    last_seen TEXT                           -- and when the last one was
);
CREATE INDEX IF NOT EXISTS exceptions_open ON exceptions(status, kind);

-- Last value per OPC-UA counter node, so a restart resumes where it left off.
CREATE TABLE IF NOT EXISTS counters (
    device TEXT NOT NULL,
    node TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (device, node)
);

-- The last reading committed under each MQTT packet id of a persistent session, for
-- readings that carry no `id` of their own: a redelivery (DUP) after a crash between
-- commit and PUBACK is found here and dropped, not booked again (gateway/mqtt_keys.py).
-- A row goes once its PUBACK was sent. New tables need no version step.
CREATE TABLE IF NOT EXISTS mqtt_packets (
    client TEXT NOT NULL,
    mid INTEGER NOT NULL,
    digest TEXT NOT NULL,               -- of the payload
    event_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    PRIMARY KEY (client, mid)
) WITHOUT ROWID;

-- The audit log: who did what to the gateway, when, from where (gateway/audit.py).
-- Append-only: the triggers refuse UPDATE and DELETE, from this gateway or anything else.
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,                   -- UTC wall clock when it was recorded
    actor TEXT NOT NULL,                -- dashboard user, `cli:<os user>`, or for a failed
                                        -- login what may be said of the name typed
    address TEXT NOT NULL,              -- client address, or `cli` on the gateway's host
    action TEXT NOT NULL,               -- login | logout | login_failed | dismiss | ...
    target TEXT NOT NULL DEFAULT '',    -- what it acted on: exception 3, batch 7, user ann
    detail TEXT NOT NULL DEFAULT ''     -- the outcome or the reason given
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

-- Alerts (gateway/alerts): one row per episode of a rule on a subject; at most one not
-- resolved per key. Judged in the transaction of the events that moved the figures, on
-- the events' own ts, so replay rebuilds them (ack/hand resolution are people's, not).
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,                  -- rule:subject, e.g. scrap_rate:WO-17:op10
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    line TEXT,
    work_order TEXT,
    item TEXT,
    severity TEXT NOT NULL,             -- warning | critical
    observed REAL NOT NULL,
    expected REAL NOT NULL,
    threshold REAL NOT NULL,
    message TEXT NOT NULL,
    first_seen TEXT NOT NULL,           -- ts of the event that opened it
    last_seen TEXT NOT NULL,            -- ts of the last event that judged it so
    state TEXT NOT NULL DEFAULT 'open', -- open | acknowledged | resolved
    acked_by TEXT,
    acked_at TEXT,
    ack_note TEXT,
    resolved_at TEXT,
    resolved_by TEXT,                   -- 'gateway' when the condition cleared
    resolution TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts(key) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_state ON alerts(state, rule);
-- What the alert book reads each batch: the open alerts of the orders and subjects the
-- batch touches. Without these each read scanned every open alert (9,285 after a
-- 1,000,000-event history: ~3.5-4.3 ms a query, every commit; ~15-33 µs with them).
CREATE INDEX IF NOT EXISTS alerts_open_order ON alerts(work_order) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_open_subject ON alerts(rule, subject)
    WHERE state != 'resolved';

-- The alert rules' own figures for open orders: scrap per operation, issued per
-- component, ts (epoch s) of the last count.
CREATE TABLE IF NOT EXISTS alert_counts (
    work_order TEXT NOT NULL,
    kind TEXT NOT NULL,                 -- scrap | issued | last_count
    key TEXT NOT NULL,                  -- operation | component | ''
    qty REAL NOT NULL,
    PRIMARY KEY (work_order, kind, key)
) WITHOUT ROWID;

-- Per sales order, revenue and cost of sales of its shipments so far (reversals taken
-- off), in minor units: what [alerts.margin] judges, kept as the shipments are booked.
CREATE TABLE IF NOT EXISTS alert_sales (
    sales_order TEXT PRIMARY KEY,
    revenue INTEGER NOT NULL,
    cogs INTEGER NOT NULL
) WITHOUT ROWID;

-- Each open order's latest counts, as many as cover [alerts.scrap_rate] window_units:
-- a JSON list, oldest first, of [operation, qty] (operation 0: good units), a run of
-- counts of the same kind in one entry.
CREATE TABLE IF NOT EXISTS alert_window (
    work_order TEXT PRIMARY KEY,
    counts TEXT NOT NULL
) WITHOUT ROWID;

-- Closed orders' scrap % per work center and operation, kept incrementally (Welford).
CREATE TABLE IF NOT EXISTS alert_history (
    work_center TEXT NOT NULL,
    operation INTEGER NOT NULL,
    n INTEGER NOT NULL,
    mean REAL NOT NULL,
    m2 REAL NOT NULL,
    PRIMARY KEY (work_center, operation)
) WITHOUT ROWID;

-- Alert transitions waiting for a route (MQTT topic, webhook); sent at least once.
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id INTEGER PRIMARY KEY,
    route TEXT NOT NULL,                -- <index in [[alerts.route]]>:webhook | :mqtt
    idem TEXT NOT NULL,                 -- idempotency key: alert key, state, first seen
    alert_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending | sent
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,    -- epoch s of the next try
    last_error TEXT,
    sent_at TEXT,
    UNIQUE (route, idem)
);
CREATE INDEX IF NOT EXISTS alert_deliveries_pending ON alert_deliveries(state, id);

-- GL batches for upstream: immutable once written; state moves forward only.
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY,            -- contiguous from 1
    batch_id TEXT NOT NULL UNIQUE,      -- <gateway id>-<seq>
    period TEXT NOT NULL,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL,              -- the exact JSON sent upstream
    debit INTEGER NOT NULL,
    credit INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | acked | quarantined
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_attempt_at TEXT,
    acked_at TEXT,
    ack_detail TEXT                     -- upstream's receipt, e.g. "stream GL seq 42"
);
CREATE INDEX IF NOT EXISTS batches_state ON batches(state, seq);
"""


_NAME = "(SELECT name FROM names WHERE id = l.{0})"
_ID = "(SELECT id FROM names WHERE name = {0})"
_NAMED = ("account", "work_order", "item", "work_center", "memo")
_OF_ENTRY = "(SELECT {0} FROM entries WHERE entry = l.entry)"
# A line's event id and period are its entry's, looked up (as its names are) only by a
# query that reads them: counting or summing lines costs what it did. A line whose
# entry is gone still shows, without either.
LINE_VIEW = (
    "CREATE VIEW journal_lines AS SELECT l.line AS line, l.entry AS entry, "
    + _OF_ENTRY.format("event_id") + " AS event_id, " + _OF_ENTRY.format("period")
    + " AS period, " + _NAME.format("account") + " AS account, l.debit AS debit,"
    " l.credit AS credit, "
    + ", ".join(_NAME.format(c) + f" AS {c}" for c in ("work_order", "item", "work_center",
                                                       "memo"))
    + ", l.batch_seq AS batch_seq FROM journal_line_ids l")


def _new_names(row: str) -> str:
    return ("INSERT OR IGNORE INTO names(name) SELECT v FROM ("
            + " UNION ALL ".join(f"SELECT {row}.{c} AS v" if c != "memo" else
                                 f"SELECT coalesce({row}.memo, '') AS v" for c in _NAMED)
            + ") WHERE v IS NOT NULL;")


def _ids(row: str) -> list[str]:
    return [_ID.format(f"{row}.{c}" if c != "memo" else f"coalesce({row}.memo, '')")
            for c in _NAMED]


# A row written through the view names its entry's event id and period: the table keeps
# neither, so any other would be lost without a word.
_AS_ITS_ENTRY = (
    "SELECT RAISE(ABORT, 'journal_lines: a line''s event_id and period are its entry''s')"
    " WHERE NOT EXISTS (SELECT 1 FROM entries WHERE entry = NEW.entry"
    " AND event_id = NEW.event_id AND period = NEW.period);")
LINE_TRIGGERS = (
    "CREATE TRIGGER journal_lines_insert INSTEAD OF INSERT ON journal_lines BEGIN "
    + _AS_ITS_ENTRY + _new_names("NEW")
    + " INSERT INTO journal_line_ids(line, entry, account, debit, credit, work_order, item,"
    " work_center, memo, batch_seq) VALUES (NEW.line, NEW.entry, {0}, NEW.debit, NEW.credit,"
    " {1}, {2}, {3}, {4}, NEW.batch_seq); END".format(*_ids("NEW")),
    "CREATE TRIGGER journal_lines_update INSTEAD OF UPDATE ON journal_lines BEGIN "
    + _AS_ITS_ENTRY + _new_names("NEW")
    + " UPDATE journal_line_ids SET line = NEW.line, entry = NEW.entry, account = {0},"
    " debit = NEW.debit, credit = NEW.credit, work_order = {1}, item = {2},"
    " work_center = {3}, memo = {4}, batch_seq = NEW.batch_seq WHERE line = OLD.line;"
    " END".format(*_ids("NEW")),
    "CREATE TRIGGER journal_lines_delete INSTEAD OF DELETE ON journal_lines BEGIN"
    " DELETE FROM journal_line_ids WHERE line = OLD.line; END")


def _line_view(conn: sqlite3.Connection) -> None:
    """The view `journal_lines` and its triggers, unless there is one (or, in a journal
    not migrated yet, the table of that name)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'journal_lines'").fetchone():
        return
    for sql in (LINE_VIEW, *LINE_TRIGGERS):
        conn.execute(sql)


class SchemaError(RuntimeError):
    """The journal was written by a newer gateway than this one, or cannot be brought up
    to this one's schema as it is."""


def create(conn: sqlite3.Connection) -> None:
    """Create what is missing; bring a journal of an older schema version up to date."""
    conn.executescript(DDL)
    fresh = not conn.execute("SELECT 1 FROM meta WHERE key='schema_version'").fetchone()
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    if fresh:
        _line_view(conn)
    migrate(conn)


def version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else SCHEMA_VERSION


def migrate(conn: sqlite3.Connection) -> None:
    """Each step in one transaction, the version moved with it: a crash mid-way leaves
    the journal at the version before, whole, and the step runs again at next open."""
    at = version(conn)
    if at > SCHEMA_VERSION:
        raise SchemaError(f"schema_version: the journal is at version {at}, this gateway"
                          f" reads up to {SCHEMA_VERSION}; run a newer gateway")
    if at < SCHEMA_VERSION and conn.in_transaction:
        conn.commit()  # a connection in sqlite3's implicit-transaction mode
    while at < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _STEPS[at + 1](conn)
            conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(at + 1),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        at += 1


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _to_2(conn: sqlite3.Connection) -> None:
    if "ts" in _columns(conn, "journal_lines"):
        conn.execute("ALTER TABLE journal_lines DROP COLUMN ts")


def _to_3(conn: sqlite3.Connection) -> None:
    """Schema 3: a device fault is one open exception per device and cause, however
    often the driver retried: `occurrences` counts the tries, created_at..last_seen
    spans them. Rows written before are each counted once."""
    columns = _columns(conn, "exceptions")
    if "occurrences" not in columns:
        conn.execute("ALTER TABLE exceptions ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1")
    if "last_seen" not in columns:
        conn.execute("ALTER TABLE exceptions ADD COLUMN last_seen TEXT")


def _to_4(conn: sqlite3.Connection) -> None:
    if "ack_detail" not in _columns(conn, "batches"):
        conn.execute("ALTER TABLE batches ADD COLUMN ack_detail TEXT")


def _to_5(conn: sqlite3.Connection) -> None:
    cols = [r[2] for r in conn.execute("PRAGMA index_info(journal_lines_unbatched)")]
    if cols != ["batch_seq"]:
        conn.execute("DROP INDEX IF EXISTS journal_lines_unbatched")
        conn.execute("CREATE INDEX journal_lines_unbatched ON journal_lines(batch_seq)")


def _to_6(conn: sqlite3.Connection) -> None:
    """Schema 6: the table of master data versions (made by DDL at open; the first
    writer's open records version 1, valuing every stored event)."""
    conn.execute(DDL[DDL.index("CREATE TABLE IF NOT EXISTS master_versions"):
                     DDL.index("-- One entry per event")])


def _to_compact_lines(conn: sqlite3.Connection) -> None:
    """Journal lines by id: every text of the old table's named columns into `names`,
    each row copied with its ids (same line numbers, same batch), the old table dropped
    and the view of the same name put in its place."""
    if conn.execute("SELECT type FROM sqlite_master WHERE name = 'journal_lines'"
                    ).fetchone() == ("table",):
        _lines_of_their_entries(conn, "journal_lines")
        conn.execute("INSERT OR IGNORE INTO names(name) " + " UNION ".join(
            f"SELECT {c} FROM journal_lines WHERE {c} IS NOT NULL" for c in _NAMED))
        conn.execute(
            "INSERT INTO journal_line_ids(line, entry, account, debit, credit, work_order,"
            " item, work_center, memo, batch_seq) SELECT o.line, o.entry, {0}, o.debit,"
            " o.credit, {1}, {2}, {3}, {4}, o.batch_seq FROM journal_lines o".format(
                *_ids("o")))
        conn.execute("DROP TABLE journal_lines")
    _line_view(conn)


def _lines_of_their_entries(conn: sqlite3.Connection, table: str) -> None:
    """SchemaError if a line of `table` names an event id or period other than its
    entry's (or an entry there is not): from schema 9 a line has its entry's, and
    migrating would change what such a line shows."""
    row = conn.execute(
        f"SELECT l.line, l.entry FROM {table} l LEFT JOIN entries e ON e.entry = l.entry"
        " WHERE e.event_id IS NOT l.event_id OR e.period IS NOT l.period LIMIT 1").fetchone()
    if row:
        raise SchemaError(f"journal line {row[0]}: its event_id or period is not its entry's"
                          f" ({row[1]}); a journal edited by hand? It stays at its schema"
                          " version until the line is set right")


def _to_8(conn: sqlite3.Connection) -> None:
    """The unbatched index made partial: dropped and built again over the unbatched lines."""
    conn.execute("DROP INDEX IF EXISTS journal_line_ids_unbatched")
    conn.execute("CREATE INDEX journal_line_ids_unbatched ON journal_line_ids(batch_seq)"
                 " WHERE batch_seq IS NULL")


def _to_9(conn: sqlite3.Connection) -> None:
    """Journal lines without their entry's event id and period: the table rebuilt (every
    line with its number, ids and batch; its indexes built again) and the view, which
    takes both from the entry now, made anew."""
    if "event_id" not in _columns(conn, "journal_line_ids"):
        return  # made at schema 9 (a journal migrated from 6 copies its lines so)
    _lines_of_their_entries(conn, "journal_line_ids")
    conn.execute("DROP VIEW IF EXISTS journal_lines")  # and its triggers
    conn.execute("DROP INDEX journal_line_ids_unbatched")
    conn.execute("DROP INDEX journal_line_ids_entry")
    conn.execute("ALTER TABLE journal_line_ids RENAME TO journal_line_ids_8")
    table = DDL[DDL.index("-- A line's event id and period"):DDL.index("-- Projections")]
    for statement in table.split(";")[:-1]:  # one by one: executescript would commit
        conn.execute(statement)
    conn.execute("INSERT INTO journal_line_ids(line, entry, account, debit, credit,"
                 " work_order, item, work_center, memo, batch_seq) SELECT line, entry,"
                 " account, debit, credit, work_order, item, work_center, memo, batch_seq"
                 " FROM journal_line_ids_8")
    conn.execute("DROP TABLE journal_line_ids_8")
    _line_view(conn)


_STEPS = {2: _to_2, 3: _to_3, 4: _to_4, 5: _to_5, 6: _to_6, 7: _to_compact_lines, 8: _to_8,
          9: _to_9}
