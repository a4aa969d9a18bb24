"""`Reconnecting`: a driver that keeps one session up, whatever the network does.

The loop runs `_session()` until it fails, marks the device down, reports the failure
(translated into the driver error tree) through the sink once per outage, and tries again
after a capped exponential backoff. A retry that fails with the same kind of error is not
reported again (the sink sees one more "reconnecting"); one that fails with another kind
(the broker is back but refuses the credentials) is news, and is. A session that had come
up resets the backoff and ends the outage; bad credentials do not fix themselves in a
second, so an AuthError waits longer. Nothing ever escapes the loop but cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from drivers.backoff import Backoff
from drivers.base import AuthError, DriverError

log = logging.getLogger(__name__)


class Reconnecting:
    """Mixin for network drivers; subclasses provide the hooks below."""

    id: str
    backoff_initial: float
    backoff_max: float
    connects: int  # sessions that came up (the subclass counts them in `_session`)
    auth_backoff: float = 1.0  # after an AuthError wait at least this share of backoff_max

    async def _session(self) -> None:
        """Connect and deliver until the connection is lost (then raise)."""
        raise NotImplementedError

    def _translate(self, exc: BaseException) -> DriverError:
        raise NotImplementedError

    async def _lost(self) -> None:
        """Tidy up after a lost session (close the client, invalidate acks...)."""

    async def start(self, sink) -> None:
        """Start the session loop in a background task and return at once."""
        self._sink = sink
        self._task = asyncio.create_task(self._run(), name=f"{type(self).__name__}:{self.id}")

    async def stop(self) -> None:
        """Stop the loop, tidy up as after a lost session, and report the device down."""
        task, self._task = getattr(self, "_task", None), None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._lost()
        if getattr(self, "_sink", None) is not None:
            self._sink.connection(self.id, "down")

    async def _run(self) -> None:
        backoff = Backoff(self.backoff_initial, self.backoff_max)
        reported = None  # the error type this outage was reported with
        while True:
            connects_before = self.connects
            error = None
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never out of the loop: report and retry
                error = self._translate(exc)
                log.info("%s: %s", self.id, error)
                await self._lost()
                self._sink.connection(self.id, "down")
                if self.connects > connects_before:
                    reported = None  # the session was up: this is a new outage
                if type(error) is not reported:
                    await self._report(error)
                    reported = type(error)
            if self.connects > connects_before:
                backoff.reset()  # the session was up: start over
            delay = backoff.next()
            if isinstance(error, AuthError):
                delay = max(delay, self.backoff_max * self.auth_backoff)
            self._sink.connection(self.id, "reconnecting")
            await asyncio.sleep(delay)

    async def _report(self, error: DriverError) -> None:
        try:
            await self._sink.problem(self.id, error)
        except Exception:  # a failing sink must not kill the driver
            log.exception("%s: sink.problem failed", self.id)
