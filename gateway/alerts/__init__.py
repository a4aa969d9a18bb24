"""Alerts: rules over the journal's projections, one alert per rule and subject, routed
to the people who act on them (see docs/alerts.md)."""

from gateway.alerts.book import AlertBook, Transition
from gateway.alerts.config import AlertRoute, AlertsSection

__all__ = ["AlertBook", "AlertRoute", "AlertsSection", "Transition"]
