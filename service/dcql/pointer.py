"""Claims path pointers (OpenID4VP 1.0 §7): select claims in a JSON credential, and compare paths.

A pointer is a non-empty sequence of components: a string selects an object member, ``None`` (JSON
``null``) selects every element of an array, a non-negative integer selects one array element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

__all__ = ["ClaimsPath", "DisclosedPath", "is_component", "lies_on", "path_label", "select"]

ClaimsPath: TypeAlias = tuple[str | int | None, ...]
DisclosedPath: TypeAlias = tuple[str | int, ...]  # where an SD-JWT Disclosure sits in the processed payload


class _PointerError(Exception):
    """§7.1.1 says "abort processing and return an error"; callers see it as an empty selection."""


def is_component(value: object) -> bool:
    """A valid pointer component: a string, null, or a non-negative integer (§7)."""
    if value is None or isinstance(value, str):
        return True
    # bool is an int in Python; JSON true/false are not indices.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def select(path: Sequence[object], document: Any) -> list[Any]:
    """The values ``path`` selects in ``document``; empty when §7.1.1 yields an error or nothing (§7.1.1)."""
    if not path:
        return []
    selected: list[Any] = [document]
    try:
        for component in path:
            selected = _step(component, selected)
    except _PointerError:
        return []
    return selected


def _step(component: object, selected: list[Any]) -> list[Any]:
    """Apply one component to every selected element (§7.1.1 step 2)."""
    if not is_component(component):
        raise _PointerError
    if isinstance(component, str):
        return [element[component] for element in _all_objects(selected) if component in element]
    arrays = _all_arrays(selected)
    if component is None:
        return [item for array in arrays for item in array]
    assert isinstance(component, int)  # is_component leaves str, None or int
    return [array[component] for array in arrays if component < len(array)]


def _all_objects(selected: list[Any]) -> list[Mapping[str, Any]]:
    # One non-object among the selection aborts the whole pointer, not just that branch (§7.1.1).
    if not all(isinstance(element, Mapping) for element in selected):
        raise _PointerError
    return selected


def _all_arrays(selected: list[Any]) -> list[Sequence[Any]]:
    if not all(isinstance(element, list | tuple) for element in selected):
        raise _PointerError
    return selected


def lies_on(disclosed: DisclosedPath, requested: ClaimsPath) -> bool:
    """``disclosed`` is a prefix of ``requested`` or extends it; null in ``requested`` matches any index."""
    return all(_same_step(want, got) for want, got in zip(requested, disclosed, strict=False))


def _same_step(want: str | int | None, got: str | int) -> bool:
    if want is None:
        return isinstance(got, int) and not isinstance(got, bool)
    # Type-sensitive: member "0" and index 0 are different steps.
    return type(want) is type(got) and want == got


def path_label(path: ClaimsPath) -> str:
    """A readable key for a pointer: components joined with ".", null written as "*"."""
    return ".".join("*" if part is None else str(part) for part in path)
