"""Users file and `gateway user`; money and quantity formatting for people."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.cli import main
from gateway.dashboard import fmt
from gateway.users import UserError, UserStore, hash_password, needs_rehash, verify_password


def test_hashes_are_salted_per_user_and_verify_in_constant_form(tmp_path):
    a, b = hash_password("same secret"), hash_password("same secret")
    assert a != b and a.startswith("scrypt$65536$8$2$")
    assert verify_password("same secret", a) and not verify_password("Same secret", a)
    with pytest.raises(UserError, match="password: must not be empty"):
        hash_password("")


def test_store_round_trip_permissions_and_no_plaintext(tmp_path):
    path = tmp_path / "users.toml"
    store = UserStore(path)
    store.add("maria", "supervisor", "pa55word-maria")
    store.add("olaf", "viewer", "pa55word-olaf")
    text = path.read_text()
    assert "pa55word" not in text and 'role = "supervisor"' in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = UserStore(path)
    assert [(u.name, u.role) for u in again.list()] == [("maria", "supervisor"), ("olaf", "viewer")]
    assert again.verify("maria", "pa55word-maria").role == "supervisor"
    assert again.verify("maria", "pa55word-olaf") is None
    assert again.verify("nobody", "pa55word-maria") is None
    with pytest.raises(UserError, match="name: 'maria' already exists"):
        again.add("maria", "viewer", "whatever-123")
    again.remove("olaf")
    assert [u.name for u in UserStore(path).list()] == ["maria"]


def _old_hash(password: str, n: int = 2**14) -> str:
    """A hash as an older gateway wrote it (scrypt n=2^14 r=8 p=1)."""
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    return f"scrypt${n}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def test_an_older_hash_still_verifies_and_is_rewritten_at_todays_cost(tmp_path):
    path = tmp_path / "users.toml"
    old = _old_hash("old-secret-1")
    path.write_text(f'[[users]]\nname = "ann"\nrole = "viewer"\nhash = "{old}"\n')
    store = UserStore(path)
    assert needs_rehash(old) and store.verify("ann", "wrong-secret") is None
    assert UserStore(path).get("ann").hash == old  # a failure rewrites nothing
    user = store.verify("ann", "old-secret-1")
    assert user.hash.startswith("scrypt$65536$8$2$") and not needs_rehash(user.hash)
    again = UserStore(path)
    assert again.get("ann") == user and again.verify("ann", "old-secret-1") == user
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_hash_asking_for_too_much_memory_is_refused(tmp_path):
    path = tmp_path / "users.toml"
    huge = _old_hash("x", n=2).replace("scrypt$2$", "scrypt$16777216$")
    path.write_text(f'[[users]]\nname = "ann"\nrole = "viewer"\nhash = "{huge}"\n')
    with pytest.raises(UserError, match=r"users\[0\]\.hash: scrypt parameters n=16777216"):
        UserStore(path)


def test_the_file_is_re_read_when_it_changes_and_a_broken_one_admits_nobody(tmp_path, caplog):
    path = tmp_path / "users.toml"
    store = UserStore(path)
    store.add("ann", "supervisor", "ann-secret-1")
    other = UserStore(path)  # e.g. `gateway user` in another process
    other.add("bob", "viewer", "bob-secret-1", replace=True)
    assert store.get("bob") is None and store.refresh() and store.get("bob").role == "viewer"
    assert not store.refresh()  # unchanged: not read again
    path.write_text(path.read_text() + "\n[[users]\n")
    assert store.refresh() and store.list() == []
    assert "nobody may use the dashboard until it is fixed" in caplog.text


@pytest.mark.parametrize("content, message", [
    ('[[users]]\nname = "a b"\nrole = "viewer"\nhash = "x"\n', "users[0].name: 'a b' must be"),
    ('[[users]]\nname = "ann"\nrole = "admin"\nhash = "x"\n', "users[0].role: 'admin' is not one of viewer, supervisor"),
    ('[[users]]\nname = "ann"\nrole = "viewer"\nhash = "md5$abc"\n', "users[0].hash: not a scrypt"),
    ('users = "nope"\n', "users: must be an array of tables"),
    ('[[users]\n', "users.toml: "),
])
def test_bad_users_file_names_the_field_and_value(tmp_path, content, message):
    path = tmp_path / "users.toml"
    path.write_text(content)
    with pytest.raises(UserError) as e:
        UserStore(path)
    assert message in str(e.value)


def test_user_command_add_list_remove_via_gateway_config(tmp_path, monkeypatch, capsys):
    config = tmp_path / "gateway.toml"
    config.write_text('[gateway]\nid = "p1"\n[dashboard]\nusers_file = "etc/users.toml"\n')
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-secret\n"))
    assert main(["user", "add", "maria", "--role", "supervisor", "--password-stdin",
                 "-c", str(config)]) == 0
    users = tmp_path / "etc" / "users.toml"
    assert UserStore(users).verify("maria", "long-enough-secret") is not None
    assert main(["user", "list", "-c", str(config)]) == 0
    assert "maria\tsupervisor" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "olaf", "--role", "viewer", "--password-stdin",
                 "-c", str(users)]) == 1
    assert "password: must be at least 8 characters" in capsys.readouterr().err
    assert main(["user", "remove", "maria", "-c", str(users)]) == 0
    assert main(["user", "remove", "maria", "-c", str(users)]) == 1
    assert "name: no user 'maria'" in capsys.readouterr().err


def test_user_command_prompts_twice_and_refuses_a_mismatch(tmp_path, monkeypatch, capsys):
    answers = iter(["first-password", "other-password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["user", "add", "ann", "--role", "viewer", "-c", str(tmp_path / "u.toml")]) == 1
    assert "the two entries differ" in capsys.readouterr().err
    assert not (tmp_path / "u.toml").exists()


@pytest.mark.parametrize("minor, decimals, text", [
    (0, 2, "0.00"), (5, 2, "0.05"), (-5, 2, "\u22120.05"), (123456789, 2, "1,234,567.89"),
    (-100000, 2, "\u22121,000.00"), (1234, 0, "1,234"), (1234567, 3, "1,234.567")])
def test_money(minor, decimals, text):
    assert fmt.money(minor, decimals) == text


@given(st.integers(min_value=-10**15, max_value=10**15), st.integers(min_value=0, max_value=4))
def test_money_reads_back_to_the_same_minor_units(minor, decimals):
    shown = fmt.money(minor, decimals)
    back = shown.replace("\u2212", "-").replace(",", "").replace(".", "")
    assert int(back) == minor
    assert fmt.money_plain(minor, decimals).replace(".", "").lstrip("-").lstrip("0") == str(abs(minor)).lstrip("0")


def test_quantities_and_ages():
    assert fmt.qty(904.5) == "904.5" and fmt.qty(1200) == "1,200" and fmt.qty(-0.25) == "\u22120.25"
    assert fmt.qty(0.0001) == "0" and fmt.qty(None) == ""
    from datetime import datetime, timezone
    now = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
    assert fmt.age("2026-11-22T03:59:30Z", now) == "30 s ago"
    assert fmt.age("2026-11-22T01:00:00+00:00", now) == "3 h ago"
    assert fmt.age("garbage", now) == "" and fmt.short_ts("garbage") == "garbage"


def test_public_surface_is_what_it_claims():
    import gateway.dashboard as dashboard
    import gateway.metrics as metrics
    import gateway.users as users

    for mod in (dashboard, metrics, users):
        assert all(hasattr(mod, name) for name in mod.__all__), mod.__name__
    assert set(dashboard.ACTIONS) == {"assign_count", "confirm_po", "approve_invoice", "dismiss",
                                      "dismiss_many",
                                      "retry_batch", "ack_alert", "resolve_alert"}


def test_raw_input_shows_control_characters_by_name_and_escapes_the_rest():
    assert str(fmt.visible("\x02A <b>\r\x7f")) == (
        '<span class="ctl">STX</span>A &lt;b&gt;<span class="ctl">CR</span>'
        '<span class="ctl">DEL</span>')
    assert str(fmt.visible(None)) == ""
