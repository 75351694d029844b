"""What a verified response puts in the verdict: the holder and one entry per credential used (pure).

Claims follow the data-minimisation rule of the query language that asked: Presentation Exchange
(``presentation_exchange.disclosed_claims``) or DCQL (``dcql.disclosed_claims``); a question (a filter, or
``values``) is answered with ``true``, never with the value.
"""

from __future__ import annotations

from typing import Any

from service.dcql import disclosed_claims as dcql_disclosed_claims
from service.presentation_exchange import Decoded, disclosed_claims
from service.status import StatusOutcome
from service.trust import TrustDecision
from service.verdict import CredentialEntry, HolderEntry
from service.verification import VerifiedResponse, dcql_credentials

__all__ = ["credential_entries", "holder_entry"]


def holder_entry(verified: VerifiedResponse) -> HolderEntry | None:
    """The holder every presentation was bound to, when there is one."""
    if verified.holder is None:
        return None
    return HolderEntry(id=verified.holder.id, method=verified.holder.method)


def credential_entries(verified: VerifiedResponse) -> list[CredentialEntry]:
    """One entry per credential used, in submission (PE) or query (DCQL) order."""
    if verified.dcql is not None:
        return [
            _entry(query_id, match.credential, dcql_disclosed_claims(match), verified.statuses.get(key))
            for key, query_id, match in dcql_credentials(verified.dcql)
        ]
    descriptors = verified.submission.descriptors if verified.submission is not None else ()
    return [
        _entry(
            result.descriptor_id,
            result.credential,
            disclosed_claims(result),
            verified.statuses.get(result.descriptor_id),
        )
        for result in descriptors
    ]


def _entry(
    descriptor_id: str, credential: Decoded, claims: dict[str, Any], outcome: StatusOutcome | None
) -> CredentialEntry:
    return CredentialEntry(
        descriptor_id=descriptor_id,
        format=credential.format,
        issuer=getattr(credential, "issuer", ""),
        types=list(getattr(credential, "types", ())),
        vct=getattr(credential, "vct", None),
        trust=_trust_entry(getattr(credential, "trust", None)),
        claims=claims,
        **_status_fields(outcome),
    )


def _status_fields(outcome: StatusOutcome | None) -> dict[str, Any]:
    """``valid``, ``unknown`` (with why, when the policy allowed it), or ``no_status`` (nothing to check)."""
    if outcome is None:
        return {"status": "no_status"}
    return {"status": outcome.state, "status_reason": outcome.reason}


def _trust_entry(decision: TrustDecision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "rule": decision.rule,
        "key_source": decision.key_source,
        "narrowed_by_definition": decision.narrowed_by_definition,
    }
