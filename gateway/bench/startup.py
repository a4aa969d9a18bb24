"""Start-up stage: a journal's engine ready, by a full replay and from a snapshot.

`python -m gateway.bench.startup DB ITEMS DEPTH` copies the stored journal to a scratch
folder, opens it as the gateway does (`Journal`, which rebuilds the engine) with no
snapshot, closes it (which writes one), then opens it again: from the snapshot, only
the events after it replayed (none here). Prints one JSON object; numba's kernels are
loaded before the clock starts, as a gateway's warm cache has them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time


def startup(db: str, items: int, depth: int) -> dict:
    from gateway.bench.replay import warm_up
    from gateway.bench.synth import make_master
    from gateway.journal import Journal

    master = make_master(items, depth)
    warm_up(master)
    with tempfile.TemporaryDirectory(prefix="gateway-startup-",
                                     dir=os.path.dirname(os.path.abspath(db))) as tmp:
        path = os.path.join(tmp, "journal.db")
        shutil.copyfile(db, path)
        every = 1 << 62  # only the close writes one
        t0 = time.perf_counter()
        j = Journal(path, master, snapshot_every=every)
        full = time.perf_counter() - t0
        events = j.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        t0 = time.perf_counter()
        j.close()
        written = time.perf_counter() - t0
        size = os.path.getsize(j.snapshot_path)
        t0 = time.perf_counter()
        j = Journal(path, master, snapshot_every=every)
        restored = time.perf_counter() - t0
        used = j.snapshot_seq
        j.close()
    return {"events": events, "full_replay_s": round(full, 3),
            "from_snapshot_s": round(restored, 3), "snapshot_seq": used,
            "snapshot_write_s": round(written, 3), "snapshot_mb": round(size / 1e6, 1)}


def main(argv: list[str] | None = None) -> int:
    db, items, depth = (argv or sys.argv[1:])[:3]
    print(json.dumps(startup(db, int(items), int(depth))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
