"""The cost engine: pure valuation and posting, no I/O (see docs/architecture.md, docs/accounting.md).

Public surface: `costing.engine.Engine` (apply events → balanced Outcomes; views of
stock, item costs, work orders, balances; `apply_many` for runs of events, `mark` /
`entries_since` for the lines a run posted, `post_many` for what a run posted as
ranges over the engine's columns, `costing.posted`), `costing.rollup.roll_up` (standard costs),
`costing.master` (input rows), `costing.outcome` (output rows), `costing.money` (the
one rounding rule). `costing.kernels` are the numba kernels, `costing.reference` their
plain-Python twins; every posting rule is
written once, in `costing.batch_kernel.run_batch` (the whole-run kernel behind `apply`,
inputs typed in `costing.batch_columns`, events checked by `costing.batch_encoders`);
`python_reference()` is its interpreted twin. `costing.effects` keeps
what reversals need as columns.
"""
