"""SD-JWT vectors (../shared/vectors/sd-jwt): RFC 9901, SD-JWT VC -18, OpenID4VP examples; tampering."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from service.errors import CredentialInvalid, KeyBindingInvalid, VerifierError
from service.jose.jwk import PublicJwk, parse_public_jwk
from service.jose.jws import TokenKind, decode_jws, verify_jws
from service.sd_jwt import (
    KeyBindingExpectations,
    ProcessedSdJwt,
    SdJwtPresentation,
    holder_key_from_cnf,
    process_disclosures,
    sd_digest,
    split_presentation,
    verify_key_binding,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "sd-jwt"
CREDENTIAL = TokenKind("credential", CredentialInvalid)
ISSUER_ALGS = frozenset({"ES256", "ES384", "ES512", "EdDSA"})
HOLDER_ALGS = frozenset({"ES256", "EdDSA"})
# Registered JWT / SD-JWT VC claims an issuer adds next to the user claims.
ISSUER_ADDED_CLAIMS = frozenset({"iss", "iat", "exp", "nbf", "cnf", "vct", "status"})


def _load(name: str) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return vector


def _names(field: str) -> list[str]:
    return sorted(
        path.name for path in VECTORS.glob("*.json") if path.name != "keys.json" and field in _load(path.name)
    )


PRESENTATIONS = _names("presentation")
ISSUED = _names("issued_sd_jwt")
VALID = [name for name in PRESENTATIONS if _load(name)["expected_result"] == "valid"]


def _verified_issuer_payload(vector: dict[str, Any], issuer_jwt: str) -> dict[str, Any]:
    jws = decode_jws(issuer_jwt, kind=CREDENTIAL)
    verify_jws(jws, parse_public_jwk(vector["issuer_public_jwk"]), allowed_algs=ISSUER_ALGS, kind=CREDENTIAL)
    assert dict(jws.header) == vector["issuer_signed_jwt_header"]
    return dict(jws.payload)


def _process(vector: dict[str, Any], presentation: SdJwtPresentation) -> ProcessedSdJwt:
    return process_disclosures(
        _verified_issuer_payload(vector, presentation.issuer_jwt), presentation.disclosures
    )


def _expectations(vector: dict[str, Any], **changes: Any) -> KeyBindingExpectations:
    params = vector["verifier_params"]
    fields: dict[str, Any] = {
        "client_id": params["expected_aud"],
        "nonce": params["expected_nonce"],
        "allowed_algs": HOLDER_ALGS,
        "clock_skew": 60,
        "max_age": 300,
    }
    fields.update(changes)
    return KeyBindingExpectations(**fields)


def _holder_key(processed: ProcessedSdJwt) -> PublicJwk:
    key = holder_key_from_cnf(processed.claims.get("cnf"))
    assert isinstance(key, PublicJwk)
    return key


def _verify_kb(
    vector: dict[str, Any],
    presentation: SdJwtPresentation,
    processed: ProcessedSdJwt,
    *,
    now: float | None = None,
    holder_key: PublicJwk | None = None,
    **changes: Any,
) -> None:
    verify_key_binding(
        presentation,
        holder_key=holder_key or _holder_key(processed),
        sd_alg=processed.sd_alg,
        expected=_expectations(vector, **changes),
        now=vector["kb_jwt_payload"]["iat"] if now is None else now,
    )


class TestPresentations:
    @pytest.mark.parametrize("name", VALID)
    def test_valid_presentation(self, name: str) -> None:
        """Issuer signature, processed payload and (when present) the KB-JWT all check out."""
        vector = _load(name)
        presentation = split_presentation(vector["presentation"])
        processed = _process(vector, presentation)
        assert processed.claims == vector["expected_processed_payload"]
        if vector["verifier_params"]["key_binding_required"]:
            assert presentation.kb_jwt is not None
            assert _holder_key(processed) == parse_public_jwk(vector["holder_public_jwk"])
            _verify_kb(vector, presentation, processed)
        else:
            assert presentation.kb_jwt is None

    @pytest.mark.parametrize("name", VALID)
    def test_disclosed_paths_resolve(self, name: str) -> None:
        """Every disclosed path names a value in the processed claims, one per presented Disclosure."""
        vector = _load(name)
        presentation = split_presentation(vector["presentation"])
        processed = _process(vector, presentation)
        assert len(processed.disclosed_paths) == len(presentation.disclosures)
        for path in processed.disclosed_paths:
            node: Any = processed.claims
            for step in path:
                node = node[step]

    @pytest.mark.parametrize("name", [n for n in PRESENTATIONS if "disclosures_in_presentation" in _load(n)])
    def test_presented_disclosures_and_digests(self, name: str) -> None:
        """The split yields the published Disclosures, and each hashes to its published digest."""
        vector = _load(name)
        presentation = split_presentation(vector["presentation"])
        published = vector["disclosures_in_presentation"]
        assert presentation.disclosures == tuple(item["disclosure"] for item in published)
        for item in published:
            assert sd_digest(item["disclosure"], "sha-256") == item["digest"]

    def test_sd_hash_mismatch_vector_is_rejected(self) -> None:
        """OpenID4VP draft 23's example: everything verifies except sd_hash, so it must be rejected."""
        vector = _load("oid4vp-draft23-sd-jwt-vc-sd-hash-mismatch.json")
        assert vector["expected_result"] == "reject"
        presentation = split_presentation(vector["presentation"])
        processed = _process(vector, presentation)
        assert processed.claims == vector["processed_payload_if_sd_hash_ignored"]
        assert sd_digest(presentation.sd_jwt, processed.sd_alg) == vector["computed_sd_hash"]
        with pytest.raises(KeyBindingInvalid) as caught:
            _verify_kb(vector, presentation, processed)
        assert caught.value.reason == "key_binding.sd_hash_mismatch"


