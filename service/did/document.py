"""The resolved DID document, reduced to what a verifier uses (DID Core §5.2, §5.3).

Kept apart from ``resolve.py`` so the method modules (did:key, did:jwk, later did:web) can build documents
while ``resolve.py`` dispatches to them, without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from service.jose.jwk import KeyAgreementJwk, PublicJwk

__all__ = [
    "JSON_WEB_KEY_2020",
    "DidDocument",
    "KeyAgreementMethod",
    "Relationship",
    "VerificationMethod",
]

# We expose every key as a JWK, whatever format the method encodes it in.
JSON_WEB_KEY_2020: Final = "JsonWebKey2020"

Relationship = Literal["authentication", "assertionMethod"]


@dataclass(frozen=True, slots=True)
class VerificationMethod:
    """A signing key of a DID; ``id`` is an absolute DID URL."""

    id: str
    controller: str
    type: str
    public_key: PublicJwk


@dataclass(frozen=True, slots=True)
class KeyAgreementMethod:
    """An X25519 key of a DID: kept out of ``verification_methods`` so no signature check can select it."""

    id: str
    controller: str
    type: str
    public_key: KeyAgreementJwk


@dataclass(frozen=True, slots=True)
class DidDocument:
    """The methods of a DID and the relationships that reference them (by absolute id)."""

    id: str
    verification_methods: tuple[VerificationMethod, ...]
    authentication: frozenset[str]
    assertion_method: frozenset[str]
    key_agreement: frozenset[str]
    key_agreement_methods: tuple[KeyAgreementMethod, ...] = ()

    def relationship(self, name: Relationship) -> frozenset[str]:
        """The method ids referenced from the relationship ``name``."""
        return self.authentication if name == "authentication" else self.assertion_method
