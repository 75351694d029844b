"""Splitting an SD-JWT(+KB) presentation into its components (RFC 9901 §4)."""

from __future__ import annotations

import pytest

from service.errors import CredentialInvalid
from service.sd_jwt import SdJwtPresentation, split_presentation

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJfc2QiOltdfQ.c2ln"
KB = "eyJ0eXAiOiJrYitqd3QifQ.e30.c2ln"


def _reason(token: object, **limits: int) -> str:
    with pytest.raises(CredentialInvalid) as caught:
        split_presentation(token, **limits)
    return caught.value.reason


class TestWellFormed:
    def test_sd_jwt_without_key_binding(self) -> None:
        """A trailing "~" means no KB-JWT; the whole string is the sd_hash input."""
        token = f"{JWT}~WyJhIl0~WyJiIl0~"
        assert split_presentation(token) == SdJwtPresentation(
            issuer_jwt=JWT, disclosures=("WyJhIl0", "WyJiIl0"), kb_jwt=None, sd_jwt=token
        )

    def test_sd_jwt_with_key_binding(self) -> None:
        """The last component is the KB-JWT; sd_jwt keeps everything up to and including the last "~"."""
        presentation = split_presentation(f"{JWT}~WyJhIl0~{KB}")
        assert presentation.kb_jwt == KB
        assert presentation.disclosures == ("WyJhIl0",)
        assert presentation.sd_jwt == f"{JWT}~WyJhIl0~"

    def test_no_disclosures(self) -> None:
        """An SD-JWT may present no Disclosures at all, with or without a KB-JWT."""
        assert split_presentation(f"{JWT}~") == SdJwtPresentation(JWT, (), None, f"{JWT}~")
        assert split_presentation(f"{JWT}~{KB}") == SdJwtPresentation(JWT, (), KB, f"{JWT}~")

    def test_order_is_kept(self) -> None:
        """Disclosures stay in presented order: the sd_hash covers them as sent."""
        assert split_presentation(f"{JWT}~b~a~c~").disclosures == ("b", "a", "c")

    def test_disclosure_limit_is_inclusive(self) -> None:
        """Exactly max_disclosures Disclosures are accepted."""
        token = JWT + "~" + "".join(f"d{i}~" for i in range(4))
        assert len(split_presentation(token, max_disclosures=4).disclosures) == 4


class TestMalformed:
    @pytest.mark.parametrize("token", [None, 42, b"jwt~", ["jwt~"]])
    def test_not_a_string(self, token: object) -> None:
        """Anything but a string is malformed."""
        assert _reason(token) == "sd_jwt.malformed"

    @pytest.mark.parametrize("token", ["", JWT, "~", f"~{KB}", "~d~"])
    def test_no_separator_or_no_issuer_jwt(self, token: str) -> None:
        """A bare JWT, or nothing before the first "~", is not an SD-JWT."""
        assert _reason(token) == "sd_jwt.malformed"

    @pytest.mark.parametrize("token", [f"{JWT}~~", f"{JWT}~~{KB}", f"{JWT}~d~~", f"{JWT}~~d~"])
    def test_empty_disclosure_component(self, token: str) -> None:
        """ "~~" would be an empty Disclosure: malformed."""
        assert _reason(token) == "sd_jwt.malformed"

    def test_non_ascii(self) -> None:
        """Every component is base64url: non-ASCII text is refused before anything is hashed."""
        assert _reason(f"{JWT}~WyJhIl0é~") == "sd_jwt.malformed"

    def test_duplicated_disclosure(self) -> None:
        """The Holder MUST NOT present the same Disclosure twice (RFC 9901 §4)."""
        assert _reason(f"{JWT}~WyJhIl0~WyJiIl0~WyJhIl0~") == "sd_jwt.disclosure_duplicated"

    def test_too_many_disclosures(self) -> None:
        """More Disclosures than the limit are refused without splitting."""
        assert _reason(JWT + "~" + "".join(f"d{i}~" for i in range(5)), max_disclosures=4) == (
            "sd_jwt.too_many_disclosures"
        )
        assert _reason(JWT + "~" * 10_000, max_disclosures=4) == "sd_jwt.too_many_disclosures"

    def test_too_large(self) -> None:
        """The size limit applies to the whole presentation."""
        assert _reason(f"{JWT}~{'A' * 100}~", max_length=64) == "sd_jwt.too_large"
