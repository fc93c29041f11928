"""HTTPS and mutual TLS through a real ``siamese serve`` process, with certificates this test
makes (SIAMESE_TLS_CERT, SIAMESE_TLS_KEY, SIAMESE_TLS_CLIENT_CA): decisions over TLS, a
client without a certificate (or with one from another CA) refused at the handshake, and a
new certificate served from the next connection once its files change."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .helpers import DEADLINE, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
EVALUATION = {
    "subject": {"type": "user", "id": "ivan"},
    "action": {"name": "write"},
    "resource": {"type": "document", "id": "runbook"},
}


class Authority:
    """A CA of the test's own, issuing server and client certificates."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, cn: str, *, server: bool) -> tuple[bytes, bytes]:
        """A certificate and its key, as PEM."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            import ipaddress

            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority("siamese test CA")


@pytest.fixture(scope="module")
def other_ca() -> Authority:
    return Authority("someone else's CA")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _replace(path: Path, data: bytes) -> None:
    # as cert-manager and git-sync do: a new file renamed over the old one
    tmp = path.with_suffix(".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextmanager
def https_server(tmp: Path, env: dict[str, str], ca: Authority) -> Iterator[str]:
    policies = tmp / "policies"
    if not policies.exists():
        shutil.copytree(ROOT / "policies", policies)
    port = free_port()
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "siamese", "serve", str(policies), "--host", "127.0.0.1",
             "--port", str(port), "--audit-log", "off"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env},
        )
    url = f"https://127.0.0.1:{port}"
    ready = _client_context(ca, env.get("_CLIENT_CERT"), env.get("_CLIENT_KEY"))
    try:
        wait_for(
            lambda: proc.poll() is None
            and httpx.get(f"{url}/ready", verify=ready).status_code == 200,
            f"the HTTPS server to be ready (log: {log})",
        )
        yield url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE)


def _client_context(ca: Authority, cert: str | None = None, key: str | None = None
                    ) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca.pem().decode())
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def _served_certificate(url: str, ca: Authority, cert: str | None = None,
                        key: str | None = None) -> x509.Certificate:
    """The certificate the server shows on a new connection."""
    host, port = url.removeprefix("https://").split(":")
    ctx = _client_context(ca, cert, key)
    with (
        socket.create_connection((host, int(port)), timeout=DEADLINE) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_https_decisions_and_a_certificate_reloaded_from_its_files(
    tmp_path: Path, ca: Authority
) -> None:
    cert, key = ca.issue("siamese one", server=True)
    cert_file, key_file = _write(tmp_path / "tls.crt", cert), _write(tmp_path / "tls.key", key)
    env = {"SIAMESE_TLS_CERT": str(cert_file), "SIAMESE_TLS_KEY": str(key_file)}
    with https_server(tmp_path, env, ca) as url:
        verify = _client_context(ca)
        r = httpx.post(f"{url}/access/v1/evaluation", json=EVALUATION, verify=verify)
        assert r.status_code == 200 and r.json()["decision"] is True
        # plain HTTP on the TLS port is not served
        with pytest.raises(httpx.TransportError):
            httpx.get(url.replace("https://", "http://") + "/health", timeout=5)
        assert _common_name(_served_certificate(url, ca)) == "siamese one"

        # a half-written pair (a key that does not match the certificate) is not served:
        # the old certificate keeps serving
        new_cert, new_key = ca.issue("siamese two", server=True)
        _replace(cert_file, new_cert)
        assert _common_name(_served_certificate(url, ca)) == "siamese one"
        # once the key follows, the next connection gets the new certificate
        _replace(key_file, new_key)
        assert _common_name(_served_certificate(url, ca)) == "siamese two"
        r = httpx.post(f"{url}/access/v1/evaluation", json=EVALUATION, verify=verify)
        assert r.status_code == 200 and r.json()["decision"] is True


def test_mutual_tls_refuses_a_client_without_a_certificate(
    tmp_path: Path, ca: Authority, other_ca: Authority
) -> None:
    cert, key = ca.issue("siamese", server=True)
    client_cert, client_key = ca.issue("gateway", server=False)
    stranger_cert, stranger_key = other_ca.issue("gateway", server=False)
    files = {
        name: str(_write(tmp_path / name, data))
        for name, data in {
            "tls.crt": cert, "tls.key": key, "ca.crt": ca.pem(),
            "client.crt": client_cert, "client.key": client_key,
            "stranger.crt": stranger_cert, "stranger.key": stranger_key,
        }.items()
    }
    env = {
        "SIAMESE_TLS_CERT": files["tls.crt"],
        "SIAMESE_TLS_KEY": files["tls.key"],
        "SIAMESE_TLS_CLIENT_CA": files["ca.crt"],
        "_CLIENT_CERT": files["client.crt"],
        "_CLIENT_KEY": files["client.key"],
    }
    with https_server(tmp_path, env, ca) as url:
        with_cert = _client_context(ca, files["client.crt"], files["client.key"])
        r = httpx.post(f"{url}/access/v1/evaluation", json=EVALUATION, verify=with_cert)
        assert r.status_code == 200 and r.json()["decision"] is True

        for ctx in (
            _client_context(ca),  # no client certificate
            _client_context(ca, files["stranger.crt"], files["stranger.key"]),  # wrong CA
        ):
            with pytest.raises((httpx.TransportError, ssl.SSLError)):
                httpx.post(f"{url}/access/v1/evaluation", json=EVALUATION, verify=ctx,
                           timeout=10)


def test_files_that_do_not_load_stop_the_server_naming_the_variables(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.pem", b"not a certificate\n")
    for flags, message in (
        (["--tls-cert", str(tmp_path / "missing.pem")], "SIAMESE_TLS_CERT: "),
        (["--tls-cert", str(bad)], "do not load as a PEM certificate"),
        (["--tls-client-ca", str(bad)], "SIAMESE_TLS_KEY and SIAMESE_TLS_CLIENT_CA need"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "siamese", "serve", str(ROOT / "policies"), "--port", "0",
             "--audit-log", "off", *flags],
            capture_output=True, text=True, timeout=DEADLINE,
        )
        assert done.returncode != 0 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
