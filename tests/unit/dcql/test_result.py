"""disclosed_claims: what a verdict may carry for a satisfied query."""

from __future__ import annotations

from typing import Any

from service.dcql import ClaimMatch, CredentialMatch, QueryResult, disclosed_claims
from tests.unit.dcql.fakes import sd_jwt

CREDENTIAL = sd_jwt({})


def claim(
    path: tuple[Any, ...], values: tuple[Any, ...], *, claim_id: str | None = None, asked: bool = False
) -> ClaimMatch:
    return ClaimMatch(claim_id=claim_id, path=path, values=values, asked=asked)


def match(*claims: ClaimMatch) -> CredentialMatch:
    return CredentialMatch(credential=CREDENTIAL, claims=claims)


class TestDisclosedClaims:
    def test_keys_are_ids_or_joined_paths(self) -> None:
        result = match(
            claim(("given_name",), ("Alice",), claim_id="first"),
            claim(("address", "street_address"), ("42 Market Street",)),
        )
        assert disclosed_claims(result) == {"first": "Alice", "address.street_address": "42 Market Street"}

    def test_asked_values_become_true(self) -> None:
        """values is a question: the verdict carries the answer, never the value."""
        result = match(claim(("postal_code",), ("90210",), asked=True))
        assert disclosed_claims(result) == {"postal_code": True}

    def test_wildcard_gives_a_list(self) -> None:
        result = match(
            claim(("degrees", None, "type"), ("BSc", "MSc")), claim(("degrees", 0, "type"), ("BSc",))
        )
        assert disclosed_claims(result) == {"degrees.*.type": ["BSc", "MSc"], "degrees.0.type": "BSc"}

    def test_object_values_are_kept_whole(self) -> None:
        address = {"locality": "Berlin"}
        assert disclosed_claims(match(claim(("address",), (address,)))) == {"address": address}

    def test_first_claim_wins_on_a_clash(self) -> None:
        result = match(claim(("a",), (1,), claim_id="x"), claim(("b",), (2,), claim_id="x"))
        assert disclosed_claims(result) == {"x": 1}

    def test_query_result_single(self) -> None:
        result = QueryResult(query_id="q", multiple=False, matches=(match(claim(("a",), (1,))),))
        assert disclosed_claims(result) == {"a": 1}

    def test_query_result_multiple_lists_per_presentation(self) -> None:
        """With multiple: true each key lists one entry per presentation that disclosed it."""
        first = match(claim(("a",), (1,)), claim(("b",), ("x",), asked=True))
        second = match(claim(("a",), (2,)))
        result = QueryResult(query_id="q", multiple=True, matches=(first, second))
        assert disclosed_claims(result) == {"a": [1, 2], "b": [True]}

    def test_no_claims(self) -> None:
        assert disclosed_claims(QueryResult(query_id="q", multiple=False, matches=(match(),))) == {}
