"""Fast paths agree with the code they replace, on every input: same value, same error, same reason.

Each reference below is the previous implementation, kept verbatim as the specification: strict JSON as
stdlib json with hooks (``_decode_checked`` behind the old full nesting scan), base64url by regex and
``urlsafe_b64decode``, the DID grammar as one regex per DID Core §3.1, and form bodies as stdlib
``parse_qsl``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.clock import format_utc
from service.did.resolve import did_method
from service.errors import DidResolutionFailed, MalformedResponse
from service.form import parse_form
from service.jose.encoding import b64url_decode, b64url_encode
from service.presentation_exchange.filters import FieldFilter, compile_filter
from service.strict_json import (
    _MISS,
    StrictJsonError,
    _as_text,
    _decode_checked,
    _decode_fast,
    loads_strict,
    max_nesting,
    nested_deeper_than,
)

MANY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _outcome(call: Callable[[], object]) -> tuple[str, str]:
    """What a call did, comparable across implementations: its value (typed, via repr) or its error."""
    try:
        return "value", repr(call())
    except StrictJsonError as exc:
        return "StrictJsonError", str(exc)
    except (MalformedResponse, DidResolutionFailed) as exc:
        return type(exc).__name__, f"{exc.reason}: {exc.description}"
    except ValueError as exc:
        return "ValueError", str(exc)


# --- Strict JSON --- #


def _reference_loads(data: str | bytes, max_depth: int = 64) -> object:
    try:
        text = _as_text(data)
    except UnicodeError as exc:
        raise StrictJsonError("not UTF-8") from exc
    if max_nesting(text) > max_depth:
        raise StrictJsonError("nested too deeply")
    return _decode_checked(data, text)


_WHITESPACE = st.sampled_from(["", "", " ", "\n", "\t", "\r", "\x0c", "\u00a0"])
_NUMBERS = st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True) | (
    st.sampled_from(["1e400", "-1e999", "1e-400", "01", "1.", ".5", "-", "+1", "-0", "-0.0", "1" * 4301])
    | st.sampled_from(["NaN", "Infinity", "-Infinity", "9" * 4300, "18446744073709551616", "1E+2"])
)
# Pieces of string content: the characters the fast path's reasoning is about (":" and escapes, which
# could hide one), surrogates escaped and raw, control characters, brackets, and plain text.
_STRING_PIECES = st.sampled_from(
    ["a", "é", "😀", ":", " ", "{", "}", "[", "]", ",", '\\"', "\\\\", "\\/", "\\n", "\\u003a", "\\u003A"]
    + ["\\u0061", "\\ud800", "\\uDC00", "\\ud83d\\ude00", "\\ude00\\ud83d", "\\\\u003a", "\\x", "\x01"]
    + ["\x1f", "\x7f", "\ud800", '"']
)
_STRINGS = st.lists(_STRING_PIECES, max_size=5).map(lambda pieces: '"' + "".join(pieces) + '"')
# A few names, so that duplicates (also spelled with an escape, or holding a ":") come often.
_NAMES = st.sampled_from(['"a"', '"b"', '"\\u0061"', '"a:"', '":"', '""']) | _STRINGS
_SCALARS = _NUMBERS | _STRINGS | st.sampled_from(["true", "false", "null", "tru", "nul", "True"])


def _containers(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    arrays = st.lists(st.tuples(_WHITESPACE, inner), max_size=4).map(
        lambda items: "[" + ",".join(space + value for space, value in items) + "]"
    )
    objects = st.lists(st.tuples(_NAMES, _WHITESPACE, inner), max_size=4).map(
        lambda members: "{" + ",".join(f"{name}:{space}{value}" for name, space, value in members) + "}"
    )
    return arrays | objects


_JSON_LIKE = st.tuples(
    _WHITESPACE,
    st.recursive(_SCALARS, _containers, max_leaves=12),
    _WHITESPACE,
    st.sampled_from(["", "", "", ",", "]", "}", " x", ":"]),
).map("".join)
# Mostly valid text with few distinct names: here a duplicate is often the only fault, so the duplicate
# check of the fast path is what decides.
_VALID_SCALARS = st.sampled_from(
    ["true", "null", "0", "-1.5e3", "12345678901234567890123", '"x:y"', '":"', '"\\u003a"', '"\\u0061"', '""']
)
_FEW_NAMES = st.sampled_from(['"a"', '"\\u0061"', '"a:"', '":"', '"\\u003a"', '""'])
_MOSTLY_VALID = st.recursive(
    _VALID_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
        | st.lists(st.tuples(_FEW_NAMES, inner), max_size=4).map(
            lambda members: "{" + ", ".join(f"{name}: {value}" for name, value in members) + "}"
        )
    ),
    max_leaves=10,
)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
_DUMPED = st.builds(
    lambda value, ascii_only, indent: json.dumps(value, ensure_ascii=ascii_only, indent=indent),
    _JSON_VALUES,
    st.booleans(),
    st.sampled_from([None, 1]),
)
_TEXTS = _JSON_LIKE | _MOSTLY_VALID | _DUMPED | st.text(max_size=60)


class TestStrictJsonFastPath:
    @MANY
    @given(_TEXTS, st.sampled_from([64, 64, 3, 1, 0]))
    @example('{"a": 1, "a": 2, "b": "\\u003a"}', 64)  # an escaped ":" must not mask the dropped member
    @example('{"a": "x:y", "a": "x:y"}', 64)
    @example('["\\ud800"]', 64)
    @example("\ufeff[1]", 64)  # a BOM inside a str argument
    @example("[-1e-400, 1e999, 18446744073709551616]", 64)
    def test_text_decodes_as_before(self, text: str, max_depth: int) -> None:
        """loads_strict gives the value or the error message the checked decoder alone gave."""
        assert _outcome(lambda: loads_strict(text, max_depth=max_depth)) == _outcome(
            lambda: _reference_loads(text, max_depth)
        )

    @MANY
    @given(_TEXTS.map(lambda text: text.encode("utf-8", "surrogatepass")) | st.binary(max_size=60))
    @example(b"\xef\xbb\xbf[1]")
    @example(b'{"a": "\xed\xa0\x80"}')
    def test_bytes_decode_as_before(self, data: bytes) -> None:
        """Bytes (CESU-8 surrogates, a BOM and invalid UTF-8 included) decode or fail as before."""
        assert _outcome(lambda: loads_strict(data)) == _outcome(lambda: _reference_loads(data))

    @MANY
    @given(_TEXTS)
    def test_fast_path_answers_only_with_the_checked_value(self, text: str) -> None:
        """Whenever msgspec's answer is taken, the checked decoder accepts the text with the same value."""
        value = _decode_fast(text)
        if value is not _MISS:
            assert _outcome(lambda: _decode_checked(text, text)) == ("value", repr(value))

    @MANY
    @given(st.text(alphabet='[]{}"x', max_size=80) | _TEXTS, st.integers(min_value=0, max_value=8))
    def test_nested_deeper_than_is_the_scan(self, text: str, limit: int) -> None:
        """The bracket count shortcut answers exactly what comparing the full scan would."""
        data = text.encode("utf-8", "surrogatepass")
        assert nested_deeper_than(text, limit) == (max_nesting(text) > limit)
        assert nested_deeper_than(data, limit) == (max_nesting(data) > limit)


