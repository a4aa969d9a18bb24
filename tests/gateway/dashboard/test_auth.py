"""Login required, bad passwords, sessions, throttling — against the real app."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from gateway.dashboard.auth import COOKIE, SessionStore
from gateway.dashboard.throttle import Admission, LoginThrottle
from gateway.dashboard.views.login import safe_next
from gateway.users import User

from . import sample_plant


async def test_every_page_requires_login(dashboard):
    d = await dashboard()
    for path in ("/", "/orders", "/stock", "/exceptions", "/ledger", "/reconcile",
                 "/reconcile/report.csv"):
        resp = await d.client.get(path, allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"].startswith("/login?next=" + path.split("?")[0]), path
    resp = await d.client.get("/events")
    assert resp.status == 401
    # Static assets are public, and nothing else leaks through them.
    assert (await d.client.get("/static/app.css")).status == 200
    assert (await d.client.get("/nope", allow_redirects=False)).status == 303


async def test_bad_password_is_refused_without_saying_which_part(dashboard, caplog):
    d = await dashboard()
    with caplog.at_level(logging.DEBUG):
        wrong = await d.login("sam", "not-the-password")
        unknown = await d.login("nobody", "not-the-password")
    assert wrong.status == unknown.status == 401
    assert "Wrong name or password." in await wrong.text()
    assert "Wrong name or password." in await unknown.text()
    assert COOKIE not in wrong.cookies or wrong.cookies[COOKIE].value == ""
    assert (await d.client.get("/", allow_redirects=False)).status == 303
    assert "not-the-password" not in caplog.text  # passwords are never logged
    assert "login failed: name=sam addr=" in caplog.text


async def test_a_password_typed_into_the_name_field_is_not_logged(dashboard, caplog):
    d = await dashboard(login_max_failures=2)
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):  # failed, then locked: neither line may carry it
            await d.login("Hunter2-typed-as-name", "x")
    assert "Hunter2" not in caplog.text
    assert "<unknown name, 21 chars, #" in caplog.text


async def test_login_sets_a_strict_httponly_cookie_and_a_fresh_session_id(dashboard):
    d = await dashboard()
    await d.client.get("/login")
    anon = d.client.session.cookie_jar.filter_cookies(d.client.make_url("/"))[COOKIE].value
    resp = await d.login("sam")
    assert resp.status == 303 and resp.headers["Location"] == "/"
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
    assert cookie.value != anon and len(cookie.value) >= 40  # rotated: no fixation
    page = await d.client.get("/")
    assert page.status == 200 and "sam" in await page.text()
    assert "insecure cookies" in await page.text()  # the plain-http demo says so


async def test_secure_cookies_when_configured(dashboard):
    d = await dashboard(secure_cookies=True)
    form = await d.client.get("/login")
    set_cookie = form.headers["Set-Cookie"]
    assert "Secure" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    # Over plain http the client rightly withholds a Secure cookie, so the login's CSRF
    # check has no session to match: it fails closed instead of logging in.
    token = sample_plant.CSRF_RE.search(await form.text()).group(1)
    resp = await d.client.post("/login", data={"csrf": token, "name": "sam", "next": "/",
                                               "password": sample_plant.PASSWORD["sam"]},
                               headers={"Origin": d.origin}, allow_redirects=False)
    assert resp.status == 403


async def test_logout_ends_the_session_server_side(dashboard):
    d = await dashboard()
    await d.login("vic")
    sid = d.client.session.cookie_jar.filter_cookies(d.client.make_url("/"))[COOKIE].value
    token = await d.csrf("/")
    resp = await d.post("/logout", {}, token=token)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    # Replaying the old cookie does not bring the session back.
    again = await d.client.get("/", cookies={COOKIE: sid}, allow_redirects=False)
    assert again.status == 303


async def test_login_is_throttled_after_repeated_failures(dashboard):
    d = await dashboard(login_max_failures=3, login_lockout_s=60)
    for _ in range(3):
        assert (await d.login("sam", "guess")).status == 401
    locked = await d.login("sam")  # even the right password waits out the lockout
    assert locked.status == 429
    assert "Too many failed attempts" in await locked.text()


OFF_SITE = ["//evil.example/x", "/\t/evil.example", "/\n/evil.example", "/\r/evil.example",
            "/\\evil.example", "\\\\evil.example", "/\\/evil.example", "https://evil.example/",
            "http:/evil.example", "javascript:alert(1)", "evil.example", " /orders",
            "/orders\x00", "/\x7f/evil.example", "/\u2028/evil.example", "", "///evil.example",
            "/%09/evil.example\t"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_redirect_target_is_a_local_path_or_home(target):
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/", "/orders", "/orders?status=open&x=1",
                                    "/exceptions/3", "/%2F%2Fevil.example"])
def test_redirect_target_keeps_local_paths(target):
    assert safe_next(target) == target


@pytest.mark.parametrize("target", ["//evil.example/x", "/\t/evil.example", "/\\evil.example"])
async def test_redirect_after_login_stays_on_this_site(dashboard, target):
    d = await dashboard()
    token = await d.csrf("/login")
    resp = await d.client.post("/login", data={"csrf": token, "name": "sam",
                                               "password": sample_plant.PASSWORD["sam"],
                                               "next": target},
                               headers={"Origin": d.origin}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/"
    again = await d.client.get("/login", params={"next": target}, allow_redirects=False)
    assert again.status == 303 and again.headers["Location"] == "/"


def test_sessions_expire_when_idle_and_slide_when_used():
    now = [1000.0]
    store = SessionStore(ttl_s=60, clock=lambda: now[0])
    s = store.new(User("sam", "supervisor", "h"))
    now[0] += 50
    assert store.get(s.sid) is s  # used: expiry slides to +60 from here
    now[0] += 59
    assert store.alive(s)
    now[0] += 2
    assert store.get(s.sid) is None and not store.alive(s)
    assert store.get("forged") is None


def test_session_store_is_bounded_and_evicts_anonymous_first():
    store = SessionStore(ttl_s=60, max_sessions=3)
    user = store.new(User("sam", "supervisor", "h"))
    anons = [store.new() for _ in range(4)]
    assert store.get(user.sid) is user
    assert store.get(anons[-1].sid) is anons[-1]
    assert sum(store.get(a.sid) is not None for a in anons) <= 2


def test_throttle_counts_an_attempt_when_admitted_not_when_it_fails():
    now = [0.0]
    t = LoginThrottle(max_failures=3, window_s=10, lockout_s=30, locked_name_delay_s=2,
                      clock=lambda: now[0])
    keys = t.keys("Sam", "10.0.0.9")
    admitted = [t.admit(keys) for _ in range(5)]  # five at once, none settled yet
    assert [a.admitted for a in admitted] == [True, True, True, False, False]
    for _ in range(3):
        t.settle(keys, ok=False)
    assert t.admit(keys).wait_s == 30  # address and name locked
    assert t.admit(t.keys("other", "10.0.0.9")).wait_s == 30  # the address, for any name
    # The name is locked, but a clean address may still try it, slowed down, one at a time.
    clean = t.keys("sam", "10.0.0.8")
    first = t.admit(clean)
    assert first.admitted and first.delay_s == 2 and first.name_locked
    assert not t.admit(clean).admitted  # its first attempt is still in flight
    t.settle(clean, ok=False)
    assert not t.admit(clean).admitted  # no longer a clean address
    assert t.admit(t.keys("vic", "10.0.0.8")) == Admission()  # other names: unaffected
    now[0] += 31
    assert t.admit(t.keys("sam", "10.0.0.9")) == Admission()


def test_a_success_forgives_only_the_name():
    now = [0.0]
    t = LoginThrottle(max_failures=2, window_s=10, lockout_s=30, clock=lambda: now[0])
    for name, ok in (("sam", False), ("sam", True), ("eve", False)):
        keys = t.keys(name, "10.0.0.9")
        assert t.admit(keys).admitted
        t.settle(keys, ok=ok)
    # "sam"'s good login did not reset the address's count: eve's failure locked it.
    assert t.admit(t.keys("eve", "10.0.0.9")).wait_s == 30
    assert t.admit(t.keys("sam", "10.0.0.8")) == Admission()
    now[0] += 11  # outside the window nothing counts any more


def test_throttle_forgets_stale_keys_when_sprayed():
    now = [0.0]
    t = LoginThrottle(max_failures=5, window_s=10, lockout_s=30, clock=lambda: now[0])
    t.MAX_KEYS = 100
    for i in range(150):
        t.settle(t.keys(f"user{i}", f"10.0.{i}.1"), ok=False)
    now[0] += 11
    t.settle(t.keys("late", "10.0.0.2"), ok=False)
    assert len(t._failures) <= 3


async def _form(session: aiohttp.ClientSession, base: str) -> str:
    async with session.get(base + "/login") as resp:
        return sample_plant.CSRF_RE.search(await resp.text()).group(1)


async def _post_login(session, base, token, name, password):
    async with session.post(base + "/login", data={"csrf": token, "name": name, "next": "/",
                                                   "password": password},
                            headers={"Origin": base}, allow_redirects=False) as resp:
        return resp.status


def _client_from(addr: str) -> aiohttp.ClientSession:
    """A browser on another loopback address (Linux routes all of 127/8 to lo)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(addr, 0)),
                                 cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_sixty_parallel_guesses_cannot_outrun_the_lock(dashboard):
    d = await dashboard(login_max_failures=5, login_lockout_s=60)
    token = await d.csrf("/login")
    attempts = [("sam", f"guess-{i}") for i in range(59)] + [("sam", sample_plant.PASSWORD["sam"])]
    statuses = await asyncio.gather(*(
        d.client.post("/login", data={"csrf": token, "name": n, "password": p, "next": "/"},
                      headers={"Origin": d.origin}, allow_redirects=False)
        for n, p in attempts))
    codes = [r.status for r in statuses]
    assert codes.count(401) == 5 and codes.count(429) == 55, codes
    assert codes[-1] == 429  # the right password came too late: the name was locked
    assert (await d.client.get("/", allow_redirects=False)).status == 303  # not logged in


