"""Hostile wallets, part 1: JOSE hygiene (security.md §4, §5; RFC 8725) and decoding (§7).

Each test is one attack, end to end over HTTP through the real service: the wallet must get a 4xx OAuth
error body and the backend a signed `rejected` verdict naming the specific reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from tests.adversarial.conftest import Tripwire
from tests.adversarial.forge import (
    age_credential,
    begin,
    expect_rejected,
    id_token_claims,
    id_token_header,
    post_raw,
    sign_raw,
    submission_for_vp,
    vp_claims,
)
from tests.e2e.actors import DELETE, KeyPair, TestCa, Wallet, b64url, sign_hmac_jwt, x5c
from tests.e2e.conftest import PID_VCT, Issuers, RunningService

Factory = Callable[..., Wallet]


# --- Algorithm confusion (§4: allow-lists, `none` never, no HMAC, alg must fit the key) --- #


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("id_token", "id_token.alg_not_allowed"),
        ("vp", "presentation.alg_not_allowed"),
        ("vc", "credential.alg_not_allowed"),
    ],
)
def test_alg_none(
    service: RunningService, issuers: Issuers, make_wallet: Factory, target: str, reason: str
) -> None:
    """§4 (RFC 8725 §3.1): an unsecured token (`alg: none`, empty signature) is never accepted."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    credential = age_credential(issuers, wallet, alg_none=target == "vc")
    options = {"id_token_alg_none": target == "id_token", "vp_alg_none": target == "vp"}
    expect_rejected(service, created, wallet.respond(request, [credential], **options), reason)


@pytest.mark.parametrize("secret", ["jwk_json", "raw_public_key", "did"])
def test_hs256_keyed_with_the_holder_public_key(
    service: RunningService, issuers: Issuers, make_wallet: Factory, secret: str
) -> None:
    """§4 (RFC 8725 §3.2): HS256 MACed with the holder's public key as the secret is not a signature."""
    wallet = make_wallet("ed25519")
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    jwk = wallet.holder.key.public_jwk()
    key_bytes = {
        "jwk_json": json.dumps(jwk, separators=(",", ":")).encode(),
        "raw_public_key": base64.urlsafe_b64decode(jwk["x"] + "="),
        "did": wallet.holder.id.encode(),
    }[secret]
    form["id_token"] = sign_hmac_jwt(id_token_header(wallet), id_token_claims(wallet, request), key_bytes)
    expect_rejected(service, created, wallet.post(request, form), "id_token.alg_not_allowed")


@pytest.mark.parametrize(
    ("kind", "alg"),
    [("ed25519", "ES256"), ("p256", "ES384"), ("p256", "EdDSA"), ("p384", "ES256"), ("secp256k1", "ES256")],
)
def test_alg_does_not_fit_the_holder_key(
    service: RunningService, issuers: Issuers, make_wallet: Factory, kind: str, alg: str
) -> None:
    """§4 (RFC 8725 §3.1): the header `alg` must fit the key type and curve of the subject's key."""
    wallet = make_wallet(kind)
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    form["id_token"] = wallet.holder.key.sign_jws(
        id_token_header(wallet, alg=alg), id_token_claims(wallet, request)
    )
    expect_rejected(service, created, wallet.post(request, form), "id_token.alg_key_mismatch")


