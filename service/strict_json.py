"""Strict JSON decoding for everything a wallet sends: no duplicate members, no NaN/Infinity.

Two parsers must never read two different values out of the same bytes (RFC 7519 §4 allows "last wins";
we refuse instead), and non-standard constants have no meaning in any token we accept.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["StrictJsonError", "loads_strict", "max_nesting"]


class StrictJsonError(ValueError):
    """The text is not strict JSON."""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StrictJsonError("duplicate member")
        result[key] = value
    return result


def _refuse_constant(_name: str) -> Any:
    raise StrictJsonError("non-standard JSON constant")


def max_nesting(text: str | bytes) -> int:
    """Upper bound of the nesting depth (brackets inside strings may over-count; that only refuses more)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads_strict(text: str | bytes, *, max_depth: int = 64) -> Any:
    """Decode JSON text strictly; every failure is a StrictJsonError."""
    if max_nesting(text) > max_depth:
        raise StrictJsonError("nested too deeply")
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_refuse_constant)
    except StrictJsonError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limits
        raise StrictJsonError(str(exc)) from exc
