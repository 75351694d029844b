"""Step 3c for W3C credentials as JWTs: ``jwt_vp_json`` presentations carrying ``jwt_vc_json`` credentials.

VCDM 1.1 §6.3.1 (JWT encoding) and OpenID4VP App. A.1 / 1.0 App. B.1.3.1. Pure functions: the holder
and the issuer keys arrive resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from service.clock import UTC_SECONDS_FORMAT, format_utc
from service.did.resolve import select_verification_method
from service.errors import CredentialInvalid, HolderBindingFailed, MalformedKey, PresentationInvalid
from service.id_token import Holder, check_audience, check_nonce, check_time_claims
from service.jose.jwk import PublicJwk, jwk_thumbprint, parse_public_jwk
from service.jose.jws import Jws, TokenKind, decode_jws, verify_jws
from service.trust import TrustDecision
from service.vocabulary import (
    FORMAT_JWT_VC_JSON,
    FORMAT_JWT_VP_JSON,
    JWK_THUMBPRINT_URN_PREFIX,
    VC_CONTEXT_V1,
    VC_TYPE,
    VP_TYPE,
)

__all__ = [
    "CREDENTIAL",
    "PRESENTATION",
    "PresentationExpectations",
    "VerifiedCredential",
    "VerifiedPresentation",
    "credential_issuer",
    "decode_credential",
    "decode_presentation",
    "vcdm_view",
    "verify_credential",
    "verify_presentation",
]

PRESENTATION = TokenKind("presentation", PresentationInvalid)
CREDENTIAL = TokenKind("credential", CredentialInvalid)
_ALLOWED_TYP = frozenset({"JWT"})


@dataclass(frozen=True, slots=True)
class PresentationExpectations:
    """What this transaction expects of every presentation."""

    client_id: str
    nonce: str
    allowed_algs: frozenset[str]
    clock_skew: int
    max_age: int
    max_credentials: int


@dataclass(frozen=True, slots=True)
class VerifiedPresentation:
    """A VP JWT whose holder proof, nonce and audience checked out."""

    format: str
    alg: str
    documents: tuple[Mapping[str, Any], ...]
    credentials: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """A VC JWT whose issuer signature, validity and holder binding checked out."""

    format: str
    alg: str
    documents: tuple[Mapping[str, Any], ...]
    issuer: str
    types: tuple[str, ...]
    subject: str | None
    trust: TrustDecision | None = None
    """Filled in by the pipeline once the issuer's trust rule and key source are known."""


def _check_typ(jws: Jws, kind: TokenKind) -> None:
    typ = jws.header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ not in _ALLOWED_TYP):
        raise kind.fail("wrong_typ", "Token typ is not JWT")


