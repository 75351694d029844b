"""Claim format restrictions (PE v2 ``format`` on a definition or an input descriptor).

Keys are normalised with :func:`service.vocabulary.canonical_format` (``jwt_vc`` and ``jwt_vc_json`` mean
the same to us). Keys we do not speak (``ldp_vc``, ``mso_mdoc`` …) stay in the raw definition for the
wallet but can never match a submitted object. An entry without an ``alg`` list (e.g. one that lists only
``proof_type``) restricts the format but not the algorithm; the format handlers still enforce the
algorithms the service supports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from service.vocabulary import canonical_format

__all__ = ["AllowedFormats", "InvalidFormatError", "parse_formats"]


class InvalidFormatError(ValueError):
    """A ``format`` object is malformed; the message names the key without echoing values."""


class AllowedFormats(msgspec.Struct, frozen=True):
    """Canonical format id → allowed ``alg`` values (None: any algorithm), and KB-JWT algs for SD-JWT."""

    algs: Mapping[str, frozenset[str] | None]
    kb_algs: Mapping[str, frozenset[str]] = {}

    def permits(self, fmt: str, alg: str, kb_alg: str | None = None) -> bool:
        """True when ``fmt`` is listed and ``alg`` (and the key binding ``kb_alg``, if any) is allowed."""
        if fmt not in self.algs:
            return False
        allowed = self.algs[fmt]
        kb_allowed = self.kb_algs.get(fmt)
        if kb_alg is not None and kb_allowed is not None and kb_alg not in kb_allowed:
            return False
        return allowed is None or alg in allowed

    def lists(self, fmt: str) -> bool:
        return fmt in self.algs


def parse_formats(raw: Mapping[str, Any]) -> AllowedFormats:
    """Check a ``format`` object and fold its aliases together (their ``alg`` lists are united)."""
    algs: dict[str, frozenset[str] | None] = {}
    kb_algs: dict[str, frozenset[str]] = {}
    for key, value in raw.items():
        if not isinstance(value, dict):
            raise InvalidFormatError(f"format '{key}' must map to an object")
        allowed = _alg_list(key, value, _ALG_MEMBERS)
        kb_allowed = _alg_list(key, value, ("kb-jwt_alg_values",))
        fmt = canonical_format(key)
        if fmt is None:
            continue
        if fmt in algs:
            previous = algs[fmt]
            allowed = None if previous is None or allowed is None else previous | allowed
        algs[fmt] = allowed
        if kb_allowed is not None:
            kb_algs[fmt] = kb_algs.get(fmt, frozenset()) | kb_allowed
    return AllowedFormats(algs, kb_algs)


# Which member lists the issuer/proof algorithms: JWT formats `alg` (PE v2), SD-JWT `sd-jwt_alg_values`
# (OpenID4VP d21+ App. B.4); `kb-jwt_alg_values` lists the holder's Key Binding JWT algorithms.
_ALG_MEMBERS = ("alg", "sd-jwt_alg_values")


def _alg_list(key: str, value: Mapping[str, Any], members: tuple[str, ...]) -> frozenset[str] | None:
    member = next((name for name in members if name in value), None)
    if member is None:
        return None
    alg = value[member]
    if not isinstance(alg, list) or not alg or not all(isinstance(item, str) for item in alg):
        raise InvalidFormatError(f"format '{key}' needs '{member}' as a non-empty array of strings")
    return frozenset(alg)
