"""`gateway check --online`: every configured endpoint tried once, with the drivers' own
connect code and short timeouts, each answered by OK or the cause in a sentence.

Targets: each OPC-UA PLC and serial port (its driver started against a probe sink and
stopped at the first "connected" or the first failure), the MQTT broker of `[mqtt]` once
(connect and CONNACK only: no subscription, under a client id of its own, so a running
gateway keeps its session and nothing queues for the probe), and the upstream sink
(NATS: connect and stream check; MQTT: connect; HTTP: one GET, since the sink only
POSTs batches; file: the folder is writable). Nothing is journaled and nothing is sent.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
from dataclasses import dataclass
from typing import Any

from drivers.urls import redact_url

TIMEOUT_S = 4.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """One target: what was tried, and OK with what was learnt, or the cause."""

    target: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.target}: {'OK' if self.ok else 'FAILED'}: {self.detail}"


# (pattern in the error text, the sentence); the first match wins, so the specific
# ones (a plain port under TLS also says "SSL") come before the general ones
_CAUSES = (
    (r"WRONG_VERSION_NUMBER|record layer failure|packet length too long|http request|"
     r"TLS handshake failed: not a TLS port",
     "not a TLS port: the server answered in plain text (use the plain scheme, or the "
     "TLS listener's port)"),
    (r"CERTIFICATE_VERIFY_FAILED|certificate verify failed",
     "certificate verify failed: the server's certificate is not signed by the CA given "
     "(ca_file), or is for another host name"),
    (r"refused the credentials|not authori[sz]ed|Bad user name or password|"
     r"BadUserAccessDenied|BadIdentityToken|Authorization Violation|HTTP 40[13]",
     "not authorised: the login was refused (check the user and password environment "
     "variables, or the token)"),
    (r"pinned|offers no .* endpoint|BadSecurity|BadCertificate|signature",
     None),  # the driver's own sentence says it best
    (r"No such file or directory|could not open port|FileNotFoundError",
     "no such port: nothing at that path (unplugged, or another name under /dev)"),
    (r"Permission denied|Errno 13",
     "permission denied: the gateway's user may not open it (add it to the dialout group)"),
    (r"Could not exclusively lock|Resource temporarily unavailable|busy",
     "in use by another process (a running gateway?)"),
    (r"Connection refused|Connect call failed|Errno 111|ConnectionRefusedError",
     "connection refused: nothing listens on that port"),
    (r"Name or service not known|nodename nor servname|getaddrinfo|Temporary failure in "
     r"name resolution|gaierror",
     "host name not found (DNS)"),
    (r"No route to host|Network is unreachable",
     "no route to the host (network or firewall)"),
    (r"Timeout|timed out|TimeoutError",
     "no answer in time (a firewall dropping packets, or the wrong host)"),
)


# under TLS, a server that hangs up on the handshake is most often a plain port (Mosquitto
# reads the ClientHello as a bad MQTT packet and resets the connection)
_TLS_CAUSES = ((r"Connection reset by peer|UNEXPECTED_EOF|EOF occurred in violation",
                "not a TLS port: the server hung up on the TLS handshake (use the plain "
                "scheme, or the TLS listener's port)"),)


def cause(text: str, tls: bool = False) -> str:
    """The operator's sentence for a failure text (the original kept after a dash)."""
    for pattern, sentence in (_TLS_CAUSES if tls else ()) + _CAUSES:
        if re.search(pattern, text, re.IGNORECASE):
            return text if sentence is None else f"{sentence} — {text}"
    return text


class _Probe:
    """A driver sink that remembers the first connection or failure, and drops readings."""

    def __init__(self) -> None:
        self.done = asyncio.get_running_loop().create_future()
        self.decode: list[str] = []  # e.g. a counter node the PLC does not have

    async def reading(self, reading) -> None:
        return None

    async def reading_batch(self, readings) -> None:
        return None

    async def problem(self, device: str, error) -> None:
        from drivers.base import DecodeError

        if isinstance(error, DecodeError):
            self.decode.append(str(error))
        elif not self.done.done():
            self.done.set_result(error)

    def connection(self, device: str, state: str) -> None:
        if state == "connected" and not self.done.done():
            self.done.set_result(None)


async def _started(driver: Any, timeout: float) -> tuple[bool, str]:
    probe = _Probe()
    await driver.start(probe)
    try:
        error = await asyncio.wait_for(probe.done, timeout)
    except asyncio.TimeoutError:
        error = TimeoutError(f"no connection within {timeout:g} s")
    finally:
        await driver.stop()
    if error is not None:
        return False, cause(str(error) or type(error).__name__)
    if probe.decode:
        return False, f"connected, but {'; '.join(probe.decode)}"
    return True, "connected"


