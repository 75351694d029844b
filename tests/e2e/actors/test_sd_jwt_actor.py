"""Self-tests of the SD-JWT VC actor, the test CA and the wallet's SD-JWT responses (no service needed)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store

from tests.e2e.actors import (
    DELETE,
    AuthorizationRequest,
    Holder,
    Issuer,
    KeyPair,
    SdJwtIssuer,
    TestCa,
    Wallet,
    make_disclosure,
    present,
    x5c,
)
from tests.e2e.actors.keys import JwsError, b64url, b64url_decode, decode_jws, jwk_from_public_key, verify_jws
from tests.e2e.actors.sd_jwt import IssuedSdJwt, PathLike, decode_disclosure, split_presentation

VECTORS = Path(__file__).resolve().parents[3].parent / "shared" / "vectors" / "sd-jwt"
NOW = 1_700_000_000
VCT = "https://credentials.example.com/identity_credential"
CLAIMS: dict[str, Any] = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "address": {"street_address": "Heidestr. 17", "locality": "Köln", "country": "DE"},
    "nationalities": ["DE", "FR"],
    "age_equal_or_over": {"18": True, "21": False},
}
SD: list[PathLike] = [
    "given_name",
    ("family_name",),
    ("address",),
    ("address", "street_address"),
    ("nationalities", 0),
    ("nationalities", 1),
    ("age_equal_or_over", "18"),
    ("age_equal_or_over", "21"),
]
PD = {"id": "pid", "input_descriptors": [{"id": "age"}, {"id": "email"}]}


class Rejected(Exception):
    """The independent test-side SD-JWT check refused a presentation."""


def _digest(disclosure: str) -> str:
    """base64url(sha-256(ASCII disclosure)), computed here without the actor's helpers."""
    return base64.urlsafe_b64encode(hashlib.sha256(disclosure.encode("ascii")).digest()).rstrip(b"=").decode()


def _process(
    text: str, issuer_jwk: dict[str, Any], *, holder_jwk: dict[str, Any] | None = None, **kb: Any
) -> dict[str, Any]:
    """Tiny RFC 9901 §7 verifier: signature, digests, reachability, duplicates, KB-JWT if holder_jwk."""
    jwt, *rest = text.split("~")
    disclosures, kb_jwt = rest[:-1], rest[-1]
    try:
        header, payload = verify_jws(jwt, issuer_jwk)
    except JwsError as exc:
        raise Rejected(f"issuer signature: {exc}") from exc
    if header.get("typ") not in ("dc+sd-jwt", "vc+sd-jwt") or payload.get("_sd_alg", "sha-256") != "sha-256":
        raise Rejected("typ or _sd_alg")
    if len(set(disclosures)) != len(disclosures):
        raise Rejected("duplicate disclosure")
    by_digest = {_digest(d): json.loads(b64url_decode(d)) for d in disclosures}
    used: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items() if k not in ("_sd", "_sd_alg")}
            for digest in node.get("_sd", []):
                if digest in by_digest:
                    used.add(digest)
                    _, name, value = by_digest[digest]
                    out[name] = walk(value)
            return out
        if isinstance(node, list):
            items = []
            for item in node:
                if isinstance(item, dict) and set(item) == {"..."}:
                    if item["..."] in by_digest:
                        used.add(item["..."])
                        items.append(walk(by_digest[item["..."]][1]))
                else:
                    items.append(walk(item))
            return items
        return node

    processed: dict[str, Any] = walk(payload)
    if used != set(by_digest):
        raise Rejected("unreferenced disclosure")
    if holder_jwk is not None:
        if not kb_jwt:
            raise Rejected("KB-JWT missing")
        try:
            kb_header, kb_claims = verify_jws(kb_jwt, holder_jwk)
        except JwsError as exc:
            raise Rejected(f"KB-JWT signature: {exc}") from exc
        if kb_header.get("typ") != "kb+jwt" or processed["cnf"]["jwk"] != holder_jwk:
            raise Rejected("KB-JWT typ or cnf")
        if kb_claims.get("sd_hash") != _digest(text[: len(text) - len(kb_jwt)]):
            raise Rejected("sd_hash mismatch")
        if any(kb_claims.get(name) != value for name, value in kb.items()):
            raise Rejected("KB-JWT aud/nonce/iat mismatch")
    return processed


