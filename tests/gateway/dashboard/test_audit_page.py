"""Every dashboard action lands in the audit log (the real SQLite file), and only
supervisors can read it on /audit."""

from __future__ import annotations

import sqlite3

from gateway.audit import read

from .test_revocation import _cli


def _audit(db_path) -> list[tuple[str, str, str, str, str]]:
    conn = sqlite3.connect(db_path)
    try:
        return [(r["actor"], r["address"], r["action"], r["target"], r["detail"])
                for r in reversed(read(conn))]
    finally:
        conn.close()


async def test_logins_actions_and_logouts_are_audited(dashboard, act, db_path):
    d = await dashboard()
    await d.login("sam", "wrong-password")
    await d.login("Pa55word-in-name", "x")
    await d.login("sam")
    token = await d.csrf("/exceptions/3")
    act.refuse_with = "the gateway said no"
    await d.post("/exceptions/3/dismiss", {"reason": "first"}, token=token)
    act.refuse_with = None
    await d.post("/exceptions/3/dismiss", {"reason": "scale <b>cable</b> reseated"}, token=token)
    await d.post("/logout", {}, token=token)
    rows = _audit(db_path)
    assert [r[2] for r in rows] == ["login_failed", "login_failed", "login", "dismiss",
                                    "dismiss", "logout"]
    assert rows[0][:2] == ("sam", "127.0.0.1")
    assert rows[1][0].startswith("<unknown name, 16 chars, #") and "Pa55word" not in str(rows)
    assert rows[2] == ("sam", "127.0.0.1", "login", "", "supervisor")
    assert rows[3][4] == "refused: the gateway said no; reason=first"
    assert rows[4] == ("sam", "127.0.0.1", "dismiss", "exception 3",
                       "dismiss done; reason=scale <b>cable</b> reseated")
    assert rows[5][:3] == ("sam", "127.0.0.1", "logout")


async def test_only_supervisors_read_the_audit_page_and_it_escapes_what_was_typed(
        dashboard, act):
    d = await dashboard()
    await d.login("vic")
    assert (await d.client.get("/audit")).status == 403
    assert "/audit" not in await (await d.client.get("/")).text()
    await d.post("/logout", {}, token=await d.csrf("/"))
    await d.login("sam")
    token = await d.csrf("/exceptions/3")
    await d.post("/exceptions/3/dismiss", {"reason": "<script>x</script>"}, token=token)
    page = await (await d.client.get("/audit")).text()
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert page.index("dismiss") < page.index(">login<")  # newest first
    mine = await (await d.client.get("/audit", params={"actor": "vic"})).text()
    assert ">logout<" in mine and ">dismiss<" not in mine


async def test_a_session_ended_by_the_users_file_is_audited(dashboard, db_path):
    d = await dashboard()
    await d.login("vic")
    _cli(d).remove("vic")
    await d.client.get("/", allow_redirects=False)
    assert _audit(db_path)[-1] == ("vic", "gateway", "session_ended", "",
                                   "removed or changed in the users file")
