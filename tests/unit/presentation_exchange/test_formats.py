"""Unit tests for claim format restrictions."""

from __future__ import annotations

import pytest

from service.presentation_exchange.formats import InvalidFormatError, parse_formats


class TestParseFormats:
    def test_aliases_are_normalised(self) -> None:
        """jwt_vc and jwt_vp are read as jwt_vc_json and jwt_vp_json."""
        allowed = parse_formats({"jwt_vc": {"alg": ["ES256"]}, "jwt_vp": {"alg": ["EdDSA"]}})
        assert allowed.permits("jwt_vc_json", "ES256")
        assert allowed.permits("jwt_vp_json", "EdDSA")
        assert not allowed.permits("jwt_vc_json", "EdDSA")

    def test_alias_alg_lists_are_united(self) -> None:
        """Two spellings of one format allow the union of their algorithms."""
        allowed = parse_formats({"jwt_vc": {"alg": ["ES256"]}, "jwt_vc_json": {"alg": ["ES384"]}})
        assert allowed.permits("jwt_vc_json", "ES256")
        assert allowed.permits("jwt_vc_json", "ES384")

    def test_missing_alg_list_allows_any_alg(self) -> None:
        """An entry with only proof_type restricts the format, not the algorithm."""
        allowed = parse_formats({"jwt_vc_json": {"proof_type": ["JsonWebSignature2020"]}})
        assert allowed.permits("jwt_vc_json", "RS256")

    def test_unknown_formats_never_match(self) -> None:
        """Formats we do not speak are kept out of the restriction."""
        allowed = parse_formats({"ldp_vc": {"proof_type": ["Ed25519Signature2018"]}})
        assert not allowed.lists("ldp_vc")
        assert not allowed.permits("jwt_vc_json", "ES256")

    @pytest.mark.parametrize(
        "raw",
        [
            {"jwt_vc": ["ES256"]},
            {"jwt_vc": {"alg": []}},
            {"jwt_vc": {"alg": "ES256"}},
            {"jwt_vc": {"alg": [1]}},
        ],
    )
    def test_malformed_entries_are_refused(self, raw: dict[str, object]) -> None:
        """A value that is not an object, or an alg that is not a non-empty string array, is refused."""
        with pytest.raises(InvalidFormatError):
            parse_formats(raw)


class TestSdJwtAlgorithms:
    """SD-JWT format objects list issuer and key binding algorithms separately (OpenID4VP App. B.4)."""

    def test_sd_jwt_and_kb_jwt_alg_values(self) -> None:
        """sd-jwt_alg_values bound the issuer alg, kb-jwt_alg_values the KB-JWT alg; aliases merge."""
        allowed = parse_formats(
            {
                "dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]},
                "vc+sd-jwt": {"sd-jwt_alg_values": ["EdDSA"], "kb-jwt_alg_values": ["EdDSA"]},
            }
        )
        assert allowed.permits("dc+sd-jwt", "EdDSA", "ES256")
        assert not allowed.permits("dc+sd-jwt", "ES384", "ES256")
        assert not allowed.permits("dc+sd-jwt", "ES256", "ES384")

    def test_kb_alg_unrestricted_without_kb_jwt_alg_values(self) -> None:
        """Without kb-jwt_alg_values any key binding algorithm passes the format check."""
        allowed = parse_formats({"dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"]}})
        assert allowed.permits("dc+sd-jwt", "ES256", "EdDSA")

    def test_malformed_kb_jwt_alg_values(self) -> None:
        """kb-jwt_alg_values must be a non-empty array of strings."""
        with pytest.raises(InvalidFormatError):
            parse_formats({"dc+sd-jwt": {"kb-jwt_alg_values": "ES256"}})