def _issue(**options: Any) -> tuple[SdJwtIssuer, IssuedSdJwt, KeyPair]:
    """An issuer (did-less HTTPS iss + kid) and a credential bound to a fresh holder key."""
    holder = KeyPair.generate("p256")
    issuer = SdJwtIssuer(KeyPair.generate("p256"), "https://issuer.example", kid="k1", now=lambda: NOW)
    options.setdefault("sd", SD)
    return issuer, issuer.issue(CLAIMS, vct=VCT, holder_jwk=holder.public_jwk(), **options), holder


# --- disclosures and issuance --- #


def test_make_disclosure_matches_rfc_vectors() -> None:
    """With the RFC salts, make_disclosure reproduces the published strings and digests (§4.2.1, §4.2.2)."""
    for name in ("rfc9901-4.2-disclosure-object-property", "rfc9901-4.2-disclosure-array-element"):
        case = json.loads((VECTORS / f"{name}.json").read_text())
        salt, *rest = case["decoded"]
        made = make_disclosure(rest[0] if len(rest) == 2 else None, rest[-1], salt=salt)
        assert made == case["disclosure"]
        assert _digest(made) == case["expected_digest_sha256"]


def test_issued_sd_jwt_verifies_independently() -> None:
    """Header, signature, `_sd`/`...` digests, salts, decoys and the fully processed payload are as issued."""
    issuer, issued, holder = _issue(
        decoys=3, status={"status_list": {"idx": 7, "uri": "https://s.example/1"}}
    )
    header, payload = verify_jws(issued.jwt, issuer.key.public_jwk())
    assert header == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}
    assert payload["_sd_alg"] == "sha-256"
    assert (payload["iss"], payload["vct"], payload["iat"], payload["exp"]) == (
        "https://issuer.example",
        VCT,
        NOW,
        NOW + 365 * 24 * 3600,
    )
    assert "nbf" not in payload
    assert payload["cnf"] == {"jwk": holder.public_jwk()}
    assert payload["status"]["status_list"]["idx"] == 7
    assert set(issued.disclosures) == {(p,) if isinstance(p, str) else p for p in SD}
    for path, disclosure in issued.disclosures.items():
        salt = decode_disclosure(disclosure)[0]
        assert len(b64url_decode(salt)) == 16
        assert issued.digest(path) == _digest(disclosure)
    assert {_digest(issued.disclosures[(n,)]) for n in ("given_name", "family_name", "address")} < set(
        payload["_sd"]
    )
    assert len(payload["_sd"]) == 3 + 3
    assert payload["_sd"] == sorted(payload["_sd"])
    assert payload["nationalities"] == [{"...": issued.digest(("nationalities", i))} for i in (0, 1)]
    assert payload["age_equal_or_over"] == {
        "_sd": sorted(issued.digest(("age_equal_or_over", k)) for k in "18 21".split())
    }
    address = decode_disclosure(issued.disclosures[("address",)])[2]
    assert address["_sd"] == [issued.digest(("address", "street_address"))]
    assert issued.all() == issued.jwt + "~" + "".join(d + "~" for d in issued.disclosures.values())
    processed = _process(issued.all(), issuer.key.public_jwk())
    assert processed == {**issued.plain}
    assert issued.plain["address"]["locality"] == "Köln"


