"""`gateway run` with `[dashboard] tls_cert`/`tls_key`: the dashboard answers over https
with HSTS, /metrics wants the bearer token from the environment, and a token variable
that is not set stops the start in one sentence."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

from simulators.certs import make_tls
from simulators.ports import free_port
from tests.e2e.procs import reaped
from tests.gateway.plant import GATEWAY_TOML, ROOT, gateway, write_plant
from gateway.users import UserStore


def _plant(tmp_path, port: int):
    make_tls(tmp_path / "tls")
    cfg = write_plant(tmp_path, GATEWAY_TOML + f"""
[dashboard]
listen = "127.0.0.1:{port}"
users_file = "users.toml"
tls_cert = "tls/server.pem"
tls_key = "tls/server.key.pem"
metrics_token_env = "GW_TEST_METRICS_TOKEN"
""")
    UserStore(tmp_path / "users.toml").add("maria", "supervisor", "a-long-password")
    return cfg


def _get(url: str, ctx: ssl.SSLContext, **headers):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    context=ctx, timeout=5) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


def test_run_serves_https_with_hsts_and_a_token_for_metrics(tmp_path):
    port = free_port()
    cfg = _plant(tmp_path, port)
    env = {**os.environ, "GW_TEST_METRICS_TOKEN": "scrape-token-42"}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(cfg)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(proc):
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines[-1].strip() == f"dashboard: https://127.0.0.1:{port}/", lines
        ctx = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
        status, headers, _ = _get(f"https://localhost:{port}/login", ctx)
        assert status == 200 and headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "Secure" in headers["Set-Cookie"]
        assert _get(f"https://localhost:{port}/metrics", ctx)[0] == 401
        status, _, text = _get(f"https://localhost:{port}/metrics", ctx,
                               Authorization="Bearer scrape-token-42")
        assert status == 200 and "gateway_outbox_depth" in text
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_run_without_the_metrics_token_in_the_environment_exits_2(tmp_path):
    cfg = _plant(tmp_path, free_port())
    env = {k: v for k, v in os.environ.items() if k != "GW_TEST_METRICS_TOKEN"}
    proc = gateway("run", "-c", str(cfg), env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "gateway run: [dashboard] metrics_token_env names GW_TEST_METRICS_TOKEN, which is not "
        "set (or empty) in the environment"]
