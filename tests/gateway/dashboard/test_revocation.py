"""Revocation that works: the users file is followed while the gateway runs, a session
must match its user's current role and password on every request, and no login lives
past its absolute cap — against the real app, with the file changed as `gateway user`
changes it (another process's UserStore)."""

from __future__ import annotations

from gateway.dashboard.auth import SessionStore, follow_users_file
from gateway.users import User, UserStore

from . import sample_plant
from .test_live_and_metrics import next_event


def _cli(d) -> UserStore:
    """The users file as `gateway user` in another process sees it."""
    return UserStore(d.state.users.path)


async def test_a_removed_user_is_logged_out_at_their_next_request(dashboard):
    d = await dashboard()
    assert (await d.login("sam")).status == 303
    assert (await d.client.get("/", allow_redirects=False)).status == 200
    _cli(d).remove("sam")
    assert (await d.client.get("/", allow_redirects=False)).status == 303
    assert (await d.login("sam")).status == 401


async def test_a_demoted_supervisor_loses_actions_at_once(dashboard, act):
    d = await dashboard()
    await d.login("sam")
    token = await d.csrf("/exceptions/3")
    _cli(d).add("sam", "viewer", sample_plant.PASSWORD["sam"], replace=True)
    resp = await d.post("/exceptions/3/dismiss", {"reason": "noise"}, token=token)
    assert resp.status == 401 and act.calls == []  # the session ended with the role
    await d.login("sam")  # logging in again gives the new role, and no actions
    token = await d.csrf("/exceptions/3")
    resp = await d.post("/exceptions/3/dismiss", {"reason": "noise"}, token=token)
    assert resp.status == 403 and act.calls == []


async def test_a_new_password_ends_every_session_of_that_user(dashboard):
    d = await dashboard()
    await d.login("vic")
    _cli(d).add("vic", "viewer", "a-brand-new-secret", replace=True)
    assert (await d.client.get("/", allow_redirects=False)).status == 303
    assert (await d.login("vic", "a-brand-new-secret")).status == 303


async def test_an_open_live_stream_ends_when_its_user_is_removed(dashboard):
    d = await dashboard()
    await d.login("vic")
    resp = await d.client.get("/events")
    assert (await next_event(resp))[0] == "snapshot"
    _cli(d).remove("vic")  # no other request comes: the stream itself notices
    while (await next_event(resp))[0] != "expired":
        pass
    resp.close()


def test_a_busy_session_still_ends_at_its_absolute_cap():
    now = [0.0]
    store = SessionStore(ttl_s=60, max_life_s=300, clock=lambda: now[0])
    s = store.new(User("sam", "supervisor", "h1"))
    for _ in range(9):  # used every 30 s: idle expiry never comes
        now[0] += 30
        assert store.get(s.sid) is s
    now[0] += 30
    assert store.get(s.sid) is None and not store.alive(s)


def test_following_the_file_ends_only_the_sessions_it_changed(tmp_path):
    users = UserStore(tmp_path / "users.toml")
    sam = users.add("sam", "supervisor", "sam-secret-1")
    vic = users.add("vic", "viewer", "vic-secret-1")
    store = SessionStore(ttl_s=60)
    a, b, c, anon = store.new(sam), store.new(sam), store.new(vic), store.new()
    assert follow_users_file(store, users) == []  # nothing changed
    UserStore(users.path).add("sam", "viewer", "sam-secret-1", replace=True)
    assert {s.sid for s in follow_users_file(store, users)} == {a.sid, b.sid}
    assert store.get(c.sid) is c and store.get(anon.sid) is anon
    assert follow_users_file(store, users, force=True) == []  # as on SIGHUP: re-read, same
