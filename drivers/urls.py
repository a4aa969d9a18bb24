"""URLs as they may be shown: `redact_url` is the one place a URL loses its password
before it reaches a log line, an error message or a page."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url", "has_credentials"]


def has_credentials(url: str) -> bool:
    """True when `url` carries a `user@` or `user:password@` part."""
    return "@" in urlsplit(url).netloc


def redact_url(url: str) -> str:
    """`mqtt://bob:s3cret@host:1883` -> `mqtt://bob:***@host:1883`; the query is cut too,
    as it may carry a token (`?access_token=...`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable url)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if sep else f"{user}@{hostport}"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
