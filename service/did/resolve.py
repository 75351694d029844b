"""DID resolution behind one port, and verification-method selection (DID Core §7, did.md §4).

``did:key`` and ``did:jwk`` are decoded locally (no I/O). Other methods raise
``did.unsupported_method`` from :func:`resolve_local`; a network resolver (did:web) implements the same
:class:`DidResolver` protocol, and a composite can dispatch on :func:`did_method`.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Final, Protocol

from service.did.did_jwk import resolve_did_jwk
from service.did.did_key import resolve_did_key
from service.did.document import DidDocument, KeyAgreementMethod, Relationship, VerificationMethod
from service.errors import ConfigurationError, DidResolutionFailed

__all__ = [
    "DEFAULT_DID_CACHE_SIZE",
    "LOCAL_METHODS",
    "DidDocument",
    "DidResolver",
    "KeyAgreementMethod",
    "LocalDidResolver",
    "Relationship",
    "VerificationMethod",
    "did_method",
    "did_of",
    "resolve_local",
    "select_verification_method",
]

_MAX_DID_LENGTH: Final = 4096
_MAX_DID_URL_LENGTH: Final = _MAX_DID_LENGTH + 256  # a DID plus path, query and fragment
# DID Core §3.1: did:<method-name>:<method-specific-id>, with method-specific-id = *( *idchar ":" ) 1*idchar
# and idchar = ALPHA / DIGIT / "." / "-" / "_" / pct-encoded. Checked as two cheap scans rather than one
# alternation per character (~0.4 instead of ~4 µs; every response parses several DIDs): characters from
# the set, the last not ":", then every "%" opening a pct-encoded triplet. Same language, see
# tests/property/test_fast_paths.py.
_DID: Final = re.compile(r"did:([a-z0-9]+):[A-Za-z0-9._:%-]*[A-Za-z0-9._%-]")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DID_URL_END: Final = re.compile(r"[/?#]")

_LOCAL_RESOLVERS: Final[Mapping[str, Callable[[str], DidDocument]]] = {
    "key": resolve_did_key,
    "jwk": resolve_did_jwk,
}
LOCAL_METHODS: Final = frozenset(_LOCAL_RESOLVERS)
DEFAULT_DID_CACHE_SIZE: Final = 4096  # DID documents kept by LocalDidResolver (LRU)


class DidResolver(Protocol):
    """Resolves a DID (never a DID URL) to its document; raises DidResolutionFailed or MalformedKey."""

    async def resolve(self, did: str) -> DidDocument:
        """The DID document of ``did``."""
        ...


def did_of(did_url: str) -> str:
    """The DID of a DID URL: path, query and fragment removed (DID Core §3.2)."""
    if len(did_url) > _MAX_DID_URL_LENGTH:
        raise DidResolutionFailed("did.invalid", "DID URL is too long")
    end = _DID_URL_END.search(did_url)
    did = did_url if end is None else did_url[: end.start()]
    did_method(did)
    return did


def did_method(did: str) -> str:
    """The method name of a DID (``key`` for ``did:key:...``); refuses anything that is not a DID."""
    match = _DID.fullmatch(did) if len(did) <= _MAX_DID_LENGTH else None
    if match is None or ("%" in did and _BAD_PERCENT.search(did) is not None):
        raise DidResolutionFailed("did.invalid", "Not a valid DID")
    return match.group(1)


def resolve_local(did: str) -> DidDocument:
    """Resolve a did:key or did:jwk without I/O; any other method is did.unsupported_method."""
    resolver = _LOCAL_RESOLVERS.get(did_method(did))
    if resolver is None:
        raise DidResolutionFailed("did.unsupported_method", "DID method is not supported")
    return resolver(did)


class LocalDidResolver:
    """A :class:`DidResolver` for the local methods, with a method allow-list and a bounded LRU cache."""

    __slots__ = ("_cache", "_cache_size", "_methods")

    def __init__(
        self, *, methods: frozenset[str] = LOCAL_METHODS, cache_size: int = DEFAULT_DID_CACHE_SIZE
    ) -> None:
        if not methods <= LOCAL_METHODS:
            raise ConfigurationError("config.did_methods", "Only did:key and did:jwk resolve locally")
        if cache_size < 0:
            raise ConfigurationError("config.did_cache", "The DID cache size cannot be negative")
        self._methods = methods
        self._cache_size = cache_size
        self._cache: OrderedDict[str, DidDocument] = OrderedDict()

    async def resolve(self, did: str) -> DidDocument:
        """The DID document of ``did``, decoded once and then served from the cache."""
        document = self._cache.get(did)
        if document is not None:
            self._cache.move_to_end(did)
            return document
        method = did_method(did)
        if method not in self._methods:
            raise DidResolutionFailed("did.unsupported_method", "DID method is not allowed")
        # _methods ⊆ LOCAL_METHODS (checked at construction): its resolver, without parsing the DID again.
        document = _LOCAL_RESOLVERS[method](did)
        self._remember(did, document)
        return document

    def _remember(self, did: str, document: DidDocument) -> None:
        if self._cache_size == 0:
            return
        self._cache[did] = document
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def select_verification_method(
    document: DidDocument, kid: str | None, *, relationship: Relationship
) -> VerificationMethod:
    """The method ``kid`` names in ``document``, checked against ``relationship`` (did.md §4)."""
    allowed = document.relationship(relationship)
    if kid is None:
        return _only_method(document, allowed)
    method_id = _absolute_method_id(document, kid)
    for method in document.verification_methods:
        if method.id == method_id:
            if method_id not in allowed:
                raise DidResolutionFailed("did.wrong_relationship", "Key is not allowed for this purpose")
            return method
    if any(method.id == method_id for method in document.key_agreement_methods):
        raise DidResolutionFailed("did.wrong_relationship", "Key is for key agreement only")
    raise DidResolutionFailed("did.key_not_found", "Key is not in the DID document")


def _absolute_method_id(document: DidDocument, kid: str) -> str:
    # A kid naming another DID must not lead anywhere else: we never resolve a DID taken from a kid.
    did, hash_sign, fragment = kid.partition("#")
    if not hash_sign or not fragment or did not in ("", document.id):
        raise DidResolutionFailed("did.key_not_found", "kid is not a key of this DID")
    return f"{document.id}#{fragment}"


def _only_method(document: DidDocument, allowed: frozenset[str]) -> VerificationMethod:
    candidates = [method for method in document.verification_methods if method.id in allowed]
    if len(candidates) != 1:
        raise DidResolutionFailed("did.key_not_found", "No kid given and no single key fits")
    return candidates[0]
