"""One :class:`~service.did.resolve.DidResolver` for every DID method the deployment accepts (did.md §6.1).

did:key and did:jwk are decoded locally; did:web goes to the network resolver when one is configured.
The method allow-list is checked before anything else, so a method that is not accepted never causes
any work, let alone a fetch.
"""

from __future__ import annotations

from typing import Final

from service.did.did_web import DidWebResolver
from service.did.document import DidDocument
from service.did.resolve import LOCAL_METHODS, LocalDidResolver, did_method
from service.errors import ConfigurationError, DidResolutionFailed

__all__ = ["SUPPORTED_METHODS", "WEB_METHOD", "CompositeDidResolver"]

WEB_METHOD: Final = "web"
SUPPORTED_METHODS: Final = LOCAL_METHODS | {WEB_METHOD}


class CompositeDidResolver:
    """Dispatches by DID method: local methods to ``local``, did:web to ``web`` (did.md §6.1 allow-list)."""

    __slots__ = ("_local", "_methods", "_web")

    def __init__(
        self, *, local: LocalDidResolver, web: DidWebResolver | None, methods: frozenset[str]
    ) -> None:
        if not methods <= SUPPORTED_METHODS:
            raise ConfigurationError("config.did_methods", "Only did:key, did:jwk and did:web are supported")
        if WEB_METHOD in methods and web is None:
            raise ConfigurationError("config.did_methods", "did:web is allowed but no resolver is configured")
        self._local = local
        self._web = web
        self._methods = methods

    async def resolve(self, did: str) -> DidDocument:
        """The DID document of ``did`` from the resolver of its method, if that method is allowed."""
        method = did_method(did)
        if method not in self._methods:
            raise DidResolutionFailed("did.unsupported_method", "DID method is not allowed")
        if method == WEB_METHOD and self._web is not None:
            return await self._web.resolve(did)
        return await self._local.resolve(did)
