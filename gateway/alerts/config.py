"""`[alerts.*]` and `[[alerts.route]]`: what each rule judges and who hears about it."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Pct = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
RULES = ("scrap_rate", "consumption", "stalled", "stock_out", "margin")
RuleName = Literal["scrap_rate", "consumption", "stalled", "stock_out", "margin"]


class _Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True  # false: the rule judges nothing and raises no alert


class ScrapRateRule(_Rule):
    """Scrap % per work order and operation against a ceiling or the work center's norm."""

    max_pct: Pct = 5.0          # the limit while the work center has too little history
    sigma: Positive = 3.0       # with history: limit = norm mean + sigma x norm std
    sigma_floor_pct: Pct = 1.0  # the std used is at least this (a steady line has std ~0)
    min_units: Annotated[int, msgspec.Meta(ge=1)] = 20  # judge only after this many units
    # the rate is over the order's last this many units (good + scrap), not the whole order
    window_units: Annotated[int, msgspec.Meta(ge=1)] = 200
    min_history: Annotated[int, msgspec.Meta(ge=2)] = 5  # closed orders before the norm counts


class ConsumptionRule(_Rule):
    """Issued quantity of a component above the BOM standard of the order by more than max_pct."""

    max_pct: Pct = 8.0  # issued may exceed the standard by this much (% of standard)


class StalledRule(_Rule):
    """A released order, active on its line, with no count for after_minutes."""

    after_minutes: Positive = 15.0  # minutes without a count before the order is stalled
    check_seconds: Positive = 30.0  # how often the timer looks


class StockOutRule(_Rule):
    """Available stock of a component below what the released orders still need."""

    horizon: Literal["released"] = "released"  # whose need counts: the released orders


class MarginRule(_Rule):
    """Shipped margin % of a sales order, (revenue - cost of sales) / revenue, below min_pct."""

    min_pct: Annotated[float, msgspec.Meta(lt=100)] = 15.0  # fires below this margin %


class AlertRoute(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Who hears about which rules: dashboard roles, an MQTT topic, a webhook."""

    rules: list[RuleName] = msgspec.field(default_factory=lambda: list(RULES))  # what it hears
    roles: list[str] = msgspec.field(default_factory=lambda: ["supervisor"])  # who acts on it
    mqtt_topic: str | None = None  # QoS 1, retained per alert key: <topic>/<key>
    webhook: str | None = None     # POST JSON, Idempotency-Key header
    token_env: str | None = None   # webhook: bearer token from this environment variable


class AlertsSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The alert rules and their routes (docs/alerts.md); every rule has a default."""

    scrap_rate: ScrapRateRule = ScrapRateRule()
    consumption: ConsumptionRule = ConsumptionRule()
    stalled: StalledRule = StalledRule()
    stock_out: StockOutRule = StockOutRule()
    margin: MarginRule = MarginRule()
    route: list[AlertRoute] = []
