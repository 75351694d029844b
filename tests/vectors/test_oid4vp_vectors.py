"""OpenID4VP 1.0 vectors (../shared/vectors/oid4vp): the §8.3 encrypted response, App. B client metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import MalformedResponse
from service.jose.encoding import b64url_decode
from service.jose.jwe import ResponseKey, decrypt_response
from service.request_object import build_client_metadata_v1

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "oid4vp"
LIMITS = {"max_length": 64 * 1024, "max_plaintext": 64 * 1024}


def _load(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return case


def _response_key(jwk: dict[str, str]) -> ResponseKey:
    scalar = int.from_bytes(b64url_decode(jwk["d"]), "big")
    return ResponseKey(kid=jwk["kid"], private_key=ec.derive_private_key(scalar, ec.SECP256R1()))


def test_encrypted_response_8_3_decrypts() -> None:
    """The §8.3 example (ECDH-ES, A128GCM, kid "ac") decrypts to the published plaintext bytes."""
    case = _load("encrypted-response-8.3.json")
    key = _response_key(case["decryption_jwk"])
    assert key.kid == "ac"
    plaintext = decrypt_response(case["response"], key, **LIMITS)
    assert plaintext == case["expected_plaintext_bytes"].encode("utf-8")
    assert json.loads(plaintext) == case["expected_payload"]


def test_encrypted_response_8_3_header() -> None:
    """The example's protected header is exactly the one the vector states."""
    case = _load("encrypted-response-8.3.json")
    header = json.loads(b64url_decode(case["response"].split(".")[0]))
    assert header == case["expected_protected_header"]


def test_encrypted_response_8_3_public_key_matches() -> None:
    """The vector's private d belongs to its published x/y, so ResponseKey publishes the same key."""
    case = _load("encrypted-response-8.3.json")
    jwk = case["decryption_jwk"]
    published = _response_key(jwk).public_jwk()
    assert (published["x"], published["y"], published["kid"]) == (jwk["x"], jwk["y"], "ac")


def test_encrypted_response_8_3_other_kid_is_refused() -> None:
    """The same key under another kid refuses the example (its header names kid "ac")."""
    case = _load("encrypted-response-8.3.json")
    key = _response_key(case["decryption_jwk"])
    with pytest.raises(MalformedResponse) as caught:
        decrypt_response(case["response"], ResponseKey("other", key.private_key), **LIMITS)
    assert caught.value.reason == "response.jwe_unknown_key"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("client-metadata-w3c_jwt.json", "jwt_vc_json"), ("client-metadata-sd_jwt_vc.json", "dc+sd-jwt")],
)
def test_our_1_0_client_metadata_has_the_shape_of_the_spec_examples(name: str, fmt: str) -> None:
    """App. B: per format, the same member names as the 1.0 examples (and the draft-era names nowhere)."""
    example = _load(name)["client_metadata"]["vp_formats_supported"][fmt]
    ours = build_client_metadata_v1(
        holder_algs=["ES256", "EdDSA"], issuer_algs=["ES256", "ES384"], subject_syntax_types=[]
    )["vp_formats_supported"][fmt]
    assert set(ours) == set(example)
    assert all(isinstance(values, list) and values for values in ours.values())
