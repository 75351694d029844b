"""Step 3a: the Self-Issued ID Token (SIOPv2 draft 13 §11.1).

``inspect_id_token`` decodes and tells which key material is needed (a DID to resolve, or ``sub_jwk``);
``verify_id_token`` then runs the §11.1 checks, in the spec's order, over the resolved key. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from service.did.resolve import DidDocument, select_verification_method
from service.errors import IdTokenInvalid, MalformedKey
from service.jose.jwk import PublicJwk, jwk_thumbprint, parse_public_jwk
from service.jose.jws import Jws, TokenKind, decode_jws, verify_jws
from service.vocabulary import JWK_THUMBPRINT_URN_PREFIX

__all__ = [
    "ID_TOKEN",
    "PROFILE_SIOPV2",
    "PROFILE_SIOPV2_EARLY",
    "PROFILE_SIOP_V1",
    "Holder",
    "IdTokenExpectations",
    "IdTokenSubject",
    "check_audience",
    "check_nonce",
    "check_time_claims",
    "inspect_id_token",
    "verify_id_token",
]

ID_TOKEN = TokenKind("id_token", IdTokenInvalid)
SubjectMethod = Literal["did", "jwk_thumbprint"]

# Self-issued token profiles (siopv2.md Ambiguities 4). Only the first is on by default.
PROFILE_SIOPV2 = "siopv2-d13"  # iss == sub (SIOPv2 draft 08 and later)
PROFILE_SIOP_V1 = "siop-v1"  # OIDC Core §7: iss https://self-issued.me, sub = thumbprint of sub_jwk
PROFILE_SIOPV2_EARLY = "siopv2-early"  # SIOPv2 drafts <= 07: iss https://self-issued.me/v2
_LEGACY_ISSUERS = {
    "https://self-issued.me": PROFILE_SIOP_V1,
    "https://self-issued.me/v2": PROFILE_SIOPV2_EARLY,
}


@dataclass(frozen=True, slots=True)
class IdTokenExpectations:
    """What this transaction expects of the ID Token."""

    client_id: str
    nonce: str
    allowed_algs: frozenset[str]
    subject_methods: frozenset[str]
    """DID methods accepted as subjects (e.g. {"key", "jwk"}); thumbprints are always accepted."""
    clock_skew: int
    max_age: int


@dataclass(frozen=True, slots=True)
class IdTokenSubject:
    """What the decoded token says about its subject, before any key is trusted."""

    jws: Jws
    method: SubjectMethod
    subject: str
    """The normalised subject: a DID, or the RFC 9278 thumbprint URN."""
    did: str | None
    profile: str = PROFILE_SIOPV2


@dataclass(frozen=True, slots=True)
class Holder:
    """The holder established by a valid ID Token: every presentation must come from this key."""

    id: str
    method: SubjectMethod
    key: PublicJwk
    did: str | None
    document: DidDocument | None
    profile: str = PROFILE_SIOPV2

    def is_named_by(self, value: object) -> bool:
        """True when ``value`` names this holder; a thumbprint may come bare or as the RFC 9278 URN."""
        if value == self.id:
            return True
        return (
            self.method == "jwk_thumbprint"
            and isinstance(value, str)
            and JWK_THUMBPRINT_URN_PREFIX + value == self.id
        )


def inspect_id_token(
    token: object, *, max_length: int, legacy_profiles: frozenset[str] = frozenset()
) -> IdTokenSubject:
    """Decode the ID Token and classify its subject (SIOPv2 §11.1 steps 1 and 3).

    ``legacy_profiles`` enables the older self-issued tokens, each on purpose: SIOP v1 (OIDC Core §7) and
    early SIOPv2 drafts, whose ``iss`` is a fixed URL rather than the subject.
    """
    jws = decode_jws(token, kind=ID_TOKEN, max_length=max_length)
    iss, sub = jws.payload.get("iss"), jws.payload.get("sub")
    if not isinstance(sub, str) or not sub:
        raise ID_TOKEN.fail("sub_missing", "ID Token has no sub")
    profile = PROFILE_SIOPV2
    if iss != sub:
        profile = _legacy_profile(iss, legacy_profiles)
    if sub.startswith("did:") and profile != PROFILE_SIOP_V1:
        if "sub_jwk" in jws.payload:
            raise ID_TOKEN.fail("sub_jwk_forbidden", "ID Token with a DID subject must not carry sub_jwk")
        return IdTokenSubject(jws=jws, method="did", subject=sub, did=sub, profile=profile)
    if sub.startswith(JWK_THUMBPRINT_URN_PREFIX) or _looks_like_thumbprint(sub):
        # SIOPv2 prose says "base64url thumbprint", its examples use the RFC 9278 URN: accept both,
        # compare and report in URN form.
        urn = sub if sub.startswith(JWK_THUMBPRINT_URN_PREFIX) else JWK_THUMBPRINT_URN_PREFIX + sub
        return IdTokenSubject(jws=jws, method="jwk_thumbprint", subject=urn, did=None, profile=profile)
    raise ID_TOKEN.fail("unsupported_subject_type", "ID Token subject syntax type is not supported")


def _legacy_profile(iss: object, enabled: frozenset[str]) -> str:
    profile = _LEGACY_ISSUERS.get(iss) if isinstance(iss, str) else None
    if profile is None:
        raise ID_TOKEN.fail("iss_sub_mismatch", "ID Token iss does not equal sub (not self-issued)")
    if profile not in enabled:
        raise ID_TOKEN.fail("legacy_profile_disabled", "Older self-issued ID Tokens are not enabled")
    return profile


def _looks_like_thumbprint(sub: str) -> bool:
    # A SHA-256 thumbprint is 43 base64url characters.
    return len(sub) == 43 and all(c.isalnum() or c in "-_" for c in sub)


def verify_id_token(
    subject: IdTokenSubject,
    *,
    document: DidDocument | None,
    expected: IdTokenExpectations,
    now: float,
) -> Holder:
    """Run SIOPv2 §11.1 steps 2-7 over an inspected token and its resolved key material."""
    payload = subject.jws.payload
    check_audience(payload, expected.client_id, kind=ID_TOKEN)
    key = _subject_key(subject, document, expected)
    verify_jws(subject.jws, key, allowed_algs=expected.allowed_algs, kind=ID_TOKEN)
    _check_subject_matches_key(subject, key)
    check_time_claims(payload, now=now, skew=expected.clock_skew, max_age=expected.max_age, kind=ID_TOKEN)
    check_nonce(payload, expected.nonce, kind=ID_TOKEN)
    return Holder(
        id=subject.subject,
        method=subject.method,
        key=key,
        did=subject.did,
        document=document,
        profile=subject.profile,
    )


def _subject_key(
    subject: IdTokenSubject, document: DidDocument | None, expected: IdTokenExpectations
) -> PublicJwk:
    if subject.method == "jwk_thumbprint":
        sub_jwk = subject.jws.payload.get("sub_jwk")
        if not isinstance(sub_jwk, dict):
            raise ID_TOKEN.fail("sub_jwk_missing", "ID Token with a thumbprint subject needs sub_jwk")
        try:
            return parse_public_jwk(sub_jwk)
        except MalformedKey as exc:
            raise ID_TOKEN.fail("sub_jwk_invalid", "ID Token sub_jwk is not a usable public key") from exc
    method = (subject.did or "").split(":")[1] if subject.did and subject.did.count(":") >= 2 else ""
    if method not in expected.subject_methods:
        raise ID_TOKEN.fail("unsupported_subject_type", "ID Token DID method is not supported")
    if document is None or document.id != subject.did:
        # SIOPv2 §11.1 step 5: the resolved document must be the subject's own.
        raise ID_TOKEN.fail("did_mismatch", "Resolved DID document does not match the subject")
    return select_verification_method(document, subject.jws.kid, relationship="authentication").public_key


def _check_subject_matches_key(subject: IdTokenSubject, key: PublicJwk) -> None:
    if (
        subject.method == "jwk_thumbprint"
        and JWK_THUMBPRINT_URN_PREFIX + jwk_thumbprint(key) != subject.subject
    ):
        raise ID_TOKEN.fail("thumbprint_mismatch", "ID Token sub is not the thumbprint of sub_jwk")


def check_nonce(payload: Mapping[str, Any], nonce: str, *, kind: TokenKind) -> None:
    """The token echoes this transaction's nonce (SIOPv2 §11.1 step 7; OpenID4VP §14.1.2)."""
    value = payload.get("nonce")
    if not isinstance(value, str):
        raise kind.fail("nonce_missing", "Token has no nonce")
    if value != nonce:
        raise kind.fail("nonce_mismatch", "Token nonce does not match the request")


