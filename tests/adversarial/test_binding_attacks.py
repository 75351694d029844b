"""Hostile wallets, part 2: token substitution, replay and binding (security.md §1, §4, §5, §6).

Each test is one attack over HTTP through the real service; see tests/adversarial/forge.py for the judge.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.adversarial.forge import (
    age_credential,
    begin,
    did_key_from_codec,
    expect_rejected,
    id_token_claims,
    id_token_header,
)
from tests.e2e.actors import KeyPair, Wallet
from tests.e2e.conftest import Issuers, RunningService

Factory = Callable[..., Wallet]
SKEW = 60  # the service's default clock_skew


# --- Token substitution (§4 explicit typing; §5 holder binding) --- #


def test_vp_jwt_as_id_token(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§4/§5: the holder's own VP JWT (right nonce, aud, signer) is no ID Token: it has no `sub`."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    form["id_token"] = form["vp_token"]
    expect_rejected(service, created, wallet.post(request, form), "id_token.sub_missing")


def test_id_token_as_vp_token(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§4/§5: the ID Token placed as the vp_token carries no `vp` and so no credential."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    form["vp_token"] = form["id_token"]
    expect_rejected(service, created, wallet.post(request, form), "presentation.malformed")


def test_vc_jwt_as_vp_token(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§5: a bare credential is not a presentation: its issuer did not present it for this holder."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    credential = age_credential(issuers, wallet)
    form = wallet.build_response(request, [credential])
    form["vp_token"] = credential
    expect_rejected(
        service, created, wallet.post(request, form), "holder_binding.presentation_holder_mismatch"
    )


def test_vc_jwt_as_id_token(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§5 (SIOPv2 §11.1): a credential about the holder is not self-issued (`iss` is the issuer)."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    credential = age_credential(issuers, wallet)
    form = wallet.build_response(request, [credential])
    form["id_token"] = credential
    expect_rejected(service, created, wallet.post(request, form), "id_token.iss_sub_mismatch")


# --- Replay across transactions (§1: every presentation bound to this transaction's nonce; §6 state) --- #


def test_vp_from_another_transaction(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§1 (OID4VP §14.1.2): a VP made for transaction A, inside an otherwise fresh response to B."""
    wallet = make_wallet()
    _, request_a = begin(service, wallet)
    created_b, request_b = begin(service, wallet)
    credential = age_credential(issuers, wallet)
    form_a = wallet.build_response(request_a, [credential])
    form_b = wallet.build_response(request_b, [credential])
    form_b["vp_token"] = form_a["vp_token"]
    expect_rejected(service, created_b, wallet.post(request_b, form_b), "presentation.nonce_mismatch")