async def test_a_locked_name_still_logs_in_from_a_clean_address_after_a_delay(dashboard):
    d = await dashboard(login_max_failures=3, login_lockout_s=60, login_locked_name_delay_s=0.5)
    for _ in range(3):  # someone at 127.0.0.1 locks "sam" (and their own address)
        assert (await d.login("sam", "guess")).status == 401
    assert (await d.login("sam")).status == 429
    assert (await d.login("vic")).status == 429  # the guessing address is locked for all names
    async with _client_from("127.0.0.2") as other, _client_from("127.0.0.3") as third:
        base = d.origin
        # The real sam, at another terminal: slowed down, not shut out.
        started = time.monotonic()
        assert await _post_login(other, base, await _form(other, base), "sam",
                                 sample_plant.PASSWORD["sam"]) == 303
        assert time.monotonic() - started >= 0.5
        async with other.get(base + "/", allow_redirects=False) as page:
            assert page.status == 200
        # A second guesser gets one slowed try, then its address is no longer clean.
        token = await _form(third, base)
        assert await _post_login(third, base, token, "sam", "guess") == 401
        assert await _post_login(third, base, token, "sam", sample_plant.PASSWORD["sam"]) == 429
        assert await _post_login(third, base, token, "vic", sample_plant.PASSWORD["vic"]) == 303


async def test_parallel_guesses_from_a_clean_address_get_one_slowed_try(dashboard):
    d = await dashboard(login_max_failures=2, login_lockout_s=60, login_locked_name_delay_s=0.3)
    for _ in range(2):
        assert (await d.login("sam", "guess")).status == 401
    async with _client_from("127.0.0.4") as other:
        token = await _form(other, d.origin)
        codes = await asyncio.gather(*(_post_login(other, d.origin, token, "sam", p)
                                       for p in ["g1", "g2", "g3", sample_plant.PASSWORD["sam"]]))
    assert sorted(codes) == [401, 429, 429, 429], codes
