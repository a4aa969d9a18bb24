"""`HttpSink`: POST a batch as JSON; the HTTP status decides Ack, Retry or Reject.

2xx and 409 (already have it) → Ack. 408 and 429 (come back later) and 5xx, timeouts,
refused or reset connections → Retry. Any other 4xx → Reject with the status and an
excerpt of the body, so a supervisor can see why upstream refused it. Every request
carries `Idempotency-Key: <batch_id>`, which lets upstream drop a resend after a crash.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from drivers.urls import redact_url
from gateway.upstream.sink import Ack, Reject, Retry, Verdict

__all__ = ["HttpSink"]

_RETRYABLE_4XX = {408, 429}


class HttpSink:
    """Delivers batches to an HTTP endpoint, idempotently by batch_id."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0,
                 key_field: str = "batch_id"):
        """`key_field`: the payload field sent as Idempotency-Key."""
        self.url = url
        self.shown = redact_url(url)  # what messages say: never a password or query
        self.key_field = key_field
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never show the token
        return f"HttpSink({self.shown!r})"

    async def send(self, batch: dict) -> Verdict:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Content-Type": "application/json", "Idempotency-Key": str(batch[self.key_field])}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps(batch, separators=(",", ":")).encode()
        try:
            async with self._session.post(self.url, data=body, headers=headers) as resp:
                text = await resp.text(errors="replace")
                status = resp.status
        except asyncio.TimeoutError:
            return Retry(f"timeout after {self.timeout.total}s posting to {self.shown}")
        except (aiohttp.ClientError, OSError) as exc:
            return Retry(f"{type(exc).__name__}: {str(exc).replace(self.url, self.shown)}")
        excerpt = " ".join(text.split())[:200]
        if 200 <= status < 300 or status == 409:
            return Ack(f"HTTP {status}")
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            return Reject(f"HTTP {status}: {excerpt}")
        return Retry(f"HTTP {status}: {excerpt}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
