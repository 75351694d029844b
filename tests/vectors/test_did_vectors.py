"""Published did:key (w3c-ccg/did-method-key) and did:jwk (quartzjer/did-jwk) vectors decode as published."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service.did import did_key_from_jwk, resolve_did_jwk, resolve_did_key
from service.did.multibase import base58btc_decode
from service.jose.encoding import b64url_decode
from service.jose.jwk import KeyAgreementJwk, PublicJwk

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS = REPO_ROOT.parent / "shared" / "vectors"
DID_KEY_FILES = sorted((VECTORS / "did-key").rglob("*.json"))
DID_JWK_FILES = sorted((VECTORS / "did-jwk").rglob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


def _ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(VECTORS)) for path in paths]


def _published_methods(node: object, fragment: str) -> Iterator[dict[str, Any]]:
    """Every verification method in the published vector whose id ends with ``#fragment``."""
    if isinstance(node, dict):
        if isinstance(node.get("id"), str) and node["id"].endswith("#" + fragment):
            yield node
        for value in node.values():
            yield from _published_methods(value, fragment)
    elif isinstance(node, list):
        for value in node:
            yield from _published_methods(value, fragment)


def _raw_key(jwk: PublicJwk | KeyAgreementJwk) -> bytes:
    """The bytes publicKeyBase58 carries: the raw OKP key, or the compressed EC point."""
    if isinstance(jwk, PublicJwk) and isinstance(jwk.key, ec.EllipticCurvePublicKey):
        return jwk.key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return b64url_decode(jwk.members["x"])


def test_vector_files_are_present() -> None:
    """The vector directories hold the expected files (a wrong path must not pass silently)."""
    assert len(DID_KEY_FILES) >= 16
    assert len(DID_JWK_FILES) >= 1


@pytest.mark.parametrize("path", DID_KEY_FILES, ids=_ids(DID_KEY_FILES))
def test_did_key_decodes_to_published_key(path: Path) -> None:
    """Decoding the DID gives the published public key, under the published method id."""
    case = _load(path)
    did = case["did"]
    document = resolve_did_key(did)
    methods = document.verification_methods or document.key_agreement_methods
    (method,) = methods
    fragment = did.removeprefix("did:key:")
    assert method.id == f"{did}#{fragment}"
    assert method.public_key.to_dict() == case["derived_check"]["publicKeyJwk"]
    published = list(_published_methods(case["vector"], fragment))
    assert published, "the vector publishes the method"
    for entry in published:
        if "publicKeyJwk" in entry:
            assert method.public_key.to_dict() == entry["publicKeyJwk"]
        if "publicKeyBase58" in entry:
            assert _raw_key(method.public_key) == base58btc_decode(entry["publicKeyBase58"])


@pytest.mark.parametrize("path", DID_KEY_FILES, ids=_ids(DID_KEY_FILES))
def test_did_key_relationships(path: Path) -> None:
    """X25519 DIDs give keyAgreement only; signing keys are in authentication and assertionMethod."""
    case = _load(path)
    document = resolve_did_key(case["did"])
    if case["derived_check"]["multicodec"] == "0xec":
        assert document.verification_methods == ()
        assert document.authentication == document.assertion_method == frozenset()
        assert document.key_agreement == frozenset({document.key_agreement_methods[0].id})
    else:
        method_id = document.verification_methods[0].id
        assert document.authentication == document.assertion_method == frozenset({method_id})
        assert document.key_agreement_methods == ()


@pytest.mark.parametrize(
    "path",
    [path for path in DID_KEY_FILES if "x25519" not in path.parts],
    ids=_ids([path for path in DID_KEY_FILES if "x25519" not in path.parts]),
)
def test_did_key_encoder_reproduces_did(path: Path) -> None:
    """Encoding the decoded key again gives the published DID (compressed points, same multicodec)."""
    case = _load(path)
    jwk = resolve_did_key(case["did"]).verification_methods[0].public_key
    assert did_key_from_jwk(jwk) == case["did"]


@pytest.mark.parametrize("path", DID_JWK_FILES, ids=_ids(DID_JWK_FILES))
def test_did_jwk_decodes_to_published_document(path: Path) -> None:
    """Decoding the DID gives the published JWK, method id and relationships."""
    case = _load(path)
    published = case["did_document"]
    document = resolve_did_jwk(case["did"])
    (method,) = document.verification_methods
    assert document.id == published["id"]
    assert method.id == case["did_url"]
    assert method.public_key.to_dict() == case["decoded_jwk"]
    assert method.public_key.to_dict() == published["verificationMethod"][0]["publicKeyJwk"]
    assert document.authentication == frozenset(published.get("authentication", []))
    assert document.assertion_method == frozenset(published.get("assertionMethod", []))
    assert document.key_agreement == frozenset(published.get("keyAgreement", []))
