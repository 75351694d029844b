"""Strict JSON: no duplicate members, no NaN/Infinity, bounded nesting, one error type."""

from __future__ import annotations

import math

import pytest

from service.strict_json import (
    _MISS,
    StrictJsonError,
    _decode_fast,
    loads_strict,
    max_nesting,
    nested_deeper_than,
)


class TestLoadsStrict:
    def test_standard_json_decodes(self) -> None:
        """Ordinary JSON text and bytes decode to the same Python values json would give."""
        text = '{"a": [1, 2.5, "x", true, false, null], "b": {"c": "ü"}}'
        expected = {"a": [1, 2.5, "x", True, False, None], "b": {"c": "ü"}}
        assert loads_strict(text) == expected
        assert loads_strict(text.encode("utf-8")) == expected

    @pytest.mark.parametrize(
        "text",
        ['{"a": 1, "a": 1}', '{"a": 1, "a": 2}', '{"x": {"b": 1, "b": 2}}', '[{"k": 0}, {"k": 1, "k": 1}]'],
    )
    def test_duplicate_members_rejected(self, text: str) -> None:
        """An object naming a member twice, at any depth and even with equal values, is refused."""
        with pytest.raises(StrictJsonError):
            loads_strict(text)

    def test_duplicate_spelled_with_an_escape_rejected(self) -> None:
        """Names are compared after unescaping: "a" and "\\u0061" are the same member."""
        with pytest.raises(StrictJsonError, match="^duplicate member$"):
            loads_strict('{"a": 1, "\\u0061": 2}')

    def test_same_name_in_sibling_objects_allowed(self) -> None:
        """The same member name in two different objects is not a duplicate."""
        assert loads_strict('[{"k": 0}, {"k": 1}]') == [{"k": 0}, {"k": 1}]

    @pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
    def test_non_standard_constants_rejected(self, constant: str) -> None:
        """NaN, Infinity and -Infinity (accepted by Python's json) are refused."""
        with pytest.raises(StrictJsonError):
            loads_strict(f'{{"v": {constant}}}')

    @pytest.mark.parametrize("text", ["", "{", "[1,]", "{'a': 1}", '{"a" 1}', "01", "[1] [2]", "\x00"])
    def test_syntax_errors_are_strict_json_errors(self, text: str) -> None:
        """Syntax errors surface as StrictJsonError, not JSONDecodeError from elsewhere."""
        with pytest.raises(StrictJsonError):
            loads_strict(text)

    @pytest.mark.parametrize("data", [b"\xff", b'"\xc3\x28"', b'{"a": "\xc0\xaf"}'])
    def test_invalid_utf8_rejected(self, data: bytes) -> None:
        """Bytes that are not UTF-8 are a StrictJsonError."""
        with pytest.raises(StrictJsonError):
            loads_strict(data)

    def test_huge_integer_rejected(self) -> None:
        """An integer longer than Python's digit limit is a StrictJsonError, not a bare ValueError."""
        with pytest.raises(StrictJsonError):
            loads_strict("1" * 5000)

    @pytest.mark.parametrize("opener", ["[", '{"a":'])
    def test_deep_nesting_rejected_without_recursion_error(self, opener: str) -> None:
        """10000 levels of nesting are refused before the recursive decoder runs."""
        with pytest.raises(StrictJsonError):
            loads_strict(opener * 10000)

    def test_depth_limit_boundary(self) -> None:
        """Nesting exactly max_depth deep decodes; one level more is refused."""
        assert loads_strict("[" * 5 + "]" * 5, max_depth=5) == [[[[[]]]]]
        with pytest.raises(StrictJsonError):
            loads_strict("[" * 6 + "]" * 6, max_depth=5)

    def test_default_depth_is_64(self) -> None:
        """The default limit admits 64 levels and refuses 65."""
        assert loads_strict("[" * 64 + "]" * 64) is not None
        with pytest.raises(StrictJsonError):
            loads_strict("[" * 65 + "]" * 65)

    def test_error_is_a_value_error(self) -> None:
        """StrictJsonError is a ValueError, so generic decode handlers still catch it."""
        assert issubclass(StrictJsonError, ValueError)

    def test_tiny_exponent_is_finite(self) -> None:
        """A number that underflows decodes to a finite float."""
        value = loads_strict("[1e-400]")[0]
        assert math.isfinite(value)

    @pytest.mark.parametrize("text", ["[1e400]", '{"exp": -1e999}'])
    def test_number_overflowing_to_infinity_rejected(self, text: str) -> None:
        """A number too large for a double is refused like Infinity (it would re-encode as `Infinity`)."""
        with pytest.raises(StrictJsonError):
            loads_strict(text)

    @pytest.mark.parametrize(
        "data", ['{"name": "\\ud800"}', b'{"name": "\\udfff"}', b'{"name": "\xed\xa0\x80"}']
    )
    def test_lone_surrogates_rejected(self, data: str | bytes) -> None:
        """A lone surrogate, escaped or CESU-8 encoded (parsers disagree on it, RFC 8259 §8.2), is refused."""
        with pytest.raises(StrictJsonError):
            loads_strict(data)

    @pytest.mark.parametrize(
        "data",
        [
            '["\\uDC00"]',  # a low half alone, upper-case hex
            b'["\\uDbFf x"]',  # a high half alone, mixed case
            '{"\\udc00": 1}',  # in a member name
            '["\\ude00\\ud83d"]',  # both halves, in the wrong order
            '{"name": "\ud800"}',  # not escaped: a surrogate code point already in the str argument
        ],
    )
    def test_every_kind_of_lone_surrogate_rejected(self, data: str | bytes) -> None:
        """High or low, any hex case, key or value, escaped or already in the text: all refused."""
        with pytest.raises(StrictJsonError):
            loads_strict(data)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('["\\ud83d\\ude00"]', "\U0001f600"),
            ('["\\uD83D\\uDE00"]', "\U0001f600"),
            ('["\\\\ud800"]', "\\ud800"),  # an escaped backslash, then letters: no surrogate at all
        ],
    )
    def test_surrogate_pairs_and_escaped_backslashes_decode(self, text: str, expected: str) -> None:
        """A proper pair decodes to one character; a backslash before "ud800" is not an escape."""
        assert loads_strict(text) == [expected]

    @pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32", "utf-8-sig"])
    def test_bytes_other_than_plain_utf8_rejected(self, encoding: str) -> None:
        """JSON bytes must be UTF-8 without a BOM (RFC 8259 §8.1); UTF-16/32 and a BOM are refused."""
        with pytest.raises(StrictJsonError):
            loads_strict('{"alg": "EdDSA"}'.encode(encoding))


