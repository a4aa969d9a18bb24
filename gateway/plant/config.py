"""`plant.toml`: the consolidator's own small config, every problem listed at once.

    [plant]
    id = "plant1"
    currency = "EUR"
    currency_decimals = 2
    gateways = ["line1", "line2", "line3"]   # batches from any other gateway are quarantined

    [nats]
    servers = ["nats://127.0.0.1:4222"]      # nats:// or tls://
    stream = "GL"                            # must exist (the gateways' sink creates or checks it)
    subject = "gl.plant1.*"                  # the consumer's filter (within the stream's subjects)
    durable = "plant1-consolidator"          # shared by every consolidator of this plant
    # user_env / password_env, or creds_file; ca_file for a private CA on tls://

    [postgres]
    dsn_env = "PLANT_DSN"                    # the DSN itself never sits in the file

    [http]                                   # optional: the plant page and /metrics
    host = "127.0.0.1"                       # loopback only (they have no login)
    port = 9300

Secrets come from environment variables only; a key that looks like one is refused.
"""

from __future__ import annotations

import os
import pathlib
from typing import Annotated

import msgspec

from gateway.addresses import is_loopback_host
from gateway.config import (ConfigError, Name, Positive, PositiveInt, read_toml,
                            structural_problems)

__all__ = ["ConfigError", "HttpSection", "NatsSection", "PlantConfig", "PlantSection", "PostgresSection",
           "load_plant_config"]

EnvName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ServerUrl = Annotated[str, msgspec.Meta(pattern=r"^(nats|tls)://[^\s/]+$")]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class PlantSection(_Section):
    id: Name
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    gateways: Annotated[list[Name], msgspec.Meta(min_length=1)]
    currency_decimals: Annotated[int, msgspec.Meta(ge=0, le=6)] = 2


class NatsSection(_Section):
    servers: Annotated[list[ServerUrl], msgspec.Meta(min_length=1)]
    stream: Name
    subject: Name
    durable: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$")]
    user_env: EnvName | None = None
    password_env: EnvName | None = None
    creds_file: str | None = None
    ca_file: str | None = None
    ack_wait_s: Positive = 30.0
    fetch_batch: PositiveInt = 100
    # A fetch returns when fetch_batch messages are in or this long after the first one
    # came: under a light load it is the floor of the lag, under a heavy one fetches fill.
    fetch_wait_s: Positive = 0.1
    # A batch ahead of its gateway's sequence waits (redelivered every gap_retry_s) this
    # long for the missing one, which may be in another consolidator's hands or on its
    # way back after that one died (ack_wait_s); then it is quarantined as a gap.
    gap_wait_s: Positive = 90.0
    gap_retry_s: Positive = 0.5
    connect_timeout_s: Positive = 5.0


class PostgresSection(_Section):
    dsn_env: EnvName


class HttpSection(_Section):
    # The plant page and /metrics have no login: loopback only (checked below).
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)]
    host: str = "127.0.0.1"


class PlantConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    plant: PlantSection
    nats: NatsSection
    postgres: PostgresSection
    http: HttpSection | None = None
    file: str = ""

    def dsn(self) -> str:
        """The PostgreSQL DSN from the environment; ConfigError naming the variable when unset."""
        value = os.environ.get(self.postgres.dsn_env, "")
        if not value.strip():
            raise ConfigError([f"{self.file}: postgres.dsn_env: environment variable "
                               f"{self.postgres.dsn_env} is not set (it holds the PostgreSQL DSN)"])
        return value

    def nats_credentials(self) -> dict:
        """nats-py connect options for the credentials, read from the environment now."""
        n = self.nats
        out: dict = {}
        if n.creds_file:
            out["user_credentials"] = n.creds_file
        if n.user_env:
            out["user"] = os.environ[n.user_env]
            out["password"] = os.environ[n.password_env]
        return out


def load_plant_config(path: str | pathlib.Path, *, reach_nats: bool = True) -> PlantConfig:
    """Read and validate plant.toml; raise ConfigError listing every problem.

    `reach_nats=False` is for the commands that only read the plant ledger: the NATS
    credentials they never use (environment variables, files) are not asked for."""
    path = pathlib.Path(path)
    label = str(path)
    doc, problems = read_toml(path)
    if doc is None:
        raise ConfigError(problems)
    found = structural_problems(doc, PlantConfig)
    if "file" in doc:
        found.append(("file", "not a key of plant.toml"))
    base = path.resolve().parent
    if not found:
        found.extend(_semantic_problems(doc, base, reach_nats))
    if found:
        raise ConfigError([f"{label}: {p}: {reason}" if p else f"{label}: {reason}"
                           for p, reason in found])
    try:
        cfg = msgspec.convert({**doc, "file": str(path.resolve())}, PlantConfig)
    except msgspec.ValidationError as exc:  # a case the walk missed: never accept silently
        raise ConfigError([f"{label}: {exc}"]) from None
    n = cfg.nats
    paths = {k: str((base / getattr(n, k)).resolve()) for k in ("creds_file", "ca_file")
             if getattr(n, k)}
    return msgspec.structs.replace(cfg, nats=msgspec.structs.replace(n, **paths)) if paths else cfg


def _semantic_problems(doc: dict, base: pathlib.Path, reach_nats: bool) -> list[tuple[str, str]]:
    """The rules that span keys or look outside the file."""
    out: list[tuple[str, str]] = []
    gateways = doc["plant"]["gateways"]
    repeated = sorted({g for g in gateways if gateways.count(g) > 1})
    if repeated:
        out.append(("plant.gateways", f"listed more than once: {', '.join(repeated)}"))
    n = doc["nats"]
    if bool(n.get("user_env")) != bool(n.get("password_env")):
        out.append(("nats.user_env", "user_env and password_env go together"))
    if n.get("user_env") and n.get("creds_file"):
        out.append(("nats.creds_file", "either creds_file or user_env/password_env, not both"))
    for key in ("user_env", "password_env"):
        var = n.get(key)
        if var and var not in os.environ and reach_nats:
            out.append((f"nats.{key}", f"environment variable {var} is not set"))
    for key in ("creds_file", "ca_file"):
        if n.get(key) and not (base / n[key]).is_file() and reach_nats:
            out.append((f"nats.{key}", f"file not found: {n[key]}"))
    if n.get("ca_file") and not all(s.startswith("tls://") for s in n["servers"]):
        out.append(("nats.ca_file", "set, but not every server is tls://"))
    if n.get("gap_wait_s", 90.0) <= n.get("ack_wait_s", 30.0):
        out.append(("nats.gap_wait_s", f"must be longer than ack_wait_s ({n.get('ack_wait_s', 30.0)}): "
                    "a batch in a dead consolidator's hands comes back only after ack_wait_s"))
    host = (doc.get("http") or {}).get("host", "127.0.0.1")
    if doc.get("http") is not None and not is_loopback_host(host):
        out.append(("http.host", f"{host!r} is not a loopback address: the plant page and "
                    "/metrics have no login, reach them through an SSH tunnel or a proxy"))
    return out
