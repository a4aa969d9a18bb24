"""`gateway bench` stages: synthetic plants, kernels, replay, ingest, cold start, report."""