# --- Field filter memo --- #

_FILTERS = [
    {
        "anyOf": [
            {"type": "boolean", "const": True},
            {"type": "string", "format": "date", "formatMaximum": "2004-06-01"},
        ]
    },
    {"type": "string", "enum": ["urn:eudi:pid:1", "a"]},
    {"const": 1},
    {"type": "integer", "minimum": 0, "multipleOf": 3},
    {"type": "number", "exclusiveMaximum": 0},
    {"type": "string", "pattern": "^did:", "maxLength": 10},
    {"not": {"type": ["null", "boolean"]}},
]
_SCALARS_AND_MORE = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=5)
    | st.integers()
    | st.sampled_from(
        [2**63 - 1, 2**63, -(2**63), 0.0, -0.0, 1.0, "2004-06-01", "2004-06-02", "urn:eudi:pid:1"]
    )
    | st.floats(allow_nan=False)
    | st.text(alphabet="di:a1-0", max_size=70)
    | st.lists(st.integers(), max_size=2)
)


class TestFilterMemo:
    @MANY
    @given(st.sampled_from(range(len(_FILTERS))), st.lists(_SCALARS_AND_MORE, max_size=12))
    def test_memo_answers_as_jsonschema_does(self, index: int, values: list[object]) -> None:
        """Over any sequence of values (repeats included), accepts answers what a fresh validation answers."""
        memo: FieldFilter = compile_filter(_FILTERS[index])
        for value in values:
            assert memo.accepts(value) == compile_filter(_FILTERS[index])._validate(value)


# --- base64url --- #

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_OLD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_UNUSED_BITS = {2: 0x0F, 3: 0x03}


