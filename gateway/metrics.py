"""Prometheus series of the gateway (see docs/operations.md), in a registry of its own.

Every series name starts with `gateway_`. Counters and histograms are fed by the
components that see the thing happen (drivers, mapping, journal, outbox); the gauges
that describe stored state (open exceptions, outbox depth and age) are read from the
database at scrape time by `refresh_from_db`, so they are never stale or double-kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

# Commit latency with synchronous=FULL sits around a few ms; upstream sends are slower.
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The gateway's series; one instance per process, shared by all components."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.readings = Counter("gateway_readings", "Device readings received",
                                ["device"], registry=r)
        self.events = Counter("gateway_events", "Events committed to the journal",
                              ["device", "type"], registry=r)
        self.rejects = Counter("gateway_rejects", "Events or readings rejected",
                               ["reason"], registry=r)
        self.exceptions_open = Gauge("gateway_exceptions_open",
                                     "Exceptions waiting for a supervisor", registry=r)
        self.journal_commit_seconds = Histogram(
            "gateway_journal_commit_seconds", "Journal transaction commit latency",
            buckets=_COMMIT_BUCKETS, registry=r)
        self.outbox_depth = Gauge("gateway_outbox_depth",
                                  "GL batches not yet acknowledged upstream", registry=r)
        self.outbox_oldest_age_seconds = Gauge(
            "gateway_outbox_oldest_age_seconds",
            "Age of the oldest unacknowledged batch (0 when none)", registry=r)
        self.upstream_send_seconds = Histogram(
            "gateway_upstream_send_seconds", "Upstream send latency",
            buckets=_SEND_BUCKETS, registry=r)
        self.upstream_errors = Counter("gateway_upstream_errors",
                                       "Upstream sends that failed", registry=r)
        self.lost_reported = Counter(
            "gateway_lost_readings_reported",
            "Readings known lost before the gateway: broker drops, sequence gaps",
            ["device", "kind"], registry=r)
        self.alerts_open = Gauge("gateway_alerts_open",
                                 "Alerts open or acknowledged, not resolved",
                                 ["rule", "severity"], registry=r)
        self.device_connected = Gauge("gateway_device_connected",
                                      "1 when the device is connected", ["device"], registry=r)
        self.device_fault = Gauge(
            "gateway_device_fault",
            "1 while the device is not connected, labelled with the cause of its last "
            "failure (not_authorised, tls_untrusted, not_tls, no_mqtt_answer, ...)",
            ["device", "cause"], registry=r)
        self.device_faults = Counter(
            "gateway_device_faults",
            "Connection failures and losses reported by drivers, by cause (one per retry)",
            ["device", "cause"], registry=r)

    def reject(self, reason: str = "rejected") -> None:
        """Count a rejection; `reason` should be a short class ('unknown_item'), not text."""
        self.rejects.labels(reason=reason).inc()

    def set_devices(self, devices: Iterable[Mapping]) -> None:
        """Mirror device status dicts ({id, state, cause, ...}) into gateway_device_connected
        and gateway_device_fault (a device that connected again drops out of the latter)."""
        self.device_fault.clear()
        for d in devices:
            up = d.get("state") == "connected"
            self.device_connected.labels(device=str(d["id"])).set(1 if up else 0)
            if not up and d.get("cause"):
                self.device_fault.labels(device=str(d["id"]), cause=str(d["cause"])).set(1)

    def refresh_from_db(self, conn: sqlite3.Connection, now: datetime | None = None) -> None:
        """Set the state gauges from the schema (exceptions, batches)."""
        (open_,) = conn.execute("SELECT count(*) FROM exceptions WHERE status = 'open'").fetchone()
        depth, oldest = conn.execute(
            "SELECT count(*), min(created_at) FROM batches WHERE state != 'acked'").fetchone()
        self.exceptions_open.set(open_)
        self.outbox_depth.set(depth)
        self.outbox_oldest_age_seconds.set(age_seconds(oldest, now) if oldest else 0.0)
        self.alerts_open.clear()  # a rule and severity with nothing open drops out
        for rule, severity, n in conn.execute(
                "SELECT rule, severity, count(*) FROM alerts WHERE state != 'resolved'"
                " GROUP BY rule, severity"):
            self.alerts_open.labels(rule=rule, severity=severity).set(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def age_seconds(ts: str, now: datetime | None = None) -> float:
    """Seconds since an ISO-8601 timestamp (naive = UTC); 0 for a future or bad one."""
    try:
        then = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (now - then).total_seconds())
