"""``request_uri_method=post`` (OpenID4VP 1.0 §5.10): what a wallet tells us before we sign the request.

The wallet POSTs ``wallet_metadata`` (JSON text) and ``wallet_nonce`` to the request URI. The nonce comes
back in the signed Request Object (replay protection for the wallet); the metadata lets us fit the request
to the wallet: the content encryptions it can use, the formats and algorithms it speaks. We never let it
weaken what the transaction requires: when the intersection is empty we answer with an error instead
(§5.10.2). Unknown parameters are ignored, as the spec requires. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.errors import InvalidRequest, LimitExceeded, MalformedResponse
from service.form import parse_form
from service.strict_json import StrictJsonError, loads_strict, nested_deeper_than

__all__ = [
    "VpFormatsUnsupported",
    "WalletMetadata",
    "WalletMetadataUnsupported",
    "narrow_enc_values",
    "narrow_vp_formats",
    "parse_wallet_post",
]

_MAX_FIELDS = 8
_MAX_NONCE = 256
_MAX_METADATA = 16 * 1024
_MAX_DEPTH = 8
_ECDH_ES = "ECDH-ES"


class WalletMetadataUnsupported(InvalidRequest):
    """The wallet cannot do what the transaction requires (1.0 §5.10.2: the request cannot be made)."""

    error = "invalid_request"


class VpFormatsUnsupported(WalletMetadataUnsupported):
    """None of the formats (or algorithms) the query needs is one the wallet supports."""

    error = "vp_formats_not_supported"


@dataclass(frozen=True, slots=True)
class WalletMetadata:
    """The parts of a posted ``wallet_metadata`` we act on; None where the wallet said nothing."""

    nonce: str | None
    vp_formats: Mapping[str, Any] | None = None
    signing_algs: tuple[str, ...] | None = None
    encryption_algs: tuple[str, ...] | None = None
    enc_values: tuple[str, ...] | None = None


def parse_wallet_post(body: bytes) -> WalletMetadata:
    """Decode the form body of a request-URI POST (both parameters are optional)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_form(text, _MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedResponse("wallet_metadata.malformed", "The body is not a valid form") from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise MalformedResponse("wallet_metadata.duplicate_parameter", "A parameter appears twice")
        params[name] = value
    nonce = params.get("wallet_nonce")
    if nonce is not None and not 0 < len(nonce) <= _MAX_NONCE:
        raise LimitExceeded("limits.wallet_nonce", "wallet_nonce is empty or too long")
    raw = params.get("wallet_metadata")
    if raw is None:
        return WalletMetadata(nonce=nonce)
    metadata = _metadata_object(raw)
    return WalletMetadata(
        nonce=nonce,
        vp_formats=_object_member(metadata, "vp_formats_supported"),
        signing_algs=_strings(metadata, "request_object_signing_alg_values_supported"),
        encryption_algs=_strings(metadata, "authorization_encryption_alg_values_supported"),
        enc_values=_strings(metadata, "authorization_encryption_enc_values_supported"),
    )


def narrow_enc_values(offered: Sequence[str], wallet: WalletMetadata) -> tuple[str, ...]:
    """The content encryptions both sides support; refuse when the wallet cannot encrypt to our key."""
    if wallet.encryption_algs is not None and _ECDH_ES not in wallet.encryption_algs:
        raise WalletMetadataUnsupported(
            "wallet_metadata.encryption_unsupported", "The wallet cannot encrypt with ECDH-ES"
        )
    if wallet.enc_values is None:
        return tuple(offered)
    common = tuple(enc for enc in offered if enc in wallet.enc_values)
    if not common:
        raise WalletMetadataUnsupported(
            "wallet_metadata.encryption_unsupported", "No content encryption is supported by both sides"
        )
    return common


def narrow_vp_formats(
    ours: Mapping[str, Mapping[str, Sequence[str]]], needed: Sequence[str], wallet: WalletMetadata
) -> dict[str, dict[str, list[str]]]:
    """Our ``vp_formats_supported`` cut to what the wallet speaks, for the formats ``needed`` by the query.

    A format the query needs that the wallet lacks, or whose algorithm lists share nothing with ours, is
    refused with ``vp_formats_not_supported``; a member the wallet does not mention is left as ours.
    """
    if wallet.vp_formats is None:
        return {fmt: {name: list(vals) for name, vals in members.items()} for fmt, members in ours.items()}
    narrowed: dict[str, dict[str, list[str]]] = {}
    for fmt, members in ours.items():
        theirs = wallet.vp_formats.get(fmt)
        if not isinstance(theirs, Mapping):
            if fmt in needed:
                raise VpFormatsUnsupported("wallet_metadata.format_unsupported", f"The wallet lacks {fmt}")
            continue
        narrowed[fmt] = _common_members(fmt, members, theirs)
    return narrowed


def _common_members(
    fmt: str, ours: Mapping[str, Sequence[str]], theirs: Mapping[str, Any]
) -> dict[str, list[str]]:
    common: dict[str, list[str]] = {}
    for name, values in ours.items():
        their_values = theirs.get(name)
        if not isinstance(their_values, list):
            common[name] = list(values)
            continue
        common[name] = [value for value in values if value in their_values]
        if not common[name]:
            raise VpFormatsUnsupported(
                "wallet_metadata.alg_unsupported", f"No {name} of {fmt} is supported by both sides"
            )
    return common


def _metadata_object(raw: str) -> Mapping[str, Any]:
    if len(raw) > _MAX_METADATA:
        raise LimitExceeded("limits.wallet_metadata", "wallet_metadata is too large")
    if nested_deeper_than(raw, _MAX_DEPTH):
        raise LimitExceeded("limits.json_depth", "wallet_metadata is nested too deeply")
    try:
        value = loads_strict(raw, max_depth=_MAX_DEPTH)
    except StrictJsonError as exc:
        raise MalformedResponse("wallet_metadata.malformed", "wallet_metadata is not valid JSON") from exc
    if not isinstance(value, Mapping):
        raise MalformedResponse("wallet_metadata.malformed", "wallet_metadata is not a JSON object")
    return value


def _object_member(metadata: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    value = metadata.get(name)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise MalformedResponse("wallet_metadata.malformed", f"{name} is not a JSON object")
    return value


def _strings(metadata: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = metadata.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MalformedResponse("wallet_metadata.malformed", f"{name} is not an array of strings")
    return tuple(value)
