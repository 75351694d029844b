"""did:web (W3C CCG did-method-web): the DID names an https URL that serves its DID document (did.md §3).

Resolution is the one DID operation with network I/O, to a host the wallet or issuer chooses, so it goes
through :class:`service.fetch.CachedFetcher` (SSRF guard, no redirects, size cap, cache). On top of the
spec's MUST steps we decide:

- Mapping: only the ``%3A`` port escape is decoded; any other ``%`` is ``did.invalid``, as are IP-literal
  hosts, empty segments and ``.``/``..`` segments (a path that a normaliser would move elsewhere).
- Every DID URL in the document must be absolute and name this DID (did:web "Key Material and Document
  Handling"): a relative ``#frag`` id, a method of another DID or another controller refuses the whole
  document, since a key we cannot attribute is a key-confusion risk.
- Key formats: ``publicKeyJwk`` (JsonWebKey2020, JsonWebKey), ``publicKeyMultibase`` (Multikey,
  Ed25519VerificationKey2020; decoded as the did:key value it is) and ``publicKeyBase58``
  (Ed25519VerificationKey2018). A method of another type or format is skipped: documents legitimately
  carry keys for other suites. Key material in a supported format that does not parse is skipped too,
  unless ``authentication`` or ``assertionMethod`` points at it: then the document is refused with the
  ``key.*`` reason, because the controller meant that key to sign. Private key material always refuses.
- ``authentication`` / ``assertionMethod`` may reference methods of ``verificationMethod`` or embed
  their own; an embedded method serves only the relationship that embeds it (DID Core §5.3). References
  to unknown ids are dropped. ``keyAgreement`` is not read: we never encrypt to a DID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from service.did.did_key import resolve_did_key
from service.did.document import JSON_WEB_KEY_2020, DidDocument, VerificationMethod
from service.did.multibase import base58btc_decode
from service.errors import DependencyUnavailable, DidResolutionFailed, MalformedKey
from service.fetch import CachedFetcher, Fetched, FetchFailed, FetchRefused
from service.jose.encoding import b64url_encode
from service.jose.jwk import PublicJwk, parse_public_jwk
from service.strict_json import StrictJsonError, loads_strict

__all__ = ["DID_WEB_MEDIA_TYPES", "MAX_DID_WEB_LENGTH", "DidWebResolver", "did_web_url", "parse_did_document"]

DID_WEB_MEDIA_TYPES: Final = ("application/did+json", "application/json", "application/did+ld+json")
# The URL adds at most 21 characters ("/.well-known/did.json"), so it stays under the guard's 2048.
MAX_DID_WEB_LENGTH: Final = 2000
_PREFIX: Final = "did:web:"
_PORT_ESCAPE: Final = re.compile("%3a", re.IGNORECASE)
_PORT: Final = re.compile(r"[1-9][0-9]{0,4}")
_SEGMENT: Final = re.compile(r"[A-Za-z0-9._-]+")  # DID Core idchar, percent-encoding excluded
_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)
_NUMERIC_LABEL: Final = re.compile(r"[0-9]+|0x[0-9a-f]*", re.IGNORECASE)  # an IPv4 address in disguise
_FRAGMENT: Final = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/?%-]{1,256}")  # RFC 3986 §3.5 fragment
_DID_CONTEXTS: Final = frozenset({"https://www.w3.org/ns/did/v1", "https://www.w3.org/ns/did/v1.1"})
_MAX_METHODS: Final = 64  # per list; every key costs a curve check
_BASE58_ED25519_MAX: Final = 64  # 32 bytes are at most 44 base58 characters
# Which types may carry which key format; anything else is a suite we do not verify.
_TYPES_BY_FORMAT: Final[Mapping[str, frozenset[str]]] = {
    "publicKeyJwk": frozenset({"JsonWebKey2020", "JsonWebKey"}),
    "publicKeyMultibase": frozenset({"Multikey", "Ed25519VerificationKey2020"}),
    "publicKeyBase58": frozenset({"Ed25519VerificationKey2018"}),
}
_RELATIONSHIPS: Final = ("authentication", "assertionMethod")


# --- The DID -> URL mapping --- #


def did_web_url(did: str) -> str:
    """The https URL of a did:web document (did:web "Read (Resolve)" steps 1-5)."""
    return _document_url(did, scheme="https")


def _document_url(did: str, *, scheme: str) -> str:
    if len(did) > MAX_DID_WEB_LENGTH or not did.startswith(_PREFIX):
        raise DidResolutionFailed("did.invalid", "Not a did:web")
    host_part, *path = did[len(_PREFIX) :].split(":")
    # The segment rule is DID Core's idchar grammar, which also leaves no room for userinfo ("@").
    if not all(_SEGMENT.fullmatch(segment) and segment not in (".", "..") for segment in path):
        raise DidResolutionFailed("did.invalid", "did:web path segments are not valid")
    authority = _authority(host_part)
    return f"{scheme}://{authority}/{'/'.join(path) if path else '.well-known'}/did.json"


def _authority(text: str) -> str:
    """``host`` or ``host:port`` from the first segment; only the ``%3A`` port escape is decoded."""
    host, *port = _PORT_ESCAPE.split(text)
    if len(port) > 1 or (port and (_PORT.fullmatch(port[0]) is None or int(port[0]) > 65535)):
        raise DidResolutionFailed("did.invalid", "did:web port is not valid")
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise DidResolutionFailed("did.invalid", "did:web host is not a DNS name")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise DidResolutionFailed("did.invalid", "did:web host must not be an IP address")
    return f"{host}:{port[0]}" if port else host


# --- The resolver --- #


class DidWebResolver:
    """A :class:`service.did.resolve.DidResolver` for did:web over the cached, SSRF-safe fetcher."""

    __slots__ = ("_fetcher", "_scheme")

    def __init__(self, fetcher: CachedFetcher, *, allow_http: bool = False) -> None:
        self._fetcher = fetcher
        # http is for development and tests only: without TLS nothing binds the document to the domain.
        self._scheme = "http" if allow_http else "https"

    async def resolve(self, did: str) -> DidDocument:
        """Fetch, decode and check the DID document of ``did`` (did:web "Read (Resolve)")."""
        fetched = await self._fetch(_document_url(did, scheme=self._scheme))
        try:
            document = loads_strict(fetched.body)
        except StrictJsonError as exc:
            raise DidResolutionFailed("did.invalid_document", "The DID document is not valid JSON") from exc
        return parse_did_document(did, document)

    async def _fetch(self, url: str) -> Fetched:
        try:
            return await self._fetcher.get(url, accept=DID_WEB_MEDIA_TYPES)
        except FetchFailed as exc:
            raise DependencyUnavailable("did.unreachable", "The DID document could not be retrieved") from exc
        except FetchRefused as exc:
            raise DidResolutionFailed(*_refusal(exc)) from exc


def _refusal(error: FetchRefused) -> tuple[str, str]:
    """The did.* reason and description for a permanent fetch failure."""
    if error.reason == "fetch.bad_status" and error.http_status in (404, 410):
        return "did.not_found", "The DID document does not exist"
    if error.reason == "fetch.bad_status":
        return "did.bad_status", "The DID document server did not answer 200"
    if error.reason == "fetch.too_large":
        return "did.too_large", "The DID document is too large"
    if error.reason == "fetch.bad_content_type":
        return "did.invalid_document", "The DID document has the wrong media type"
    return "did.refused", "The DID document URL is not allowed"


# --- The document --- #


def parse_did_document(did: str, document: object) -> DidDocument:
    """The signing methods of a decoded did:web document for ``did`` (did.md §3 step 7, §4)."""
    if not isinstance(document, dict):
        raise DidResolutionFailed("did.invalid_document", "The DID document is not a JSON object")
    if document.get("id") != did:
        raise DidResolutionFailed("did.wrong_document_id", "The DID document is for another DID")
    _check_context(document)
    listed = _methods(document.get("verificationMethod"), did)
    relationships, embedded = _relationships(document, listed, did)
    referenced = relationships["authentication"] | relationships["assertionMethod"]
    parsed = (
        _verification_method(method, did, referenced=method["id"] in referenced)
        for method in (*listed.values(), *embedded)
    )
    methods = tuple(method for method in parsed if method is not None)
    usable = frozenset(method.id for method in methods)
    return DidDocument(
        did,
        methods,
        authentication=relationships["authentication"] & usable,
        assertion_method=relationships["assertionMethod"] & usable,
        key_agreement=frozenset(),
    )


def _check_context(document: Mapping[str, Any]) -> None:
    """A present ``@context`` lists the DID Core context (did:web "Key Material and Document Handling")."""
    if "@context" not in document:
        return
    context = document["@context"]
    items = [context] if isinstance(context, str) else context if isinstance(context, list) else []
    if not any(isinstance(item, str) and item in _DID_CONTEXTS for item in items):
        raise DidResolutionFailed("did.invalid_document", "The DID document lacks the DID Core context")


def _methods(value: object, did: str) -> dict[str, dict[str, Any]]:
    """The ``verificationMethod`` entries by id, each structurally checked."""
    if value is None:
        return {}
    if not isinstance(value, list) or len(value) > _MAX_METHODS:
        raise DidResolutionFailed("did.invalid_document", "verificationMethod is not a list of methods")
    methods = {method["id"]: method for method in (_checked_method(item, did) for item in value)}
    if len(methods) != len(value):
        raise DidResolutionFailed("did.invalid_document", "A verification method id is repeated")
    return methods


def _relationships(
    document: Mapping[str, Any], listed: Mapping[str, object], did: str
) -> tuple[dict[str, frozenset[str]], list[dict[str, Any]]]:
    """The method ids of each relationship, and the methods embedded in them (ids unique overall)."""
    seen = set(listed)
    ids: dict[str, frozenset[str]] = {}
    embedded: list[dict[str, Any]] = []
    for name in _RELATIONSHIPS:
        references, inline = _relationship(document.get(name), did)
        for method in inline:
            if method["id"] in seen:
                raise DidResolutionFailed("did.invalid_document", "A verification method id is repeated")
            seen.add(method["id"])
        embedded += inline
        # A reference reaches only verificationMethod: an embedded method serves its own relationship.
        ids[name] = frozenset({ref for ref in references if ref in listed} | {m["id"] for m in inline})
    return ids, embedded


def _relationship(value: object, did: str) -> tuple[list[str], list[dict[str, Any]]]:
    """A relationship's references (absolute ids of this DID) and embedded methods (DID Core §5.3)."""
    if value is None:
        return [], []
    if not isinstance(value, list) or len(value) > _MAX_METHODS:
        raise DidResolutionFailed("did.invalid_document", "A verification relationship is not a list")
    references = [_check_did_url(item, did) for item in value if isinstance(item, str)]
    inline = [_checked_method(item, did) for item in value if not isinstance(item, str)]
    return references, inline


