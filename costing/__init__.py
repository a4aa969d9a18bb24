"""The cost engine: pure valuation and posting, no I/O (DESIGN §2, §6).

Public surface: `costing.engine.Engine` (apply events → balanced Outcomes; views of
stock, item costs, work orders, balances), `costing.rollup.roll_up` (standard costs),
`costing.master` (input rows), `costing.outcome` (output rows), `costing.money`
(the one rounding rule). `costing.kernels` are the numba kernels, `costing.reference`
their plain-Python twins.
"""
