"""What each role sees: where it lands after login and the pages its navigation lists,
in the order it uses them. Who may act is gateway.users.ACTING_ROLES; the gate enforces
it and refuses a page a role may not use (`PAGE_ROLES`), so the navigation never offers
what would be refused.

- supervisor: the lines (overview) and the exceptions first;
- controller: ledger, variances and margin (/money) first;
- viewer: everything a supervisor reads, nothing to act on, no audit log.
"""

from __future__ import annotations

__all__ = ["HOME", "NAV", "PAGE_ROLES", "home", "nav", "may_see"]

PAGES = {  # key -> (href, label)
    "overview": ("/", "Overview"), "orders": ("/orders", "Work orders"),
    "stock": ("/stock", "Stock"), "alerts": ("/alerts", "Alerts"),
    "exceptions": ("/exceptions", "Exceptions"), "money": ("/money", "Variances & margin"),
    "ledger": ("/ledger", "Ledger"), "reconcile": ("/reconcile", "Reconciliation"),
    "audit": ("/audit", "Audit"),
}
NAV: dict[str, tuple[str, ...]] = {
    "supervisor": ("overview", "exceptions", "alerts", "orders", "stock", "ledger",
                   "reconcile", "money", "audit"),
    "controller": ("money", "ledger", "reconcile", "orders", "stock", "exceptions",
                   "alerts", "overview", "audit"),
    "viewer": ("overview", "orders", "stock", "alerts", "exceptions", "ledger",
               "reconcile", "money"),
}
HOME = {"supervisor": "/", "controller": "/money", "viewer": "/"}
PAGE_ROLES = {"/audit": frozenset({"supervisor", "controller"})}  # path -> roles; else all


def home(role: str | None) -> str:
    return HOME.get(role or "", "/")


def nav(role: str | None) -> list[tuple[str, str, str]]:
    """(key, href, label) of the pages the role may use, in its order."""
    return [(k, *PAGES[k]) for k in NAV.get(role or "", ())]


def may_see(role: str | None, path: str) -> bool:
    allowed = PAGE_ROLES.get(path)
    return allowed is None or role in allowed
