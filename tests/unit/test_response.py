"""Parsing the wallet's direct_post body: form fields, JSON-valued parameters, wallet errors, limits."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from service.errors import InvalidRequest, LimitExceeded, MalformedResponse, VerifierError
from service.response import AuthorizationResponse, ResponseLimits, WalletError, parse_response

LIMITS = ResponseLimits()
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
OTHER_TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJ5In0.c2ln"
SUBMISSION = {
    "id": "sub-1",
    "definition_id": "age-over-18",
    "descriptor_map": [{"id": "age_credential", "format": "jwt_vp_json", "path": "$"}],
}


def _body(*pairs: tuple[str, str]) -> bytes:
    return urlencode(pairs).encode("ascii")


def _parse(body: bytes, limits: ResponseLimits = LIMITS) -> AuthorizationResponse | WalletError:
    return parse_response(body, limits=limits)


def _success(body: bytes, limits: ResponseLimits = LIMITS) -> AuthorizationResponse:
    parsed = _parse(body, limits)
    assert isinstance(parsed, AuthorizationResponse)
    return parsed


def _failure(body: bytes, error: type[VerifierError], limits: ResponseLimits = LIMITS) -> str:
    with pytest.raises(error) as caught:
        _parse(body, limits)
    return caught.value.reason


class TestSuccessfulResponses:
    def test_single_token(self) -> None:
        """A lone vp_token and id_token are returned as the strings sent, with state."""
        parsed = _success(_body(("state", "s1"), ("id_token", OTHER_TOKEN), ("vp_token", TOKEN)))
        assert parsed == AuthorizationResponse(
            state="s1", id_token=OTHER_TOKEN, vp_token=TOKEN, presentation_submission=None
        )

    def test_json_array_vp_token(self) -> None:
        """A vp_token that is a JSON array decodes to a list of tokens, order kept."""
        parsed = _success(_body(("vp_token", json.dumps([TOKEN, OTHER_TOKEN]))))
        assert parsed.vp_token == [TOKEN, OTHER_TOKEN]

    def test_json_quoted_token(self) -> None:
        """A JSON-quoted lone token decodes to the bare token string."""
        assert _success(_body(("vp_token", json.dumps(TOKEN)))).vp_token == TOKEN

    def test_json_with_surrounding_whitespace(self) -> None:
        """Whitespace around a JSON vp_token is tolerated."""
        assert _success(_body(("vp_token", "  " + json.dumps([TOKEN]) + "\n"))).vp_token == [TOKEN]

    def test_json_object_vp_token(self) -> None:
        """A vp_token that is a JSON object (DCQL form) decodes to a dict."""
        value = {"age": [TOKEN]}
        assert _success(_body(("vp_token", json.dumps(value)))).vp_token == value

    def test_presentation_submission_json(self) -> None:
        """presentation_submission is decoded from its JSON text."""
        parsed = _success(_body(("vp_token", TOKEN), ("presentation_submission", json.dumps(SUBMISSION))))
        assert parsed.presentation_submission == SUBMISSION

    def test_form_encoding_is_decoded(self) -> None:
        """Percent-escapes and '+' in values are decoded as in any form body."""
        assert _success(b"state=a+b%2Fc%3D").state == "a b/c="

    def test_unknown_parameters_ignored(self) -> None:
        """Parameters the verifier does not know are dropped."""
        parsed = _success(_body(("foo", "bar"), ("vp_token", TOKEN), ("extra", "1")))
        assert parsed.vp_token == TOKEN

    def test_empty_body(self) -> None:
        """An empty body parses to a response without any parameter (later steps reject it)."""
        assert _success(b"") == AuthorizationResponse(
            state=None, id_token=None, vp_token=None, presentation_submission=None
        )

    def test_blank_values_kept(self) -> None:
        """A parameter with an empty value is present as '', not absent."""
        assert _success(b"state=&vp_token=x").state == ""


class TestWalletErrors:
    @pytest.mark.parametrize(
        "code", ["access_denied", "vp_formats_not_supported", "invalid_request", "user_cancelled"]
    )
    def test_normal_code_kept(self, code: str) -> None:
        """A wallet error with a registered code is returned as data, with its state."""
        parsed = _parse(_body(("error", code), ("error_description", "User said no"), ("state", "s1")))
        assert parsed == WalletError(state="s1", error=code)

    @pytest.mark.parametrize(
        "code",
        ["<script>", "Access_Denied", "access denied", "", "a" * 65, "ünï", "a\nb", "a.b", "x1", "made_up"],
    )
    def test_weird_code_becomes_other(self, code: str) -> None:
        """An error code outside [a-z0-9_]{1,64} is normalised to 'other'."""
        parsed = _parse(_body(("error", code)))
        assert isinstance(parsed, WalletError)
        assert parsed.error == "other"

    def test_error_wins_over_tokens(self) -> None:
        """A body with error and tokens is a wallet error; the tokens are not decoded."""
        parsed = _parse(_body(("error", "access_denied"), ("vp_token", "[")))
        assert parsed == WalletError(state=None, error="access_denied")


class TestRefusals:
    @pytest.mark.parametrize("name", ["vp_token", "state", "id_token", "presentation_submission", "error"])
    def test_duplicate_parameter(self, name: str) -> None:
        """A known parameter sent twice, even apart, is response.duplicate_parameter (RFC 6749 §3.1)."""
        body = _body((name, "a"), ("foo", "x"), (name, "b"))
        assert _failure(body, MalformedResponse) == "response.duplicate_parameter"

    def test_duplicate_with_equal_values(self) -> None:
        """Sending the same value twice is still a duplicate."""
        assert (
            _failure(_body(("state", "s"), ("state", "s")), MalformedResponse)
            == "response.duplicate_parameter"
        )

    def test_too_many_fields(self) -> None:
        """More fields than max_fields is limits.form_fields; exactly max_fields is accepted."""
        limits = ResponseLimits(max_fields=4)
        fields = [(f"f{i}", "x") for i in range(3)] + [("state", "s")]
        assert _success(_body(*fields), limits).state == "s"
        assert _failure(_body(*fields, ("g", "y")), LimitExceeded, limits) == "limits.form_fields"

    def test_default_field_limit(self) -> None:
        """The default limit refuses a body with hundreds of fields."""
        body = "&".join(f"f{i}=x" for i in range(500)).encode()
        assert _failure(body, LimitExceeded) == "limits.form_fields"

    @pytest.mark.parametrize("body", [b"\xff", b"state=\xc3\x28", b"vp_token=\xed\xa0\x80"])
    def test_non_utf8_body(self, body: bytes) -> None:
        """A body that is not UTF-8 is response.not_utf8."""
        assert _failure(body, MalformedResponse) == "response.not_utf8"

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("vp_token", "[1,"),
            ("vp_token", '["a" "b"]'),
            ("vp_token", '"unterminated'),
            ("vp_token", "[NaN]"),
            ("vp_token", '{"a": 1, "a": 2}'),
            ("presentation_submission", "{"),
            ("presentation_submission", "not json"),
            ("presentation_submission", '{"id": "a", "id": "b"}'),
        ],
    )
    def test_malformed_json(self, name: str, value: str) -> None:
        """Invalid JSON (syntax, NaN, duplicate members) in a JSON parameter is response.malformed_json."""
        assert _failure(_body((name, value)), MalformedResponse) == "response.malformed_json"

    @pytest.mark.parametrize("name", ["vp_token", "presentation_submission"])
    def test_deep_json(self, name: str) -> None:
        """JSON nested deeper than max_json_depth is limits.json_depth; at the limit it decodes."""
        limits = ResponseLimits(max_json_depth=8)
        assert _success(_body((name, "[" * 8 + "]" * 8)), limits) is not None
        assert _failure(_body((name, "[" * 9 + "]" * 9)), LimitExceeded, limits) == "limits.json_depth"

    def test_very_deep_json_is_a_limit_not_a_crash(self) -> None:
        """10000 levels of nesting are limits.json_depth, never a RecursionError."""
        assert _failure(_body(("vp_token", "[" * 10000)), LimitExceeded) == "limits.json_depth"

    @pytest.mark.parametrize("body", [b"abc", b"&", b"a=1&&b=2"])
    def test_malformed_form(self, body: bytes) -> None:
        """A body that is not a well-formed form is refused as invalid_request."""
        with pytest.raises(InvalidRequest) as caught:
            _parse(body)
        assert caught.value.error == "invalid_request"


# --- OpenID4VP 1.0: vp_token objects and direct_post.jwt --- #


def _opened(payload: object) -> bytes:
    return json.dumps(payload).encode("utf-8")


def _decrypt_to(payload: object) -> tuple[list[str], object]:
    seen: list[str] = []

    def decrypt(compact: str) -> bytes:
        seen.append(compact)
        return _opened(payload)

    return seen, decrypt


def test_a_1_0_vp_token_object_arrives_decoded() -> None:
    vp_token = {"age": [TOKEN]}
    parsed = _success(_body(("vp_token", json.dumps(vp_token)), ("state", "s")))
    assert parsed.vp_token == vp_token


def test_an_encrypted_response_is_opened_and_read() -> None:
    seen, decrypt = _decrypt_to({"vp_token": {"age": [TOKEN]}, "state": "s", "id_token": OTHER_TOKEN})
    parsed = parse_response(_body(("response", "jwe")), limits=LIMITS, decrypt=decrypt)
    assert seen == ["jwe"]
    assert isinstance(parsed, AuthorizationResponse)
    assert parsed.vp_token == {"age": [TOKEN]}
    assert (parsed.state, parsed.id_token) == ("s", OTHER_TOKEN)


def test_an_encrypted_error_response_is_a_wallet_error() -> None:
    _, decrypt = _decrypt_to({"error": "access_denied", "state": "s"})
    parsed = parse_response(_body(("response", "jwe")), limits=LIMITS, decrypt=decrypt)
    assert parsed == WalletError(state="s", error="access_denied")


def test_a_plain_error_is_accepted_when_encryption_was_asked() -> None:
    _, decrypt = _decrypt_to({})
    parsed = parse_response(_body(("error", "access_denied"), ("state", "s")), limits=LIMITS, decrypt=decrypt)
    assert parsed == WalletError(state="s", error="access_denied")


@pytest.mark.parametrize(
    "pairs",
    [
        (("vp_token", json.dumps({"age": [TOKEN]})), ("state", "s")),
        (("response", "jwe"), ("state", "s")),
        (("response", "jwe"), ("vp_token", TOKEN)),
    ],
)
def test_plaintext_or_extra_parameters_are_refused_when_encryption_was_asked(
    pairs: tuple[tuple[str, str], ...],
) -> None:
    _, decrypt = _decrypt_to({"state": "s"})
    with pytest.raises(MalformedResponse) as caught:
        parse_response(_body(*pairs), limits=LIMITS, decrypt=decrypt)
    assert caught.value.reason == "response.not_encrypted"


def test_a_jwe_to_a_plain_transaction_is_refused() -> None:
    assert _failure(_body(("response", "jwe")), MalformedResponse) == "response.unexpected_jwe"


@pytest.mark.parametrize(
    ("plaintext", "reason"),
    [
        (b"\xff\xfe", "response.not_utf8"),
        (b"[1, 2]", "response.malformed_json"),
        (b"{not json", "response.malformed_json"),
        (b'{"state": 5}', "response.malformed_json"),
        (b'{"id_token": ["x"]}', "response.malformed_json"),
    ],
)
def test_a_bad_decrypted_payload_is_refused(plaintext: bytes, reason: str) -> None:
    with pytest.raises(MalformedResponse) as caught:
        parse_response(_body(("response", "jwe")), limits=LIMITS, decrypt=lambda _: plaintext)
    assert caught.value.reason == reason


def test_a_decrypted_payload_is_held_to_the_limits() -> None:
    deep = json.dumps({"vp_token": [[[[[[1]]]]]]}).encode()
    with pytest.raises(LimitExceeded):
        parse_response(
            _body(("response", "jwe")), limits=ResponseLimits(max_json_depth=4), decrypt=lambda _: deep
        )
    wide = json.dumps({f"k{i}": i for i in range(20)}).encode()
    with pytest.raises(LimitExceeded):
        parse_response(_body(("response", "jwe")), limits=LIMITS, decrypt=lambda _: wide)
