"""Step 3: verify one authorization response end to end.

Order (DESIGN.md "Validation"): ID Token → every presentation's holder proof (VP JWTs are verified up
front; SD-JWTs carry their own, checked with their credential) → the submission against the definition
(draft: Presentation Exchange) or the DCQL query (1.0), which pulls each credential through issuer trust
and signature checks → holder binding (checked inside each step, against the ID Token's holder; a 1.0
response without ID Token binds each presentation to the key that proves it, see ``service.holders``).
Key material is fetched first (the awaits) and only for trusted issuers; everything else is pure and raises
at the first failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.credential_checks import CredentialChecks
from service.dcql import DcqlQuery, DcqlResult, evaluate_dcql, presentations_in
from service.did.resolve import DidDocument, DidResolver
from service.errors import IdTokenInvalid, PresentationInvalid, SubmissionMismatch
from service.id_token import Holder, IdTokenExpectations, inspect_id_token, verify_id_token
from service.presentation_exchange import (
    SubmissionResult,
    evaluate_submission,
    parse_submission,
)
from service.response import AuthorizationResponse
from service.sign_in import (
    check_expected_subject,
    check_subject_type,
    self_attested_claims,
    sign_in_result,
)
from service.status import (
    StatusOutcome,
)
from service.tracing import set_attribute, span
from service.trust import TrustList
from service.verification_inputs import (
    Expectations,
    IssuerMetadataSource,
    JwksSource,
    KeySources,
    VerificationPolicy,
)

__all__ = [
    "Expectations",
    "IssuerMetadataSource",
    "JwksSource",
    "KeySources",
    "VerificationPolicy",
    "VerifiedResponse",
    "dcql_credentials",
    "verify_response",
]


@dataclass(frozen=True, slots=True)
class VerifiedResponse:
    """A response that passed every check."""

    holder: Holder | None
    """The ID Token's holder, or the one holder every presentation shares; None when they differ."""
    submission: SubmissionResult | None
    sign_in: dict[str, Any] | None = None
    self_attested: dict[str, str] | None = None
    statuses: Mapping[str, StatusOutcome] = field(default_factory=dict)
    """Status outcome per credential key (PE: descriptor id; DCQL: see ``dcql_credentials``); absent when
    the credential names no status list."""
    dcql: DcqlResult | None = None


async def verify_response(
    response: AuthorizationResponse,
    *,
    expected: Expectations,
    policy: VerificationPolicy,
    trust: TrustList,
    keys: KeySources,
    now: float,
) -> VerifiedResponse:
    """Verify the ID Token, sign-in rules, each presentation and the submission; raise at first failure."""
    holder: Holder | None = None
    sign_in: dict[str, Any] | None = None
    self_attested: dict[str, str] | None = None
    if expected.id_token:
        with span("verifier.id_token", sign_in=expected.sign_in is not None):
            holder, id_token_claims = await _verify_holder(
                response.id_token, expected=expected, policy=policy, resolver=keys.dids, now=now
            )
            set_attribute("holder_method", holder.method)
            sign_in, self_attested = _sign_in(holder, id_token_claims, expected)
    if expected.dcql is not None:
        return await _verify_dcql(
            response,
            expected.dcql,
            holder=holder,
            expected=expected,
            policy=policy,
            trust=trust,
            keys=keys,
            now=now,
            sign_in=sign_in,
            self_attested=self_attested,
        )
    if expected.definition is None:
        # Sign-in only: nothing else was asked, so nothing else is looked at.
        assert holder is not None
        return VerifiedResponse(holder=holder, submission=None, sign_in=sign_in, self_attested=self_attested)
    assert holder is not None  # draft transactions always ask for the ID Token
    tokens = _presentation_tokens(response.vp_token, policy)
    if response.presentation_submission is None:
        raise SubmissionMismatch("submission.missing", "The response has no presentation_submission")
    submission = parse_submission(response.presentation_submission)
    credentials = CredentialChecks(
        tokens, holder=holder, expected=expected, policy=policy, trust=trust, now=now
    )
    await credentials.prepare(keys)
    result = evaluate_submission(expected.definition, submission, response.vp_token, credentials.lookup)
    statuses = await credentials.check_statuses(
        [(item.descriptor_id, item.credential) for item in result.descriptors],
        keys.status,
        allow_unknown=expected.allow_unknown_status,
    )
    return VerifiedResponse(
        holder=holder, submission=result, sign_in=sign_in, self_attested=self_attested, statuses=statuses
    )