async def _mqtt(driver: Any, timeout: float) -> tuple[bool, str]:
    """Connect and CONNACK with the driver's own code, MQTT 5 first where it may fall back."""
    from drivers.base import TransportError

    driver.client_id = f"{driver.client_id}-check"  # never takes over the gateway's session
    driver.session_expiry = 1                         # and leaves none behind (MQTT 5)
    driver.timeout = timeout
    fallback = driver.protocol == 5 and getattr(driver, "_fallback", False)
    try:
        try:
            await driver._connect()
        except TransportError as exc:
            if not (fallback and "Unsupported protocol" in str(exc)):
                raise
            await driver._lost()
            driver.protocol = 3
            await driver._connect()
    except Exception as exc:  # noqa: BLE001 - every failure is the answer we report
        return False, cause(str(driver._translate(exc)), tls=driver.tls)
    finally:
        await driver._lost()
    if driver.protocol == 3:
        from drivers.mqtt import MQTT_311_LIMITS

        return True, f"MQTT 3.1.1 ({MQTT_311_LIMITS})" if fallback else "MQTT 3.1.1 (protocol = 3)"
    return True, (f"MQTT 5: up to {driver.receive_maximum} messages in flight to the gateway, "
                  "the rest queued by the broker")


async def _upstream(config: Any, timeout: float) -> tuple[bool, str]:
    from gateway.upstream.forwarder import sink_from_config

    up = config.upstream
    if up.sink == "file":
        folder = pathlib.Path(up.path).resolve().parent
        if not folder.is_dir():
            return False, f"no such folder {folder}"
        if not os.access(folder, os.W_OK):
            return False, f"permission denied: cannot write in {folder}"
        return True, f"{folder} is writable"
    if up.sink == "http":
        return await _http(up.url, up.token_env and os.environ.get(up.token_env), timeout)
    sink = sink_from_config(config)
    sink.timeout = timeout
    try:
        if up.sink == "nats":
            await sink._connect()  # connect, log in, and the stream takes our subject
            return True, f"stream {up.stream} takes subject {sink.subject}"
        sink._client = await sink._connect()  # the sink's MQTT connection, closed below
        return True, "connected"
    except Exception as exc:  # noqa: BLE001
        tls = up.sink == "nats" and any(s.startswith("tls://") for s in up.nats_servers()) \
            or config.mqtt is not None and config.mqtt.url.startswith("mqtts:")
        return False, cause(f"{type(exc).__name__}: {exc}", tls=tls)
    finally:
        await sink.close()


async def _http(url: str, token: str | None, timeout: float) -> tuple[bool, str]:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.get(url, headers=headers, allow_redirects=False) as resp:
                status = resp.status
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        return False, cause(f"{type(exc).__name__}: {str(exc).replace(url, redact_url(url))}",
                            tls=url.startswith("https:"))
    if status in (401, 403):
        return False, cause(f"HTTP {status} to a GET")
    if status >= 500:
        return False, f"the server answers HTTP {status} (it is up but failing)"
    return True, f"reachable (HTTP {status} to a GET; batches are POSTed)"


def _name(driver: Any, config: Any) -> str:
    dev = next((d for d in config.devices if d.id == driver.id), None)
    if dev is None:
        return f"mqtt {redact_url(config.mqtt.url)}"
    from gateway.banner import endpoint

    return f"device {dev.id} ({dev.driver} {endpoint(dev, config)})"


async def check_online(config: Any, timeout: float = TIMEOUT_S) -> list[Outcome]:
    """Try every endpoint once, all at the same time; one Outcome each, in config order."""
    from drivers.mqtt import MqttDevices
    from gateway.devices import build_drivers

    drivers = build_drivers(config, {})  # ConfigError: a secret's variable is not set
    jobs: list[tuple[str, Any]] = []
    broker_done = False
    for driver in drivers:
        if isinstance(driver, MqttDevices):
            if not broker_done:  # one [mqtt] connection: every mqtt device shares it
                broker_done = True
                jobs.append((f"mqtt broker {driver.url}", _mqtt(driver, timeout)))
            continue
        jobs.append((_name(driver, config), _started(driver, timeout)))
    if config.upstream is not None:
        jobs.append((f"upstream {_upstream_name(config)}", _upstream(config, timeout)))
    results = await asyncio.gather(*(job for _, job in jobs))
    return [Outcome(name, ok, detail) for (name, _), (ok, detail) in zip(jobs, results)]


def _upstream_name(config: Any) -> str:
    from gateway.banner import upstream

    up = config.upstream
    if up.sink == "nats":
        return f"nats {','.join(redact_url(s) for s in up.nats_servers())}"
    return upstream(config)
