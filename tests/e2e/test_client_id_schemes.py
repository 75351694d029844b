"""The other client identifier schemes (d20 §5.7), each on its own service: redirect_uri and x509_san_dns."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.app import create_app
from service.errors import ConfigurationError
from service.keys import generate_keyring
from service.settings import load_settings
from tests.e2e.actors import Holder, KeyPair, Wallet, WalletRefused, WebhookReceiver
from tests.e2e.actors.keys import b64url_decode
from tests.e2e.conftest import REPO_ROOT, Issuers, RunningService, start_service_at


@pytest.fixture
def own_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


def _payload(jwt: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = jwt.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload)), signature


def _full_flow(service: RunningService, issuers: Issuers, wallet: Wallet) -> tuple[dict[str, Any], Any]:
    created = service.create()
    request = wallet.fetch_request(created["authorization_request_uri"])
    answer = wallet.respond(request, [issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})])
    assert answer.status_code == 200, answer.text
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified", verdict
    return created, request


# --- redirect_uri --- #


def test_redirect_uri_scheme_unsigned_request_and_full_flow(
    tmp_path: Path, own_receiver: WebhookReceiver, issuers: Issuers
) -> None:
    """redirect_uri: unsigned request object (alg none), client_id == response_uri, and the flow verifies."""
    service = start_service_at(
        tmp_path, own_receiver, issuers.trust_file(), "127.0.0.1", client_id_scheme="redirect_uri"
    )
    try:
        with Wallet(Holder(KeyPair.generate("p256"))) as wallet:
            created = service.create()
            raw = service.backend.get(created["request_uri"])
            assert raw.status_code == 200
            header, payload, signature = _payload(raw.text)
            assert header["alg"] == "none"
            assert "kid" not in header
            assert "x5c" not in header
            assert signature == ""
            assert payload["client_id_scheme"] == "redirect_uri"
            assert payload["client_id"] == payload["response_uri"] == created["client_id"]
            assert urlsplit(payload["response_uri"]).path.startswith("/wallet/responses/")
            _, request = _full_flow(service, issuers, wallet)
            assert request.client_id_scheme == "redirect_uri"
            assert request.client_id == request.response_uri
    finally:
        service.stop()


def test_redirect_uri_scheme_audience_is_the_response_uri(
    tmp_path: Path, own_receiver: WebhookReceiver, issuers: Issuers
) -> None:
    """Under redirect_uri, tokens addressed to another transaction's response_uri are refused."""
    service = start_service_at(
        tmp_path, own_receiver, issuers.trust_file(), "127.0.0.1", client_id_scheme="redirect_uri"
    )
    try:
        with Wallet(Holder(KeyPair.generate("ed25519"))) as wallet:
            other = service.create()
            created = service.create()
            request = wallet.fetch_request(created["authorization_request_uri"])
            credential = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})
            answer = wallet.respond(
                request,
                [credential],
                id_token_claims={"aud": other["client_id"]},
                vp_claims={"aud": other["client_id"]},
            )
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"] == "invalid_request"
            verdict = service.verdict(created["transaction_id"])
            assert verdict["result"] == "rejected"
            assert [e["code"] for e in verdict["errors"]] == ["id_token.audience_mismatch"]
    finally:
        service.stop()


# --- x509_san_dns --- #


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Test verifier CA"))
        .issuer_name(_name("Test verifier CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, dns_name: str
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _write_pki(tmp_path: Path, dns_name: str) -> tuple[x509.Certificate, Path, Path]:
    """A CA and a leaf for `dns_name`; chain (leaf first) and leaf key as PEM files. Returns the CA too."""
    ca, ca_key = _ca()
    leaf, leaf_key = _leaf(ca, ca_key, dns_name)
    chain_file, key_file = tmp_path / "chain.pem", tmp_path / "leaf-key.pem"
    chain_file.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca)))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca, chain_file, key_file


def test_x509_san_dns_scheme_signed_with_x5c_and_full_flow(
    tmp_path: Path, own_receiver: WebhookReceiver, issuers: Issuers
) -> None:
    """x509_san_dns: client_id is the SAN host, x5c is sent, and a wallet anchored at the CA verifies."""
    ca, chain_file, key_file = _write_pki(tmp_path, "localhost")
    service = start_service_at(
        tmp_path,
        own_receiver,
        issuers.trust_file(),
        "localhost",
        client_id_scheme="x509_san_dns",
        x509_chain_file=str(chain_file),
        x509_key_file=str(key_file),
    )
    try:
        with Wallet(Holder(KeyPair.generate("p256")), trust_anchor=ca) as wallet:
            created = service.create()
            assert created["client_id"] == "localhost"
            assert created["authorization_request_uri"].startswith("openid4vp://?client_id=localhost&")
            _, request = _full_flow(service, issuers, wallet)
            assert request.client_id_scheme == "x509_san_dns"
            assert request.header["alg"] == "ES256"
            assert len(request.header["x5c"]) == 2
            assert "kid" not in request.header
            assert urlsplit(request.response_uri).hostname == "localhost"
    finally:
        service.stop()