def test_issue_options_and_overrides() -> None:
    """typ vc+sd-jwt, x5c, cnf.kid, nbf, DELETE, sign_with and unknown sd paths behave as documented."""
    key = KeyPair.generate("ed25519")
    issuer = SdJwtIssuer(key, "did:example:1", typ="vc+sd-jwt", x5c=["AAAA"], now=lambda: NOW)
    issued = issuer.issue(
        {"a": 1},
        vct="v",
        holder_kid="did:example:h#0",
        nbf=NOW - 5,
        payload_overrides={"exp": DELETE, "extra": "x"},
        header_overrides={"kid": "hk"},
    )
    header, payload = verify_jws(issued.jwt, key.public_jwk())
    assert header == {"alg": "EdDSA", "typ": "vc+sd-jwt", "x5c": ["AAAA"], "kid": "hk"}
    assert payload == {
        "iss": "did:example:1",
        "iat": NOW,
        "nbf": NOW - 5,
        "vct": "v",
        "cnf": {"kid": "did:example:h#0"},
        "a": 1,
        "_sd_alg": "sha-256",
        "extra": "x",
    }
    assert issued.disclosures == {}
    assert issued.all() == issued.jwt + "~"
    forged = issuer.issue({}, vct="v", sign_with=KeyPair.generate("ed25519"))
    with pytest.raises(JwsError):
        verify_jws(forged.jwt, key.public_jwk())
    assert decode_jws(issuer.issue({}, vct="v", alg_none=True).jwt)[0]["alg"] == "none"
    with pytest.raises(ValueError, match="not found"):
        issuer.issue({"a": 1}, vct="v", sd=[("b",)])
    exp_hidden = issuer.issue({}, vct="v", sd=["exp"])
    assert "exp" not in exp_hidden.payload
    assert decode_disclosure(exp_hidden.disclosures[("exp",)])[1:] == ["exp", NOW + 365 * 24 * 3600]


# --- presentation --- #


def test_present_subset_includes_parents_and_binds_key() -> None:
    """Nested paths pull in their parent Disclosures; the KB-JWT carries aud/nonce/iat/sd_hash."""
    issuer, issued, holder = _issue()
    text = present(
        issued,
        disclose=[("address", "street_address"), ("nationalities", 1), ("age_equal_or_over", "18")],
        aud="did:key:zRP",
        nonce="n-1",
        holder_key=holder,
        now=NOW,
    )
    jwt, disclosures, kb_jwt = split_presentation(text)
    assert jwt == issued.jwt
    expected = [
        ("address",),
        ("address", "street_address"),
        ("nationalities", 1),
        ("age_equal_or_over", "18"),
    ]
    assert disclosures == [issued.disclosures[p] for p in expected]
    kb: dict[str, Any] = {"aud": "did:key:zRP", "nonce": "n-1", "iat": NOW}
    processed = _process(text, issuer.key.public_jwk(), holder_jwk=holder.public_jwk(), **kb)
    assert processed["address"] == {"street_address": "Heidestr. 17", "locality": "Köln", "country": "DE"}
    assert processed["nationalities"] == ["FR"]
    assert processed["age_equal_or_over"] == {"18": True}
    assert "given_name" not in processed
    kb_header, kb_claims = verify_jws(kb_jwt, holder.public_jwk())
    assert kb_header == {"alg": "ES256", "typ": "kb+jwt"}
    assert set(kb_claims) == {"iat", "aud", "nonce", "sd_hash"}
    sd_part = jwt + "~" + "".join(d + "~" for d in disclosures)
    assert kb_claims["sd_hash"] == b64url(hashlib.sha256(sd_part.encode()).digest())
    everything = present(issued, aud="a", nonce="n", holder_key=holder, now=NOW)
    assert len(split_presentation(everything)[1]) == len(SD)
    bare = present(issued, disclose=[], kb=False)
    assert bare == issued.jwt + "~"
    assert _process(bare, issuer.key.public_jwk())["nationalities"] == []
    with pytest.raises(KeyError):
        present(issued, disclose=[("address", "locality")], kb=False)
    with pytest.raises(ValueError, match="holder_key"):
        present(issued, aud="a", nonce="n")


