"""The signed verdict: what the backend learns, signed with the keyring's published key."""

from __future__ import annotations

import re
import uuid

import msgspec
import pytest

from service.errors import IdTokenInvalid, SubmissionMismatch
from service.jose.jwk import parse_public_jwk
from service.jose.jws import TokenKind, decode_jws, verify_jws
from service.keys import Keyring, generate_keyring
from service.verdict import (
    CredentialEntry,
    HolderEntry,
    Verdict,
    VerdictContext,
    rejected_verdict,
    sign_verdict,
    verified_verdict,
)

NOW = 1_700_000_000.75
KIND = TokenKind("verdict", IdTokenInvalid)
CONTEXT = VerdictContext(
    issuer="https://verifier.example.com",
    transaction_id="txn_7sGq2",
    definition_id="age-over-18",
    correlation_id="order-4711",
)
HOLDER = HolderEntry(id="did:key:z6MkHolder", method="did")
CREDENTIAL = CredentialEntry(
    descriptor_id="age_credential",
    format="jwt_vc_json",
    issuer="did:key:z6MkIssuer",
    types=["VerifiableCredential", "AgeCredential"],
    claims={"age_over_18": True},
    status="valid",
)


@pytest.fixture(scope="module")
def keyring() -> Keyring:
    return generate_keyring()


def _verified() -> Verdict:
    return verified_verdict(CONTEXT, now=NOW, holder=HOLDER, credentials=[CREDENTIAL])


def _open(token: str, keyring: Keyring) -> tuple[dict[str, object], dict[str, object]]:
    """Verify like a receiver would: with the JWKS entry named by the header kid."""
    jws = decode_jws(token, kind=KIND)
    jwks = {jwk["kid"]: jwk for jwk in keyring.jwks()["keys"]}
    assert jws.kid in jwks
    verify_jws(jws, parse_public_jwk(jwks[jws.kid]), allowed_algs=frozenset({"ES256"}), kind=KIND)
    return dict(jws.header), dict(jws.payload)


class TestSignVerdict:
    def test_verifies_with_the_published_key(self, keyring: Keyring) -> None:
        """A signed verdict verifies with the JWKS key its kid names; the header says verdict+jwt, ES256."""
        header, _ = _open(sign_verdict(_verified(), keyring), keyring)
        assert header == {"typ": "verdict+jwt", "kid": keyring.active_signing.kid, "alg": "ES256"}

    def test_does_not_verify_with_another_keyring(self, keyring: Keyring) -> None:
        """A verdict signed by another keyring does not verify with ours."""
        token = sign_verdict(_verified(), generate_keyring())
        jws = decode_jws(token, kind=KIND)
        key = parse_public_jwk(keyring.jwks()["keys"][0])
        with pytest.raises(IdTokenInvalid) as caught:
            verify_jws(jws, key, allowed_algs=frozenset({"ES256"}), kind=KIND)
        assert caught.value.reason == "verdict.bad_signature"

    def test_claims_round_trip(self, keyring: Keyring) -> None:
        """The signed payload is the verdict's claims: decoding it gives back an equal Verdict."""
        verdict = _verified()
        _, payload = _open(sign_verdict(verdict, keyring), keyring)
        assert msgspec.convert(payload, Verdict) == verdict


