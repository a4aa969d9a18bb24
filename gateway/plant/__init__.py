"""The plant consolidator: GL batches of many gateways, from JetStream into one PostgreSQL ledger.

`config` (plant.toml), `schema` (the tables), `batch` (a batch JSON judged, pure),
`apply` (one batch, one transaction, exactly once), `consolidator` (the durable pull
consumer), `views` (plant trial balance and lag). See docs/plant.md.
"""
