"""ERP receiver simulator: applies each GL batch exactly once and can be told to misbehave.

Speaks what a real ERP's GL import endpoint does (aiohttp):

    POST /gl/batches     a batch (see docs/architecture.md); `Idempotency-Key` header (falls back to
                         batch_id). 201 applied; a replay → 409 with the first result,
                         counted as a duplicate; unbalanced or malformed → 422;
                         a wrong or missing bearer token (when one is set) → 401.
    GET  /gl/totals      applied debit/credit per account (decimal strings) + counters
    GET  /gl/batches     received batches in arrival order (status applied|rejected)
    POST /admin/mode     {"fail": 503, "fail_count": n}  answer n requests with 503 (no n: until reset)
                         {"slow": seconds}               apply, then answer that much later
                         {"refuse_for": seconds}         stop listening for that long
                         {"reject": ["plant1-7", ...]}   answer 422 for these batch ids
                         {"reset": true}                 back to normal

Python API: `ErpSimulator` with the same knobs (`set_mode`, `stop_listening`,
`start_listening`) for in-process tests, and `receive(batch, key)` for batches that
arrive by another transport (an MQTT subscriber). Run: `python -m simulators.erp --port N`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from aiohttp import web

__all__ = ["ErpSimulator", "main"]


@dataclass
class _Mode:
    fail_status: int | None = None
    fail_count: int | None = None         # None = every request while fail_status is set
    slow_s: float = 0.0
    reject: set[str] = field(default_factory=set)


class _BadBatch(ValueError):
    pass


def _amount(value: object, where: str) -> Decimal:
    if not isinstance(value, str):
        raise _BadBatch(f"{where}: amount must be a decimal string (got {value!r})")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise _BadBatch(f"{where}: not a decimal amount (got {value!r})") from None


def _check(batch: object) -> dict[str, tuple[Decimal, Decimal]]:
    """Per-account (debit, credit) of a well-formed, balanced batch; else _BadBatch."""
    if not isinstance(batch, dict):
        raise _BadBatch("batch: expected a JSON object")
    for key in ("batch_id", "seq", "period", "currency", "lines", "totals", "entries"):
        if key not in batch:
            raise _BadBatch(f"{key}: missing")
    if not isinstance(batch["lines"], list) or not batch["lines"]:
        raise _BadBatch("lines: expected a non-empty list")
    per_account: dict[str, tuple[Decimal, Decimal]] = {}
    debit = credit = Decimal(0)
    for i, line in enumerate(batch["lines"]):
        if not isinstance(line, dict) or not isinstance(line.get("account"), str):
            raise _BadBatch(f"lines[{i}].account: missing")
        d = _amount(line.get("debit"), f"lines[{i}].debit")
        c = _amount(line.get("credit"), f"lines[{i}].credit")
        old = per_account.get(line["account"], (Decimal(0), Decimal(0)))
        per_account[line["account"]] = (old[0] + d, old[1] + c)
        debit += d
        credit += c
    if debit != credit:
        raise _BadBatch(f"lines: batch does not balance: debit {debit} != credit {credit}")
    totals = batch["totals"] if isinstance(batch["totals"], dict) else {}
    if (_amount(totals.get("debit"), "totals.debit") != debit
            or _amount(totals.get("credit"), "totals.credit") != credit):
        raise _BadBatch(f"totals: {totals!r} do not match the lines ({debit}, {credit})")
    return per_account


class ErpSimulator:
    """An in-process ERP GL receiver; `await start()`, then point an HttpSink at `url`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        self.host = host
        self.port = port
        self.token = token
        self.mode = _Mode()
        self.received: list[dict] = []                 # arrival order, applied or rejected
        self.results: dict[str, tuple[int, dict]] = {}  # idempotency key -> (status, body)
        self.totals: dict[str, list[Decimal]] = {}
        self.applied: list[str] = []                   # batch ids, in the order applied
        self.duplicates = 0
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._relisten: asyncio.Task | None = None
        self.app = web.Application()
        self.app.add_routes([
            web.post("/gl/batches", self._post_batch),
            web.get("/gl/batches", self._get_batches),
            web.get("/gl/totals", self._get_totals),
            web.post("/admin/mode", self._post_mode),
        ])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/gl/batches"

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> "ErpSimulator":
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await self.start_listening()
        return self

    async def start_listening(self) -> None:
        if self._site is not None:
            return
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]
        self._site = site

    async def stop_listening(self) -> None:
        """Close the listening socket and every open connection: the ERP is down, clients
        now get 'connection refused' (kept-alive connections do not keep it reachable)."""
        site, self._site = self._site, None
        if site is not None:
            await site.stop()
            if self._runner is not None and self._runner.server is not None:
                await self._runner.server.shutdown(0.5)

    async def stop(self) -> None:
        if self._relisten is not None:
            self._relisten.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    # -- knobs ---------------------------------------------------------------------------

    def set_mode(self, *, fail: int | None = None, fail_count: int | None = None,
                 slow: float | None = None, reject: list[str] | None = None,
                 reset: bool = False) -> None:
        if reset:
            self.mode = _Mode()
        if fail is not None:
            if not 400 <= int(fail) <= 599:
                raise ValueError(f"fail: expected an HTTP error status (got {fail!r})")
            self.mode.fail_status = int(fail) or None
            self.mode.fail_count = fail_count
        if slow is not None:
            self.mode.slow_s = float(slow)
        if reject is not None:
            self.mode.reject.update(reject)

    async def refuse_for(self, seconds: float) -> None:
        await self.stop_listening()

        async def later() -> None:
            await asyncio.sleep(seconds)
            await self.start_listening()
        self._relisten = asyncio.ensure_future(later())

    def totals_minor(self, decimals: int) -> dict[str, tuple[int, int]]:
        """Applied (debit, credit) per account in integer minor units."""
        scale = Decimal(10) ** decimals
        return {a: (int(d * scale), int(c * scale)) for a, (d, c) in self.totals.items()}

    # -- handlers ------------------------------------------------------------------------

    async def _post_batch(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "Authorization: bearer token missing or wrong"}, status=401)
        mode = self.mode
        if mode.fail_status is not None:
            if mode.fail_count is None or mode.fail_count > 0:
                if mode.fail_count is not None:
                    mode.fail_count -= 1
                return web.json_response({"error": "simulated failure"}, status=mode.fail_status)
        try:
            batch = await request.json()
        except ValueError as exc:
            return web.json_response({"error": f"body: not JSON: {exc}"}, status=422)
        key = request.headers.get("Idempotency-Key")
        status, body = self.receive(batch, key)
        if mode.slow_s:
            await asyncio.sleep(mode.slow_s)   # applied already: a client timeout means a resend
        return web.json_response(body, status=status)

    def receive(self, batch: object, key: str | None = None) -> tuple[int, dict]:
        """Apply one batch unless its key (default: its batch_id) was applied before.

        Returns (HTTP status, body): 201 applied, 409 duplicate (the first body), 422
        refused. The HTTP handler and other transports (an MQTT bridge) share it.
        """
        key = key or (str(batch.get("batch_id")) if isinstance(batch, dict) else "")
        if key in self.results:
            self.duplicates += 1
            status, body = self.results[key]
            return 409, {**body, "duplicate": True}
        return self._apply(key, batch)

    def _apply(self, key: str, batch: object) -> tuple[int, dict]:
        batch_id = batch.get("batch_id") if isinstance(batch, dict) else None
        if batch_id in self.mode.reject:
            # Configured rejections are not remembered: a supervisor retry may then pass.
            self.received.append({"key": key, "batch": batch, "status": "rejected"})
            return 422, {"error": f"batch_id: {batch_id} rejected by ERP rule"}
        try:
            per_account = _check(batch)
        except _BadBatch as exc:
            self.received.append({"key": key, "batch": batch, "status": "rejected"})
            return 422, {"error": str(exc)}
        for account, (d, c) in per_account.items():
            acc = self.totals.setdefault(account, [Decimal(0), Decimal(0)])
            acc[0] += d
            acc[1] += c
        self.applied.append(str(batch_id))
        self.received.append({"key": key, "batch": batch, "status": "applied"})
        body = {"batch_id": batch_id, "status": "applied", "document": len(self.applied)}
        self.results[key] = (201, body)
        return 201, body

    async def _get_totals(self, request: web.Request) -> web.Response:
        return web.json_response({
            "accounts": {a: {"debit": str(d), "credit": str(c)} for a, (d, c) in sorted(self.totals.items())},
            "applied": len(self.applied), "duplicates": self.duplicates, "requests": self.requests,
        })

    async def _get_batches(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"batch_id": r["batch"].get("batch_id") if isinstance(r["batch"], dict) else None,
             "key": r["key"], "status": r["status"], "batch": r["batch"]} for r in self.received])

    async def _post_mode(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            refuse = body.pop("refuse_for", None)
            self.set_mode(**body)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": f"mode: {exc}"}, status=400)
        if refuse is not None:
            # Answer first, then close the socket (else the caller sees a reset, not an answer).
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.refuse_for(float(refuse))))
        return web.json_response({"fail": self.mode.fail_status, "fail_count": self.mode.fail_count,
                                  "slow": self.mode.slow_s, "reject": sorted(self.mode.reject)})


async def _serve(host: str, port: int, token: str | None) -> None:
    erp = await ErpSimulator(host, port, token).start()
    print(f"ERP simulator listening on {erp.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await erp.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.erp", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--token", default=None, help="require this bearer token")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.token))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
