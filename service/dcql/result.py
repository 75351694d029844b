"""What :func:`evaluate_dcql` returns, and the data-minimised view a verdict may carry (OpenID4VP 1.0 §6.4).

``values`` in a Claims Query is a question ("is postal_code 90210 or 90211?"), like a PE filter: the verdict
carries the answer ``True``, never the value. Claims asked without ``values`` carry what was disclosed.
"""

from __future__ import annotations

from typing import Any

import msgspec

from service.dcql.pointer import ClaimsPath, path_label
from service.presentation_exchange.evaluation import Decoded

__all__ = ["ClaimMatch", "CredentialMatch", "DcqlResult", "Discarded", "QueryResult", "disclosed_claims"]


class ClaimMatch(msgspec.Struct, frozen=True, kw_only=True):
    """A requested claim as found in one credential."""

    claim_id: str | None
    path: ClaimsPath
    values: tuple[Any, ...]  # what the pointer selected; with `values` asked, only the matching ones
    asked: bool  # the query listed `values`, so this claim answered a question

    @property
    def key(self) -> str:
        """The claim's name in a verdict: its ``id``, else its path joined with "." (null as "*")."""
        return self.claim_id if self.claim_id is not None else path_label(self.path)


class CredentialMatch(msgspec.Struct, frozen=True, kw_only=True):
    """One presentation that satisfied its Credential Query."""

    credential: Decoded
    claims: tuple[ClaimMatch, ...]  # claims of the claim set used, in query order
    claim_set: tuple[str, ...] | None = None  # the claim ids of the first satisfiable claim set, if any


class QueryResult(msgspec.Struct, frozen=True, kw_only=True):
    """A Credential Query the response satisfied, with every presentation that passed (vp_token order)."""

    query_id: str
    multiple: bool  # the query allowed several presentations: disclosed_claims gives lists then
    matches: tuple[CredentialMatch, ...]

    @property
    def credentials(self) -> tuple[Decoded, ...]:
        return tuple(match.credential for match in self.matches)


class Discarded(msgspec.Struct, frozen=True, kw_only=True):
    """A presentation that failed its query and was set aside (1.0 §8.6), for the verdict to report."""

    query_id: str
    reason: str  # the stable dcql.* reason
    description: str


class DcqlResult(msgspec.Struct, frozen=True, kw_only=True):
    """The satisfied Credential Queries in query order, and the presentations that were discarded."""

    queries: tuple[QueryResult, ...]
    discarded: tuple[Discarded, ...] = ()

    def get(self, query_id: str) -> QueryResult | None:
        return next((item for item in self.queries if item.query_id == query_id), None)


def disclosed_claims(result: QueryResult | CredentialMatch) -> dict[str, Any]:
    """What a verdict may carry for one query (or one of its presentations), minimised as the module says.

    Each claim maps to ``True`` when ``values`` asked a question, else to the selected value — a list when
    the path has a null (it may select several). For a query with ``multiple: true`` every key maps to a
    list with one such entry per presentation that disclosed it. On a key clash the first claim wins.
    """
    if isinstance(result, CredentialMatch):
        return _claims_of(result)
    if not result.multiple:
        return _claims_of(result.matches[0]) if result.matches else {}
    merged: dict[str, list[Any]] = {}
    for match in result.matches:
        for key, value in _claims_of(match).items():
            merged.setdefault(key, []).append(value)
    return dict(merged)


def _claims_of(match: CredentialMatch) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for claim in match.claims:
        if claim.key not in claims:
            claims[claim.key] = _view(claim)
    return claims


def _view(claim: ClaimMatch) -> Any:
    if claim.asked:
        return True
    if None in claim.path:
        return list(claim.values)
    # Without a null a pointer selects at most one value (§7.1.1).
    return claim.values[0]
