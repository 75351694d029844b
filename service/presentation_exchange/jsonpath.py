"""JSONPath for Presentation Exchange: compile once, evaluate with a bounded step-by-step walker.

Parsing is delegated to ``jsonpath_ng.ext`` (the plain parser lacks ``?()`` filters, which PE lists as
required syntax). The parsed tree is then checked against an allow-list and flattened into steps that this
module evaluates itself, so the number of nodes any step may produce is capped (OID4VP d20 §12.6.2 asks for
bounded evaluation; jsonpath-ng's own ``find`` has no budget).

Accepted: ``$``, ``.name``, ``['name']``, ``["a","b"]``, ``[n]``, ``[a,b]``, ``[start:end:step]``, ``*``,
one ``..`` per path, and ``[?(...)]`` filters whose operands are ``@``-relative singular queries or literals
combined with ``== != < <= > >= ! && ||``. Rejected (PE 2.1 Security Considerations): ``()`` script
expressions, the regex operator ``=~``, jsonpath-ng extensions (backquoted operators, ``where``, arithmetic,
sorting), ``$`` inside filters, relative paths, the deprecated ``|``/``&`` operators and unquoted words.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Protocol

from jsonpath_ng import Child, Descendants, Fields, Index, JSONPath, Root, Slice, This, Wildcard
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.filter import And, Expression, Filter, Or
from jsonpath_ng.ext.parser import parse as _parse_extended

__all__ = [
    "MAX_MATCHES",
    "MAX_PATH_LENGTH",
    "InvalidPathError",
    "JsonPath",
    "Location",
    "compile_path",
    "find",
    "locate",
]

MAX_PATH_LENGTH: Final = 256
MAX_MATCHES: Final = 1024  # nodes a single step may yield; later matches are ignored
MAX_VISITS: Final = 65_536  # nodes a `..` walk may visit (input size is capped upstream too)
_COMPARISONS: Final = frozenset({"==", "=", "!=", "<", "<=", ">", ">="})


class InvalidPathError(ValueError):
    """A JSONPath string is not one this module accepts; the message names the problem, not the path."""


Location = tuple[str | int, ...]
"""Where a value sits in its document: member names and array indexes from the root."""
_Located = list[tuple[Location, Any]]


class _Step(Protocol):
    def apply(self, nodes: _Located) -> _Located: ...


@dataclass(frozen=True, slots=True)
class _Names:
    names: tuple[str, ...]

    def apply(self, nodes: _Located) -> _Located:
        found = (
            ((*loc, name), node[name])
            for loc, node in nodes
            if isinstance(node, dict)
            for name in self.names
            if name in node
        )
        return _take(found, MAX_MATCHES)


@dataclass(frozen=True, slots=True)
class _Indices:
    indices: tuple[int, ...]

    def apply(self, nodes: _Located) -> _Located:
        found = (
            ((*loc, index % len(node)), node[index])
            for loc, node in nodes
            if isinstance(node, list)
            for index in self.indices
            if -len(node) <= index < len(node)
        )
        return _take(found, MAX_MATCHES)


@dataclass(frozen=True, slots=True)
class _Slice:
    start: int | None
    end: int | None
    step: int | None

    def apply(self, nodes: _Located) -> _Located:
        if self.step == 0:  # RFC 9535 §2.3.4.2.2: a zero step selects nothing
            return []
        found = (
            ((*loc, index), node[index])
            for loc, node in nodes
            if isinstance(node, list)
            for index in range(len(node))[self.start : self.end : self.step]
        )
        return _take(found, MAX_MATCHES)


@dataclass(frozen=True, slots=True)
class _Wildcard:
    def apply(self, nodes: _Located) -> _Located:
        return _take((child for loc, node in nodes for child in _children(loc, node)), MAX_MATCHES)


@dataclass(frozen=True, slots=True)
class _Descend:
    """``..``: each node followed by all its descendants, in document order."""

    def apply(self, nodes: _Located) -> _Located:
        seen: set[int] = set()
        out: _Located = []
        stack = list(reversed(nodes))
        while stack and len(out) < MAX_VISITS:
            loc, node = stack.pop()
            if isinstance(node, dict | list):
                # Several start nodes may be the same container (`$[0,-1]..x`); walk it once.
                if id(node) in seen:
                    continue
                seen.add(id(node))
                stack.extend(reversed(list(_children(loc, node))))
            out.append((loc, node))
        return out


@dataclass(frozen=True, slots=True)
class _Filter:
    node: JSONPath  # a checked jsonpath_ng Filter: evaluated per child by jsonpath-ng itself

    def apply(self, nodes: _Located) -> _Located:
        found = (
            ((*loc, _step_of(datum.path)), datum.value)
            for loc, node in nodes
            for datum in self.node.find(node)
        )
        return _take(found, MAX_MATCHES)


def _step_of(path: object) -> str | int:
    """The member name or index jsonpath-ng reports for a filtered child."""
    if type(path) is Index and len(path.indices) == 1:
        return int(path.indices[0])
    if type(path) is Fields and len(path.fields) == 1:
        return str(path.fields[0])
    return "?"  # never equal to a real location: such a match covers nothing for limit_disclosure


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A compiled path: its source text and the steps that evaluate it from the document root."""

    text: str
    steps: tuple[_Step, ...]

    @property
    def last_name(self) -> str | None:
        """The last member name the path selects (``birthDate`` for ``$.vc.credentialSubject.birthDate``)."""
        for step in reversed(self.steps):
            if isinstance(step, _Names):
                return step.names[0]
        return None

    @property
    def is_root(self) -> bool:
        return not self.steps


