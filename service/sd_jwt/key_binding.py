"""The holder key (``cnf``) and the Key Binding JWT checks (RFC 9901 §4.3, §7.3 step 5).

Whether key binding is required is the caller's policy, fixed before the token is looked at (§7.3 step 1,
§9.5); ``verify_key_binding`` is called only when it is, and then a missing KB-JWT is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from service.errors import KeyBindingInvalid, MalformedKey
from service.id_token import check_nonce, check_time_claims
from service.jose.jwk import PublicJwk, parse_public_jwk
from service.jose.jws import TokenKind, decode_jws, verify_jws
from service.sd_jwt.disclosures import sd_digest
from service.sd_jwt.serialization import SD_JWT, SdJwtPresentation

__all__ = [
    "KB_JWT_TYP",
    "KEY_BINDING",
    "KeyBindingExpectations",
    "holder_key_from_cnf",
    "verify_key_binding",
]

KEY_BINDING: Final = TokenKind("key_binding", KeyBindingInvalid)
KB_JWT_TYP: Final = "kb+jwt"
_DID_PREFIX: Final = "did:"


@dataclass(frozen=True, slots=True)
class KeyBindingExpectations:
    """What this transaction expects of the KB-JWT (OpenID4VP 1.0 App. B.3.6)."""

    client_id: str
    """The ``aud`` the KB-JWT must carry: our Client Identifier, prefix included."""
    nonce: str
    """The request nonce the KB-JWT must echo."""
    allowed_algs: frozenset[str]
    clock_skew: int
    """Seconds of tolerance on ``iat`` and ``exp``."""
    max_age: int
    """How old, in seconds, the KB-JWT ``iat`` may be."""


def holder_key_from_cnf(cnf: object) -> PublicJwk | str:
    """The holder key named by ``cnf``: a parsed ``jwk``, or a ``kid`` DID URL to resolve (RFC 7800 §3)."""
    if cnf is None:
        raise SD_JWT.fail("cnf_missing", "The SD-JWT has no cnf claim")
    if not isinstance(cnf, Mapping):
        raise SD_JWT.fail("cnf_invalid", "The cnf claim is not a JSON object")
    if "jwk" in cnf:
        # A kid next to a jwk only names that jwk; the embedded key is what the issuer signed.
        return _cnf_jwk(cnf["jwk"])
    kid = cnf.get("kid")
    if kid is None:
        # jku, jwe, x5t#S256 and the like are not supported confirmation methods here.
        raise SD_JWT.fail("cnf_missing", "The cnf claim has neither jwk nor kid")
    if not isinstance(kid, str) or not kid.startswith(_DID_PREFIX):
        # Only a DID URL can be resolved without trusting the holder to point us at a key.
        raise SD_JWT.fail("cnf_invalid", "The cnf kid is not a DID URL")
    return kid


def _cnf_jwk(jwk: object) -> PublicJwk:
    if not isinstance(jwk, Mapping):
        raise SD_JWT.fail("cnf_invalid", "The cnf jwk is not a JSON object")
    try:
        return parse_public_jwk(jwk)
    except MalformedKey as exc:
        raise SD_JWT.fail("cnf_invalid", "The cnf jwk is not a usable public key") from exc


def verify_key_binding(
    presentation: SdJwtPresentation,
    *,
    holder_key: PublicJwk,
    sd_alg: str,
    expected: KeyBindingExpectations,
    now: float,
) -> None:
    """Check the KB-JWT of a presentation that must be key-bound (RFC 9901 §7.3 step 5)."""
    if presentation.kb_jwt is None:
        raise KEY_BINDING.fail("missing", "The SD-JWT has no Key Binding JWT")
    jws = decode_jws(presentation.kb_jwt, kind=KEY_BINDING)
    _check_typ(jws.header)
    verify_jws(jws, holder_key, allowed_algs=expected.allowed_algs, kind=KEY_BINDING)
    payload = jws.payload
    check_time_claims(
        payload,
        now=now,
        skew=expected.clock_skew,
        max_age=expected.max_age,
        kind=KEY_BINDING,
        require_exp=False,
    )
    _check_audience(payload, expected.client_id)
    check_nonce(payload, expected.nonce, kind=KEY_BINDING)
    _check_sd_hash(payload, presentation.sd_jwt, sd_alg)


def _check_typ(header: Mapping[str, Any]) -> None:
    """Explicit typing keeps another JWT from passing as a KB-JWT (RFC 9901 §4.3, §9.11)."""
    if header.get("typ") != KB_JWT_TYP:
        raise KEY_BINDING.fail("wrong_typ", "The Key Binding JWT typ is not kb+jwt")


def _check_audience(payload: Mapping[str, Any], client_id: str) -> None:
    """``aud`` is a single string naming this verifier; an array is refused (RFC 9901 §4.3)."""
    if payload.get("aud") != client_id:
        raise KEY_BINDING.fail("audience_mismatch", "The Key Binding JWT audience is not this verifier")


def _check_sd_hash(payload: Mapping[str, Any], sd_jwt: str, sd_alg: str) -> None:
    """``sd_hash`` binds exactly the presented issuer JWT and Disclosures (RFC 9901 §4.3.1)."""
    value = payload.get("sd_hash")
    if not isinstance(value, str):
        raise KEY_BINDING.fail("sd_hash_missing", "The Key Binding JWT has no sd_hash")
    # Not a secret: a plain comparison is fine, and it also copes with non-ASCII input.
    if value != sd_digest(sd_jwt, sd_alg):
        raise KEY_BINDING.fail("sd_hash_mismatch", "The Key Binding JWT sd_hash does not match")