def test_credential_alg_does_not_fit_the_issuer_key(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§4: an Ed25519 issuer's key cannot verify a credential whose header says ES256."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    credential = age_credential(issuers, wallet, header_overrides={"alg": "ES256"})
    expect_rejected(service, created, wallet.respond(request, [credential]), "credential.alg_key_mismatch")


# --- Key material and header key injection (§4 jku/x5u/jwk ignored; §5 key-to-identity binding) --- #


def test_sub_jwk_with_private_part(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§5 / RFC 7517: a `sub_jwk` that carries the private `d` is refused, and `d` is never echoed."""
    wallet = make_wallet("p256", "jwk_thumbprint")
    created, request = begin(service, wallet)
    private = wallet.holder.key.private_key.private_numbers().private_value  # type: ignore[union-attr]
    d = b64url(private.to_bytes(32, "big"))
    form = wallet.build_response(
        request,
        [age_credential(issuers, wallet)],
        id_token_claims={"sub_jwk": {**wallet.holder.key.public_jwk(), "d": d}},
    )
    expect_rejected(service, created, wallet.post(request, form), "id_token.sub_jwk_invalid", injected=[d])


@pytest.mark.parametrize("keep_kid", [True, False], ids=["victim-kid", "no-kid"])
@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("id_token", "id_token.bad_signature"),
        ("vp", "presentation.bad_signature"),
        ("vc", "credential.bad_signature"),
    ],
)
def test_header_key_injection(
    service: RunningService,
    issuers: Issuers,
    make_wallet: Factory,
    tripwire: Tripwire,
    target: str,
    reason: str,
    keep_kid: bool,
) -> None:
    """§4: `jwk`, `jku` and `x5u` headers never select the key; a token signed by the key they name fails.

    The attacker signs with their own key and offers it every way JOSE allows; the service must keep using
    the subject's (or the trusted issuer's) key and must not fetch anything.
    """
    attacker = KeyPair.generate("ed25519")
    injected = {
        "jwk": attacker.public_jwk(),
        "jku": tripwire.url(f"jku-{target}"),
        "x5u": tripwire.url(f"x5u-{target}"),
    }
    if not keep_kid:
        injected["kid"] = DELETE
    wallet = make_wallet("ed25519")
    created, request = begin(service, wallet)
    if target == "vc":
        credential = issuers.trusted.issue(
            wallet.holder.id, {"ageOver21": True}, sign_with=attacker, header_overrides=injected
        )
        answer = wallet.respond(request, [credential])
    else:
        prefix = "id_token" if target == "id_token" else "vp"
        answer = wallet.respond(
            request,
            [age_credential(issuers, wallet)],
            **{f"{prefix}_signer": attacker, f"{prefix}_header": injected},
        )
    expect_rejected(service, created, answer, reason)
    assert [hit for hit in tripwire.hits if target in hit] == []


def test_presentation_header_jwk_of_another_key_for_thumbprint_holder(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§5: for a JWK-thumbprint holder a VP whose header `jwk` is another key is not the holder's."""
    wallet = make_wallet("p256", "jwk_thumbprint")
    attacker = KeyPair.generate("p256")
    created, request = begin(service, wallet)
    answer = wallet.respond(
        request,
        [age_credential(issuers, wallet)],
        vp_signer=attacker,
        vp_header={"jwk": attacker.public_jwk()},
    )
    expect_rejected(service, created, answer, "holder_binding.presentation_holder_mismatch")


def test_x5c_header_on_a_did_issuer_credential(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§4/§5: `x5c` counts only when the chain reaches a configured anchor: a self-made CA cannot speak
    for a trusted DID issuer."""
    wallet = make_wallet()
    ca = TestCa.create("Attacker root")
    leaf, leaf_key = ca.leaf(dns_names=["attacker.example"])
    created, request = begin(service, wallet)
    credential = issuers.trusted.issue(
        wallet.holder.id,
        {"ageOver21": True},
        sign_with=leaf_key,
        header_overrides={"x5c": x5c(leaf, ca.cert), "kid": DELETE},
    )
    expect_rejected(service, created, wallet.respond(request, [credential]), "credential.untrusted_chain")


# --- kid injection (§5: the kid must be a DID URL of the asserted identity) --- #

KID_TRAVERSAL = "../../etc/passwd"


@pytest.mark.parametrize(
    "kid",
    [KID_TRAVERSAL, "#../../etc/passwd", "file:///etc/passwd#0", "http://127.0.0.1:1/jwks#0", "#"],
    ids=["traversal", "fragment-traversal", "file-url", "http-url", "empty-fragment"],
)
def test_id_token_kid_injection(
    service: RunningService, issuers: Issuers, make_wallet: Factory, kid: str
) -> None:
    """§5: a `kid` that is no DID URL of the subject names no key (no file, no URL is ever opened)."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    answer = wallet.respond(request, [age_credential(issuers, wallet)], id_token_header={"kid": kid})
    expect_rejected(service, created, answer, "did.key_not_found", injected=[kid] if len(kid) > 3 else [])


def test_id_token_kid_naming_another_did(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§5 (SIOPv2 §11.1): a token signed by the attacker's DID key cannot speak for the victim's DID."""
    wallet = make_wallet()
    attacker = KeyPair.generate("ed25519")
    created, request = begin(service, wallet)
    answer = wallet.respond(
        request,
        [age_credential(issuers, wallet)],
        id_token_signer=attacker,
        id_token_header={"kid": attacker.did_key_url()},
    )
    expect_rejected(service, created, answer, "did.key_not_found", injected=[attacker.did_key()])


def test_id_token_very_long_kid(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§7: a 100 000-character kid is just an unknown key: refused quickly, not echoed."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    kid = wallet.holder.id + "#" + "A" * 100_000
    answer = wallet.respond(request, [age_credential(issuers, wallet)], id_token_header={"kid": kid})
    expect_rejected(service, created, answer, "did.key_not_found", injected=["A" * 64])


@pytest.mark.parametrize("kid", ["attacker-did", "traversal"])
def test_credential_kid_injection(
    service: RunningService, issuers: Issuers, make_wallet: Factory, kid: str
) -> None:
    """§5 (SD-JWT VC §6.2): the attacker must not choose the issuer's verification method by kid."""
    wallet = make_wallet()
    attacker = KeyPair.generate("ed25519")
    created, request = begin(service, wallet)
    header = {"kid": attacker.did_key_url() if kid == "attacker-did" else issuers.trusted.did + "#../../x"}
    credential = issuers.trusted.issue(
        wallet.holder.id, {"ageOver21": True}, sign_with=attacker, header_overrides=header
    )
    expect_rejected(service, created, wallet.respond(request, [credential]), "did.key_not_found")


# --- crit and b64 (§4: unknown crit rejected; RFC 7797 unencoded payloads) --- #


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("id_token", "id_token.unsupported_crit"),
        ("vp", "presentation.unsupported_crit"),
        ("vc", "credential.unsupported_crit"),
    ],
)
def test_crit_header(
    service: RunningService, issuers: Issuers, make_wallet: Factory, target: str, reason: str
) -> None:
    """§4 (RFC 7515 §4.1.11): a critical extension we do not implement makes the token unacceptable."""
    crit = {"crit": ["urn:example:must-understand"], "urn:example:must-understand": True}
    wallet = make_wallet()
    created, request = begin(service, wallet)
    credential = age_credential(issuers, wallet, header_overrides=crit if target == "vc" else None)
    options: dict[str, Any] = {"id_token_header": crit} if target == "id_token" else {}
    if target == "vp":
        options = {"vp_header": crit}
    expect_rejected(service, created, wallet.respond(request, [credential], **options), reason)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"b64": False, "crit": ["b64"]}, "id_token.unsupported_crit"),
        ({"b64": False}, "id_token.malformed"),
    ],
    ids=["b64-crit", "b64-alone"],
)
def test_unencoded_payload(
    service: RunningService, issuers: Issuers, make_wallet: Factory, header: dict[str, Any], reason: str
) -> None:
    """§4 (RFC 7797): `b64: false` — the payload signed raw — is not a JWT and is refused."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    claims = json.dumps(id_token_claims(wallet, request), separators=(",", ":"))
    head = b64url(json.dumps(id_token_header(wallet, **header)).encode())
    signing_input = f"{head}.{claims}".encode()
    form["id_token"] = f"{head}.{b64url(claims.encode())}.{b64url(wallet.holder.key.sign(signing_input))}"
    expect_rejected(service, created, wallet.post(request, form), reason)


# --- Duplicate members and hostile JSON (§4: duplicates rejected; §7: depth and number limits) --- #


def test_duplicate_header_member(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§4 (RFC 7515 §4, POLICY reject): two `kid`s — first-wins and last-wins parsers would disagree."""
    wallet = make_wallet()
    attacker = KeyPair.generate("ed25519")
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    header = f'{{"alg":"EdDSA","typ":"JWT","kid":"{wallet.holder.kid}","kid":"{attacker.did_key_url()}"}}'
    form["id_token"] = sign_raw(wallet.holder.key, header, id_token_claims(wallet, request))
    expect_rejected(service, created, wallet.post(request, form), "id_token.malformed")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("id_token", "id_token.malformed"),
        ("vp", "presentation.malformed"),
        ("vc", "credential.malformed"),
    ],
)
def test_duplicate_payload_member(
    service: RunningService, issuers: Issuers, make_wallet: Factory, target: str, reason: str
) -> None:
    """§4 (POLICY): a payload with a member twice (`nonce`, `iss`, `sub`) is refused, whichever would win."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    credential = age_credential(issuers, wallet)
    form = wallet.build_response(request, [credential])
    key = wallet.holder.key
    if target == "id_token":
        text = json.dumps(id_token_claims(wallet, request))[:-1] + ', "nonce": "attacker-nonce"}'
        form["id_token"] = sign_raw(key, id_token_header(wallet), text)
    elif target == "vp":
        text = json.dumps(vp_claims(wallet, request, [credential]))[:-1] + ', "iss": "did:key:zAttacker"}'
        form["vp_token"] = sign_raw(key, id_token_header(wallet), text)
    else:
        payload = json.loads(base64.urlsafe_b64decode(credential.split(".")[1] + "=="))
        text = json.dumps(payload)[:-1] + ', "sub": "did:key:zSomeoneElse"}'
        header = {"alg": "EdDSA", "typ": "JWT", "kid": issuers.trusted.kid}
        forged = sign_raw(issuers.trusted.key, header, text)
        form["vp_token"] = key.sign_jws(id_token_header(wallet), vp_claims(wallet, request, [forged]))
    expect_rejected(service, created, wallet.post(request, form), reason)


def test_duplicate_member_in_submission(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§4/§7 (POLICY): presentation_submission with `descriptor_map` twice is malformed JSON to us."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    text = form["presentation_submission"]
    form["presentation_submission"] = text[:-1] + ', "descriptor_map": []}'
    expect_rejected(service, created, wallet.post(request, form), "response.malformed_json")


JSON_EDGES = {
    "nan": '"exp": NaN',
    "infinity": '"exp": Infinity',
    "float-overflow": '"exp": 1e400',
    "int-over-digit-limit": '"exp": 1' + "0" * 5000,
    "deep-nesting": '"x": ' + "[" * 200 + "]" * 200,
}


@pytest.mark.parametrize("edge", sorted(JSON_EDGES))
def test_hostile_json_in_id_token(
    service: RunningService, issuers: Issuers, make_wallet: Factory, edge: str
) -> None:
    """§7: NaN/Infinity, numbers that overflow, digit bombs and deep nesting are malformed, not crashes."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    claims = (
        id_token_claims(wallet, request, exp=DELETE)
        if edge != "deep-nesting"
        else id_token_claims(wallet, request)
    )
    text = json.dumps(claims)[:-1] + ", " + JSON_EDGES[edge] + "}"
    form["id_token"] = sign_raw(wallet.holder.key, id_token_header(wallet), text)
    expect_rejected(service, created, wallet.post(request, form), "id_token.malformed")