def _checked_method(item: object, did: str) -> dict[str, Any]:
    """A verification method object whose id, type and controller are well formed and of this DID."""
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise DidResolutionFailed("did.invalid_document", "A verification method is not valid")
    _check_did_url(item.get("id"), did)
    if item.get("controller") != did:
        raise DidResolutionFailed("did.invalid_document", "A verification method has another controller")
    return item


def _check_did_url(value: object, did: str) -> str:
    """An absolute DID URL ``<did>#<fragment>``; relative ``#frag`` ids are refused (did.md §3)."""
    if not isinstance(value, str):
        raise DidResolutionFailed("did.invalid_document", "A verification method id is not a string")
    base, hash_sign, fragment = value.partition("#")
    if not base:
        raise DidResolutionFailed("did.invalid_document", "A DID URL in the document is relative")
    if base != did or not hash_sign or _FRAGMENT.fullmatch(fragment) is None:
        raise DidResolutionFailed("did.invalid_document", "A DID URL in the document names another DID")
    return value


# --- Key material --- #


def _verification_method(
    method: Mapping[str, Any], did: str, *, referenced: bool
) -> VerificationMethod | None:
    """The method with its key as a JWK; None when skipped (see the module docstring for the rule)."""
    try:
        key = _public_key(method)
    except MalformedKey as exc:
        if referenced or exc.reason == "key.private_material":
            raise
        return None
    return None if key is None else VerificationMethod(method["id"], did, JSON_WEB_KEY_2020, key)


