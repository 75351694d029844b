"""Strict JSON decoding for everything a wallet sends (RFC 8259 as I-JSON, RFC 7493, reads it).

Refused: duplicate members (two parsers must never read two values out of the same bytes; RFC 7519 §4
allows "last wins", we refuse), NaN/Infinity (also numbers that overflow to infinity), any encoding but
UTF-8 without a byte-order mark (RFC 8259 §8.1), and lone surrogates (they cannot be re-encoded, so a
value carrying one could never be signed into a verdict).

Two decoders, one answer: msgspec's (several times faster) is taken only when it provably read what the
checked decoder (stdlib json with hooks) reads, see :func:`_decode_fast`; any other text, and every
failure, goes to the checked decoder, which alone words the errors.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

import msgspec

__all__ = ["StrictJsonError", "loads_strict", "max_nesting", "nested_deeper_than"]


class StrictJsonError(ValueError):
    """The text is not strict JSON."""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # built in C; a repeated name leaves it shorter than the list
    if len(result) != len(pairs):
        raise StrictJsonError("duplicate member")
    return result


def _refuse_constant(_name: str) -> Any:
    raise StrictJsonError("non-standard JSON constant")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise StrictJsonError("number out of range")
    return value


def _check_strings(value: Any) -> None:
    """Every string (keys too) must be encodable as UTF-8: that rules out lone surrogates."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _as_text(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    if data.startswith(b"\xef\xbb\xbf"):
        raise StrictJsonError("byte-order mark")
    return data.decode("utf-8")  # strict: UTF-16/32 and invalid sequences raise


_BRACKETS = re.compile(r"[\[\]{}]")
# Where a lone surrogate can come from: a \uD800-\uDFFF escape (high *and* low halves, any hex case), or
# a surrogate code point already in a str argument. UTF-8 bytes cannot carry one: the strict codec
# refuses encoded surrogates. Over-matching (an escaped backslash before "ud8") only costs a walk.
# Two patterns, not one alternation: the escape has a literal prefix the regex engine scans for quickly.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _may_hold_surrogate(data: str | bytes, text: str) -> bool:
    if _SURROGATE_ESCAPE.search(text) is not None:
        return True
    return isinstance(data, str) and not text.isascii() and _SURROGATE.search(text) is not None


def max_nesting(text: str | bytes) -> int:
    """Upper bound of the nesting depth (brackets inside strings may over-count; that only refuses more)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    depth = deepest = 0
    # Walk only the brackets (a regex scan in C), not every character of a token.
    for char in _BRACKETS.findall(text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def nested_deeper_than(text: str | bytes, limit: int) -> bool:
    """``max_nesting(text) > limit``, without the scan when there are too few brackets to nest that deep."""
    if isinstance(text, bytes):
        opening = text.count(b"[") + text.count(b"{")
    else:
        opening = text.count("[") + text.count("{")
    return opening > limit and max_nesting(text) > limit


_MISS: Final = object()
_FAST_DECODER: Final = msgspec.json.Decoder()
_ENCODER: Final = msgspec.json.Encoder()


def _decode_fast(text: str) -> Any:
    """The value msgspec decodes, when it is provably the checked decoder's; else ``_MISS``.

    msgspec keeps the last of duplicate members instead of refusing them. Without ``\\u`` escapes, every
    ":" of a valid text is a member separator or a character of a string, and re-encoding writes one per
    member kept plus those of the strings kept: the counts differ exactly when a duplicate dropped a
    member. An escape could spell a ":" (upsetting the count) or a lone surrogate, so escaped text is left
    to the checked decoder. The rest msgspec refuses itself: bad syntax, NaN/Infinity, numbers out of
    range, integers over the digit limit (it honours the same one), a surrogate already in a str. The
    nesting bound is checked before either decoder runs.
    """
    if "\\u" in text:
        return _MISS
    try:
        value = _FAST_DECODER.decode(text)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return _MISS  # the checked decoder raises with its own message
    if _ENCODER.encode(value).count(b":") != text.count(":"):
        return _MISS
    return value


def loads_strict(data: str | bytes, *, max_depth: int = 64) -> Any:
    """Decode JSON text strictly; every failure is a StrictJsonError."""
    try:
        text = _as_text(data)
    except UnicodeError as exc:
        raise StrictJsonError("not UTF-8") from exc
    if nested_deeper_than(text, max_depth):
        raise StrictJsonError("nested too deeply")
    value = _decode_fast(text)
    if value is not _MISS:
        return value
    return _decode_checked(data, text)


def _decode_checked(data: str | bytes, text: str) -> Any:
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
        if _may_hold_surrogate(data, text):  # the walk is needed only then
            _check_strings(value)
    except StrictJsonError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeError, int digit limits
        raise StrictJsonError(str(exc)) from exc
    return value
