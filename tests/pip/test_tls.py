"""HTTPS: the connection goes to the address that was checked, and the certificate is
still verified against the URL's host name."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from siamese.pip import FetchError, HttpData

from .upstream import Server


def _cert(tmp: Path, name: str) -> tuple[Path, Path, bytes]:
    """A self-signed CA, and a certificate it signs for ``name`` (files: cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file, ca.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[Server, ssl.SSLContext]]:
    cert_file, key_file, ca_pem = _cert(tmp_path, "api.internal.test")
    server = Server()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.start()
    client_ctx = ssl.create_default_context(cadata=ca_pem.decode())
    try:
        yield server, client_ctx
    finally:
        server.close()


async def loopback(host: str, port: int) -> list[str]:
    """DNS for the test: every name is 127.0.0.1."""
    return ["127.0.0.1"]


async def test_https_to_a_checked_address_with_the_name_verified(
    tls_upstream: tuple[Server, ssl.SSLContext], make_http: Callable[..., HttpData]
) -> None:
    server, ca = tls_upstream
    server.json("/v1/me", {"tls": True})
    base = f"https://api.internal.test:{server.port}"
    h = make_http([base + "/v1/"], verify=ca, resolver=loopback)
    value, _ = await h.get_json(base + "/v1/me")
    assert value == {"tls": True}
    # the same server under a name its certificate does not carry: refused by TLS
    other = f"https://other.internal.test:{server.port}"
    h2 = make_http([other + "/v1/"], verify=ca, resolver=loopback)
    with pytest.raises(FetchError, match=r"connection failed .*CERTIFICATE_VERIFY_FAILED"):
        await h2.get_json(other + "/v1/me")
