"""With a certificate the server encrypts passwords on every endpoint and offers a signed
and encrypted channel; a certificate without its key is refused at start."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.ua import uaerrors
from cryptography.x509.oid import ExtendedKeyUsageOID

from daq.opcua.server import OpcUaError
from daq.station.lab import Lab
from tests.api.conftest import station_settings
from tests.opcua.conftest import node_of, opc_station

pytestmark = pytest.mark.slow

BASIC256SHA256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"


async def make_certificate(tmp_path: Path, name: str, uri: str, use: ExtendedKeyUsageOID
                           ) -> tuple[Path, Path]:
    key, cert = tmp_path / f"{name}-key.pem", tmp_path / f"{name}-cert.der"
    await setup_self_signed_certificate(key, cert, uri, socket.gethostname(), [use],
                                        {"organizationName": "Lamina test", "commonName": name})
    return cert, key


async def test_passwords_are_encrypted_and_a_channel_may_be_signed_and_encrypted(
    tmp_path: Path,
) -> None:
    cert, key = await make_certificate(tmp_path, "server", "urn:lamina-daq:lab1",
                                       ExtendedKeyUsageOID.SERVER_AUTH)
    client_cert, client_key = await make_certificate(
        tmp_path, "client", "urn:lamina-test:client", ExtendedKeyUsageOID.CLIENT_AUTH)
    async with opc_station(tmp_path, opcua_certificate=cert,
                           opcua_private_key=key) as station:
        endpoints = await Client(station.url).connect_and_get_server_endpoints()
        modes = {(e.SecurityPolicyUri.rsplit("#", 1)[1], e.SecurityMode) for e in endpoints}
        assert modes == {("None", ua.MessageSecurityMode.None_),
                         ("Basic256Sha256", ua.MessageSecurityMode.SignAndEncrypt)}
        # On the unencrypted channel the password itself is encrypted with the server's
        # key (the user token names Basic256Sha256); the other channel encrypts it all.
        plain = next(e for e in endpoints if e.SecurityMode == ua.MessageSecurityMode.None_)
        assert [t.SecurityPolicyUri for t in plain.UserIdentityTokens
                if t.TokenType == ua.UserTokenType.UserName] == [BASIC256SHA256]
        assert all(t.TokenType != ua.UserTokenType.Anonymous
                   for e in endpoints for t in e.UserIdentityTokens)

        client = station.client("viewer1", station.passwords["viewer"])
        client.application_uri = "urn:lamina-test:client"
        await client.set_security_string(
            f"Basic256Sha256,SignAndEncrypt,{client_cert},{client_key}")
        async with client:
            assert await (await node_of(client, "Station")).read_value() == "lab1"
        async with station.client("viewer1", station.passwords["viewer"]) as plain_client:
            assert await (await node_of(plain_client, "Station")).read_value() == "lab1"
        with pytest.raises(uaerrors.BadUserAccessDenied):
            async with station.client("viewer1", "wrong-password"):
                pass


async def test_a_certificate_without_its_key_stops_the_start(tmp_path: Path) -> None:
    cert, _ = await make_certificate(tmp_path, "server", "urn:lamina-daq:lab1",
                                     ExtendedKeyUsageOID.SERVER_AUTH)
    with pytest.raises(OpcUaError, match="needs its private key"):
        async with Lab(station_settings(tmp_path, opcua_url="opc.tcp://127.0.0.1:0",
                                        opcua_certificate=cert)):
            pass