def test_x509_san_dns_wallet_with_another_anchor_refuses(
    tmp_path: Path, own_receiver: WebhookReceiver, issuers: Issuers
) -> None:
    """The x5c chain really is checked: a wallet that trusts a different CA refuses the request object."""
    _, chain_file, key_file = _write_pki(tmp_path, "localhost")
    stranger, _ = _ca()
    service = start_service_at(
        tmp_path,
        own_receiver,
        issuers.trust_file(),
        "localhost",
        client_id_scheme="x509_san_dns",
        x509_chain_file=str(chain_file),
        x509_key_file=str(key_file),
    )
    try:
        with Wallet(Holder(KeyPair.generate("p256")), trust_anchor=stranger) as wallet:
            created = service.create()
            with pytest.raises(WalletRefused, match="trust anchor"):
                wallet.fetch_request(created["authorization_request_uri"])
    finally:
        service.stop()


def test_x509_san_dns_certificate_for_another_host_fails_start_up(tmp_path: Path) -> None:
    """A leaf whose dNSName SAN is not the public_url host makes create_app raise ConfigurationError."""
    _, chain_file, key_file = _write_pki(tmp_path, "verifier.example.com")
    settings = load_settings(
        {},
        public_url="https://other.example.com",
        definitions_dir=str(REPO_ROOT / "definitions"),
        client_id_scheme="x509_san_dns",
        x509_chain_file=str(chain_file),
        x509_key_file=str(key_file),
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings, keyring=generate_keyring())
    assert caught.value.reason == "config.x509"


def test_x509_san_dns_without_files_fails_start_up(tmp_path: Path) -> None:
    """x509_san_dns without a chain and key file is a configuration error, not a late crash."""
    settings = load_settings(
        {},
        public_url="https://localhost",
        definitions_dir=str(REPO_ROOT / "definitions"),
        client_id_scheme="x509_san_dns",
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings, keyring=generate_keyring())
    assert caught.value.reason == "config.x509"


def _x509_settings(tmp_path: Path, chain_file: Path, key_file: Path) -> Any:
    return load_settings(
        {},
        public_url="https://localhost",
        definitions_dir=str(REPO_ROOT / "definitions"),
        client_id_scheme="x509_san_dns",
        x509_chain_file=str(chain_file),
        x509_key_file=str(key_file),
    )


def test_x509_key_not_matching_leaf_fails_start_up(tmp_path: Path) -> None:
    """A private key that is not the leaf certificate's key is refused at start-up."""
    _, chain_file, _ = _write_pki(tmp_path, "localhost")
    stranger = tmp_path / "stranger-key.pem"
    stranger.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigurationError):
        create_app(_x509_settings(tmp_path, chain_file, stranger), keyring=generate_keyring())


def _leaf_without_san(tmp_path: Path) -> tuple[Path, Path]:
    ca, ca_key = _ca()
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    chain_file, key_file = tmp_path / "nosan.pem", tmp_path / "nosan-key.pem"
    chain_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return chain_file, key_file


def _x509_files(tmp_path: Path, case: str) -> tuple[Path, Path]:
    _, chain_file, key_file = _write_pki(tmp_path, "localhost")
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    return {
        "missing_chain_file": (tmp_path / "absent.pem", key_file),
        "empty_chain_file": (empty, key_file),
        "key_file_holds_certificates": (chain_file, chain_file),
        "leaf_without_san": _leaf_without_san(tmp_path),
    }[case]


@pytest.mark.parametrize(
    "case", ["missing_chain_file", "empty_chain_file", "key_file_holds_certificates", "leaf_without_san"]
)
def test_unusable_x509_material_is_a_configuration_error(tmp_path: Path, case: str) -> None:
    """Unreadable or malformed x509 chain/key files stop start-up with ConfigurationError (config.x509)."""
    chain_file, key_file = _x509_files(tmp_path, case)
    with pytest.raises(ConfigurationError) as caught:
        create_app(_x509_settings(tmp_path, chain_file, key_file), keyring=generate_keyring())
    assert caught.value.reason == "config.x509"
