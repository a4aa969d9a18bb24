"""The dashboard's transport: https with a modern context and HSTS, a real TLS-terminating
reverse proxy in front of it (X-Forwarded-* believed from that proxy only), the Host
check against DNS rebinding and who may scrape /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import pytest
from aiohttp import ClientSession, CookieJar, TCPConnector, web

from gateway.dashboard import create_app
from gateway.dashboard.peers import client_address, request_scheme
from gateway.tls import server_context
from simulators.certs import make_tls

from . import sample_plant

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
       "content-encoding", "upgrade", "te", "trailer", "proxy-authorization"}


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("tls"))


def client_ssl(tls) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls.ca.cert))


async def _who(request: web.Request) -> web.Response:
    # what the throttle and the logs see; the route sits behind the login like any other
    return web.json_response({"client": client_address(request),
                              "scheme": request_scheme(request)})


@contextlib.asynccontextmanager
async def serving(app: web.Application, host: str = "127.0.0.1", ssl_context=None):
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def dashboard_app(make_state, **settings):
    app = create_app(make_state(**settings))
    app.router.add_get("/_who", _who)
    async with serving(app) as port:
        yield port


@contextlib.asynccontextmanager
async def tls_proxy(upstream_port: int, tls):
    """A TLS-terminating reverse proxy, as nginx would be set up: it keeps Host, sets
    X-Forwarded-Proto https and appends the client to X-Forwarded-For. It connects to the
    dashboard from 127.0.0.2, so the test can tell its requests from direct ones."""
    session = ClientSession(connector=TCPConnector(local_addr=("127.0.0.2", 0)),
                            auto_decompress=False, cookie_jar=CookieJar(unsafe=True, quote_cookie=False))

    async def forward(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        headers["Host"] = request.host
        headers["X-Forwarded-Proto"] = "https"
        sent_for = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{sent_for}, {request.remote}" if sent_for else request.remote
        session.cookie_jar.clear()  # the browser's cookies pass through, none are kept here
        async with session.request(request.method,
                                   f"http://127.0.0.1:{upstream_port}{request.path_qs}",
                                   headers=headers, data=await request.read(),
                                   allow_redirects=False) as r:
            body = await r.read()
            resp = web.Response(status=r.status, body=body)
            for k, v in r.headers.items():
                if k.lower() not in HOP:
                    resp.headers.add(k, v)
            return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    ctx = server_context(str(tls.server.cert), str(tls.server.key))
    try:
        async with serving(app, ssl_context=ctx) as port:
            yield port
    finally:
        await session.close()


async def login(s: ClientSession, base: str, origin: str, **kw):
    page = await s.get(f"{base}/login", **kw)
    token = sample_plant.CSRF_RE.search(await page.text()).group(1)
    return await s.post(f"{base}/login", data={"csrf": token, "name": "sam", "next": "/",
                                                "password": sample_plant.PASSWORD["sam"]},
                        allow_redirects=False, headers={"Origin": origin, **kw.pop("headers", {})},
                        **kw)


def browser(tls=None) -> ClientSession:
    return ClientSession(cookie_jar=CookieJar(unsafe=True),
                         connector=TCPConnector(ssl=client_ssl(tls) if tls else None))


async def test_https_serves_tls12_or_newer_with_hsts(make_state, tls):
    ctx = server_context(str(tls.server.cert), str(tls.server.key))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    app = create_app(make_state(secure_cookies=True))
    async with serving(app, ssl_context=ctx) as port, browser(tls) as s:
        base = f"https://127.0.0.1:{port}"
        resp = await s.get(f"{base}/login")
        assert resp.status == 200
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ssl(tls))
        assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        writer.close()
        # the Secure session cookie goes back over https: the login works end to end
        resp = await login(s, base, base)
        assert resp.status == 303, await resp.text()
        assert "secure" in resp.headers["Set-Cookie"].lower()
        assert (await s.get(f"{base}/")).status == 200


async def test_plain_http_sends_no_hsts(make_state):
    async with dashboard_app(make_state) as port, browser() as s:
        resp = await s.get(f"http://127.0.0.1:{port}/login")
        assert resp.status == 200 and "Strict-Transport-Security" not in resp.headers


async def test_login_through_a_trusted_tls_proxy(make_state, tls):
    async with dashboard_app(make_state, secure_cookies=True,
                             trusted_proxies=("127.0.0.2",)) as dash, \
            tls_proxy(dash, tls) as port, browser(tls) as s:
        base = f"https://127.0.0.1:{port}"
        resp = await login(s, base, base, headers={"X-Forwarded-For": "203.0.113.9"})
        assert resp.status == 303, await resp.text()
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
        who = await (await s.get(f"{base}/_who")).json()
        # the proxy's hop: the browser's socket; the forged hop before it is not believed
        # as the client (it is left of the address the trusted proxy appended)
        assert who == {"client": "127.0.0.1", "scheme": "https"}


async def test_an_untrusted_proxy_is_not_believed(make_state, tls):
    # The bug as it was: an https Origin against the http scheme of the hop -> 403.
    async with dashboard_app(make_state, secure_cookies=True) as dash, \
            tls_proxy(dash, tls) as port, browser(tls) as s:
        base = f"https://127.0.0.1:{port}"
        resp = await login(s, base, base)
        assert resp.status == 403
        assert "is not 'http://127.0.0.1:" in await resp.text()


async def test_forged_forwarded_headers_from_a_direct_client_are_ignored(make_state):
    async with dashboard_app(make_state, trusted_proxies=("127.0.0.2",)) as port, \
            browser() as s:
        base = f"http://127.0.0.1:{port}"
        forged = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
        resp = await login(s, base, f"https://127.0.0.1:{port}", headers=forged)
        assert resp.status == 403
        assert "is not 'http://127.0.0.1:" in await resp.text()
        assert (await login(s, base, base, headers=forged)).status == 303
        who = await (await s.get(f"{base}/_who", headers=forged)).json()
        assert who == {"client": "127.0.0.1", "scheme": "http"}


async def test_a_foreign_host_name_is_refused_everywhere(make_state):
    async with dashboard_app(make_state, metrics_public=True,
                             server_names=("gw.plant.example",)) as port, browser() as s:
        base = f"http://127.0.0.1:{port}"
        for path in ("/metrics", "/login", "/static/app.css", "/"):
            resp = await s.get(f"{base}{path}", headers={"Host": "rebound.evil.example"},
                               allow_redirects=False)
            assert resp.status == 421, path
            assert "server_names" in await resp.text()
        for host in (f"gw.plant.example:{port}", f"localhost:{port}", f"127.0.0.1:{port}"):
            resp = await s.get(f"{base}/metrics", headers={"Host": host})
            assert resp.status == 200, host


async def test_metrics_public_only_when_set(make_state):
    async with dashboard_app(make_state) as port, browser() as s:
        assert (await s.get(f"http://127.0.0.1:{port}/metrics")).status == 401
    async with dashboard_app(make_state, metrics_public=True) as port, browser() as s:
        resp = await s.get(f"http://127.0.0.1:{port}/metrics")
        assert resp.status == 200 and "gateway_exceptions_open" in await resp.text()
