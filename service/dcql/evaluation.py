"""Check a 1.0 ``vp_token`` against its DCQL query (OpenID4VP 1.0 §6.4, §8.1, §8.6).

Steps, each raising :class:`SubmissionMismatch` with a stable ``dcql.*`` reason (``descriptor_id`` carries
the credential query id):

1. shape, before any cryptography: ``vp_token`` is a JSON object whose keys are credential query ids of
   the query, each value a non-empty array with exactly one presentation unless the query says
   ``multiple: true`` (§8.1); a query in a format we cannot verify yet (mso_mdoc, ldp_vc) is refused;
2. verification: ``lookup(format, presentation)`` verifies each presentation and returns the credential;
   its errors propagate, since a bad signature or nonce rejects the whole response (§14.1.2);
3. constraints, per presentation: format, ``meta``, claims (first satisfiable claim set), then that
   nothing unrequested was disclosed — counting every query the same presentation answers (§6.4.1);
4. satisfaction: a presentation failing step 3 is discarded (§8.6); then every required query and every
   required credential set must be answered by presentations that passed (§6.4.2). A query listed in no
   credential set is required; without credential sets every query is. A failure is reported with the
   reason of the presentation that failed when there is one, else ``dcql.credential_missing``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

import msgspec

from service.dcql.claims import ClaimsOutcome, first_undisclosed, match_claims
from service.dcql.meta import check_format, check_meta
from service.dcql.model import SUPPORTED_FORMATS, CredentialQuery, DcqlQuery
from service.dcql.pointer import ClaimsPath, DisclosedPath
from service.dcql.result import CredentialMatch, DcqlResult, Discarded, QueryResult
from service.errors import LimitExceeded, SubmissionMismatch
from service.presentation_exchange.evaluation import Decoded, Lookup

__all__ = ["MAX_PRESENTATIONS", "evaluate_dcql", "presentations_in"]

MAX_PRESENTATIONS: Final = 64  # per credential query with `multiple: true`


class _Checked(msgspec.Struct, frozen=True):
    """One verified presentation and how it fared against its query."""

    query: CredentialQuery
    presentation: Any
    credential: Decoded
    outcome: ClaimsOutcome | SubmissionMismatch


def evaluate_dcql(query: DcqlQuery, vp_token: object, lookup: Lookup) -> DcqlResult:
    """Verify every presentation in ``vp_token`` and check that together they satisfy ``query``."""
    answers = _answers(query, vp_token)
    resolve = _memoized(lookup)
    verified = [
        (item, presentation, resolve(item.format, presentation))
        for item, batch in answers
        for presentation in batch
    ]
    checked = [
        _Checked(item, presentation, credential, _constraints(item, credential))
        for item, presentation, credential in verified
    ]
    return _satisfaction(query, _limit_disclosure(checked))


# --- 1. Shape --- #


def presentations_in(query: DcqlQuery, vp_token: object) -> tuple[Any, ...]:
    """Every presentation of a well-shaped ``vp_token`` (step 1 alone): what a caller must verify first."""
    return tuple(presentation for _, batch in _answers(query, vp_token) for presentation in batch)


def _answers(query: DcqlQuery, vp_token: object) -> list[tuple[CredentialQuery, tuple[Any, ...]]]:
    """The presentations for each answered query, in query order (§8.1)."""
    if not isinstance(vp_token, dict):
        raise SubmissionMismatch(
            "dcql.malformed_vp_token", "vp_token must be a JSON object keyed by credential query id"
        )
    if not vp_token:
        # A response proving nothing cannot be a verified presentation, even if every query was optional.
        raise SubmissionMismatch("dcql.credential_missing", "vp_token answers no credential query")
    if any(query.credential(key) is None for key in vp_token):
        raise SubmissionMismatch(
            "dcql.unknown_query_id", "vp_token has a key that is no credential query id of the request"
        )
    return [
        (item, _presentations(item, vp_token[item.id])) for item in query.credentials if item.id in vp_token
    ]


def _presentations(item: CredentialQuery, value: object) -> tuple[Any, ...]:
    if not isinstance(value, list) or not value:
        raise SubmissionMismatch(
            "dcql.malformed_vp_token",
            f"the vp_token entry for {item.id} must be a non-empty array of presentations",
            descriptor_id=item.id,
        )
    if len(value) > 1 and not item.multiple:
        raise SubmissionMismatch(
            "dcql.multiple_not_allowed",
            f"credential query {item.id} allows one presentation only",
            descriptor_id=item.id,
        )
    if len(value) > MAX_PRESENTATIONS:
        raise LimitExceeded(
            "limits.presentations", f"more than {MAX_PRESENTATIONS} presentations for {item.id}"
        )
    if item.format not in SUPPORTED_FORMATS:
        raise SubmissionMismatch(
            "dcql.unsupported_format",
            f"credential query {item.id} uses {item.format}, which this verifier cannot verify yet",
            descriptor_id=item.id,
        )
    return tuple(value)


# --- 2. Verification --- #


def _memoized(lookup: Lookup) -> Lookup:
    """Verify a presentation once even when it answers several queries (allowed since draft 26)."""
    cache: dict[tuple[str, str], Decoded] = {}

    def resolve(fmt: str, presentation: Any) -> Decoded:
        if not isinstance(presentation, str):
            return lookup(fmt, presentation)
        key = (fmt, presentation)
        if key not in cache:
            cache[key] = lookup(fmt, presentation)
        return cache[key]

    return resolve


# --- 3. Constraints --- #


def _constraints(item: CredentialQuery, credential: Decoded) -> ClaimsOutcome | SubmissionMismatch:
    try:
        check_format(item, credential)
        check_meta(item, credential)
        return match_claims(item, credential.documents)
    except SubmissionMismatch as failed:
        return failed


def _limit_disclosure(checked: list[_Checked]) -> list[_Checked]:
    """Fail presentations disclosing claims no query they answer asked for (§6.4.1)."""
    # §6.4.1 lets one credential disclose what several queries ask when it answers all of them.
    requested: dict[str, list[ClaimsPath]] = {}
    for item in checked:
        if isinstance(item.outcome, ClaimsOutcome) and isinstance(item.presentation, str):
            requested.setdefault(item.presentation, []).extend(claim.path for claim in item.outcome.claims)
    return [_disclosure_checked(item, requested) for item in checked]


def _disclosure_checked(item: _Checked, requested: Mapping[str, Sequence[ClaimsPath]]) -> _Checked:
    if not isinstance(item.outcome, ClaimsOutcome):
        return item
    # Formats without selective disclosure (JWT VCs) expose no disclosed_paths: nothing could be withheld.
    disclosed: Sequence[DisclosedPath] | None = getattr(item.credential, "disclosed_paths", None)
    if not disclosed:
        return item
    allowed = (
        requested[item.presentation]
        if isinstance(item.presentation, str)
        else [claim.path for claim in item.outcome.claims]
    )
    if first_undisclosed(disclosed, allowed) is None:
        return item
    failed = SubmissionMismatch(
        "dcql.over_disclosure",
        f"a presentation for {item.query.id} discloses claims the query did not ask for",
        descriptor_id=item.query.id,
    )
    return msgspec.structs.replace(item, outcome=failed)


# --- 4. Satisfaction --- #


def _satisfaction(query: DcqlQuery, checked: list[_Checked]) -> DcqlResult:
    passed: dict[str, list[CredentialMatch]] = {}
    failures: dict[str, SubmissionMismatch] = {}
    discarded: list[Discarded] = []
    for item in checked:
        if isinstance(item.outcome, SubmissionMismatch):
            failures.setdefault(item.query.id, item.outcome)
            discarded.append(
                Discarded(
                    query_id=item.query.id, reason=item.outcome.reason, description=item.outcome.description
                )
            )
            continue
        match = CredentialMatch(
            credential=item.credential, claims=item.outcome.claims, claim_set=item.outcome.claim_set
        )
        passed.setdefault(item.query.id, []).append(match)
    _check_required(query, passed.keys(), failures)
    results = tuple(
        QueryResult(query_id=item.id, multiple=item.multiple, matches=tuple(passed[item.id]))
        for item in query.credentials
        if item.id in passed
    )
    return DcqlResult(queries=results, discarded=tuple(discarded))


def _check_required(
    query: DcqlQuery, answered: Collection[str], failures: Mapping[str, SubmissionMismatch]
) -> None:
    """Every required query and credential set is answered by passing presentations (§6.4.2)."""
    for query_id in query.required_ids():
        if query_id not in answered:
            raise failures.get(query_id) or SubmissionMismatch(
                "dcql.credential_missing",
                f"credential query {query_id} is not answered",
                descriptor_id=query_id,
            )
    for i, item in enumerate(query.credential_sets or ()):
        if not item.required or any(all(qid in answered for qid in option) for option in item.options):
            continue
        failed = next((failures[qid] for option in item.options for qid in option if qid in failures), None)
        raise failed or SubmissionMismatch(
            "dcql.credential_missing", f"no option of credential set {i} is fully answered"
        )