def check_audience(payload: Mapping[str, Any], client_id: str, *, kind: TokenKind) -> None:
    """``aud`` is our client_id or an array holding it; several audiences need ``azp`` (OIDC Core 3.1.3.7)."""
    aud = payload.get("aud")
    if aud == client_id:
        return
    # Several audiences: OIDC Core asks that the authorized party (azp) be us.
    if isinstance(aud, list) and client_id in aud and (len(aud) == 1 or payload.get("azp") == client_id):
        return
    raise kind.fail("audience_mismatch", "Token audience is not this verifier")


def _numeric_date(payload: Mapping[str, Any], claim: str, kind: TokenKind) -> float | None:
    value = payload.get(claim)
    if value is None:
        return None
    # bool is an int subclass; a NumericDate is never true/false.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise kind.fail("malformed", f"Token {claim} is not a NumericDate")
    try:
        return float(value)
    except OverflowError as exc:
        # A JSON integer beyond any float: no real instant, so no real token.
        raise kind.fail("malformed", f"Token {claim} is out of range") from exc


def check_time_claims(
    payload: Mapping[str, Any],
    *,
    now: float,
    skew: int,
    max_age: int | None,
    kind: TokenKind,
    require_exp: bool = True,
    require_iat: bool = True,
) -> None:
    """``exp`` in the future, ``nbf`` reached, ``iat`` neither in the future nor older than ``max_age``."""
    exp = _numeric_date(payload, "exp", kind)
    iat = _numeric_date(payload, "iat", kind)
    nbf = _numeric_date(payload, "nbf", kind)
    if exp is None and require_exp:
        raise kind.fail("exp_missing", "Token has no exp")
    if iat is None and require_iat:
        raise kind.fail("iat_missing", "Token has no iat")
    if exp is not None and now >= exp + skew:
        raise kind.fail("expired", "Token has expired")
    if nbf is not None and now + skew < nbf:
        raise kind.fail("not_yet_valid", "Token is not valid yet")
    if iat is not None and iat > now + skew:
        raise kind.fail("issued_in_future", "Token was issued in the future")
    if iat is not None and max_age is not None and now - iat > max_age + skew:
        raise kind.fail("too_old", "Token was issued too long ago")
