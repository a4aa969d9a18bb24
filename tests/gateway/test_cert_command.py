"""`gateway cert create`: a key only its owner reads, a certificate naming the gateway's
application URI, accepted by a real OPC-UA server in a signed and encrypted session."""

from __future__ import annotations

import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from drivers.opcua import OpcUaCounters
from gateway.commands.cert import application_uri
from simulators.certs import make_opcua_cert
from simulators.plc import APPLICATION_URI, PlcSimulator
from tests.drivers.test_opcua import ASSY, booked, started
from tests.gateway.plant import gateway, write_plant
from tests.support.net import wait_until


def test_create_writes_key_and_certificate_with_the_application_uri(tmp_path):
    cfg = write_plant(tmp_path)
    proc = gateway("cert", "create", "-c", str(cfg), check=True)
    pki = tmp_path / "pki"
    cert = x509.load_pem_x509_certificate((pki / "gateway-client.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        application_uri("test-plant")]
    assert stat.S_IMODE((pki / "gateway-client.key.pem").stat().st_mode) == 0o600
    assert (pki / "gateway-client.der").read_bytes() == cert.public_bytes(Encoding.DER)
    assert f'client_cert = "{pki / "gateway-client.pem"}"' in proc.stdout
    # a second run does not silently replace what the PLC already trusts
    again = gateway("cert", "create", "-c", str(cfg))
    assert again.returncode == 1 and "--force replaces it" in again.stderr


@pytest.mark.asyncio
async def test_a_plc_accepts_the_created_certificate(tmp_path):
    gateway("cert", "create", "--uri", application_uri("line1"), "--out", str(tmp_path),
            check=True)
    server = make_opcua_cert(tmp_path, "plc", APPLICATION_URI, server=True)
    async with PlcSimulator(["Assy"], security="Basic256Sha256", users={"gw": "s3cret"},
                            cert_file=str(server.cert), key_file=str(server.key)) as plc:
        driver = OpcUaCounters(
            "plc1", plc.endpoint, ASSY, security="Basic256Sha256,SignAndEncrypt",
            server_cert=server.cert, client_cert=tmp_path / "gateway-client.pem",
            client_key=tmp_path / "gateway-client.key.pem", username="gw", password="s3cret",
            backoff_initial=0.1)
        sink = await started(driver)
        try:
            await plc.count("Assy", good=3)
            await wait_until(lambda: booked(sink) == 3, what="3 counted over SignAndEncrypt")
        finally:
            await driver.stop()
        assert sink.problems == []