def test_tamper_knobs_do_what_they_say() -> None:
    """Each negative knob breaks exactly the property it names."""
    issuer, issued, holder = _issue()
    ok: dict[str, Any] = {"aud": "rp", "nonce": "n", "holder_key": holder, "now": NOW}
    check: dict[str, Any] = {"holder_jwk": holder.public_jwk(), "aud": "rp", "nonce": "n"}
    given = [("given_name",)]
    _process(present(issued, disclose=given, **ok), issuer.key.public_jwk(), **check)

    tampered = split_presentation(present(issued, disclose=given, tamper_disclosure=True, **ok))[1][0]
    original = issued.disclosures[("given_name",)]
    before, after = b64url_decode(original).decode(), b64url_decode(tampered).decode()
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 1
    assert decode_disclosure(tampered)[1:] == ["given_name", "Erika"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tamper_disclosure": True}, "unreferenced"),
        ({"tamper_disclosure": ("given_name",)}, "unreferenced"),
        ({"duplicate_disclosure": True}, "duplicate"),
        ({"extra_disclosures": [make_disclosure("given_name", "Mallory")]}, "unreferenced"),
        ({"kb_payload_overrides": {"sd_hash": "wrong"}}, "sd_hash"),
        ({"kb_payload_overrides": {"nonce": DELETE}}, "aud/nonce"),
        ({"kb_header_overrides": {"typ": "JWT"}}, "typ"),
        ({"holder_key": KeyPair.generate("p256")}, "KB-JWT signature"),
        ({"kb": False}, "KB-JWT missing"),
    ]
    for knob, reason in cases:
        text = present(issued, disclose=given, **(ok | knob))
        with pytest.raises(Rejected, match=reason):
            _process(text, issuer.key.public_jwk(), **check)
    duplicated = split_presentation(present(issued, disclose=given, duplicate_disclosure=True, **ok))[1]
    assert duplicated == [original, original]
    assert present(issued, disclose=given, kb=False).endswith(original + "~")
    with pytest.raises(Rejected, match="issuer signature"):
        _process(issued.all(), KeyPair.generate("p256").public_jwk())


# --- test CA --- #


def test_ca_chain_x5c_and_leaf_signature() -> None:
    """root → intermediate → leaf verifies link by link, x5c is leaf-first base64 DER, the leaf key signs."""
    root = TestCa.create("Root", now=lambda: NOW)
    inter = root.intermediate()
    leaf, leaf_key = inter.leaf(dns_names=["issuer.example"], uris=["https://issuer.example"])
    chain = inter.x5c(leaf)
    assert chain == x5c(leaf, inter.cert)
    assert inter.x5c(leaf, include_root=True) == x5c(leaf, inter.cert, root.cert)
    certs = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in chain]
    assert certs[0] == leaf
    certs[0].verify_directly_issued_by(certs[1])
    certs[1].verify_directly_issued_by(root.cert)
    root.cert.verify_directly_issued_by(root.cert)
    anchor = x509.load_pem_x509_certificate(inter.root_pem().encode())
    assert anchor == root.cert
    assert root.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["issuer.example"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["https://issuer.example"]
    assert int(leaf.not_valid_before_utc.timestamp()) == NOW - 3600
    issuer = SdJwtIssuer(leaf_key, "https://issuer.example", x5c=chain, now=lambda: NOW)
    issued = issuer.issue({"a": 1}, vct="v", sd=["a"])
    header = decode_jws(issued.jwt)[0]
    leaf_public = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0])).public_key()
    assert isinstance(leaf_public, ec.EllipticCurvePublicKey)
    leaf_jwk = jwk_from_public_key(leaf_public)
    assert _process(issued.all(), leaf_jwk)["a"] == 1
    verifier = (
        PolicyBuilder()
        .store(Store([anchor]))
        .time(leaf.not_valid_before_utc)
        .build_server_verifier(x509.DNSName("issuer.example"))
    )
    assert verifier.verify(leaf, [inter.cert])[-1] == root.cert
    own = KeyPair.generate("p384")
    assert root.leaf(uris=["https://x.example"], key=own)[1] is own
    assert root.cert.public_bytes(serialization.Encoding.PEM).decode() == root.root_pem()


# --- wallet --- #


def _request(client_id: str = "did:key:zRP") -> AuthorizationRequest:
    """An accepted Request Object, built directly (no fetch)."""
    return AuthorizationRequest(
        client_id=client_id,
        client_id_scheme="did",
        response_uri="https://rp.example/response",
        nonce="n-0S6_WzA2Mj",
        state="st-1",
        presentation_definition=PD,
        client_metadata={},
        jwt="",
        header={},
        payload={},
    )


