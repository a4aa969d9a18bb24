"""Batches for the consolidator tests, made by the gateway's own `build_payload`."""

from __future__ import annotations

import json

from gateway.upstream.batcher import EntryLines, build_payload


def batch(gateway: str, seq: int, amounts: list[int], *, summarize: bool = True,
          period: str = "2024-05") -> dict:
    """A balanced batch: per amount, one entry debiting 1400 WIP and crediting 1300 stock."""
    entries = []
    for i, minor in enumerate(amounts):
        entry = seq * 100 + i
        entries.append(EntryLines(entry, period, [
            (entry * 2, entry, f"ev-{gateway}-{entry}", minor, 0, "1400", "WC1", "WO1", "F", "issue", period),
            (entry * 2 + 1, entry, f"ev-{gateway}-{entry}", 0, minor, "1300", "WC1", "WO1", "A", "issue", period),
        ]))
    return build_payload(gateway_id=gateway, seq=seq, period=period, currency="EUR", decimals=2,
                         entries=entries, summarize=summarize, created_at="2024-05-02T08:00:00.000Z")


def body(doc: dict) -> bytes:
    """The bytes a sink publishes (json.dumps, compact), as upstream receives them."""
    return json.dumps(doc, separators=(",", ":")).encode()
