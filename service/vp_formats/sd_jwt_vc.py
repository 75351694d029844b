"""Step 3c for SD-JWT VC (``dc+sd-jwt``, formerly ``vc+sd-jwt``): issuer JWT, Disclosures, Key Binding.

Order of RFC 9901 §7.1/§7.3 and SD-JWT VC -18 §2.4: typ and issuer signature, Disclosures, validity on
the processed payload, ``vct``, then holder binding — the ``cnf`` key must be the key behind the SIOPv2 ID
Token's subject (our policy, siopv2.md §7) — and the KB-JWT signed by that key over our nonce and
client_id. Key binding is always required: the decision is ours, never the token's (RFC 9901 §9.5).
Pure functions: the issuer key arrives resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.did.resolve import did_of, select_verification_method
from service.errors import DidResolutionFailed, HolderBindingFailed
from service.id_token import Holder, check_time_claims
from service.jose.jwk import PublicJwk, jwk_thumbprint
from service.jose.jws import Jws, decode_jws, verify_jws
from service.sd_jwt import (
    KeyBindingExpectations,
    SdJwtPresentation,
    holder_key_from_cnf,
    process_disclosures,
    split_presentation,
    verify_key_binding,
)
from service.trust import TrustDecision
from service.vocabulary import FORMAT_DC_SD_JWT, SD_JWT_VC_TYPES
from service.vp_formats.jwt_vc_json import CREDENTIAL

__all__ = ["InspectedSdJwt", "SdJwtExpectations", "VerifiedSdJwt", "inspect_sd_jwt", "verify_sd_jwt_vc"]


@dataclass(frozen=True, slots=True)
class InspectedSdJwt:
    """A split SD-JWT presentation whose issuer JWT is decoded but not yet verified."""

    presentation: SdJwtPresentation
    jws: Jws
    issuer: str


@dataclass(frozen=True, slots=True)
class SdJwtExpectations:
    """What this transaction requires of an SD-JWT VC presentation."""

    client_id: str
    nonce: str
    issuer_algs: frozenset[str]
    holder_algs: frozenset[str]
    clock_skew: int
    key_binding_max_age: int
    credential_clock_skew: int | None = None
    """Skew for the credential's own validity; None: ``clock_skew`` (which the KB-JWT always uses)."""


@dataclass(frozen=True, slots=True)
class VerifiedSdJwt:
    """A verified SD-JWT VC: the processed payload is what Presentation Exchange paths run against."""

    format: str
    alg: str
    documents: tuple[Mapping[str, Any], ...]
    disclosed_paths: tuple[tuple[str | int, ...], ...]
    issuer: str
    vct: str
    kb_alg: str
    """The Key Binding JWT's algorithm (checked against a definition's ``kb-jwt_alg_values``)."""
    trust: TrustDecision | None = None
    """Filled in by the pipeline once the issuer's trust rule and key source are known."""

    @property
    def types(self) -> tuple[str, ...]:
        """The credential type, for trust rules and the verdict."""
        return (self.vct,)


def inspect_sd_jwt(token: str, *, max_length: int, max_disclosures: int) -> InspectedSdJwt:
    """Split the presentation and decode the issuer JWT; its ``typ`` must be an SD-JWT VC type."""
    presentation = split_presentation(token, max_length=max_length, max_disclosures=max_disclosures)
    jws = decode_jws(presentation.issuer_jwt, kind=CREDENTIAL, max_length=max_length)
    typ = jws.header.get("typ")
    if not isinstance(typ, str) or typ not in SD_JWT_VC_TYPES:
        raise CREDENTIAL.fail("wrong_typ", "SD-JWT VC typ must be dc+sd-jwt")
    issuer = jws.payload.get("iss")
    if not isinstance(issuer, str) or not issuer:
        # Required by SD-JWT VC -09 (the draft OpenID4VP pins); it is also what trust is configured by.
        raise CREDENTIAL.fail("issuer_missing", "Credential has no iss")
    return InspectedSdJwt(presentation=presentation, jws=jws, issuer=issuer)


def verify_sd_jwt_vc(
    inspected: InspectedSdJwt,
    *,
    issuer_key: PublicJwk,
    holder: Holder,
    expected: SdJwtExpectations,
    now: float,
) -> VerifiedSdJwt:
    """Issuer signature, Disclosures, validity, ``vct``, ``cnf`` = holder, and the KB-JWT."""
    verify_jws(inspected.jws, issuer_key, allowed_algs=expected.issuer_algs, kind=CREDENTIAL)
    processed = process_disclosures(inspected.jws.payload, inspected.presentation.disclosures)
    claims = processed.claims
    check_time_claims(
        claims,
        now=now,
        skew=expected.clock_skew
        if expected.credential_clock_skew is None
        else expected.credential_clock_skew,
        max_age=None,
        kind=CREDENTIAL,
        require_exp=False,
        require_iat=False,
    )
    vct = claims.get("vct")
    if not isinstance(vct, str) or not vct:
        raise CREDENTIAL.fail("vct_missing", "SD-JWT VC has no vct")
    holder_key = _bound_holder_key(claims.get("cnf"), holder)
    verify_key_binding(
        inspected.presentation,
        holder_key=holder_key,
        sd_alg=processed.sd_alg,
        expected=KeyBindingExpectations(
            client_id=expected.client_id,
            nonce=expected.nonce,
            allowed_algs=expected.holder_algs,
            clock_skew=expected.clock_skew,
            max_age=expected.key_binding_max_age,
        ),
        now=now,
    )
    return VerifiedSdJwt(
        format=FORMAT_DC_SD_JWT,
        alg=inspected.jws.alg,
        documents=(claims,),
        disclosed_paths=processed.disclosed_paths,
        issuer=inspected.issuer,
        vct=vct,
        kb_alg=_kb_alg(inspected.presentation),
    )


def _kb_alg(presentation: SdJwtPresentation) -> str:
    # Only called after verify_key_binding succeeded, so the KB-JWT exists and decodes.
    assert presentation.kb_jwt is not None
    return decode_jws(presentation.kb_jwt, kind=CREDENTIAL).alg


def _bound_holder_key(cnf: object, holder: Holder) -> PublicJwk:
    """The ``cnf`` key, once it is shown to be the ID Token subject's key (by JWK or by DID URL)."""
    key_or_kid = holder_key_from_cnf(cnf)
    if isinstance(key_or_kid, str):
        return _key_by_did_url(key_or_kid, holder)
    if jwk_thumbprint(key_or_kid) in _holder_thumbprints(holder):
        return key_or_kid
    raise _cnf_mismatch()


def _key_by_did_url(kid: str, holder: Holder) -> PublicJwk:
    if holder.document is None:
        raise _cnf_mismatch()
    try:
        if did_of(kid) != holder.did:
            raise _cnf_mismatch()
        return select_verification_method(holder.document, kid, relationship="authentication").public_key
    except DidResolutionFailed as exc:
        raise _cnf_mismatch() from exc


def _holder_thumbprints(holder: Holder) -> set[str]:
    thumbprints = {jwk_thumbprint(holder.key)}
    if holder.document is not None:
        # A DID holder may hold several authentication keys (did:web); any of them binds.
        thumbprints.update(
            jwk_thumbprint(method.public_key)
            for method in holder.document.verification_methods
            if method.id in holder.document.authentication
        )
    return thumbprints


def _cnf_mismatch() -> HolderBindingFailed:
    return HolderBindingFailed(
        "holder_binding.cnf_mismatch", "The credential is bound to a key other than the ID Token subject's"
    )