class TestVerifiedVerdict:
    def test_positive_verdict(self, keyring: Keyring) -> None:
        """A verified verdict carries the transaction facts, the holder and the credentials."""
        _, payload = _open(sign_verdict(_verified(), keyring), keyring)
        assert payload["result"] == "verified"
        assert payload["iss"] == CONTEXT.issuer
        assert payload["txn"] == CONTEXT.transaction_id
        assert payload["definition_id"] == CONTEXT.definition_id
        assert payload["correlation_id"] == CONTEXT.correlation_id
        assert payload["iat"] == 1_700_000_000
        assert payload["holder"] == {"id": HOLDER.id, "method": "did"}
        assert payload["credentials"] == [msgspec.to_builtins(CREDENTIAL)]
        assert "errors" not in payload
        assert "wallet_error" not in payload

    def test_final_always_present(self, keyring: Keyring) -> None:
        """`final` is in every signed verdict (true for decisions, false for a later-attempt notice)."""
        context = VerdictContext(
            issuer="https://v", transaction_id="t", definition_id="d", correlation_id=None
        )
        verdicts = [
            verified_verdict(context, now=NOW, holder=HOLDER, credentials=[]),
            rejected_verdict(context, now=NOW),
            rejected_verdict(context, now=NOW, final=False),
        ]
        finals = [_open(sign_verdict(verdict, keyring), keyring)[1]["final"] for verdict in verdicts]
        assert finals == [True, True, False]

    def test_absent_correlation_id_omitted(self, keyring: Keyring) -> None:
        """Without a correlation id the claim is left out rather than sent as null."""
        context = VerdictContext(
            issuer="https://v", transaction_id="t", definition_id="d", correlation_id=None
        )
        verdict = verified_verdict(context, now=NOW, holder=HOLDER, credentials=[])
        assert "correlation_id" not in _open(sign_verdict(verdict, keyring), keyring)[1]


class TestRejectedVerdict:
    def test_carries_reason_code_and_descriptor(self, keyring: Keyring) -> None:
        """A verdict from an error carries its reason code, safe description and descriptor_id."""
        error = SubmissionMismatch(
            "submission.filter_failed", 'Value "x" did not match', descriptor_id="age_credential"
        )
        verdict = rejected_verdict(CONTEXT, now=NOW, error=error)
        _, payload = _open(sign_verdict(verdict, keyring), keyring)
        assert payload["result"] == "rejected"
        assert payload["errors"] == [
            {
                "code": "submission.filter_failed",
                "detail": error.description,
                "descriptor_id": "age_credential",
            }
        ]
        assert '"' not in error.description
        assert "holder" not in payload
        assert "credentials" not in payload

    def test_descriptor_id_omitted_when_absent(self) -> None:
        """An error without descriptor_id produces a reason entry without that member."""
        verdict = rejected_verdict(CONTEXT, now=NOW, error=IdTokenInvalid("id_token.nonce_mismatch", "x"))
        assert msgspec.to_builtins(verdict.errors) == [{"code": "id_token.nonce_mismatch", "detail": "x"}]

    def test_wallet_error(self, keyring: Keyring) -> None:
        """A wallet error becomes reason 'wallet.<code>' and the wallet_error claim."""
        verdict = rejected_verdict(CONTEXT, now=NOW, wallet_error="access_denied")
        _, payload = _open(sign_verdict(verdict, keyring), keyring)
        assert payload["wallet_error"] == "access_denied"
        assert payload["errors"] == [
            {"code": "wallet.access_denied", "detail": "The wallet answered with an error"}
        ]
        assert payload["result"] == "rejected"

    def test_wallet_error_takes_precedence(self) -> None:
        """Given both, the wallet's error is the reported reason."""
        verdict = rejected_verdict(
            CONTEXT, now=NOW, error=IdTokenInvalid("id_token.expired", "x"), wallet_error="access_denied"
        )
        assert [entry.code for entry in verdict.errors] == ["wallet.access_denied"]


class TestVerdictId:
    def test_jti_has_no_dot_and_is_unique(self) -> None:
        """jti (reused as the webhook-id) never contains '.', and no two verdicts share one."""
        jtis = [_verified().jti for _ in range(200)] + [
            rejected_verdict(CONTEXT, now=NOW).jti for _ in range(200)
        ]
        assert len(set(jtis)) == len(jtis)
        for jti in jtis:
            assert "." not in jti
            assert re.fullmatch(r"[A-Za-z0-9_-]{16,64}", jti)

    def test_jti_is_a_version_4_uuid_in_hex(self) -> None:
        """``vrd_`` + 32 hex digits that read back as an RFC 9562 version 4 UUID."""
        for _ in range(200):
            prefix, _, digits = _verified().jti.partition("_")
            parsed = uuid.UUID(hex=digits)
            assert (prefix, len(digits), parsed.version, parsed.variant) == ("vrd", 32, 4, uuid.RFC_4122)
            assert parsed.hex == digits
