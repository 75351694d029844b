"""Disclosures, digests and payload processing (RFC 9901 §4.2, §7.1 steps 3-5).

Each presented Disclosure is decoded and hashed exactly once into a digest → Disclosure table; one walk
over the payload then swaps every digest it meets for its Disclosure (or drops it as a decoy) and
recurses into what it inserted. Digests met twice and Disclosures never reached are refused, so a
Disclosure value is only trusted when the issuer's signature reaches it through a chain of digests (§9.2).

Our policy on top of RFC 9901: the claims SD-JWT VC §2.2.2.3 says must never be selectively
disclosable (``iss``, ``nbf``, ``exp``, ``cnf``, ``vct``, ``vct#integrity``, ``status``) are refused when
they arrive as disclosed top-level names, and ``_sd_alg`` is refused as a disclosed name anywhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from service.errors import InvalidRequest, MalformedResponse
from service.jose.encoding import b64url_decode, b64url_encode
from service.sd_jwt.serialization import SD_JWT
from service.strict_json import StrictJsonError, loads_strict

__all__ = [
    "DEFAULT_SD_ALG",
    "SUPPORTED_SD_ALGS",
    "ClaimPath",
    "ProcessedSdJwt",
    "process_disclosures",
    "sd_digest",
]

ClaimPath = tuple[str | int, ...]

DEFAULT_SD_ALG: Final = "sha-256"
# IANA "Named Information Hash Algorithm" names (RFC 9901 §4.1.1). Truncated variants (sha-256-32, ...)
# are deliberately absent: they would make digest collisions practical (§9.4).
_HASHLIB_NAMES: Final[Mapping[str, str]] = {"sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512"}
SUPPORTED_SD_ALGS: Final = frozenset(_HASHLIB_NAMES)

_SD: Final = "_sd"
_SD_ALG: Final = "_sd_alg"
_ELLIPSIS: Final = "..."
# Names a Disclosure may never carry: the SD-JWT structure itself (RFC 9901 §4.2.1) and, as our policy,
# _sd_alg, whose only meaning is structural.
_RESERVED_NAMES: Final = frozenset({_SD, _ELLIPSIS, _SD_ALG})
# SD-JWT VC §2.2.2.3: these top-level claims MUST NOT be selectively disclosable.
_NEVER_DISCLOSED: Final = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})
_OBJECT_DISCLOSURE_LENGTH: Final = 3
_ARRAY_DISCLOSURE_LENGTH: Final = 2


@dataclass(frozen=True, slots=True)
class ProcessedSdJwt:
    """The payload with its presented Disclosures applied (RFC 9901 §7.1 step 3)."""

    claims: dict[str, Any]
    """Disclosures inserted; ``_sd``, ``_sd_alg`` and ``{"...": digest}`` placeholders removed."""
    disclosed_paths: tuple[ClaimPath, ...]
    """Where each value that came from a Disclosure sits in ``claims`` (array indices as processed)."""
    sd_alg: str
    """The hash algorithm of the digests and of the KB-JWT ``sd_hash``."""


@dataclass(frozen=True, slots=True)
class _Disclosure:
    name: str | None
    """The claim name of an object property Disclosure; None for an array element Disclosure."""
    value: Any


def sd_digest(text: str, sd_alg: str) -> str:
    """base64url(HASH(ASCII of ``text``)): Disclosure digest and ``sd_hash`` (RFC 9901 §4.2.3, §4.3.1)."""
    name = _HASHLIB_NAMES.get(sd_alg)
    if name is None:
        raise SD_JWT.fail("unsupported_sd_alg", "The _sd_alg hash algorithm is not supported")
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise SD_JWT.fail("malformed", "Hashed SD-JWT text is not ASCII") from exc
    return b64url_encode(hashlib.new(name, data).digest())


def process_disclosures(
    payload: Mapping[str, Any], disclosures: Sequence[str], *, max_depth: int = 32
) -> ProcessedSdJwt:
    """Apply the presented Disclosures to a verified issuer payload (RFC 9901 §7.1 steps 3-5)."""
    if not isinstance(payload, Mapping):
        raise SD_JWT.fail("malformed", "SD-JWT payload is not a JSON object")
    sd_alg = _sd_alg(payload)
    walker = _Walker(_index_disclosures(disclosures, sd_alg), max_depth, sd_alg)
    claims = walker.walk_object(payload, (), 1, top=True)
    if walker.unreferenced:
        raise SD_JWT.fail("disclosure_unreferenced", "A Disclosure is not referenced by any digest")
    return ProcessedSdJwt(claims=claims, disclosed_paths=tuple(walker.paths), sd_alg=sd_alg)


def _sd_alg(payload: Mapping[str, Any]) -> str:
    """The top-level ``_sd_alg``, ``sha-256`` when absent (RFC 9901 §4.1.1)."""
    value = payload.get(_SD_ALG, DEFAULT_SD_ALG)
    if not isinstance(value, str) or value not in SUPPORTED_SD_ALGS:
        raise SD_JWT.fail("unsupported_sd_alg", "The _sd_alg hash algorithm is not supported")
    return value


def _index_disclosures(disclosures: Sequence[str], sd_alg: str) -> dict[str, _Disclosure]:
    """Decode and hash every presented Disclosure once (RFC 9901 §7.1 step 3.1)."""
    index: dict[str, _Disclosure] = {}
    for text in disclosures:
        decoded = _decode_disclosure(text)
        digest = sd_digest(text, sd_alg)
        if digest in index:
            raise SD_JWT.fail("disclosure_duplicated", "A Disclosure is presented twice")
        index[digest] = decoded
    return index


def _decode_disclosure(text: object) -> _Disclosure:
    """A Disclosure is base64url of a JSON array [salt, name, value] or [salt, value] (RFC 9901 §4.2)."""
    if not isinstance(text, str):
        raise _malformed_disclosure()
    try:
        value = loads_strict(b64url_decode(text, reason="sd_jwt.disclosure_malformed"))
    except (MalformedResponse, StrictJsonError) as exc:
        raise _malformed_disclosure() from exc
    if not isinstance(value, list) or len(value) not in (_ARRAY_DISCLOSURE_LENGTH, _OBJECT_DISCLOSURE_LENGTH):
        raise _malformed_disclosure()
    if not isinstance(value[0], str):
        raise _malformed_disclosure()
    if len(value) == _ARRAY_DISCLOSURE_LENGTH:
        return _Disclosure(name=None, value=value[1])
    if not isinstance(value[1], str):
        raise _malformed_disclosure()
    return _Disclosure(name=value[1], value=value[2])


def _malformed_disclosure() -> InvalidRequest:
    return SD_JWT.fail("disclosure_malformed", "A Disclosure is malformed")


class _Walker:
    """One pass over the payload with the digest table; tracks what was used and where it went."""

    __slots__ = ("_by_digest", "_digest_length", "_max_depth", "_seen", "paths", "unreferenced")

    def __init__(self, by_digest: dict[str, _Disclosure], max_depth: int, sd_alg: str) -> None:
        self._by_digest = by_digest
        self._digest_length = _digest_length(sd_alg)
        self._max_depth = max_depth
        self._seen: set[str] = set()
        self.paths: list[ClaimPath] = []
        self.unreferenced = set(by_digest)

    def walk_object(
        self, node: Mapping[str, Any], path: ClaimPath, depth: int, *, top: bool
    ) -> dict[str, Any]:
        """Keep plain claims, insert disclosed ones from ``_sd`` (RFC 9901 §7.1 step 3.2.2)."""
        self._check_depth(depth)
        digests = _sd_digests(node)
        out: dict[str, Any] = {}
        for key, child in node.items():
            if key == _SD or (key == _SD_ALG and top):
                continue
            if key == _SD_ALG:
                raise SD_JWT.fail("malformed", "_sd_alg appears below the top level")
            if key == _ELLIPSIS:
                # Outside an array-element placeholder "..." is reserved (RFC 9901 §4.2.4.2).
                raise SD_JWT.fail("reserved_claim_name", "The claim name '...' is reserved")
            out[key] = self.walk_value(child, (*path, key), depth + 1)
        for digest in digests:
            disclosure = self._take(digest)
            if disclosure is None:
                continue  # a decoy, or a claim the Holder chose not to disclose
            name = _claim_name(disclosure, out, top=top)
            claim_path = (*path, name)
            self.paths.append(claim_path)
            out[name] = self.walk_value(disclosure.value, claim_path, depth + 1)
        return out

    def walk_array(self, node: list[Any], path: ClaimPath, depth: int) -> list[Any]:
        """Replace ``{"...": digest}`` elements, drop undisclosed ones (RFC 9901 §7.1 steps 3.2.3, 3.3)."""
        self._check_depth(depth)
        out: list[Any] = []
        for element in node:
            digest = _placeholder_digest(element)
            if digest is None:
                out.append(self.walk_value(element, (*path, len(out)), depth + 1))
                continue
            disclosure = self._take(digest)
            if disclosure is None:
                continue
            if disclosure.name is not None:
                raise SD_JWT.fail("disclosure_malformed", "An array element needs a two-element Disclosure")
            element_path = (*path, len(out))
            self.paths.append(element_path)
            out.append(self.walk_value(disclosure.value, element_path, depth + 1))
        return out

    def walk_value(self, node: Any, path: ClaimPath, depth: int) -> Any:
        """Recurse into containers; a disclosed value may hold digests itself (RFC 9901 §4.2.6)."""
        if isinstance(node, dict):
            return self.walk_object(node, path, depth, top=False)
        if isinstance(node, list):
            return self.walk_array(node, path, depth)
        return node

    def _take(self, digest: str) -> _Disclosure | None:
        """The Disclosure for ``digest`` (None for a decoy); every digest may appear once (§7.1 step 4)."""
        if len(digest) != self._digest_length or _B64URL_DIGEST.fullmatch(digest) is None:
            # Every digest, decoys included, is base64url of an `_sd_alg` hash (RFC 9901 §4.2.3, §4.2.5):
            # one of another length was made with another algorithm, or is no digest at all.
            raise SD_JWT.fail("digest_mismatch", "A digest does not match the declared _sd_alg")
        if digest in self._seen:
            raise SD_JWT.fail("digest_duplicate", "A digest appears more than once")
        self._seen.add(digest)
        self.unreferenced.discard(digest)
        return self._by_digest.get(digest)

    def _check_depth(self, depth: int) -> None:
        if depth > self._max_depth:
            raise SD_JWT.fail("too_deep", "SD-JWT payload is nested too deeply")


_B64URL_DIGEST = re.compile(r"[A-Za-z0-9_-]+")


def _digest_length(sd_alg: str) -> int:
    """Characters of an unpadded base64url digest for ``sd_alg`` (sha-256: 43)."""
    size = hashlib.new(_HASHLIB_NAMES[sd_alg]).digest_size
    return (size * 8 + 5) // 6


def _sd_digests(node: Mapping[str, Any]) -> list[str]:
    """The ``_sd`` array of an object: absent, or an array of digest strings (RFC 9901 §4.2.4.1)."""
    digests = node.get(_SD, [])
    if not isinstance(digests, list) or not all(isinstance(digest, str) for digest in digests):
        raise SD_JWT.fail("malformed", "_sd is not an array of strings")
    return digests


def _placeholder_digest(element: object) -> str | None:
    """The digest in a ``{"...": digest}`` array element, None for other elements (RFC 9901 §4.2.4.2)."""
    if not isinstance(element, dict) or _ELLIPSIS not in element:
        return None
    digest = element[_ELLIPSIS]
    if len(element) != 1 or not isinstance(digest, str):
        raise SD_JWT.fail("malformed", "An array digest placeholder must be exactly {'...': digest}")
    return digest


def _claim_name(disclosure: _Disclosure, siblings: Mapping[str, Any], *, top: bool) -> str:
    """The name an object Disclosure inserts: not reserved, not already present (RFC 9901 §7.1 step 3.2.2)."""
    name = disclosure.name
    if name is None:
        raise SD_JWT.fail("disclosure_malformed", "An object claim needs a three-element Disclosure")
    if name in _RESERVED_NAMES or (top and name in _NEVER_DISCLOSED):
        raise SD_JWT.fail("reserved_claim_name", "A Disclosure uses a reserved claim name")
    if name in siblings:
        raise SD_JWT.fail("claim_name_collision", "A Disclosure repeats a claim name")
    return name
