"""Step 3: verify one authorization response end to end.

Order (DESIGN.md "Validation"): ID Token → every presentation's holder proof → the submission against
the definition, which pulls each mapped credential through issuer trust and signature checks → holder
binding (checked inside each step, against the ID Token's holder). Key material is resolved first, in
``_resolve_*`` (the only awaits); everything else is pure and raises a typed error at the first failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.did.resolve import DidDocument, DidResolver, select_verification_method
from service.errors import CredentialInvalid, IdTokenInvalid, PresentationInvalid, SubmissionMismatch
from service.id_token import Holder, IdTokenExpectations, inspect_id_token, verify_id_token
from service.jose.jwk import PublicJwk
from service.jose.jws import Jws
from service.presentation_exchange import (
    PresentationDefinition,
    SubmissionResult,
    evaluate_submission,
    parse_submission,
)
from service.response import AuthorizationResponse
from service.trust import TrustedIssuer, TrustList
from service.vocabulary import FORMAT_JWT_VC_JSON, FORMAT_JWT_VP_JSON
from service.vp_formats.jwt_vc_json import (
    PresentationExpectations,
    VerifiedCredential,
    VerifiedPresentation,
    credential_issuer,
    decode_credential,
    decode_presentation,
    verify_credential,
    verify_presentation,
)

__all__ = ["VerificationPolicy", "VerifiedResponse", "verify_response"]


@dataclass(frozen=True, slots=True)
class VerificationPolicy:
    """The knobs the settings turn into rules."""

    holder_algs: frozenset[str]
    issuer_algs: frozenset[str]
    clock_skew: int
    max_age: int
    max_token_bytes: int
    max_presentations: int
    max_credentials: int
    subject_methods: frozenset[str]


@dataclass(frozen=True, slots=True)
class Expectations:
    """What this one transaction requires."""

    client_id: str
    nonce: str
    definition: PresentationDefinition
    trusted_issuers: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class VerifiedResponse:
    """A response that passed every check."""

    holder: Holder
    submission: SubmissionResult


async def verify_response(
    response: AuthorizationResponse,
    *,
    expected: Expectations,
    policy: VerificationPolicy,
    trust: TrustList,
    resolver: DidResolver,
    now: float,
) -> VerifiedResponse:
    """Verify the ID Token, every presentation and the submission; raise at the first failure."""
    holder = await _verify_holder(
        response.id_token, expected=expected, policy=policy, resolver=resolver, now=now
    )
    presentations = _presentation_tokens(response.vp_token, policy)
    if response.presentation_submission is None:
        raise SubmissionMismatch("submission.missing", "The response has no presentation_submission")
    submission = parse_submission(response.presentation_submission)
    exp = PresentationExpectations(
        client_id=expected.client_id,
        nonce=expected.nonce,
        allowed_algs=policy.holder_algs,
        clock_skew=policy.clock_skew,
        max_age=policy.max_age,
        max_credentials=policy.max_credentials,
    )
    verified_vps = {
        token: verify_presentation(
            decode_presentation(token, max_length=policy.max_token_bytes),
            holder=holder,
            expected=exp,
            now=now,
        )
        for token in presentations
    }
    credentials = _CredentialVerifier(
        verified_vps, holder=holder, policy=policy, trust=trust, narrowed=expected.trusted_issuers, now=now
    )
    await credentials.resolve_issuers(resolver)
    result = evaluate_submission(expected.definition, submission, response.vp_token, credentials.lookup)
    return VerifiedResponse(holder=holder, submission=result)


async def _verify_holder(
    id_token: str | None,
    *,
    expected: Expectations,
    policy: VerificationPolicy,
    resolver: DidResolver,
    now: float,
) -> Holder:
    if id_token is None:
        raise IdTokenInvalid("id_token.missing", "The response has no id_token")
    subject = inspect_id_token(id_token, max_length=policy.max_token_bytes)
    document: DidDocument | None = None
    if subject.did is not None:
        document = await resolver.resolve(subject.did)
    return verify_id_token(
        subject,
        document=document,
        expected=IdTokenExpectations(
            client_id=expected.client_id,
            nonce=expected.nonce,
            allowed_algs=policy.holder_algs,
            subject_methods=policy.subject_methods,
            clock_skew=policy.clock_skew,
            max_age=policy.max_age,
        ),
        now=now,
    )


def _presentation_tokens(vp_token: Any, policy: VerificationPolicy) -> tuple[str, ...]:
    if vp_token is None:
        raise PresentationInvalid("presentation.missing", "The response has no vp_token")
    tokens = [vp_token] if isinstance(vp_token, str) else vp_token
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise PresentationInvalid("presentation.malformed", "vp_token must be a token or an array of tokens")
    if len(tokens) > policy.max_presentations:
        raise PresentationInvalid("presentation.too_many", "vp_token carries too many presentations")
    return tuple(tokens)


class _CredentialVerifier:
    """Verifies the credentials the submission points at, once each, on demand (the PE ``Lookup``)."""

    def __init__(
        self,
        presentations: Mapping[str, VerifiedPresentation],
        *,
        holder: Holder,
        policy: VerificationPolicy,
        trust: TrustList,
        narrowed: frozenset[str] | None,
        now: float,
    ) -> None:
        self._presentations = presentations
        self._holder = holder
        self._policy = policy
        self._trust = trust
        self._narrowed = narrowed
        self._now = now
        # Credentials are only accepted from inside a presentation the holder signed.
        self._decoded: dict[str, Jws] = {}
        for vp in presentations.values():
            for token in vp.credentials:
                if token not in self._decoded:
                    self._decoded[token] = decode_credential(token, max_length=policy.max_token_bytes)
        self._documents: dict[str, DidDocument] = {}
        self._verified: dict[str, VerifiedCredential] = {}

    async def resolve_issuers(self, resolver: DidResolver) -> None:
        """Fetch DID documents of trusted DID issuers only: an untrusted issuer causes no I/O at all."""
        for jws in self._decoded.values():
            issuer = credential_issuer(jws)
            entry = self._trust.lookup(issuer, narrowed_to=self._narrowed)
            if entry is not None and entry.pinned_keys is None and issuer not in self._documents:
                self._documents[issuer] = await resolver.resolve(issuer)

    def lookup(self, fmt: str, node: Any) -> VerifiedPresentation | VerifiedCredential:
        """Map a node the submission points at to its verified object."""
        if not isinstance(node, str):
            raise SubmissionMismatch("submission.format_mismatch", "The mapped element is not a token")
        if fmt == FORMAT_JWT_VP_JSON and node in self._presentations:
            return self._presentations[node]
        if fmt == FORMAT_JWT_VC_JSON and node in self._decoded:
            if node not in self._verified:
                self._verified[node] = self._verify(self._decoded[node])
            return self._verified[node]
        raise SubmissionMismatch(
            "submission.format_mismatch", "The mapped element is not of the declared format"
        )

    def _verify(self, jws: Jws) -> VerifiedCredential:
        issuer = credential_issuer(jws)
        entry = self._trust.lookup(issuer, narrowed_to=self._narrowed)
        if entry is None:
            raise CredentialInvalid("credential.untrusted_issuer", "The credential issuer is not trusted")
        credential = verify_credential(
            jws,
            issuer_key=self._issuer_key(jws, entry),
            holder=self._holder,
            allowed_algs=self._policy.issuer_algs,
            now=self._now,
            clock_skew=self._policy.clock_skew,
        )
        if not entry.admits_types(credential.types):
            raise CredentialInvalid(
                "credential.untrusted_issuer", "The issuer is not trusted for this credential type"
            )
        return credential

    def _issuer_key(self, jws: Jws, entry: TrustedIssuer) -> PublicJwk:
        if entry.pinned_keys is not None:
            return _pinned_key(entry, jws.kid)
        document = self._documents[entry.id]
        return select_verification_method(document, jws.kid, relationship="assertionMethod").public_key


def _pinned_key(entry: TrustedIssuer, kid: str | None) -> PublicJwk:
    assert entry.pinned_keys is not None
    keys = entry.pinned_keys
    if kid is not None:
        # A DID URL kid names the key by fragment; a pinned JWKS names it by its own kid.
        fragment = kid.split("#", 1)[1] if "#" in kid else None
        for pinned_kid, key in keys:
            if pinned_kid is not None and pinned_kid in (kid, fragment, f"#{fragment}"):
                return key
        raise CredentialInvalid("credential.unknown_key", "The issuer key named by kid is not pinned")
    if len(keys) == 1:
        return keys[0][1]
    raise CredentialInvalid(
        "credential.unknown_key", "The credential names no key and the issuer has several"
    )