HUGE_INT = 10**4000  # 4001 digits: under CPython's 4300-digit parsing limit, far past any float


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_huge_integer_time_claim_in_id_token(
    service: RunningService, issuers: Issuers, make_wallet: Factory, claim: str
) -> None:
    """§7: a NumericDate of 4001 digits is not a date; the token is malformed (never a 500)."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    form["id_token"] = wallet.holder.key.sign_jws(
        id_token_header(wallet), id_token_claims(wallet, request, **{claim: HUGE_INT})
    )
    expect_rejected(service, created, wallet.post(request, form), "id_token.malformed")


@pytest.mark.parametrize(
    ("target", "reason"), [("vp", "presentation.malformed"), ("vc", "credential.malformed")]
)
def test_huge_integer_time_claim_in_presentation_or_credential(
    service: RunningService, issuers: Issuers, make_wallet: Factory, target: str, reason: str
) -> None:
    """§7: the same digit bomb in a VP `exp` or a VC `nbf` is malformed, not a crash."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    credential = age_credential(issuers, wallet, nbf=HUGE_INT if target == "vc" else None)
    vp_overrides = {"exp": HUGE_INT} if target == "vp" else None
    expect_rejected(service, created, wallet.respond(request, [credential], vp_claims=vp_overrides), reason)


