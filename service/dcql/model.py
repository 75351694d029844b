"""The validated form of a DCQL query (what :func:`parse_dcql_query` returns; OpenID4VP 1.0 §6).

Send ``DcqlQuery.raw`` to wallets (the backend's JSON, unknown members included); the Structs are what
responses are checked against.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from service.dcql.pointer import ClaimsPath
from service.vocabulary import FORMAT_DC_SD_JWT, FORMAT_JWT_VC_JSON

__all__ = [
    "FORMAT_LDP_VC",
    "FORMAT_MSO_MDOC",
    "QUERY_FORMATS",
    "SUPPORTED_FORMATS",
    "ClaimValue",
    "ClaimsQuery",
    "CredentialMeta",
    "CredentialQuery",
    "CredentialSetQuery",
    "DcqlQuery",
    "TrustedAuthority",
]

# OpenID4VP 1.0 App. B format ids. mdoc and Data Integrity VCs are understood in queries but not yet
# verifiable here (no CBOR / JSON-LD handlers); they belong in vocabulary.py once a handler lands.
FORMAT_MSO_MDOC: Final = "mso_mdoc"
FORMAT_LDP_VC: Final = "ldp_vc"
# Query spelling -> canonical id; `vc+sd-jwt` is the pre-draft-23 name of `dc+sd-jwt`.
QUERY_FORMATS: Final = {
    FORMAT_DC_SD_JWT: FORMAT_DC_SD_JWT,
    "vc+sd-jwt": FORMAT_DC_SD_JWT,
    FORMAT_JWT_VC_JSON: FORMAT_JWT_VC_JSON,
    FORMAT_MSO_MDOC: FORMAT_MSO_MDOC,
    FORMAT_LDP_VC: FORMAT_LDP_VC,
}
SUPPORTED_FORMATS: Final = frozenset({FORMAT_DC_SD_JWT, FORMAT_JWT_VC_JSON})

ClaimValue = str | int | bool


class ClaimsQuery(msgspec.Struct, frozen=True, kw_only=True):
    """One requested claim (§6.3): where it is, and optionally the values it must take."""

    path: ClaimsPath
    id: str | None = None
    values: tuple[ClaimValue, ...] | None = None
    intent_to_retain: bool | None = None  # mso_mdoc only (App. B.2.4)


class CredentialMeta(msgspec.Struct, frozen=True, kw_only=True):
    """The format-specific ``meta`` constraints (App. B); only the member of the query's format is set."""

    vct_values: tuple[str, ...] | None = None  # dc+sd-jwt
    type_values: tuple[tuple[str, ...], ...] | None = None  # jwt_vc_json, ldp_vc: alternatives of type sets
    doctype_value: str | None = None  # mso_mdoc


class TrustedAuthority(msgspec.Struct, frozen=True, kw_only=True):
    """A wallet hint on acceptable issuers (§6.1.1); the verifier's own trust policy still decides."""

    type: str
    values: tuple[str, ...]


class CredentialQuery(msgspec.Struct, frozen=True, kw_only=True):
    """One Credential Query (§6.1). ``format`` is canonical (``vc+sd-jwt`` reads as ``dc+sd-jwt``)."""

    id: str
    format: str
    meta: CredentialMeta
    multiple: bool = False
    require_cryptographic_holder_binding: bool = True
    trusted_authorities: tuple[TrustedAuthority, ...] | None = None
    claims: tuple[ClaimsQuery, ...] | None = None
    claim_sets: tuple[tuple[str, ...], ...] | None = None

    def claim(self, claim_id: str) -> ClaimsQuery | None:
        return next((item for item in self.claims or () if item.id == claim_id), None)


class CredentialSetQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A Credential Set Query (§6.2): one option (all of its credential query ids) must be answered."""

    options: tuple[tuple[str, ...], ...]
    required: bool = True


class DcqlQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A validated DCQL query. ``raw`` is the JSON to send to wallets (treat it as read-only)."""

    credentials: tuple[CredentialQuery, ...]
    raw: dict[str, Any]
    credential_sets: tuple[CredentialSetQuery, ...] | None = None

    def credential(self, query_id: str) -> CredentialQuery | None:
        return next((item for item in self.credentials if item.id == query_id), None)

    def required_ids(self) -> tuple[str, ...]:
        """Credential queries that must be answered whatever the sets say (§6.4.2, see module docs)."""
        if self.credential_sets is None:
            return tuple(item.id for item in self.credentials)
        in_sets = {
            query_id for item in self.credential_sets for option in item.options for query_id in option
        }
        return tuple(item.id for item in self.credentials if item.id not in in_sets)