def locate(path: JsonPath, document: Any) -> list[tuple[Location, Any]]:
    """(location, value) pairs ``path`` selects in ``document``, in document order (at most MAX_MATCHES)."""
    nodes: _Located = [((), document)]
    for step in path.steps:
        nodes = step.apply(nodes)
        if not nodes:
            break
    return nodes[:MAX_MATCHES]


def find(path: JsonPath, document: Any) -> list[Any]:
    """Values ``path`` selects in ``document``, in document order, at most ``MAX_MATCHES`` of them."""
    return [value for _, value in locate(path, document)]


@functools.lru_cache(maxsize=4096)
def compile_path(text: str) -> JsonPath:
    """Parse and check ``text``; raise InvalidPathError when it is too long, malformed or not allowed."""
    if len(text) > MAX_PATH_LENGTH:
        raise InvalidPathError(f"a JSONPath is longer than {MAX_PATH_LENGTH} characters")
    if not text.startswith("$"):
        raise InvalidPathError("a JSONPath must start at the root '$'")
    try:
        with warnings.catch_warnings():
            # jsonpath-ng warns on syntax it will drop in 2.0 (`|`, `&`, unquoted words); refuse it instead.
            warnings.simplefilter("error", DeprecationWarning)
            tree = _parse_extended(text)
    except (JSONPathError, DeprecationWarning, IndexError, TypeError, ValueError) as exc:
        raise InvalidPathError("a JSONPath could not be parsed") from exc
    steps = tuple(_flatten(tree, leftmost=True))
    if sum(isinstance(step, _Descend) for step in steps) > 1:
        raise InvalidPathError("a JSONPath may use '..' at most once")
    return JsonPath(text=text, steps=steps)


# --- Flattening the parsed tree into checked steps --- #


def _flatten(node: JSONPath, *, leftmost: bool) -> Iterator[_Step]:
    """Yield the steps of ``node`` left to right; only the leftmost leaf may (and must) be ``$``."""
    if isinstance(node, Child):
        yield from _flatten(node.left, leftmost=leftmost)
        yield from _flatten(node.right, leftmost=False)
    elif isinstance(node, Descendants):
        yield from _flatten(node.left, leftmost=leftmost)
        yield _Descend()
        yield from _flatten(node.right, leftmost=False)
    elif isinstance(node, Root):
        if not leftmost:
            raise InvalidPathError("'$' may only start a JSONPath")
    elif leftmost:
        raise InvalidPathError("a JSONPath must start at the root '$'")
    else:
        yield _leaf_step(node)


def _leaf_step(node: JSONPath) -> _Step:
    # Exact type checks: jsonpath-ng subclasses (e.g. Where, sorting) must not slip through isinstance.
    if type(node) is Fields:
        return _Names(tuple(node.fields))
    if type(node) is Index:
        return _Indices(tuple(node.indices))
    if type(node) is Slice:
        return _Slice(node.start, node.end, node.step)
    if type(node) is Wildcard:
        return _Wildcard()
    if type(node) is Filter:
        _check_filter(node)
        return _Filter(node)
    raise InvalidPathError(f"JSONPath construct {type(node).__name__} is not supported")


def _check_filter(node: Filter) -> None:
    """Allow only comparisons of ``@``-relative singular queries with literals, joined by && and ||."""
    pending: list[object] = list(node.expressions)
    while pending:
        item = pending.pop()
        if type(item) in (And, Or):
            pending.extend(item.operands)  # type: ignore[attr-defined]
        elif type(item) is Expression:
            _check_expression(item)
        else:
            raise InvalidPathError(f"JSONPath filter construct {type(item).__name__} is not supported")


def _check_expression(expression: Expression) -> None:
    op = expression.op
    if op is not None and op != "!" and op not in _COMPARISONS:
        raise InvalidPathError("JSONPath filters may not use the regex operator")
    _check_singular(expression.target)
    if isinstance(expression.value, JSONPath):
        _check_singular(expression.value)
    elif not isinstance(expression.value, str | int | float | bool | type(None)):
        raise InvalidPathError("a JSONPath filter operand is not a literal")


def _check_singular(node: object) -> None:
    """``@``, ``@.a``, ``@['a'][0]`` … (RFC 9535 singular queries relative to the current node)."""
    while type(node) is Child:
        if type(node.right) not in (Fields, Index):
            raise InvalidPathError("JSONPath filter operands must be singular '@' queries")
        node = node.left
    if type(node) is not This:
        raise InvalidPathError("JSONPath filter operands must start at '@'")


# --- Helpers --- #


def _children(loc: Location, node: Any) -> Iterator[tuple[Location, Any]]:
    if isinstance(node, dict):
        for name, child in node.items():
            yield (*loc, name), child
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield (*loc, index), child


def _take(values: Iterator[tuple[Location, Any]], limit: int) -> _Located:
    out: _Located = []
    for value in values:
        out.append(value)
        if len(out) >= limit:
            break
    return out
