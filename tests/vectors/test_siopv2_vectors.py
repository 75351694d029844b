"""SIOPv2 / OpenID4VP ID Token example payloads (../shared/vectors/siopv2), signed here and verified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.did.document import DidDocument, VerificationMethod
from service.errors import IdTokenInvalid
from service.id_token import IdTokenExpectations, inspect_id_token, verify_id_token
from service.jose.jwk import public_jwk_from_key
from service.jose.jws import sign_jws

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "siopv2"
CASES = ["id-token-did-example.json", "oid4vp-combined-id-token-example.json"]


def _case(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text())


def _signed(payload: dict[str, Any]) -> tuple[str, DidDocument]:
    """Sign the example payload with a fresh key published as the example DID's only method."""
    private = ec.generate_private_key(ec.SECP256R1())
    did = payload["sub"]
    method = VerificationMethod(
        id=f"{did}#key-1",
        controller=did,
        type="JsonWebKey2020",
        public_key=public_jwk_from_key(private.public_key()),
    )
    document = DidDocument(
        id=did,
        verification_methods=(method,),
        authentication=frozenset({method.id}),
        assertion_method=frozenset(),
        key_agreement=frozenset(),
    )
    return sign_jws({"typ": "JWT", "kid": method.id}, payload, private), document


def _expectations(case: dict[str, Any], client_id: str) -> IdTokenExpectations:
    return IdTokenExpectations(
        client_id=client_id,
        nonce=case["id_token_payload"]["nonce"],
        allowed_algs=frozenset({"ES256"}),
        subject_methods=frozenset({"example"}),
        clock_skew=60,
        max_age=3600,
    )


@pytest.mark.parametrize("name", CASES)
def test_example_id_token_verifies(name: str) -> None:
    """The example payload passes every SIOPv2 §11.1 check at its own issuance time."""
    case = _case(name)
    payload = case["id_token_payload"]
    token, document = _signed(payload)
    subject = inspect_id_token(token, max_length=8192)
    assert subject.method == "did"
    assert "sub_jwk" not in payload
    holder = verify_id_token(
        subject, document=document, expected=_expectations(case, payload["aud"]), now=payload["iat"] + 10
    )
    assert holder.id == payload["sub"]


@pytest.mark.parametrize("name", CASES)
def test_example_id_token_for_another_client_is_refused(name: str) -> None:
    """The same token presented to a verifier with another client_id fails the audience check."""
    case = _case(name)
    payload = case["id_token_payload"]
    token, document = _signed(payload)
    with pytest.raises(IdTokenInvalid) as caught:
        verify_id_token(
            inspect_id_token(token, max_length=8192),
            document=document,
            expected=_expectations(case, "https://another.example"),
            now=payload["iat"] + 10,
        )
    assert caught.value.reason == "id_token.audience_mismatch"


def test_combined_example_binds_to_the_prefixed_client_id() -> None:
    """OpenID4VP 1.0 App. C.2: `aud` is the full client_id with its prefix, as the request sent it."""
    case = _case("oid4vp-combined-id-token-example.json")
    assert case["id_token_payload"]["aud"] == case["request"]["client_id"]
    assert case["id_token_payload"]["nonce"] == case["request"]["nonce"]


@pytest.mark.parametrize("name", CASES)
def test_example_id_token_expires(name: str) -> None:
    """Checked after its `exp` plus skew, the example token is expired."""
    case = _case(name)
    payload = case["id_token_payload"]
    token, document = _signed(payload)
    with pytest.raises(IdTokenInvalid) as caught:
        verify_id_token(
            inspect_id_token(token, max_length=8192),
            document=document,
            expected=_expectations(case, payload["aud"]),
            now=payload["exp"] + 61,
        )
    assert caught.value.reason == "id_token.expired"
