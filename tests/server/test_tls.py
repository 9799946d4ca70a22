"""HTTPS: the client verifies the server's certificate, against a CA bundle if given."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cairn.access.types import OpenGuard
from cairn.errors import StoreError
from cairn.store import open_metadata
from server_harness import threaded_server


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("cairn test CA"))
        .issuer_name(_name("cairn test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@pytest.fixture
def https(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    from cairn.server.app import create_app
    from cairn.store.artifacts import ArtifactStore

    ca, cert, key = _make_ca_and_server_cert(tmp_path)
    backend = open_metadata(f"sqlite:///{tmp_path / 'server.db'}", create=True)
    backend.ensure_schema()
    app = create_app(backend, ArtifactStore(str(tmp_path / "artifacts")), guard=OpenGuard())
    with threaded_server(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        yield url, ca
    backend.close()


def test_a_certificate_from_an_unknown_ca_is_refused_at_once(
    https: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = https
    monkeypatch.setenv("CAIRN_HTTP_RETRY_SECONDS", "60")  # must fail without waiting
    backend = open_metadata(url)
    with pytest.raises(StoreError, match=r"cannot verify the TLS certificate.*CAIRN_CA_BUNDLE"):
        backend.tracking.list_experiments()
    backend.close()


def test_the_ca_bundle_lets_the_client_verify_the_server(
    https: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ca = https
    monkeypatch.setenv("CAIRN_CA_BUNDLE", str(ca))
    backend = open_metadata(url)
    assert backend.tracking.create_experiment("tls").name == "tls"
    backend.close()