def _public_key(method: Mapping[str, Any]) -> PublicJwk | None:
    """The signing key of a method in a supported type and format; None for any other suite."""
    formats = [name for name in _TYPES_BY_FORMAT if name in method]
    if len(formats) > 1:  # DID Core §5.2.1: one verification material property per method
        raise MalformedKey("key.invalid", "A verification method carries several keys")
    if not formats or method["type"] not in _TYPES_BY_FORMAT[formats[0]]:
        return None
    value = method[formats[0]]
    try:
        if formats[0] == "publicKeyJwk":
            return _jwk_key(value)
        if formats[0] == "publicKeyMultibase":
            return _multibase_key(value, ed25519_only=method["type"] == "Ed25519VerificationKey2020")
        return _base58_ed25519_key(value)
    except MalformedKey as exc:
        if exc.reason == "key.unsupported_type":  # a curve or key type we do not verify with
            return None
        raise


def _jwk_key(value: object) -> PublicJwk | None:
    if not isinstance(value, dict):
        raise MalformedKey("key.invalid", "publicKeyJwk is not a JSON object")
    if value.get("use", "sig") != "sig":  # an encryption key named as a signing method
        return None
    return parse_public_jwk(value)


def _multibase_key(value: object, *, ed25519_only: bool) -> PublicJwk | None:
    # A Multikey value is exactly a did:key's multibase value, so the did:key decoder validates it.
    if not isinstance(value, str) or not value.startswith("z") or not _SEGMENT.fullmatch(value):
        raise MalformedKey("key.invalid", "publicKeyMultibase is not base58btc multibase")
    try:
        document = resolve_did_key("did:key:" + value)
    except DidResolutionFailed as exc:
        raise MalformedKey("key.invalid", "publicKeyMultibase is not a multicodec key") from exc
    if not document.verification_methods:  # X25519: key agreement only
        return None
    key = document.verification_methods[0].public_key
    if ed25519_only and key.crv != "Ed25519":
        raise MalformedKey("key.invalid", "Ed25519VerificationKey2020 holds another key type")
    return key


def _base58_ed25519_key(value: object) -> PublicJwk:
    if not isinstance(value, str) or len(value) > _BASE58_ED25519_MAX:
        raise MalformedKey("key.invalid", "publicKeyBase58 is not an Ed25519 key")
    try:
        raw = base58btc_decode(value)
    except DidResolutionFailed as exc:
        raise MalformedKey("key.invalid", "publicKeyBase58 is not base58btc") from exc
    if len(raw) != 32:
        raise MalformedKey("key.invalid", "publicKeyBase58 is not an Ed25519 key")
    return parse_public_jwk({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)})
