"""`python -m gateway.bench.peak OUT.json ARGS...`: run `gateway ARGS...` in this fresh
process and write its exit status, wall seconds and peak RSS (its own high-water mark,
see gateway.bench.replay.peak_rss_mb) to OUT.json; its stdout and stderr pass through."""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    out, *args = sys.argv[1:] if argv is None else argv
    from gateway.bench.replay import peak_rss_mb
    from gateway.cli import main as gateway

    t0 = time.perf_counter()
    try:
        status = gateway(args)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    seconds = time.perf_counter() - t0
    sys.stdout.flush()
    with open(out, "w") as fh:
        json.dump({"status": status, "seconds": round(seconds, 3),
                   "peak_rss_mb": round(peak_rss_mb(), 1)}, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