def test_accepted_response_replayed_into_another_transaction(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§1 (nonce single use): a response that was accepted for A is replayed, with B's state, into B."""
    wallet = make_wallet()
    created_a, request_a = begin(service, wallet)
    created_b, request_b = begin(service, wallet)
    form = wallet.build_response(request_a, [age_credential(issuers, wallet)])
    assert wallet.post(request_a, form).status_code == 200
    assert service.verdict(created_a["transaction_id"])["result"] == "verified"
    form["state"] = str(request_b.state)
    expect_rejected(service, created_b, wallet.post(request_b, form), "id_token.nonce_mismatch")


def test_state_from_another_transaction(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§1/§6: a response carrying A's state, posted to B, is evaluated against B and refused."""
    wallet = make_wallet()
    _, request_a = begin(service, wallet)
    created_b, request_b = begin(service, wallet)
    form = wallet.build_response(request_b, [age_credential(issuers, wallet)], state=str(request_a.state))
    expect_rejected(
        service,
        created_b,
        wallet.post(request_b, form),
        "transaction.state_mismatch",
        injected=[str(request_a.state)],
    )


# --- Clock edges (§4: bounded skew, 60 s by default) --- #


def test_exp_at_the_skew_boundary(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§4: `exp` exactly one skew in the past is expired (the tolerance is `now < exp + skew`)."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    now = int(time.time())
    claims = {"exp": now - SKEW, "iat": now - 120}
    answer = wallet.respond(request, [age_credential(issuers, wallet)], id_token_claims=claims)
    expect_rejected(service, created, answer, "id_token.expired")


def test_exp_exactly_now_is_within_the_skew(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§4 boundary control: `exp` == now is still inside the 60 s tolerance, so the response is accepted."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    now = int(time.time())
    answer = wallet.respond(
        request, [age_credential(issuers, wallet)], id_token_claims={"exp": now, "iat": now}
    )
    assert answer.status_code == 200, answer.text
    assert service.verdict(created["transaction_id"])["result"] == "verified"


def test_iat_120_seconds_in_the_future(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§4: an ID Token issued two minutes from now (beyond the 60 s skew) is refused."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    now = int(time.time())
    claims = {"iat": now + 120, "exp": now + 600}
    answer = wallet.respond(request, [age_credential(issuers, wallet)], id_token_claims=claims)
    expect_rejected(service, created, answer, "id_token.issued_in_future")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("id_token", "id_token.not_yet_valid"),
        ("vp", "presentation.not_yet_valid"),
        ("vc", "credential.not_yet_valid"),
    ],
)
def test_nbf_beyond_the_skew(
    service: RunningService, issuers: Issuers, make_wallet: Factory, target: str, reason: str
) -> None:
    """§4: `nbf` 61 s ahead (one second past the skew) is not yet valid, on every token kind."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    nbf = int(time.time()) + SKEW + 2
    credential = age_credential(issuers, wallet, nbf=nbf if target == "vc" else None)
    answer = wallet.respond(
        request,
        [credential],
        id_token_claims={"nbf": nbf} if target == "id_token" else None,
        vp_claims={"nbf": nbf} if target == "vp" else None,
    )
    expect_rejected(service, created, answer, reason)


# --- Hostile subjects (§5: did:key decoding, key validity, thumbprint binding) --- #

_P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
_P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def _off_curve_p256_x() -> int:
    """An x for which x^3 - 3x + b has no square root mod p: no point, either parity."""
    x = 1
    while pow((x**3 - 3 * x + _P256_B) % _P256_P, (_P256_P - 1) // 2, _P256_P) != _P256_P - 1:
        x += 1
    return x


def _ed25519_raw(key: KeyPair) -> bytes:
    jwk = key.public_jwk()
    return base64.urlsafe_b64decode(jwk["x"] + "=")


HOSTILE_DIDS: dict[str, tuple[Callable[[KeyPair], str], str]] = {
    # 0x1205 is RSA's public-key multicodec: not a key type we decode.
    "unknown-multicodec": (
        lambda k: did_key_from_codec(0x1205, b"\x02" + b"\x11" * 32),
        "key.unsupported_type",
    ),
    # The holder's Ed25519 bytes under the P-256 prefix: the lengths do not fit.
    "ed25519-bytes-p256-prefix": (
        lambda k: did_key_from_codec(0x1200, _ed25519_raw(k)),
        "key.invalid_length",
    ),
    "off-curve-p256": (
        lambda k: did_key_from_codec(0x1200, b"\x02" + _off_curve_p256_x().to_bytes(32, "big")),
        "key.invalid_point",
    ),
    # The identity point: with it one signature verifies for many messages.
    "small-order-ed25519": (lambda k: did_key_from_codec(0xED, b"\x01" + b"\x00" * 31), "key.invalid_point"),
    "order-8-ed25519": (
        lambda k: did_key_from_codec(
            0xED, bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
        ),
        "key.invalid_point",
    ),
    # An X25519 key (key agreement only) as the subject of a signature.
    "x25519-subject": (lambda k: did_key_from_codec(0xEC, _ed25519_raw(k)), "did.wrong_relationship"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_DIDS))
def test_hostile_did_key_subject(
    service: RunningService, issuers: Issuers, make_wallet: Factory, case: str
) -> None:
    """§5 (did:key security): a subject DID with a wrong multicodec, a wrong length, an off-curve or
    small-order point, or a key-agreement key is refused before any signature is trusted."""
    make_did, reason = HOSTILE_DIDS[case]
    wallet = make_wallet("ed25519")
    created, request = begin(service, wallet)
    did = make_did(wallet.holder.key)
    form = wallet.build_response(request, [age_credential(issuers, wallet)])
    header = id_token_header(wallet, kid=f"{did}#{did.split(':')[2]}")
    form["id_token"] = wallet.holder.key.sign_jws(header, id_token_claims(wallet, request, iss=did, sub=did))
    expect_rejected(service, created, wallet.post(request, form), reason)


def test_off_curve_helper_is_off_curve() -> None:
    """Control: the off-curve x really has no point (cryptography refuses both parities)."""
    x = _off_curve_p256_x().to_bytes(32, "big")
    for prefix in (b"\x02", b"\x03"):
        with pytest.raises(ValueError):
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), prefix + x)


def test_thumbprint_does_not_match_sub_jwk(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§5 (SIOPv2 §11.1 step 5): `sub` is the victim's thumbprint; `sub_jwk` and signature the attacker's."""
    victim = make_wallet("p256", "jwk_thumbprint")
    attacker = KeyPair.generate("p256")
    created, request = begin(service, victim)
    form = victim.build_response(
        request,
        [age_credential(issuers, victim)],
        id_token_signer=attacker,
        id_token_claims={"sub_jwk": attacker.public_jwk()},
    )
    expect_rejected(service, created, victim.post(request, form), "id_token.thumbprint_mismatch")


def test_did_subject_with_sub_jwk(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§5: a DID subject offering its own `sub_jwk` (a second key source) is refused."""
    wallet = make_wallet()
    attacker = KeyPair.generate("ed25519")
    created, request = begin(service, wallet)
    answer = wallet.respond(
        request, [age_credential(issuers, wallet)], id_token_claims={"sub_jwk": attacker.public_jwk()}
    )
    expect_rejected(service, created, answer, "id_token.sub_jwk_forbidden")


def test_credential_of_another_holder_presented(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§5 (holder binding): a genuine credential issued to someone else, presented by the attacker."""
    victim = make_wallet()
    attacker = make_wallet()
    created, request = begin(service, attacker)
    stolen = age_credential(issuers, victim)
    expect_rejected(service, created, attacker.respond(request, [stolen]), "holder_binding.subject_mismatch")
