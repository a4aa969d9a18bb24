"""CSRF, Origin and roles on every POST; supervisor actions reach the act seam exactly
as documented, and only after every check passed."""

from __future__ import annotations

import sqlite3

from . import sample_plant


async def supervisor(dashboard, **settings):
    d = await dashboard(**settings)
    assert (await d.login("sam")).status == 303
    return d, await d.csrf("/exceptions")


def exception_status(db_path, exc_id: int) -> tuple:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT status, resolution, resolved_by FROM exceptions WHERE id=?",
                            (exc_id,)).fetchone()
    finally:
        conn.close()


async def test_post_without_csrf_token_is_refused(dashboard, act):
    d, _ = await supervisor(dashboard)
    resp = await d.post("/exceptions/3/dismiss", {"reason": "noise"})
    assert resp.status == 403 and "missing CSRF token" in await resp.text()
    assert act.calls == []


async def test_post_with_wrong_csrf_token_is_refused(dashboard, act):
    d, token = await supervisor(dashboard)
    resp = await d.post("/exceptions/3/dismiss", {"reason": "noise"}, token=token[:-2] + "xx")
    assert resp.status == 403 and "wrong CSRF token" in await resp.text()
    assert act.calls == []


async def test_post_from_another_origin_or_none_is_refused(dashboard, act):
    d, token = await supervisor(dashboard)
    foreign = await d.client.post("/exceptions/3/dismiss",
                                  data={"csrf": token, "reason": "noise"},
                                  headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert foreign.status == 403 and "evil.example" in await foreign.text()
    none = await d.post("/exceptions/3/dismiss", {"reason": "noise"}, token=token, origin=False)
    assert none.status == 403 and "without an Origin" in await none.text()
    # A same-origin Referer stands in for a missing Origin (older browsers).
    referer = await d.client.post("/exceptions/3/dismiss", data={"csrf": token, "reason": "ok"},
                                  headers={"Referer": d.origin + "/exceptions"},
                                  allow_redirects=False)
    assert referer.status == 303
    assert [a for a, _ in act.calls] == ["dismiss"]


async def test_login_form_itself_needs_the_csrf_token(dashboard):
    d = await dashboard()
    await d.client.get("/login")
    resp = await d.post("/login", {"name": "sam", "password": "supervisor-pass-1"})
    assert resp.status == 403
    html = await resp.text()
    assert "The login form had expired" in html
    assert (await d.client.get("/", allow_redirects=False)).status == 303  # not logged in
    # The refusal hands out a fresh form, and that one works.
    token = sample_plant.CSRF_RE.search(html).group(1)
    ok = await d.post("/login", {"name": "sam", "password": "supervisor-pass-1"}, token=token)
    assert ok.status == 303 and ok.headers["Location"] == "/"


async def test_viewer_is_refused_every_action(dashboard, act, db_path):
    d = await dashboard()
    assert (await d.login("vic")).status == 303
    token = await d.csrf("/exceptions")
    page = await (await d.client.get("/exceptions")).text()
    assert "only supervisors and controllers can resolve" in page and "/dismiss" not in page
    for path, form in [("/exceptions/3/dismiss", {"reason": "noise"}),
                       ("/exceptions/1/assign", {"work_order": "WO-1"}),
                       ("/exceptions/2/confirm-po", {"po": "PO-7"}),
                       ("/ledger/batches/2/retry", {}),
                       ("/reconcile", {"erp": "sku,category,qty\n"})]:
        resp = await d.post(path, form, token=token)
        assert resp.status == 403, path
        assert "vic is a viewer" in await resp.text()
    assert act.calls == []
    assert exception_status(db_path, 3)[0] == "open"


async def test_supervisor_dismiss_calls_the_seam_and_the_page_shows_it(dashboard, act, db_path):
    d, token = await supervisor(dashboard)
    resp = await d.post("/exceptions/3/dismiss", {"reason": "scale cable reseated"}, token=token)
    assert resp.status == 303 and resp.headers["Location"] == "/exceptions"
    assert act.calls == [("dismiss", {"user": "sam", "exception_id": 3,
                                      "reason": "scale cable reseated"})]
    assert exception_status(db_path, 3) == ("dismissed", "scale cable reseated", "sam")
    page = await (await d.client.get("/exceptions")).text()
    assert "dismiss done" in page  # the seam's message, flashed once
    assert 'id="exc-3"' not in page  # no longer open
    done = await (await d.client.get("/exceptions?status=dismissed")).text()
    assert "Dismissed by sam" in done and "scale cable reseated" in done


async def test_assign_count_and_confirm_po(dashboard, act):
    d, token = await supervisor(dashboard)
    assert (await d.post("/exceptions/1/assign", {"work_order": "WO-1"}, token=token)).status == 303
    assert (await d.post("/exceptions/2/confirm-po", {"po": "PO-4711"}, token=token)).status == 303
    assert act.calls == [("assign_count", {"user": "sam", "exception_id": 1, "work_order": "WO-1"}),
                         ("confirm_po", {"user": "sam", "exception_id": 2, "po": "PO-4711"})]


async def test_bad_action_input_is_named_and_never_reaches_the_seam(dashboard, act):
    d, token = await supervisor(dashboard)
    cases = [("/exceptions/1/assign", {"work_order": "WO-0"}, "work_order: 'WO-0' is not an open work order"),
             ("/exceptions/1/assign", {"work_order": "WO-404"}, "work_order: 'WO-404' is not an open work order"),
             ("/exceptions/3/assign", {"work_order": "WO-1"}, "is a 'decode_error', not a 'unassigned_count'"),
             ("/exceptions/2/confirm-po", {"po": ""}, "po: '' must be 1 to 64 characters"),
             ("/exceptions/3/dismiss", {"reason": "   "}, "reason: '' must be 1 to 500 characters"),
             ("/exceptions/99/dismiss", {"reason": "x"}, "no exception #99"),
             ("/ledger/batches/1/retry", {}, "plant1-line1-1 is acked, not quarantined")]
    for path, form, message in cases:
        resp = await d.post(path, form, token=token)
        assert resp.status == 303, path
        page = await (await d.client.get(resp.headers["Location"])).text()
        assert message.replace("'", "&#39;") in page, (path, message)
    assert act.calls == []


async def test_refusal_from_the_gateway_is_shown_and_changes_nothing(dashboard, act, db_path):
    act.refuse_with = "work order WO-1 is closed"
    d, token = await supervisor(dashboard)
    resp = await d.post("/exceptions/1/assign", {"work_order": "WO-1"}, token=token)
    page = await (await d.client.get(resp.headers["Location"])).text()
    assert "Not done: work order WO-1 is closed" in page
    assert exception_status(db_path, 1)[0] == "open"


async def test_retry_of_a_quarantined_batch_goes_through_the_seam(dashboard, act):
    d, token = await supervisor(dashboard)
    page = await (await d.client.get("/ledger")).text()
    assert 'action="/ledger/batches/2/retry"' in page
    resp = await d.post("/ledger/batches/2/retry", {}, token=token)
    assert resp.status == 303 and resp.headers["Location"] == "/ledger"
    assert act.calls == [("retry_batch", {"user": "sam", "batch_seq": 2})]


async def test_actions_answer_503_when_the_seam_is_not_wired(dashboard):
    d, token = await supervisor(dashboard)
    d.state.act = None
    resp = await d.post("/exceptions/3/dismiss", {"reason": "noise"}, token=token)
    assert resp.status == 503


async def test_supervisor_dismisses_the_selected_exceptions_at_once(dashboard, act, db_path):
    d, token = await supervisor(dashboard)
    page = await (await d.client.get("/exceptions")).text()
    assert 'form="bulk-dismiss"' in page and 'action="/exceptions/dismiss"' in page
    form = [("csrf", token), ("id", "2"), ("id", "3"), ("reason", "cable fixed")]
    resp = await d.client.post("/exceptions/dismiss", data=form,
                               headers={"Origin": d.origin}, allow_redirects=False)
    assert resp.status == 303
    assert act.calls == [("dismiss_many", {"user": "sam", "exception_ids": [2, 3],
                                           "reason": "cable fixed"})]
    assert exception_status(db_path, 2) == ("dismissed", "cable fixed", "sam")
    assert exception_status(db_path, 3) == ("dismissed", "cable fixed", "sam")
    none = await d.client.post("/exceptions/dismiss", data=[("csrf", token), ("reason", "x")],
                               headers={"Origin": d.origin}, allow_redirects=False)
    assert none.status == 303 and len(act.calls) == 1  # nothing selected: refused


def _held_invoices(db_path) -> tuple[int, int]:
    """A price mismatch and a quantity mismatch, as the journal holds them."""
    conn = sqlite3.connect(db_path)
    with conn:
        ids = []
        for field, reason in (("unit_price", "price 2.20 is 4.76 % over PO-1's 2.10"
                                             " (tolerance 2 %)"),
                              ("qty", "qty 6 > 4 received and not invoiced on PO-1 A")):
            draft = {"id": f"i-{field}", "type": "supplier_invoice", "invoice": "INV-7"}
            ids.append(conn.execute(
                "INSERT INTO exceptions(created_at, kind, source, event_id, field, reason, raw)"
                " VALUES ('2026-11-22T03:12:00Z', 'invoice_mismatch', 'erp', ?, ?, ?, ?)",
                (draft["id"], field, reason,
                 f'{{"reason": "{reason}", "draft": {{"id": "{draft["id"]}"}}}}')).lastrowid)
    conn.close()
    return ids[0], ids[1]


async def test_a_held_invoice_price_is_approved_on_the_page_by_a_controller_and_audited(
        dashboard, act, db_path):
    price, qty = _held_invoices(db_path)
    d = await dashboard()
    assert (await d.login("carla")).status == 303
    token = await d.csrf("/exceptions")
    page = await (await d.client.get("/exceptions")).text()
    assert f'action="/exceptions/{price}/approve"' in page
    assert f'action="/exceptions/{qty}/approve"' not in page  # a quantity is never approved
    assert f'action="/exceptions/{qty}/dismiss"' in page
    resp = await d.post(f"/exceptions/{price}/approve", {}, token=token)
    assert resp.status == 303
    assert act.calls == [("approve_invoice", {"user": "carla", "exception_id": price})]
    assert exception_status(db_path, price) == ("resolved", "-> approved", "carla")
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT actor, action, target FROM audit WHERE action="
                            "'approve_invoice'").fetchall() == \
            [("carla", "approve_invoice", f"exception {price}")]
    finally:
        conn.close()
    # not an invoice line: named, never reaching the seam
    resp = await d.post("/exceptions/3/approve", {}, token=token)
    page = await (await d.client.get(resp.headers["Location"])).text()
    assert "is a &#39;decode_error&#39;, not a &#39;invoice_mismatch&#39;" in page
    assert len(act.calls) == 1