def _types_of(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return ()


# --- Presentations --- #


def decode_presentation(token: object, *, max_length: int) -> Jws:
    """Decode a VP JWT (signature not yet checked)."""
    jws = decode_jws(token, kind=PRESENTATION, max_length=max_length)
    _check_typ(jws, PRESENTATION)
    return jws


def verify_presentation(
    jws: Jws, *, holder: Holder, expected: PresentationExpectations, now: float
) -> VerifiedPresentation:
    """Holder proof of a VP JWT: signed by the ID Token's holder, bound to our nonce and client_id."""
    payload = jws.payload
    key = _presentation_key(jws, holder)
    verify_jws(jws, key, allowed_algs=expected.allowed_algs, kind=PRESENTATION)
    check_nonce(payload, expected.nonce, kind=PRESENTATION)
    check_audience(payload, expected.client_id, kind=PRESENTATION)
    check_time_claims(
        payload,
        now=now,
        skew=expected.clock_skew,
        max_age=expected.max_age,
        kind=PRESENTATION,
        require_exp=False,
        require_iat=False,
    )
    credentials = _vp_credentials(payload, holder, expected.max_credentials)
    return VerifiedPresentation(
        format=FORMAT_JWT_VP_JSON, alg=jws.alg, documents=(payload,), credentials=credentials
    )


def _presentation_key(jws: Jws, holder: Holder) -> PublicJwk:
    iss = jws.payload.get("iss")
    if holder.method == "did":
        if not holder.is_named_by(iss):
            # VCDM 1.1 §6.3.1: a VP's `iss` is its holder; it must be the subject of the ID Token.
            raise HolderBindingFailed(
                "holder_binding.presentation_holder_mismatch",
                "The presentation was not made by the ID Token subject",
            )
        assert holder.document is not None
        return select_verification_method(holder.document, jws.kid, relationship="authentication").public_key
    # JWK thumbprint holder: the VP must verify with sub_jwk; `iss` or a header `jwk`, if given, must agree.
    if iss is not None and not holder.is_named_by(iss):
        raise HolderBindingFailed(
            "holder_binding.presentation_holder_mismatch",
            "The presentation was not made by the ID Token subject",
        )
    header_jwk = jws.header.get("jwk")
    if header_jwk is not None and _thumbprint_urn(header_jwk) != holder.id:
        raise HolderBindingFailed(
            "holder_binding.presentation_holder_mismatch",
            "The presentation key is not the ID Token subject key",
        )
    return holder.key


def _thumbprint_urn(jwk: object) -> str | None:
    if not isinstance(jwk, dict):
        return None
    try:
        return JWK_THUMBPRINT_URN_PREFIX + jwk_thumbprint(parse_public_jwk(jwk))
    except MalformedKey:
        return None


def _vp_credentials(payload: Mapping[str, Any], holder: Holder, max_credentials: int) -> tuple[str, ...]:
    vp = payload.get("vp")
    if not isinstance(vp, dict) or VP_TYPE not in _types_of(vp.get("type")):
        raise PRESENTATION.fail("malformed", "Presentation has no vp object of type VerifiablePresentation")
    vp_holder = vp.get("holder")
    if vp_holder is not None and not holder.is_named_by(vp_holder):
        raise HolderBindingFailed(
            "holder_binding.presentation_holder_mismatch",
            "The presentation holder is not the ID Token subject",
        )
    credentials = vp.get("verifiableCredential", [])
    if isinstance(credentials, str):
        credentials = [credentials]
    if not isinstance(credentials, list) or not all(isinstance(c, str) for c in credentials):
        raise PRESENTATION.fail("malformed", "Presentation credentials must be JWT strings")
    if len(credentials) > max_credentials:
        raise PRESENTATION.fail("too_many_credentials", "Presentation carries too many credentials")
    return tuple(credentials)


# --- Credentials --- #


def decode_credential(token: object, *, max_length: int) -> Jws:
    """Decode a VC JWT (signature not yet checked)."""
    jws = decode_jws(token, kind=CREDENTIAL, max_length=max_length)
    _check_typ(jws, CREDENTIAL)
    return jws


def credential_issuer(jws: Jws) -> str:
    """The issuer a VC JWT claims (``iss``, which must agree with ``vc.issuer``)."""
    iss = jws.payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise CREDENTIAL.fail("issuer_missing", "Credential has no iss")
    return iss


def verify_credential(
    jws: Jws,
    *,
    issuer_key: PublicJwk,
    holder: Holder,
    allowed_algs: frozenset[str],
    now: float,
    clock_skew: int,
) -> VerifiedCredential:
    """Issuer signature, VCDM structure, validity window, and binding of the subject to the holder."""
    verify_jws(jws, issuer_key, allowed_algs=allowed_algs, kind=CREDENTIAL)
    payload = jws.payload
    vc = _vc_object(payload)
    issuer = credential_issuer(jws)
    _check_consistency(payload, vc, issuer)
    check_time_claims(
        payload, now=now, skew=clock_skew, max_age=None, kind=CREDENTIAL, require_exp=False, require_iat=False
    )
    _check_vc_dates(vc, now=now, skew=clock_skew)
    subject = _subject_of(payload, vc)
    _check_bound_to_holder(subject, payload, holder)
    return VerifiedCredential(
        format=FORMAT_JWT_VC_JSON,
        alg=jws.alg,
        documents=(payload, vcdm_view(payload)),
        issuer=issuer,
        types=_types_of(vc.get("type")),
        subject=subject,
    )


def _vc_object(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    vc = payload.get("vc")
    if not isinstance(vc, dict):
        raise CREDENTIAL.fail("malformed", "Credential has no vc object")
    if VC_TYPE not in _types_of(vc.get("type")):
        raise CREDENTIAL.fail("malformed", "Credential type does not include VerifiableCredential")
    context = vc.get("@context")
    if not isinstance(context, list) or not context or context[0] != VC_CONTEXT_V1:
        raise CREDENTIAL.fail("malformed", "Credential @context must start with the VCDM 1.1 context")
    if not isinstance(vc.get("credentialSubject"), dict):
        raise CREDENTIAL.fail("malformed", "Credential has no credentialSubject object")
    return vc


def _check_consistency(payload: Mapping[str, Any], vc: Mapping[str, Any], issuer: str) -> None:
    # VCDM 1.1 §6.3.1.3: JWT claims and their vc counterparts must not say two different things.
    vc_issuer = vc.get("issuer")
    if isinstance(vc_issuer, dict):
        vc_issuer = vc_issuer.get("id")
    if vc_issuer is not None and vc_issuer != issuer:
        raise CREDENTIAL.fail("issuer_conflict", "Credential iss and vc.issuer differ")
    if "id" in vc and "jti" in payload and vc["id"] != payload["jti"]:
        raise CREDENTIAL.fail("id_conflict", "Credential jti and vc.id differ")
    subject_id = vc["credentialSubject"].get("id")
    if subject_id is not None and "sub" in payload and subject_id != payload["sub"]:
        raise CREDENTIAL.fail("subject_conflict", "Credential sub and credentialSubject.id differ")


def _subject_of(payload: Mapping[str, Any], vc: Mapping[str, Any]) -> str | None:
    subject = payload.get("sub", vc["credentialSubject"].get("id"))
    return subject if isinstance(subject, str) else None


def _check_bound_to_holder(subject: str | None, payload: Mapping[str, Any], holder: Holder) -> None:
    if holder.is_named_by(subject):
        return
    cnf = payload.get("cnf")
    if isinstance(cnf, dict) and _thumbprint_urn(
        cnf.get("jwk")
    ) == JWK_THUMBPRINT_URN_PREFIX + jwk_thumbprint(holder.key):
        return
    if subject is None:
        raise HolderBindingFailed("holder_binding.subject_missing", "The credential names no subject to bind")
    raise HolderBindingFailed("holder_binding.subject_mismatch", "The credential subject is not the holder")


def vcdm_view(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The VCDM view of a VC JWT (VCDM 1.1 §6.3.1.3 "JWT Decoding"), so `$.credentialSubject...` paths work.

    ``jti`` → ``id``, ``iss`` → ``issuer``, ``nbf`` → ``issuanceDate``, ``exp`` → ``expirationDate`` (the
    top-level reading, see jwt-vc.md), ``sub`` → ``credentialSubject.id``; members already in ``vc`` win.
    """
    vc = payload.get("vc")
    decoded: dict[str, Any] = dict(vc) if isinstance(vc, dict) else {}
    mapping = (
        ("jti", "id", None),
        ("iss", "issuer", None),
        ("nbf", "issuanceDate", _xsd_datetime),
        ("exp", "expirationDate", _xsd_datetime),
    )
    for claim, member, convert in mapping:
        if claim in payload and member not in decoded:
            decoded[member] = convert(payload[claim]) if convert else payload[claim]
    subject = decoded.get("credentialSubject")
    if isinstance(subject, dict) and "sub" in payload:
        decoded["credentialSubject"] = {"id": payload["sub"], **subject}
    return decoded


_XSD_FIRST: Final = -62_135_596_800  # 0001-01-01T00:00:00Z
_XSD_LAST: Final = 253_402_300_799  # 9999-12-31T23:59:59Z


def _xsd_datetime(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if type(value) is int and _XSD_FIRST <= value <= _XSD_LAST:
        # Whole seconds, every NumericDate we see. Floats stay with datetime, which rounds their
        # microseconds (gmtime would truncate them).
        return format_utc(value)
    try:
        return datetime.fromtimestamp(value, tz=UTC).strftime(UTC_SECONDS_FORMAT)
    except (ValueError, OverflowError, OSError):
        # Beyond year 9999: no xsd:dateTime to show; the NumericDate itself was already checked.
        return value


def _check_vc_dates(vc: Mapping[str, Any], *, now: float, skew: int) -> None:
    """VCDM 1.1 §4.7/§4.8 members, when present, bound validity too (not only the JWT `nbf`/`exp`)."""
    issued = _parse_vc_date(vc.get("issuanceDate"), "issuanceDate")
    expires = _parse_vc_date(vc.get("expirationDate"), "expirationDate")
    if expires is not None and now >= expires + skew:
        raise CREDENTIAL.fail("expired", "Credential has expired")
    if issued is not None and now + skew < issued:
        raise CREDENTIAL.fail("not_yet_valid", "Credential is not valid yet")


def _parse_vc_date(value: Any, member: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CREDENTIAL.fail("malformed", f"Credential {member} is not a date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError as exc:
        raise CREDENTIAL.fail("malformed", f"Credential {member} is not a date-time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # xsd:dateTime without offset: read as UTC
    return parsed.timestamp()