@pytest.mark.parametrize(
    ("target", "reason"),
    [("vp", "presentation.wrong_typ"), ("vc", "credential.wrong_typ"), ("sd_jwt", "credential.wrong_typ")],
)
@pytest.mark.parametrize("typ", [["JWT"], {"JWT": True}], ids=["list", "object"])
def test_unhashable_typ_header(
    service: RunningService, issuers: Issuers, make_wallet: Factory, target: str, reason: str, typ: Any
) -> None:
    """§4 (RFC 8725 §3.11 explicit typing): a `typ` array or object is a wrong type, not a crash."""
    wallet = make_wallet()
    if target == "sd_jwt":
        created, request = begin(service, wallet, definition_id="age-over-18-sd-jwt")
        issued = issuers.pid.issue(
            {"age_over_18": True},
            vct=PID_VCT,
            holder_jwk=wallet.holder.key.public_jwk(),
            sd=("age_over_18",),
            header_overrides={"typ": typ},
        )
        answer = wallet.respond(request, [], sd_jwt_presentations=[wallet.present_sd_jwt(request, issued)])
    else:
        created, request = begin(service, wallet)
        credential = age_credential(
            issuers, wallet, header_overrides={"typ": typ} if target == "vc" else None
        )
        answer = wallet.respond(request, [credential], vp_header={"typ": typ} if target == "vp" else None)
    expect_rejected(service, created, answer, reason)


