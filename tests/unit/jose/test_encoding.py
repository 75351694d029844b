"""Strict base64url: unpadded, URL alphabet only, canonical final character."""

from __future__ import annotations

import pytest

from service.errors import MalformedResponse
from service.jose.encoding import b64url_decode, b64url_encode


class TestB64urlDecode:
    @pytest.mark.parametrize(
        "data", [b"", b"\x00", b"\xff\xfe", b"abc", b"\xfb\xff\xbf" * 5, bytes(range(256))]
    )
    def test_round_trip(self, data: bytes) -> None:
        """Whatever b64url_encode writes decodes back to the same bytes."""
        assert b64url_decode(b64url_encode(data)) == data

    def test_url_alphabet(self) -> None:
        """ "-" and "_" are the 62nd and 63rd digits (RFC 4648 §5)."""
        assert b64url_decode("-_-_") == b"\xfb\xff\xbf"

    @pytest.mark.parametrize(
        "text", ["ab==", "abc=", "ab=c", "+/+/", "ab+c", "ab/c", "ab c", "abc\n", "é123", "a"]
    )
    def test_padding_other_alphabets_and_bad_lengths_refused(self, text: str) -> None:
        """Padding, standard-alphabet digits, whitespace, non-ASCII and a length of 4n+1 are refused."""
        with pytest.raises(MalformedResponse, match="Value is not unpadded base64url"):
            b64url_decode(text)

    @pytest.mark.parametrize("text", ["AB", "AAB", "Ah", "AAf"])
    def test_non_canonical_tail_refused(self, text: str) -> None:
        """A last character with unused bits set is a second spelling of the same bytes: refused."""
        with pytest.raises(MalformedResponse, match="Value is not canonical base64url"):
            b64url_decode(text)

    def test_reason_is_the_callers(self) -> None:
        """The error carries the reason the caller asked for."""
        with pytest.raises(MalformedResponse) as caught:
            b64url_decode("a=", reason="key.invalid")
        assert caught.value.reason == "key.invalid"
