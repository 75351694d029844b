"""What verifying one response needs from outside: the key ports, the policy and this transaction's demands.

Kept apart from ``service.verification`` (the order of the checks) and ``service.credential_checks`` (the
per-credential work) so both can name them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from service.dcql import DcqlQuery
from service.did.resolve import DidResolver
from service.jose.jwk import PublicJwk
from service.presentation_exchange import (
    PresentationDefinition,
)
from service.sign_in import (
    SignInPolicy,
)
from service.status import (
    StatusListSource,
)

__all__ = [
    "Expectations",
    "IssuerKeys",
    "IssuerMetadataSource",
    "JwksSource",
    "KeySources",
    "VerificationPolicy",
]

IssuerKeys = tuple[tuple[str | None, PublicJwk], ...]


class JwksSource(Protocol):
    """Keys published as a JWK Set at a configured URL (RFC 7517 §5)."""

    async def keys(self, uri: str) -> IssuerKeys:
        """(kid, key) pairs of the set."""
        ...


class IssuerMetadataSource(Protocol):
    """Keys an https issuer publishes in its JWT VC Issuer Metadata (SD-JWT VC -18 §3)."""

    async def keys(self, iss: str) -> IssuerKeys:
        """(kid, key) pairs of the issuer."""
        ...


@dataclass(frozen=True, slots=True)
class KeySources:
    """The I/O ports issuer and holder keys come from."""

    dids: DidResolver
    metadata: IssuerMetadataSource | None = None
    jwks: JwksSource | None = None
    status: StatusListSource | None = None
    """Where status lists come from; without one, credentials that reference a list cannot be accepted."""


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
    key_binding_max_age: int = 120
    max_disclosures: int = 256
    credential_clock_skew: int | None = None
    """Skew for issuer-side validity (credentials, status lists); None: the same as ``clock_skew``."""
    legacy_profiles: frozenset[str] = frozenset()
    """Older self-issued ID Token profiles accepted on purpose (service.id_token PROFILE_*)."""


@dataclass(frozen=True, slots=True)
class Expectations:
    """What this one transaction requires."""

    client_id: str
    nonce: str
    definition: PresentationDefinition | None
    trusted_issuers: frozenset[str] | None
    sign_in: SignInPolicy | None = None
    expected_subject: str | None = None
    allow_unknown_status: bool = False
    """A status list that cannot be reached leaves the credential ``unknown`` instead of rejecting it."""
    dcql: DcqlQuery | None = None
    """OpenID4VP 1.0: the query the ``vp_token`` answers (then ``definition`` is None)."""
    id_token: bool = True
    """The request asked for an ID Token (SIOPv2). Without one, each presentation proves its own holder."""