# --- Encodings (§7): non-UTF-8, overlong UTF-8, in token segments and in the form body --- #


@pytest.mark.parametrize("segment", ["header", "payload"])
@pytest.mark.parametrize(
    "raw", [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80"], ids=["invalid", "overlong", "surrogate"]
)
def test_non_utf8_in_token_segment(
    service: RunningService, issuers: Issuers, make_wallet: Factory, segment: str, raw: bytes
) -> None:
    """§7 (RFC 8259 §8.1): a header or payload that is not UTF-8 (overlong '/', surrogates) is malformed."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    header = json.dumps(id_token_header(wallet)).encode()
    payload = json.dumps(id_token_claims(wallet, request)).encode()
    if segment == "header":
        header = header[:-1] + b', "x": "' + raw + b'"}'
    else:
        payload = payload[:-1] + b', "x": "' + raw + b'"}'
    form["id_token"] = sign_raw(wallet.holder.key, header, payload)
    expect_rejected(service, created, wallet.post(request, form), "id_token.malformed")


@pytest.mark.parametrize(
    "raw", [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80"], ids=["invalid", "overlong", "surrogate"]
)
def test_non_utf8_form_body(
    service: RunningService, issuers: Issuers, make_wallet: Factory, raw: bytes
) -> None:
    """§7: a form body that is not UTF-8 is refused as such (after the state is known, so it is decided)."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    body = f"state={request.state}&id_token=".encode() + raw
    expect_rejected(service, created, post_raw(wallet, request, body), "response.not_utf8")


def test_percent_encoded_invalid_utf8_in_a_token(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§7: percent-escaped invalid UTF-8 (%C0%AF) inside the id_token decodes to no valid compact JWS."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    body = "&".join(f"{name}={quote(value, safe='')}" for name, value in form.items() if name != "id_token")
    body += "&id_token=" + form["id_token"][:20] + "%C0%AF" + form["id_token"][20:]
    expect_rejected(service, created, post_raw(wallet, request, body.encode()), "id_token.malformed")


# --- Shapes of the compact serialization (§4, §7) --- #


def test_empty_payload(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§7 (RFC 7515): `header..signature` has no claims to check: malformed."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    form["id_token"] = sign_raw(wallet.holder.key, id_token_header(wallet), b"")
    expect_rejected(service, created, wallet.post(request, form), "id_token.malformed")


def test_detached_payload(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§7 (RFC 7515 App. F): a detached-content JWS (payload segment removed) is not accepted as a token."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    head, _, signature = form["id_token"].split(".")
    form["id_token"] = f"{head}..{signature}"
    expect_rejected(service, created, wallet.post(request, form), "id_token.malformed")


@pytest.mark.parametrize("segments", [4, 5], ids=["four", "jwe-shaped"])
@pytest.mark.parametrize(
    ("target", "reason"), [("id_token", "id_token.malformed"), ("vp", "presentation.malformed")]
)
def test_wrong_number_of_segments(
    service: RunningService,
    issuers: Issuers,
    make_wallet: Factory,
    segments: int,
    target: str,
    reason: str,
) -> None:
    """§4/§7: a compact JWE (5 parts) or any other shape where a JWS (3 parts) is expected is refused."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    field = "id_token" if target == "id_token" else "vp_token"
    if segments == 5:
        header = b64url(json.dumps({"alg": "ECDH-ES", "enc": "A256GCM"}).encode())
        form[field] = f"{header}..{b64url(b'iv' * 6)}.{b64url(b'ciphertext')}.{b64url(b'tag' * 5)}"
    else:
        form[field] = form[field] + "." + b64url(b"extra")
    expect_rejected(service, created, wallet.post(request, form), reason)


def test_submission_for_vp_helper_is_valid(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """Control: the helpers the attacks bend produce an accepted response when left unbent."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    credential = age_credential(issuers, wallet)
    form = wallet.build_response(request, [credential], submission=submission_for_vp(request))
    form["id_token"] = wallet.holder.key.sign_jws(id_token_header(wallet), id_token_claims(wallet, request))
    form["vp_token"] = wallet.holder.key.sign_jws(
        id_token_header(wallet), vp_claims(wallet, request, [credential])
    )
    answer = wallet.post(request, form)
    assert answer.status_code == 200, answer.text
    assert service.verdict(created["transaction_id"])["result"] == "verified"