def _submission(form: dict[str, str]) -> list[dict[str, Any]]:
    """The descriptor_map of a response form."""
    entries: list[dict[str, Any]] = json.loads(form["presentation_submission"])["descriptor_map"]
    return entries


def test_wallet_single_sd_jwt_response() -> None:
    """One SD-JWT and no VP: bare vp_token string, path `$`, no path_nested, ID Token still present."""
    forms: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        forms.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
        return httpx.Response(200, json={})

    holder = Holder(KeyPair.generate("p256"), "did:jwk")
    wallet = Wallet(holder, httpx.Client(transport=httpx.MockTransport(handler)), now=lambda: NOW)
    request = _request()
    issuer = SdJwtIssuer(KeyPair.generate("p384"), "https://issuer.example", now=lambda: NOW)
    issued = issuer.issue(CLAIMS, vct=VCT, holder_jwk=holder.key.public_jwk(), sd=SD)
    text = wallet.present_sd_jwt(request, issued, disclose=[("age_equal_or_over", "18")])
    kb: dict[str, Any] = {"aud": request.client_id, "nonce": request.nonce, "iat": NOW}
    processed = _process(text, issuer.key.public_jwk(), holder_jwk=holder.key.public_jwk(), **kb)
    assert processed["age_equal_or_over"] == {"18": True}
    assert wallet.respond(request, [], sd_jwt_presentations=[text]).status_code == 200
    form = forms[0]
    assert form["vp_token"] == text
    assert _submission(form) == [{"id": "age", "format": "dc+sd-jwt", "path": "$"}]
    assert json.loads(form["presentation_submission"])["definition_id"] == "pid"
    assert verify_jws(form["id_token"], holder.key.public_jwk())[1]["nonce"] == request.nonce
    assert form["state"] == "st-1"
    no_kb = wallet.present_sd_jwt(request, issued, disclose=[], kb=False)
    assert no_kb == issued.jwt + "~"


def test_wallet_two_presentations() -> None:
    """VP + SD-JWT and SD-JWT + SD-JWT give a JSON-array vp_token with `$[n]` paths in order."""
    holder = Holder(KeyPair.generate("ed25519"))
    wallet = Wallet(holder, httpx.Client(), now=lambda: NOW)
    request = _request()
    _, issued, _ = _issue()
    text = wallet.present_sd_jwt(request, issued, disclose=["given_name"])
    vc = Issuer(KeyPair.generate()).issue(holder.id, {"email": "e@example.com"})
    form = wallet.build_response(request, [vc], sd_jwt_presentations=[text])
    vp, sd = json.loads(form["vp_token"])
    assert sd == text
    assert verify_jws(vp, holder.key.public_jwk())[1]["vp"]["verifiableCredential"] == [vc]
    vc_entry, sd_entry = _submission(form)
    assert (vc_entry["id"], vc_entry["path"], vc_entry["path_nested"]["path"]) == (
        "age",
        "$[0]",
        "$.vp.verifiableCredential[0]",
    )
    assert sd_entry == {"id": "email", "format": "dc+sd-jwt", "path": "$[1]"}
    form = wallet.build_response(request, [], sd_jwt_presentations=[text, text], sd_jwt_format="vc+sd-jwt")
    assert json.loads(form["vp_token"]) == [text, text]
    assert _submission(form) == [
        {"id": "age", "format": "vc+sd-jwt", "path": "$[0]"},
        {"id": "email", "format": "vc+sd-jwt", "path": "$[1]"},
    ]
    form = wallet.build_response(request, [], sd_jwt_presentations=[text], descriptor_ids=["email"])
    assert _submission(form) == [{"id": "email", "format": "dc+sd-jwt", "path": "$"}]
    with pytest.raises(ValueError, match="descriptor"):
        wallet.build_response(request, [vc, vc], sd_jwt_presentations=[text])
    legacy = wallet.build_response(request, [])
    assert verify_jws(legacy["vp_token"], holder.key.public_jwk())[1]["vp"]["verifiableCredential"] == []
    wallet.close()
