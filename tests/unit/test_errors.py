"""The error tree: each error has an allowed OAuth code, a status, a docstring, and safe text."""

from __future__ import annotations

import re

import pytest

import service.errors
import service.fetch
import service.issuer_keys.metadata
import service.outbound
from service.errors import (
    ConfigurationError,
    IdTokenInvalid,
    InvalidRequest,
    PresentationRejected,
    VerifierError,
    safe_description,
)

ALLOWED_ERRORS = {
    "invalid_request",
    "invalid_client",
    "access_denied",
    "not_found",
    "not_supported",
    "server_error",
    "temporarily_unavailable",
}
# The HTTP status each OAuth error is answered with (RFC 6749 §5.2, RFC 9457 for the backend).
STATUS_OF = {
    "invalid_request": 400,
    "invalid_client": 401,
    "access_denied": 403,
    "not_found": 404,
    "not_supported": 501,
    "server_error": 500,
    "temporarily_unavailable": 503,
}
MODULES = (service.errors, service.outbound, service.fetch, service.issuer_keys.metadata)


def _walk(cls: type[VerifierError]) -> set[type[VerifierError]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _walk(sub)
    return found


def _error_classes() -> list[type[VerifierError]]:
    names = {module.__name__ for module in MODULES}
    return sorted(
        (cls for cls in _walk(VerifierError) if cls.__module__ in names), key=lambda cls: cls.__qualname__
    )


ERROR_CLASSES = _error_classes()


def test_the_walk_finds_the_tree() -> None:
    """The walk covers every VerifierError named in service.errors.__all__ and the outbound errors."""
    exported = {
        getattr(service.errors, name)
        for name in service.errors.__all__
        if isinstance(getattr(service.errors, name), type)
    }
    assert exported <= set(ERROR_CLASSES)
    assert {service.outbound.OutboundRefused, service.outbound.OutboundUnavailable} <= set(ERROR_CLASSES)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__qualname__)
class TestEveryError:
    def test_has_its_own_docstring(self, cls: type[VerifierError]) -> None:
        """Each error class documents itself (not inherited)."""
        doc = cls.__dict__.get("__doc__")
        assert isinstance(doc, str)
        assert doc.strip()

    def test_oauth_error_is_allowed(self, cls: type[VerifierError]) -> None:
        """The OAuth `error` is one of the codes the service may answer with."""
        assert cls.error in ALLOWED_ERRORS

    def test_status_code_is_an_int_matching_the_error(self, cls: type[VerifierError]) -> None:
        """status_code is an int (not a bool) and matches the OAuth error."""
        assert type(cls.status_code) is int
        assert cls.status_code == STATUS_OF[cls.error]

    def test_default_reason_is_step_dot_check(self, cls: type[VerifierError]) -> None:
        """The default reason has the stable '<step>.<check>' shape."""
        assert re.fullmatch(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*", cls.default_reason)

    def test_instance_defaults(self, cls: type[VerifierError]) -> None:
        """An instance without arguments carries the default reason and a safe default description."""
        error = cls()
        assert error.reason == cls.default_reason
        assert error.description == safe_description(cls.default_description)
        assert error.descriptor_id is None
        assert str(error) == f"{error.reason}: {error.description}"

    def test_description_is_sanitised(self, cls: type[VerifierError]) -> None:
        """A description with quotes, backslashes or non-ASCII is folded into the safe set."""
        error = cls("x.y", 'bad "quote" \\ and ünïcode\n')
        assert '"' not in error.description
        assert "\\" not in error.description
        assert error.description.isascii()
        assert "\n" not in error.description


class TestSafeDescription:
    @pytest.mark.parametrize("char", ['"', "\\", "é", "\u2028", "\x00", "\n", "\t", "\x7f", "😀"])
    def test_unsafe_characters_replaced(self, char: str) -> None:
        """Characters outside %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §4.1.2.1) are replaced."""
        folded = safe_description(f"a{char}b")
        assert char not in folded
        assert folded.startswith("a")
        assert folded.endswith("b")
        assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in folded)

    def test_safe_text_unchanged(self) -> None:
        """Text already in the allowed set is returned as is."""
        text = "Token nonce does not match the request (step 7) [id_token.nonce_mismatch]!"
        assert safe_description(text) == text

    def test_length_capped(self) -> None:
        """A long description is cut to 300 characters."""
        assert len(safe_description("x" * 1000)) == 300


class TestTree:
    def test_presentation_errors_are_invalid_request(self) -> None:
        """Presentation rejections are wallet-facing invalid_request errors (OpenID4VP §8.5)."""
        assert issubclass(IdTokenInvalid, PresentationRejected)
        assert issubclass(PresentationRejected, InvalidRequest)
        assert IdTokenInvalid.error == "invalid_request"

    def test_descriptor_id_kept(self) -> None:
        """descriptor_id passed to an error is kept for the verdict."""
        assert InvalidRequest("a.b", "c", descriptor_id="age").descriptor_id == "age"

    def test_configuration_error_is_server_error(self) -> None:
        """A configuration problem is a 500 server_error."""
        assert ConfigurationError().status_code == 500
        assert ConfigurationError.error == "server_error"
