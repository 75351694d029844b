"""Decentralized identifiers: resolve a holder's or issuer's DID and pick the key that signed.

``resolve.py`` holds the resolver port and key selection; ``did_key.py`` and ``did_jwk.py`` decode their
methods locally; ``document.py`` is the reduced DID document they produce.
"""

from service.did.did_jwk import did_jwk_from_jwk, resolve_did_jwk
from service.did.did_key import did_key_from_jwk, resolve_did_key
from service.did.document import DidDocument, KeyAgreementMethod, Relationship, VerificationMethod
from service.did.resolve import (
    LOCAL_METHODS,
    DidResolver,
    LocalDidResolver,
    did_method,
    did_of,
    resolve_local,
    select_verification_method,
)

__all__ = [
    "LOCAL_METHODS",
    "DidDocument",
    "DidResolver",
    "KeyAgreementMethod",
    "LocalDidResolver",
    "Relationship",
    "VerificationMethod",
    "did_jwk_from_jwk",
    "did_key_from_jwk",
    "did_method",
    "did_of",
    "resolve_did_jwk",
    "resolve_did_key",
    "resolve_local",
    "select_verification_method",
]
