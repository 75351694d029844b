"""Digital Credentials Query Language, verifier side (OpenID4VP 1.0 §6 to §8; step 3b of the 1.0 flow).

1. ``query.parse_dcql_query`` validates a backend's ``dcql_query`` (§6) into frozen Structs
   (``model``); ``query.check_supported`` refuses formats that parse but cannot be verified yet.
   Send ``DcqlQuery.raw`` to the wallet.
2. ``pointer.select`` runs a claims path pointer over a JSON credential (§7).
3. ``evaluation.evaluate_dcql`` checks the wallet's ``vp_token`` (§8.1): each presentation is verified
   through the format handlers' ``Lookup`` and matched against its Credential Query (format, ``meta``,
   claims and claim sets, no over-disclosure); then required queries and credential sets (§6.4).
4. ``result.disclosed_claims`` gives the data-minimised claims of one satisfied query for the verdict.

``translate.definition_to_dcql`` turns a Presentation Exchange definition into the equivalent query, or
refuses (``dcql.untranslatable``) what DCQL cannot say exactly.
"""

from service.dcql.evaluation import MAX_PRESENTATIONS, evaluate_dcql, presentations_in
from service.dcql.model import (
    ClaimsQuery,
    CredentialMeta,
    CredentialQuery,
    CredentialSetQuery,
    DcqlQuery,
    TrustedAuthority,
)
from service.dcql.pointer import ClaimsPath, select
from service.dcql.query import check_supported, parse_dcql_query
from service.dcql.result import (
    ClaimMatch,
    CredentialMatch,
    DcqlResult,
    Discarded,
    QueryResult,
    disclosed_claims,
)
from service.dcql.translate import definition_to_dcql
from service.presentation_exchange.evaluation import Decoded, Lookup

__all__ = [
    "MAX_PRESENTATIONS",
    "ClaimMatch",
    "ClaimsPath",
    "ClaimsQuery",
    "CredentialMatch",
    "CredentialMeta",
    "CredentialQuery",
    "CredentialSetQuery",
    "DcqlQuery",
    "DcqlResult",
    "Decoded",
    "Discarded",
    "Lookup",
    "QueryResult",
    "TrustedAuthority",
    "check_supported",
    "definition_to_dcql",
    "disclosed_claims",
    "evaluate_dcql",
    "parse_dcql_query",
    "presentations_in",
    "select",
]
