"""What each account is called on screen: the chart of accounts' names by role, with
`[accounts.names]` in gateway.toml to rename any account by its code."""

from __future__ import annotations

__all__ = ["DEFAULT_NAMES", "names_by_code"]

# By the key of gateway.config.AccountsSection.by_key().
DEFAULT_NAMES: dict[str, str] = {
    "wip": "Work in process",
    "grni": "Goods received not invoiced",
    "ppv": "Purchase price variance",
    "material_usage_variance": "Material usage variance",
    "material_price_variance": "Material price variance",
    "labor_efficiency_variance": "Labor efficiency variance",
    "overhead_efficiency_variance": "Overhead efficiency variance",
    "applied_labor": "Applied labor",
    "applied_overhead": "Applied overhead",
    "scrap": "Scrap expense",
    "cogs": "Cost of goods sold",
    "revenue": "Revenue",
    "ar": "Accounts receivable",
    "inventory_adjustment": "Inventory adjustments",
    "rounding": "Rounding differences",
    "ap": "Accounts payable",
    "bank": "Bank",
    "invoice_price_variance": "Invoice price variance",
    "inventory.raw": "Raw materials inventory",
    "inventory.semi": "Semi-finished inventory",
    "inventory.finished": "Finished goods inventory",
}


def names_by_code(by_key: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """Account code -> name. `by_key` maps role keys to codes; a code several roles share
    gets their names joined; `overrides` (code -> name) wins."""
    out: dict[str, str] = {}
    for key, code in by_key.items():
        name = DEFAULT_NAMES.get(key, key.replace("_", " "))
        out[code] = f"{out[code]} / {name}" if code in out else name
    return out | overrides
