"""Claims of one credential against its Credential Query (OpenID4VP 1.0 §6.3, §6.4.1, §7).

Each pointer runs against the credential's documents in order and the first document where it selects
something is used: for SD-JWT VC that is the processed payload, for ``jwt_vc_json`` the VCDM view (App.
B.1.2: pointers start at the credential, so ``credentialSubject`` is found there, not under ``vc``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from service.dcql.model import ClaimsQuery, ClaimValue, CredentialQuery
from service.dcql.pointer import ClaimsPath, DisclosedPath, lies_on, path_label, select
from service.dcql.result import ClaimMatch
from service.errors import SubmissionMismatch

__all__ = ["ClaimsOutcome", "first_undisclosed", "match_claims", "same_value"]


class ClaimsOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The claims of the claim set used, and that set's ids (None without claim_sets)."""

    claims: tuple[ClaimMatch, ...]
    claim_set: tuple[str, ...] | None = None


class _Miss(msgspec.Struct, frozen=True):
    reason: str
    description: str


def match_claims(query: CredentialQuery, documents: Sequence[Mapping[str, Any]]) -> ClaimsOutcome:
    """All claims, or the first satisfiable claim set; raise SubmissionMismatch otherwise (§6.4.1)."""
    if query.claims is None:
        return ClaimsOutcome(claims=())
    found = [_match_claim(claim, documents) for claim in query.claims]
    if query.claim_sets is None:
        for outcome in found:
            if isinstance(outcome, _Miss):
                raise SubmissionMismatch(outcome.reason, outcome.description, descriptor_id=query.id)
        return ClaimsOutcome(claims=tuple(item for item in found if isinstance(item, ClaimMatch)))
    by_id = {claim.id: outcome for claim, outcome in zip(query.claims, found, strict=True)}
    for option in query.claim_sets:
        # The first satisfiable set is the one used, so over-disclosure is judged against it (§6.4.1).
        if all(isinstance(by_id[claim_id], ClaimMatch) for claim_id in option):
            used = tuple(item for item in found if isinstance(item, ClaimMatch) and item.claim_id in option)
            return ClaimsOutcome(claims=used, claim_set=option)
    raise SubmissionMismatch(
        "dcql.claim_sets_unmet", "no claim set of the query is fully disclosed", descriptor_id=query.id
    )


def _match_claim(claim: ClaimsQuery, documents: Sequence[Mapping[str, Any]]) -> ClaimMatch | _Miss:
    label = claim.id if claim.id is not None else path_label(claim.path)
    selected = _first_selection(claim.path, documents)
    if not selected:
        return _Miss("dcql.claim_missing", f"claim {label} is missing")
    if claim.values is None:
        return ClaimMatch(claim_id=claim.id, path=claim.path, values=tuple(selected), asked=False)
    # §6.4.1 / §14.9: never trust the wallet to have filtered; one selected value must equal a listed one.
    wanted = claim.values
    matching = tuple(value for value in selected if any(same_value(value, want) for want in wanted))
    if not matching:
        return _Miss("dcql.value_mismatch", f"claim {label} has none of the requested values")
    return ClaimMatch(claim_id=claim.id, path=claim.path, values=matching, asked=True)


def _first_selection(path: ClaimsPath, documents: Sequence[Mapping[str, Any]]) -> list[Any]:
    for document in documents:
        selected = select(path, document)
        if selected:
            return selected
    return []


def same_value(value: Any, wanted: ClaimValue) -> bool:
    """Type and value equal (§6.3): ``1``, ``"1"`` and ``true`` differ; 1 and 1.0 are one JSON number."""
    if isinstance(value, bool) or isinstance(wanted, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value == wanted
    if isinstance(wanted, str):
        return isinstance(value, str) and value == wanted
    return isinstance(value, int | float) and value == wanted


def first_undisclosed(
    disclosed: Iterable[DisclosedPath], requested: Iterable[ClaimsPath]
) -> DisclosedPath | None:
    """The first disclosed path lying on no requested path (§6.4.1: nothing unrequested), else None.

    A disclosure inside a requested claim or on the way to one is covered: recursive disclosures need
    their parents, and a requested object arrives whole.
    """
    paths = tuple(requested)
    return next((path for path in disclosed if not any(lies_on(path, want) for want in paths)), None)
