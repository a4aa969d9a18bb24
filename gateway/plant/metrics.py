"""Prometheus series of the plant consolidator, in a registry of its own (names `plant_`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["PlantMetrics"]

_APPLY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class PlantMetrics:
    """What one consolidator process saw; summed over processes by whoever scrapes them."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.batches = Counter("plant_batches_applied", "GL batches applied to the plant ledger",
                               ["gateway"], registry=r)
        self.lines = Counter("plant_lines_applied", "GL lines applied to the plant ledger",
                             ["gateway"], registry=r)
        self.duplicates = Counter("plant_duplicates", "Redelivered batches dropped by their key",
                                  ["gateway"], registry=r)
        self.quarantined = Counter("plant_quarantined", "Batches refused and kept in quarantine",
                                   ["kind"], registry=r)
        self.deferred = Counter("plant_deferred", "Deliveries of a batch ahead of its gateway's "
                                "sequence, put back to wait for the missing one", ["gateway"], registry=r)
        self.apply_seconds = Histogram("plant_apply_seconds", "One fetch's transaction",
                                       buckets=_APPLY_BUCKETS, registry=r)
