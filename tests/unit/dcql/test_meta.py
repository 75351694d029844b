"""check_format / check_meta on credentials that expose vct or types directly or only in their documents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from service.dcql import parse_dcql_query
from service.dcql.meta import check_format, check_meta
from service.dcql.model import CredentialQuery
from service.errors import SubmissionMismatch


@dataclass(frozen=True)
class Bare:
    """A Decoded with only the Protocol's three members (no vct / types attributes)."""

    format: str
    documents: tuple[Mapping[str, Any], ...]
    alg: str = "ES256"


def query(fmt: str, meta: dict[str, Any]) -> CredentialQuery:
    return parse_dcql_query({"credentials": [{"id": "q", "format": fmt, "meta": meta}]}).credentials[0]


def test_format_must_be_the_canonical_query_format() -> None:
    check_format(query("vc+sd-jwt", {"vct_values": ["v"]}), Bare("dc+sd-jwt", ({},)))
    with pytest.raises(SubmissionMismatch) as caught:
        check_format(query("dc+sd-jwt", {"vct_values": ["v"]}), Bare("jwt_vc_json", ({},)))
    assert caught.value.reason == "dcql.format_mismatch"


class TestVct:
    def test_read_from_the_payload_without_attribute(self) -> None:
        check_meta(query("dc+sd-jwt", {"vct_values": ["v"]}), Bare("dc+sd-jwt", ({"vct": "v"},)))

    @pytest.mark.parametrize("payload", [{}, {"vct": 1}, {"vct": "V"}, {"vct": "v/sub"}])
    def test_exact_membership(self, payload: dict[str, Any]) -> None:
        """No subtype or case folding: vct must be one of vct_values exactly."""
        with pytest.raises(SubmissionMismatch) as caught:
            check_meta(query("dc+sd-jwt", {"vct_values": ["v"]}), Bare("dc+sd-jwt", (payload,)))
        assert caught.value.reason == "dcql.meta_mismatch"


class TestTypes:
    @pytest.mark.parametrize(
        "documents",
        [
            ({"vc": {"type": ["VerifiableCredential", "Diploma"]}},),  # JWT claims set
            ({"iss": "x"}, {"type": ["VerifiableCredential", "Diploma"]}),  # VCDM view second
            ({"type": "Diploma"},),  # a single type as a string
        ],
    )
    def test_read_from_the_documents_without_attribute(
        self, documents: tuple[Mapping[str, Any], ...]
    ) -> None:
        check_meta(query("jwt_vc_json", {"type_values": [["Diploma"]]}), Bare("jwt_vc_json", documents))

    def test_no_types_at_all(self) -> None:
        with pytest.raises(SubmissionMismatch):
            check_meta(query("jwt_vc_json", {"type_values": [["Diploma"]]}), Bare("jwt_vc_json", ({},)))

    def test_expanded_term_other_than_base_is_literal(self) -> None:
        """No JSON-LD: only the VCDM base terms are known in expanded form."""
        meta = {"type_values": [["https://example.org/vocab#Diploma"]]}
        with pytest.raises(SubmissionMismatch):
            check_meta(query("jwt_vc_json", meta), Bare("jwt_vc_json", ({"type": ["Diploma"]},)))