async def test_a_supervisor_keeps_the_shop_floor_actions_but_cannot_approve_a_price(
        dashboard, act, db_path):
    price, _ = _held_invoices(db_path)
    d, token = await supervisor(dashboard)
    page = await (await d.client.get("/exceptions")).text()
    assert f'action="/exceptions/{price}/approve"' not in page
    assert "A controller approves an invoice price." in page
    assert f'action="/exceptions/{price}/dismiss"' in page  # dismissing stays theirs
    resp = await d.post(f"/exceptions/{price}/approve", {}, token=token)
    assert resp.status == 403
    assert "sam is a supervisor; only controllers may approve an invoice price" in await resp.text()
    assert act.calls == [] and exception_status(db_path, price)[0] == "open"
    conn = sqlite3.connect(db_path)
    try:
        [(detail,)] = conn.execute("SELECT detail FROM audit WHERE action='approve_invoice'")
        assert detail.startswith("refused: sam is a supervisor")
    finally:
        conn.close()


async def test_a_viewer_cannot_approve_a_held_invoice(dashboard, act, db_path):
    price, _ = _held_invoices(db_path)
    d = await dashboard()
    assert (await d.login("vic")).status == 303
    token = await d.csrf("/exceptions")
    assert "/approve" not in await (await d.client.get("/exceptions")).text()
    resp = await d.post(f"/exceptions/{price}/approve", {}, token=token)
    assert resp.status == 403 and "vic is a viewer" in await resp.text()
    assert act.calls == [] and exception_status(db_path, price)[0] == "open"