class TestIssued:
    @pytest.mark.parametrize("name", ISSUED)
    def test_all_disclosures_give_the_user_claims(self, name: str) -> None:
        """Processing the issued SD-JWT with every Disclosure yields the issuer's user claims."""
        vector = _load(name)
        issued = split_presentation(vector["issued_sd_jwt"])
        assert issued.kb_jwt is None
        assert issued.issuer_jwt == split_presentation(vector["presentation"]).issuer_jwt
        claims = _process(vector, issued).claims
        user_claims = vector.get("user_claims")
        if user_claims is None:
            return
        assert {name: claims[name] for name in user_claims} == user_claims
        assert set(claims) - set(user_claims) <= ISSUER_ADDED_CLAIMS

    @pytest.mark.parametrize("name", [n for n in ISSUED if "disclosures" in _load(n)])
    def test_issued_disclosures_and_digests(self, name: str) -> None:
        """The issued Disclosures are the published ones and hash to the published digests."""
        vector = _load(name)
        issued = split_presentation(vector["issued_sd_jwt"])
        assert issued.disclosures == tuple(item["disclosure"] for item in vector["disclosures"])
        for item in vector["disclosures"]:
            assert sd_digest(item["disclosure"], "sha-256") == item["digest"]

    def test_section5_issuer_jwt(self) -> None:
        """RFC 9901 §5.1: the issuer-signed JWT in the serialization is the published one."""
        vector = _load("rfc9901-sec5-example.json")
        assert split_presentation(vector["issued_sd_jwt"]).issuer_jwt == vector["issuer_signed_jwt"]
        assert _verified_issuer_payload(vector, vector["issuer_signed_jwt"]) == vector["sd_jwt_payload"]


class TestDisclosureVectors:
    def test_object_property(self) -> None:
        """RFC 9901 §4.2.1/§4.2.3: digest of the Disclosure string and its insertion."""
        vector = _load("rfc9901-4.2-disclosure-object-property.json")
        assert sd_digest(vector["disclosure"], "sha-256") == vector["expected_digest_sha256"]
        processed = process_disclosures(vector["embedding_example_payload"], [vector["disclosure"]])
        salt, name, value = vector["decoded"]
        assert processed.claims == {"given_name": "Alice", name: value}
        assert processed.disclosed_paths == ((name,),)

    def test_equivalent_encodings(self) -> None:
        """Other encodings of the same array have other digests, so they do not match the embedded one."""
        vector = _load("rfc9901-4.2-disclosure-object-property.json")
        for encoding in vector["equivalent_encodings"]:
            assert sd_digest(encoding["disclosure"], "sha-256") == encoding["expected_digest_sha256"]
            payload = {"_sd": [encoding["expected_digest_sha256"]]}
            assert process_disclosures(payload, [encoding["disclosure"]]).claims == {"family_name": "Möbius"}
            with pytest.raises(CredentialInvalid) as caught:
                process_disclosures(vector["embedding_example_payload"], [encoding["disclosure"]])
            assert caught.value.reason == "sd_jwt.disclosure_unreferenced"

    def test_array_element(self) -> None:
        """RFC 9901 §4.2.2/§4.2.4.2: the element is replaced when disclosed, removed otherwise."""
        vector = _load("rfc9901-4.2-disclosure-array-element.json")
        assert sd_digest(vector["disclosure"], "sha-256") == vector["expected_digest_sha256"]
        payload = vector["embedding_example_payload"]
        assert process_disclosures(payload, []).claims == vector["expected_processed_without_disclosure"]
        with_disclosure = process_disclosures(payload, [vector["disclosure"]])
        assert with_disclosure.claims == vector["expected_processed_with_disclosure"]
        assert with_disclosure.disclosed_paths == (("nationalities", 1),)


