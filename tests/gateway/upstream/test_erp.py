"""The ERP receiver simulator itself: dedupe, balance check, totals, misbehaviour knobs."""

import asyncio
import sys
from pathlib import Path

import aiohttp

from simulators.ports import free_port

from .test_sinks import batch

ROOT = Path(__file__).resolve().parents[3]


async def post(session, url, body, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    async with session.post(url, json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_applies_once_and_answers_a_replay_with_409(erp):
    async with aiohttp.ClientSession() as s:
        assert await post(s, erp.url, batch(1), "plant1-1") == (
            201, {"batch_id": "plant1-1", "status": "applied", "document": 1})
        status, body = await post(s, erp.url, batch(1), "plant1-1")
        assert (status, body["duplicate"], body["document"]) == (409, True, 1)
        # no header: the batch_id is the key
        assert (await post(s, erp.url, batch(1)))[0] == 409
        assert (await post(s, erp.url, batch(2, 5)))[0] == 201
        async with s.get(erp.url.replace("/gl/batches", "/gl/totals")) as r:
            totals = await r.json()
        async with s.get(erp.url) as r:
            received = await r.json()
    assert totals == {"accounts": {"1400": {"debit": "12.35", "credit": "0.00"},
                                   "5100": {"debit": "0.00", "credit": "12.35"}},
                      "applied": 2, "duplicates": 2, "requests": 4}
    assert [(r["batch_id"], r["status"]) for r in received] == [("plant1-1", "applied"), ("plant1-2", "applied")]
    assert erp.totals_minor(2) == {"1400": (1235, 0), "5100": (0, 1235)}


async def test_refuses_unbalanced_or_malformed_batches_naming_the_field(erp):
    unbalanced = batch(1)
    unbalanced["lines"][1]["credit"] = "12.29"
    wrong_totals = batch(2)
    wrong_totals["totals"] = {"debit": "1.00", "credit": "1.00"}
    float_money = batch(3)
    float_money["lines"][0]["debit"] = 12.3
    async with aiohttp.ClientSession() as s:
        status, body = await post(s, erp.url, unbalanced)
        assert status == 422 and body["error"] == "lines: batch does not balance: debit 12.30 != credit 12.29"
        status, body = await post(s, erp.url, wrong_totals)
        assert status == 422 and body["error"].startswith("totals: ")
        status, body = await post(s, erp.url, float_money)
        assert status == 422 and body["error"] == "lines[0].debit: amount must be a decimal string (got 12.3)"
        async with s.post(erp.url, data=b"{not json") as r:
            assert r.status == 422 and (await r.json())["error"].startswith("body: not JSON")
    assert erp.applied == [] and erp.totals == {}


async def test_admin_mode_fail_slow_reject_refuse_reset(erp):
    admin = erp.url.replace("/gl/batches", "/admin/mode")
    async with aiohttp.ClientSession() as s:
        async with s.post(admin, json={"fail": 503, "fail_count": 1, "reject": ["plant1-2"], "slow": 0.2}) as r:
            assert await r.json() == {"fail": 503, "fail_count": 1, "slow": 0.2, "reject": ["plant1-2"]}
        assert (await post(s, erp.url, batch(1)))[0] == 503
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert (await post(s, erp.url, batch(1)))[0] == 201
        assert loop.time() - t0 >= 0.2
        status, body = await post(s, erp.url, batch(2))
        assert status == 422 and "plant1-2 rejected" in body["error"]
        async with s.post(admin, json={"reset": True}) as r:
            assert (await r.json())["reject"] == []
        assert (await post(s, erp.url, batch(2)))[0] == 201        # a rejection is not remembered
        async with s.post(admin, json={"colour": "red"}) as r:
            assert r.status == 400 and "colour" in (await r.json())["error"]
        async with s.post(admin, json={"refuse_for": 0.5}) as r:
            assert r.status == 200
    await asyncio.sleep(0.1)
    async with aiohttp.ClientSession() as s:
        try:
            await post(s, erp.url, batch(3))
            refused = False
        except aiohttp.ClientConnectorError:
            refused = True
        assert refused
        await asyncio.sleep(0.6)
        assert (await post(s, erp.url, batch(3)))[0] == 201
    assert erp.applied == ["plant1-1", "plant1-2", "plant1-3"]


async def test_runs_as_a_module_with_a_token():
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators.erp", "--port", str(port), "--token", "t0k",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        url = f"http://127.0.0.1:{port}/gl/batches"
        assert line.decode().strip() == f"ERP simulator listening on {url}"
        async with aiohttp.ClientSession() as s:
            assert (await post(s, url, batch(1)))[0] == 401
            async with s.post(url, json=batch(1), headers={"Authorization": "Bearer t0k"}) as r:
                assert r.status == 201
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0