def _reference_b64url_decode(text: str, *, reason: str = "response.bad_base64url") -> bytes:
    if len(text) % 4 == 1 or _B64URL.fullmatch(text) is None:
        raise MalformedResponse(reason, "Value is not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedResponse(reason, "Value is not unpadded base64url") from exc
    mask = _UNUSED_BITS.get(len(text) % 4, 0)
    if mask and _OLD_ALPHABET.index(text[-1]) & mask:
        raise MalformedResponse(reason, "Value is not canonical base64url")
    return data


_B64_TEXTS = (
    st.text(alphabet=B64URL_ALPHABET + "+/=\n é\x00", max_size=24)
    | st.text(alphabet=B64URL_ALPHABET, max_size=24)
    | st.binary(max_size=40).map(b64url_encode)
    | st.binary(max_size=40).map(lambda data: base64.b64encode(data).decode())
    | st.text(max_size=8)
)


class TestBase64UrlFastPath:
    @MANY
    @given(_B64_TEXTS, st.sampled_from(["response.bad_base64url", "key.invalid"]))
    @example("ab==", "key.invalid")
    @example("AB", "key.invalid")
    @example("", "key.invalid")
    def test_decodes_as_before(self, text: str, reason: str) -> None:
        """Same bytes for every accepted text, same reason and wording for every refused one."""
        assert _outcome(lambda: b64url_decode(text, reason=reason)) == _outcome(
            lambda: _reference_b64url_decode(text, reason=reason)
        )

    @MANY
    @given(st.binary(max_size=80))
    def test_encodes_as_before(self, data: bytes) -> None:
        """The encoder writes what ``urlsafe_b64encode`` without padding writes."""
        assert b64url_encode(data) == base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- DID syntax --- #

_IDCHAR = r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})"
_REFERENCE_DID = re.compile(rf"did:([a-z0-9]+):(?:{_IDCHAR}*:)*{_IDCHAR}+")


def _reference_did_method(did: str) -> str:
    match = _REFERENCE_DID.fullmatch(did) if len(did) <= 4096 else None
    if match is None:
        raise DidResolutionFailed("did.invalid", "Not a valid DID")
    return match.group(1)


_DID_TEXTS = st.tuples(
    st.sampled_from(["did:key:", "did:web:", "did:jwk:", "did:", "did:KEY:", "did::", "did:a1:", ""]),
    st.text(alphabet="aZ09._-:%fF", max_size=24) | st.text(alphabet="aZ09._-:%fFgé /#?\n", max_size=24),
).map("".join) | st.text(max_size=24)


class TestDidSyntaxFastPath:
    @MANY
    @given(_DID_TEXTS)
    @example("did:web:a%2")
    @example("did:web:a%%41")
    @example("did:web:a::b")
    @example("did:web:a%41:")
    @example("did:web:" + "a" * 4089)
    def test_method_as_before(self, did: str) -> None:
        """did_method accepts exactly the DIDs of the DID Core grammar, with the same method name."""
        assert _outcome(lambda: did_method(did)) == _outcome(lambda: _reference_did_method(did))


# --- form bodies --- #

_FORM_TEXTS = st.lists(
    st.tuples(
        st.text(alphabet="ab+%=&\\é\x00 ", max_size=6),
        st.text(alphabet="aZ09+%=&\\é\x7f{}\"'", max_size=12)
        | st.binary(max_size=12).map(lambda raw: quote(raw, safe="")),
    ).map("=".join),
    max_size=5,
).map("&".join) | st.text(alphabet="a=&%2Fb+é\\", max_size=20)


class TestFormFastPath:
    @MANY
    @given(_FORM_TEXTS, st.integers(min_value=1, max_value=6))
    @example("a=%", 10)
    @example("a=%4", 10)
    @example("a=%41%4", 10)
    @example("a=%e2%82", 10)
    @example("a=%e2%82%ac%zz", 10)
    @example("a=\\x41%41", 10)
    @example("a=é%C3%A9", 10)
    @example("&", 10)
    @example("a", 10)
    @example("a=1&&b=2", 10)
    @example("a=1&b=2&c=3", 2)
    def test_pairs_as_parse_qsl(self, text: str, max_fields: int) -> None:
        """parse_form gives parse_qsl's pairs, blank values kept and strict, and fails where it fails."""

        def reference() -> list[tuple[str, str]]:
            strict = bool(text)
            return parse_qsl(text, keep_blank_values=True, strict_parsing=strict, max_num_fields=max_fields)

        assert _outcome(lambda: parse_form(text, max_fields)) == _outcome(reference)


# --- timestamps --- #


class TestRfc3339FastPath:
    @MANY
    @given(st.integers(min_value=0, max_value=253_402_300_799))  # 1970 .. 9999-12-31T23:59:59Z
    def test_formats_as_datetime(self, timestamp: int) -> None:
        """Creation's expires_at (and the VCDM view's dates) are written as datetime wrote them."""
        expected = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert format_utc(timestamp) == expected
