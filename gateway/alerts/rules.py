"""Each rule's judgment as a pure function of its figures: a `Verdict`, or None (clear).

No state and no I/O here: `gateway.alerts.book` gathers the figures from the journal's
projections and keeps one alert per key.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.alerts.config import (
    ConsumptionRule, MarginRule, ScrapRateRule, StalledRule, StockOutRule,
)
from gateway.alerts.stats import deviation_pct, rate_pct, sigma_limit, welford_std
from gateway.money import to_people
from gateway.subledgers import margin_pct


# An open alert clears only once its figure is back below this share of the limit: a rate
# hovering at the limit would otherwise open and resolve an alert with every count.
CLEAR_FRACTION = 0.9


@dataclass(frozen=True, slots=True)
class Verdict:
    severity: str  # warning | critical
    observed: float
    expected: float
    threshold: float
    message: str


@dataclass(frozen=True, slots=True)
class Norm:
    """A work center's history for one operation: closed orders' scrap %."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @property
    def std(self) -> float:
        return welford_std(self.n, self.m2)


def per_unit_standard(bom_line) -> float:
    """What one unit of the parent should take of a BOM line's component, its planned
    scrap included: qty_per x (1 + scrap_pct / 100)."""
    return bom_line.qty_per * (1 + bom_line.scrap_pct / 100)


def issue_standards(master) -> dict[str, dict[str, float]]:
    """Per parent item, its hand-issued components' per-unit standard: what the
    consumption rule judges (backflushed ones consume the standard by definition)."""
    out: dict[str, dict[str, float]] = {}
    for b in master.boms:
        if b.consumption == "issue":
            out.setdefault(b.parent, {})[b.component] = per_unit_standard(b)
    return out


def _num(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.3f}".rstrip("0").rstrip(".")


def judge_scrap(rule: ScrapRateRule, work_order: str, operation: int, scrap: float,
                units: float, norm: Norm, is_open: bool = False,
                windowed: bool = False) -> Verdict | None:
    """Scrap at `operation` over the order's last window_units units (good + scrap; all
    of them while the order has fewer, `windowed` once it has more), once there are
    min_units; the limit is the norm (mean + sigma x std) with min_history closed orders,
    max_pct before. An open alert holds until the rate is below CLEAR_FRACTION x limit."""
    if units < rule.min_units:
        return None
    pct = rate_pct(scrap, units)
    normed = norm.n >= rule.min_history
    if normed:
        std = norm.std
        limit = sigma_limit(norm.mean, std, rule.sigma, rule.sigma_floor_pct)
    else:
        limit = rule.max_pct
    if pct <= (limit * CLEAR_FRACTION if is_open else limit):
        return None
    if normed:
        basis = f"work center norm {norm.mean:.1f} % ± {std:.1f}, limit {limit:.1f} %"
        expected = norm.mean
    else:
        basis = f"limit {limit:.1f} % (work center history: {norm.n} closed orders)"
        expected = limit
    return Verdict("critical" if pct > 2 * limit else "warning", pct, expected, limit,
                   f"scrap {pct:.1f} % on {work_order} op {operation}"
                   f" ({_num(scrap)} of {'the last ' if windowed else ''}{_num(units)}"
                   f"{' units' if windowed else ''}); {basis}")


def judge_consumption(rule: ConsumptionRule, work_order: str, component: str,
                      issued: float, standard: float, is_open: bool = False) -> Verdict | None:
    """Issued above the BOM standard (qty per x (1 + scrap %) x the order's units, at
    least its planned quantity: material is issued ahead of production) by > max_pct."""
    over = deviation_pct(issued, standard)
    if over <= (rule.max_pct * CLEAR_FRACTION if is_open else rule.max_pct):
        return None
    return Verdict("critical" if over > 2 * rule.max_pct else "warning", issued, standard,
                   standard * (1 + rule.max_pct / 100),
                   f"{component} issued {_num(round(issued, 3))} to {work_order}, standard"
                   f" {_num(round(standard, 3))} (+{over:.1f} %, limit +{rule.max_pct:.1f} %)")


def stock_short(available: float, need: float) -> bool:
    """Available stock below the remaining need of the released orders (the stock_out
    rule's condition: none, no alert)."""
    return need > 1e-9 and available < need - 1e-9


def judge_stock_out(rule: StockOutRule, item: str, available: float, need: float,
                    orders: int) -> Verdict | None:
    """Available stock below the remaining need of the released orders."""
    if not stock_short(available, need):
        return None
    return Verdict("critical" if available <= 0 else "warning", available, need, need,
                   f"{item}: {_num(round(available, 3))} available, released orders need"
                   f" {_num(round(need, 3))} more ({orders} open orders)")


def judge_stalled(rule: StalledRule, work_order: str, line: str, idle_minutes: float
                  ) -> Verdict | None:
    """No count on an active order's line for after_minutes."""
    if idle_minutes < rule.after_minutes:
        return None
    return Verdict("critical" if idle_minutes >= 2 * rule.after_minutes else "warning",
                   idle_minutes, 0.0, rule.after_minutes,
                   f"{work_order} on {line}: no count for {idle_minutes:.0f} min"
                   f" (limit {rule.after_minutes:g} min)")


def judge_margin(rule: MarginRule, order: str, revenue: int, cogs: int, decimals: int
                 ) -> Verdict | None:
    """The order's shipped margin % (gateway.subledgers.margin_pct) below min_pct; money
    in minor units. No revenue (none shipped yet, or all reversed): nothing to judge."""
    pct = margin_pct(revenue, cogs)
    if pct is None or pct >= rule.min_pct:
        return None
    return Verdict("critical" if revenue < cogs else "warning", pct, rule.min_pct,
                   rule.min_pct,
                   f"margin {pct:.1f} % on {order} (revenue {to_people(revenue, decimals)},"
                   f" cost {to_people(cogs, decimals)}); limit {rule.min_pct:g} %")
