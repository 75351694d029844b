"""W3C VCDM 1.1 JWT vectors (../shared/vectors/jwt-vc): decoding rules and a credential signed elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.did import resolve_did_key
from service.errors import CredentialInvalid, HolderBindingFailed
from service.id_token import Holder
from service.vp_formats.jwt_vc_json import decode_credential, vcdm_view, verify_credential

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "jwt-vc"
ALGS = frozenset({"EdDSA", "ES256"})


def _load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


def _did_holder(did: str) -> Holder:
    document = resolve_did_key(did)
    return Holder(
        id=did, method="did", key=document.verification_methods[0].public_key, did=did, document=document
    )


def test_vcdm11_decoding_rules() -> None:
    """VCDM 1.1 §6.3.1 example: the JWT claims map onto the VC members exactly as the spec says."""
    vector = _load("vcdm11-jwt-claim-mapping.json")
    assert vcdm_view(vector["vc_jwt_payload_example"]) == vector["expected_decoded_vc"]


def test_oid4vp_credential_payload_decodes() -> None:
    """OpenID4VP 1.0 example credential: claims reachable through the VCDM view, subject id from `sub`."""
    payload = _load("oid4vp-1.0-jwt-vc-credential-payload.json")["vc_jwt_payload"]
    view = vcdm_view(payload)
    assert view["credentialSubject"]["id"] == payload["sub"]
    assert view["credentialSubject"]["birthdate"] == "1998-01-11"
    assert view["issuer"] == "https://example.gov/issuers/565049"
    assert view["issuanceDate"] == "2010-01-01T00:00:00Z"


class TestCredentialFromAnotherImplementation:
    """The EdDSA VC JWT inside the DIF PE appendix VP, signed by did:key:z6MkmX1v…, verifies here."""

    @pytest.fixture
    def token(self) -> str:
        return _load("pe-appendix-vp-jwt-payload.json")["vp_jwt_payload"]["vp"]["verifiableCredential"][0]

    @pytest.fixture
    def holder_did(self) -> str:
        return _load("pe-appendix-vp-jwt-payload.json")["vp_jwt_payload"]["iss"]

    def test_verifies_with_the_issuer_did_key(self, token: str, holder_did: str) -> None:
        """Signature, structure, validity window and holder binding all hold."""
        jws = decode_credential(token, max_length=64 * 1024)
        issuer_key = resolve_did_key(jws.payload["iss"]).verification_methods[0].public_key
        credential = verify_credential(
            jws,
            issuer_key=issuer_key,
            holder=_did_holder(holder_did),
            allowed_algs=ALGS,
            now=1_700_000_000,
            clock_skew=60,
        )
        assert credential.issuer == "did:key:z6MkmX1v8N16XGgJUEB2qbaWY6uKSnscDrGdsMqxfUg3kFpt"
        assert credential.subject == holder_did
        assert credential.documents[1]["credentialSubject"]["givenName"] == "Uribe"

    def test_another_key_does_not_verify_it(self, token: str, holder_did: str) -> None:
        """The same token checked against the holder's key (not the issuer's) is a bad signature."""
        jws = decode_credential(token, max_length=64 * 1024)
        with pytest.raises(CredentialInvalid) as caught:
            verify_credential(
                jws,
                issuer_key=_did_holder(holder_did).key,
                holder=_did_holder(holder_did),
                allowed_algs=ALGS,
                now=1_700_000_000,
                clock_skew=60,
            )
        assert caught.value.reason == "credential.bad_signature"

    def test_is_bound_to_its_subject_only(self, token: str) -> None:
        """Presented by a different holder, the credential fails holder binding."""
        jws = decode_credential(token, max_length=64 * 1024)
        issuer_key = resolve_did_key(jws.payload["iss"]).verification_methods[0].public_key
        stranger = _did_holder("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
        with pytest.raises(HolderBindingFailed) as caught:
            verify_credential(
                jws,
                issuer_key=issuer_key,
                holder=stranger,
                allowed_algs=ALGS,
                now=1_700_000_000,
                clock_skew=60,
            )
        assert caught.value.reason == "holder_binding.subject_mismatch"

    def test_expired_after_its_exp(self, token: str, holder_did: str) -> None:
        """Past its `exp` (2051-10-05) the credential is expired."""
        jws = decode_credential(token, max_length=64 * 1024)
        issuer_key = resolve_did_key(jws.payload["iss"]).verification_methods[0].public_key
        with pytest.raises(CredentialInvalid) as caught:
            verify_credential(
                jws,
                issuer_key=issuer_key,
                holder=_did_holder(holder_did),
                allowed_algs=ALGS,
                now=jws.payload["exp"] + 61,
                clock_skew=60,
            )
        assert caught.value.reason == "credential.expired"