async def _verify_dcql(
    response: AuthorizationResponse,
    query: DcqlQuery,
    *,
    holder: Holder | None,
    expected: Expectations,
    policy: VerificationPolicy,
    trust: TrustList,
    keys: KeySources,
    now: float,
    sign_in: dict[str, Any] | None,
    self_attested: dict[str, str] | None,
) -> VerifiedResponse:
    """1.0 §8.6: every presentation verified, then the query's constraints, claim sets and credential sets."""
    tokens = _dcql_tokens(query, response.vp_token, policy)
    credentials = CredentialChecks(
        tokens, holder=holder, expected=expected, policy=policy, trust=trust, now=now
    )
    await credentials.prepare(keys)
    result = evaluate_dcql(query, response.vp_token, credentials.lookup)
    statuses = await credentials.check_statuses(
        [(key, match.credential) for key, _, match in dcql_credentials(result)],
        keys.status,
        allow_unknown=expected.allow_unknown_status,
    )
    return VerifiedResponse(
        holder=holder or credentials.common_holder(),
        submission=None,
        sign_in=sign_in,
        self_attested=self_attested,
        statuses=statuses,
        dcql=result,
    )


def dcql_credentials(result: DcqlResult) -> list[tuple[str, str, Any]]:
    """(key, query id, match) per accepted presentation; the key is the query id, ``id/n`` with multiple."""
    entries: list[tuple[str, str, Any]] = []
    for query in result.queries:
        for index, match in enumerate(query.matches):
            key = f"{query.query_id}/{index}" if query.multiple else query.query_id
            entries.append((key, query.query_id, match))
    return entries


def _dcql_tokens(query: DcqlQuery, vp_token: Any, policy: VerificationPolicy) -> tuple[str, ...]:
    """Every presentation string of a 1.0 ``vp_token``, once its shape was checked against the query."""
    tokens = tuple(dict.fromkeys(p for p in presentations_in(query, vp_token) if isinstance(p, str)))
    if len(tokens) > policy.max_presentations:
        raise PresentationInvalid("presentation.too_many", "vp_token carries too many presentations")
    return tokens


def _sign_in(
    holder: Holder, claims: Mapping[str, Any], expected: Expectations
) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    if expected.sign_in is None:
        return None, None
    check_subject_type(holder, expected.sign_in)
    check_expected_subject(holder, expected.expected_subject)
    attested = self_attested_claims(claims, expected.sign_in.self_attested_claims)
    return sign_in_result(holder, claims), (attested if expected.sign_in.self_attested_claims else None)


async def _verify_holder(
    id_token: str | None,
    *,
    expected: Expectations,
    policy: VerificationPolicy,
    resolver: DidResolver,
    now: float,
) -> tuple[Holder, Mapping[str, Any]]:
    if id_token is None:
        raise IdTokenInvalid("id_token.missing", "The response has no id_token")
    subject = inspect_id_token(
        id_token, max_length=policy.max_token_bytes, legacy_profiles=policy.legacy_profiles
    )
    document: DidDocument | None = None
    if subject.did is not None:
        document = await resolver.resolve(subject.did)
    holder = verify_id_token(
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
    return holder, subject.jws.payload


def _presentation_tokens(vp_token: Any, policy: VerificationPolicy) -> tuple[str, ...]:
    if vp_token is None:
        raise PresentationInvalid("presentation.missing", "The response has no vp_token")
    tokens = [vp_token] if isinstance(vp_token, str) else vp_token
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise PresentationInvalid("presentation.malformed", "vp_token must be a token or an array of tokens")
    if len(tokens) > policy.max_presentations:
        raise PresentationInvalid("presentation.too_many", "vp_token carries too many presentations")
    return tuple(tokens)