# --- Tampering with a published presentation: each change fails for its own reason --- #

SEC5 = "rfc9901-sec5-example.json"


def _sec5() -> tuple[dict[str, Any], SdJwtPresentation]:
    vector = _load(SEC5)
    return vector, split_presentation(vector["presentation"])


def _with_disclosures(presentation: SdJwtPresentation, disclosures: list[str]) -> str:
    return "~".join([presentation.issuer_jwt, *disclosures, presentation.kb_jwt or ""])


def _process_reason(vector: dict[str, Any], token: str) -> str:
    with pytest.raises(CredentialInvalid) as caught:
        _process(vector, split_presentation(token))
    return caught.value.reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TestTampering:
    def test_flipped_characters(self) -> None:
        """Any changed character makes the Disclosure unreferenced or undecodable, never accepted."""
        vector, presentation = _sec5()
        original = presentation.disclosures[0]
        reasons = set()
        for index, char in enumerate(original):
            flipped = original[:index] + ("A" if char != "A" else "B") + original[index + 1 :]
            token = _with_disclosures(presentation, [flipped, *presentation.disclosures[1:]])
            reasons.add(_process_reason(vector, token))
        assert reasons == {"sd_jwt.disclosure_unreferenced", "sd_jwt.disclosure_malformed"}

    def test_changed_salt(self) -> None:
        """A well-formed Disclosure with another salt no longer matches its digest."""
        vector, presentation = _sec5()
        decoded = json.loads(base64.urlsafe_b64decode(presentation.disclosures[0] + "=="))
        forged = _b64(json.dumps(["other-salt", *decoded[1:]]).encode())
        token = _with_disclosures(presentation, [forged, *presentation.disclosures[1:]])
        assert _process_reason(vector, token) == "sd_jwt.disclosure_unreferenced"

    def test_changed_value(self) -> None:
        """A Disclosure whose value was edited (same salt and name) no longer matches (RFC 9901 §9.2)."""
        vector, presentation = _sec5()
        forged = _b64(json.dumps(["eluV5Og3gSNII8EYnsxA_A", "family_name", "Mallory"]).encode())
        token = _with_disclosures(presentation, [forged, *presentation.disclosures[1:]])
        assert _process_reason(vector, token) == "sd_jwt.disclosure_unreferenced"

    def test_duplicated_disclosure(self) -> None:
        """Presenting one Disclosure twice is refused at the split."""
        vector, presentation = _sec5()
        token = _with_disclosures(presentation, [*presentation.disclosures, presentation.disclosures[0]])
        with pytest.raises(CredentialInvalid) as caught:
            split_presentation(token)
        assert caught.value.reason == "sd_jwt.disclosure_duplicated"

    def test_added_unreferenced_disclosure(self) -> None:
        """A valid extra Disclosure that the issuer never committed to is refused."""
        vector, presentation = _sec5()
        extra = _b64(json.dumps(["salt", "is_admin", True]).encode())
        token = _with_disclosures(presentation, [*presentation.disclosures, extra])
        assert _process_reason(vector, token) == "sd_jwt.disclosure_unreferenced"

    def test_added_issued_disclosure_breaks_sd_hash(self) -> None:
        """Adding a withheld issued Disclosure processes fine, but the KB-JWT sd_hash no longer matches."""
        vector, presentation = _sec5()
        issued = split_presentation(vector["issued_sd_jwt"]).disclosures
        extra = next(item for item in issued if item not in presentation.disclosures)
        tampered = split_presentation(_with_disclosures(presentation, [*presentation.disclosures, extra]))
        processed = _process(vector, tampered)
        with pytest.raises(KeyBindingInvalid) as caught:
            _verify_kb(vector, tampered, processed)
        assert caught.value.reason == "key_binding.sd_hash_mismatch"

    def test_stripped_disclosure(self) -> None:
        """Dropping a presented Disclosure keeps processing valid but breaks the KB-JWT sd_hash."""
        vector, presentation = _sec5()
        tampered = split_presentation(_with_disclosures(presentation, list(presentation.disclosures[1:])))
        processed = _process(vector, tampered)
        with pytest.raises(KeyBindingInvalid) as caught:
            _verify_kb(vector, tampered, processed)
        assert caught.value.reason == "key_binding.sd_hash_mismatch"

    def test_reordered_disclosures(self) -> None:
        """sd_hash covers the presented order too."""
        vector, presentation = _sec5()
        tampered = split_presentation(
            _with_disclosures(presentation, list(reversed(presentation.disclosures)))
        )
        processed = _process(vector, tampered)
        assert processed.claims == vector["expected_processed_payload"]
        with pytest.raises(KeyBindingInvalid) as caught:
            _verify_kb(vector, tampered, processed)
        assert caught.value.reason == "key_binding.sd_hash_mismatch"

    def test_stripped_kb_jwt(self) -> None:
        """Removing the KB-JWT does not downgrade: key binding is required, so it is missing (§9.5)."""
        vector, presentation = _sec5()
        tampered = split_presentation(presentation.sd_jwt)
        with pytest.raises(KeyBindingInvalid) as caught:
            _verify_kb(vector, tampered, _process(vector, tampered))
        assert caught.value.reason == "key_binding.missing"

    def test_issuer_signature_covers_the_payload(self) -> None:
        """Adding a digest to the issuer payload breaks the issuer signature."""
        vector, presentation = _sec5()
        header, payload, signature = presentation.issuer_jwt.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["_sd"].append(sd_digest(presentation.disclosures[0], "sha-256"))
        forged = ".".join([header, _b64(json.dumps(claims).encode()), signature])
        with pytest.raises(CredentialInvalid) as caught:
            _verified_issuer_payload(vector, forged)
        assert caught.value.reason == "credential.bad_signature"

    @pytest.mark.parametrize(
        ("changes", "now_offset", "reason"),
        [
            ({"nonce": "another-nonce"}, 0, "key_binding.nonce_mismatch"),
            ({"client_id": "https://other-verifier.example"}, 0, "key_binding.audience_mismatch"),
            ({}, 3600, "key_binding.too_old"),
            ({}, -3600, "key_binding.issued_in_future"),
            ({"allowed_algs": frozenset({"EdDSA"})}, 0, "key_binding.alg_not_allowed"),
        ],
        ids=["nonce", "aud", "stale-iat", "future-iat", "alg"],
    )
    def test_kb_jwt_expectations(self, changes: dict[str, Any], now_offset: int, reason: str) -> None:
        """The published KB-JWT fails when the transaction expects something else of it."""
        vector, presentation = _sec5()
        processed = _process(vector, presentation)
        with pytest.raises(KeyBindingInvalid) as caught:
            _verify_kb(
                vector, presentation, processed, now=vector["kb_jwt_payload"]["iat"] + now_offset, **changes
            )
        assert caught.value.reason == reason

    def test_kb_jwt_checked_with_another_key(self) -> None:
        """The KB-JWT is checked with the cnf key only: the issuer key does not verify it."""
        vector, presentation = _sec5()
        processed = _process(vector, presentation)
        with pytest.raises(KeyBindingInvalid) as caught:
            _verify_kb(
                vector, presentation, processed, holder_key=parse_public_jwk(vector["issuer_public_jwk"])
            )
        assert caught.value.reason == "key_binding.bad_signature"

    def test_kb_jwt_with_wrong_typ(self) -> None:
        """The issuer-signed JWT placed as the KB-JWT fails on typ before anything else (RFC 9901 §9.11)."""
        vector, presentation = _sec5()
        token = presentation.sd_jwt + presentation.issuer_jwt
        tampered = split_presentation(token)
        with pytest.raises(VerifierError) as caught:
            _verify_kb(vector, tampered, _process(vector, tampered))
        assert caught.value.reason == "key_binding.wrong_typ"
