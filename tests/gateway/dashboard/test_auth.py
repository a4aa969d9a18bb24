"""Login required, bad passwords, sessions, throttling — against the real app."""

from __future__ import annotations

import logging

import pytest

from gateway.dashboard.auth import COOKIE, LoginThrottle, SessionStore
from gateway.dashboard.views.login import safe_next

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
    assert "login failed: name='sam'" in caplog.text


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
    s = store.new("sam", "supervisor")
    now[0] += 50
    assert store.get(s.sid) is s  # used: expiry slides to +60 from here
    now[0] += 59
    assert store.alive(s)
    now[0] += 2
    assert store.get(s.sid) is None and not store.alive(s)
    assert store.get("forged") is None


def test_session_store_is_bounded_and_evicts_anonymous_first():
    store = SessionStore(ttl_s=60, max_sessions=3)
    user = store.new("sam", "supervisor")
    anons = [store.new() for _ in range(4)]
    assert store.get(user.sid) is user
    assert store.get(anons[-1].sid) is anons[-1]
    assert sum(store.get(a.sid) is not None for a in anons) <= 2


def test_throttle_locks_name_and_address_and_a_success_forgives_only_the_name():
    now = [0.0]
    t = LoginThrottle(max_failures=2, window_s=10, lockout_s=30, clock=lambda: now[0])
    keys = t.keys("Sam", "10.0.0.9")
    t.failed(keys)
    now[0] += 11  # outside the window: the first failure no longer counts
    t.failed(keys)
    assert t.locked_for(keys) == 0
    t.failed(keys)
    assert t.locked_for(keys) == 30
    assert t.locked_for(t.keys("other", "10.0.0.9")) == 30  # the address is locked too
    now[0] += 31
    assert t.locked_for(keys) == 0
    t.failed(keys)
    t.succeeded(keys)  # the right password for "sam" from this address ...
    t.failed(t.keys("eve", "10.0.0.9"))  # ... does not reset the address's count
    assert t.locked_for(t.keys("eve", "10.0.0.9")) == 30
    assert t.locked_for(t.keys("sam", "10.0.0.8")) == 0


def test_throttle_forgets_stale_keys_when_sprayed():
    now = [0.0]
    t = LoginThrottle(max_failures=5, window_s=10, lockout_s=30, clock=lambda: now[0])
    t.MAX_KEYS = 100
    for i in range(150):
        t.failed(t.keys(f"user{i}", "10.0.0.1"))
    now[0] += 11
    t.failed(t.keys("late", "10.0.0.2"))
    assert len(t._failures) <= 3