class TestFastPath:
    def test_plain_json_takes_the_fast_path(self) -> None:
        """Text without escapes or duplicates is decoded by msgspec, to the value json would give."""
        text = (
            '{"iss": "did:key:z6Mk", "vp": {"a": [1, 2.5, true, null, "x:y"]}, "big": 18446744073709551616}'
        )
        value = _decode_fast(text)
        assert value == loads_strict(text)
        assert value is not _MISS
        assert type(value["big"]) is int

    @pytest.mark.parametrize(
        "text",
        ['{"a": 1, "a": 2}', '[{"k": {"x": "1:2", "x": "1:2"}}]', '{"a": "\\u0061"}', "[NaN]", "[1e400]"],
    )
    def test_other_text_is_left_to_the_checked_decoder(self, text: str) -> None:
        """Duplicates, any \\u escape and everything msgspec refuses go to the stdlib decoder."""
        assert _decode_fast(text) is _MISS

    def test_an_escaped_colon_cannot_hide_a_duplicate(self) -> None:
        """A ":" spelled \\u003a, which would balance the dropped member in the count, is still caught."""
        with pytest.raises(StrictJsonError, match="^duplicate member$"):
            loads_strict('{"a": 1, "a": 2, "b": "\\u003a"}')

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
            ('{"a" 1}', "Expecting ':' delimiter: line 1 column 6 (char 5)"),
            ("[1] [2]", "Extra data: line 1 column 5 (char 4)"),
            ('["\\x"]', "Invalid \\escape: line 1 column 3 (char 2)"),
            ('{"a": 1, "a": 2}', "duplicate member"),
            ("[NaN]", "non-standard JSON constant"),
            ("[1e400]", "number out of range"),
        ],
    )
    def test_errors_keep_the_checked_decoders_wording(self, text: str, message: str) -> None:
        """Whatever msgspec refuses fails with the stdlib decoder's message, as before the fast path."""
        with pytest.raises(StrictJsonError) as caught:
            loads_strict(text)
        assert str(caught.value) == message


class TestNestedDeeperThan:
    @pytest.mark.parametrize(
        ("text", "limit", "deeper"),
        [
            ("[[]]", 1, True),
            ("[[]]", 2, False),
            ("[][][][]", 1, False),
            (b"[{}]", 1, True),
            ('"[[["', 2, True),
        ],
    )
    def test_compares_the_nesting_with_a_limit(self, text: str | bytes, limit: int, deeper: bool) -> None:
        """Same answer as max_nesting(text) > limit, brackets inside strings counted alike."""
        assert nested_deeper_than(text, limit) is deeper
        assert (max_nesting(text) > limit) is deeper


class TestMaxNesting:
    @pytest.mark.parametrize(
        ("text", "depth"),
        [("1", 0), ("[]", 1), ("[[], [[]]]", 3), ('{"a": {"b": [1]}}', 3), ("[][][]", 1)],
    )
    def test_depth_of_values(self, text: str, depth: int) -> None:
        """max_nesting returns the deepest bracket level."""
        assert max_nesting(text) == depth

    def test_brackets_inside_strings_over_count(self) -> None:
        """Brackets inside strings are counted too: the bound may only err towards refusing."""
        assert max_nesting('["[[["]') == 4

    def test_bytes_and_text_agree(self) -> None:
        """Bytes input (even invalid UTF-8) is measured like text."""
        assert max_nesting(b"[[\xff]]") == 2
