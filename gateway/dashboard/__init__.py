"""The supervisor dashboard (see docs/operations.md): server-rendered pages, live numbers over SSE,
login with roles, CSRF-safe actions through one documented seam, and /metrics."""

from gateway.dashboard.app import create_app
from gateway.dashboard.state import (ACTIONS, ActionRefused, DashboardSettings,
                                     DashboardState)

__all__ = ["ACTIONS", "ActionRefused", "DashboardSettings", "DashboardState", "create_app"]
