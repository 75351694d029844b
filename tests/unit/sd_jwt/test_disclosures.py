"""Processing Disclosures against an issuer payload (RFC 9901 §4.2, §7.1 steps 3-5)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from service.errors import CredentialInvalid
from service.sd_jwt import SUPPORTED_SD_ALGS, process_disclosures, sd_digest
from tests.unit.sd_jwt import b64, digest, disclosure, reference

GIVEN = disclosure("salt-1", "given_name", "Alice")
FAMILY = disclosure("salt-2", "family_name", "Möbius")
FR = disclosure("salt-3", "FR")
DE = disclosure("salt-4", "DE")


def _reason(payload: dict[str, Any], disclosures: list[str], **options: int) -> str:
    with pytest.raises(CredentialInvalid) as caught:
        process_disclosures(payload, disclosures, **options)
    return caught.value.reason


class TestDigest:
    def test_rfc_example(self) -> None:
        """RFC 9901 §4.2.3: the digest is over the base64url string, not the decoded JSON."""
        text = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"
        assert sd_digest(text, "sha-256") == "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"

    @pytest.mark.parametrize("alg", sorted(SUPPORTED_SD_ALGS))
    def test_supported_algorithms(self, alg: str) -> None:
        """sha-256, sha-384 and sha-512 hash the ASCII of the text."""
        assert sd_digest(GIVEN, alg) == digest(GIVEN, alg)

    @pytest.mark.parametrize("alg", ["sha-256-32", "SHA-256", "sha256", "sha-1", "md5", ""])
    def test_unsupported_algorithms(self, alg: str) -> None:
        """Truncated, differently spelled or weak hashes are refused (RFC 9901 §9.4)."""
        with pytest.raises(CredentialInvalid) as caught:
            sd_digest(GIVEN, alg)
        assert caught.value.reason == "sd_jwt.unsupported_sd_alg"


class TestObjectClaims:
    def test_inserts_disclosed_claims_and_drops_structure(self) -> None:
        """Disclosed claims join plain ones; _sd and _sd_alg disappear (RFC 9901 §7.1 step 3)."""
        payload = {"_sd_alg": "sha-256", "iss": "https://issuer", "_sd": [digest(GIVEN), digest(FAMILY)]}
        result = process_disclosures(payload, [FAMILY, GIVEN])
        assert result.claims == {"iss": "https://issuer", "given_name": "Alice", "family_name": "Möbius"}
        assert set(result.disclosed_paths) == {("given_name",), ("family_name",)}
        assert result.sd_alg == "sha-256"

    def test_undisclosed_and_decoy_digests_are_ignored(self) -> None:
        """A digest without a Disclosure (withheld or decoy) just leaves no claim (RFC 9901 §4.2.5)."""
        payload = {"_sd": [digest(GIVEN), digest(FAMILY), digest("decoy")]}
        result = process_disclosures(payload, [GIVEN])
        assert result.claims == {"given_name": "Alice"}
        assert result.disclosed_paths == (("given_name",),)

    def test_empty_object_stays(self) -> None:
        """An object whose claims were all withheld becomes {} (RFC 9901 §7.1 step 3.5)."""
        payload = {"address": {"_sd": [digest(GIVEN)]}}
        assert process_disclosures(payload, []).claims == {"address": {}}

    def test_recursive_disclosure(self) -> None:
        """A disclosed value may carry digests itself (RFC 9901 §4.2.6); paths name both levels."""
        street = disclosure("s5", "street", "Heidestraße 17")
        address = disclosure("s6", "address", {"_sd": [digest(street)], "country": "DE"})
        result = process_disclosures({"_sd": [digest(address)]}, [street, address])
        assert result.claims == {"address": {"street": "Heidestraße 17", "country": "DE"}}
        assert result.disclosed_paths == (("address",), ("address", "street"))

    def test_parent_withheld_child_presented_is_unreferenced(self) -> None:
        """A child Disclosure whose parent was not presented connects to nothing (RFC 9901 §7.1 step 5)."""
        street = disclosure("s5", "street", "x")
        address = disclosure("s6", "address", {"_sd": [digest(street)]})
        assert _reason({"_sd": [digest(address)]}, [street]) == "sd_jwt.disclosure_unreferenced"

    @pytest.mark.parametrize("alg", ["sha-384", "sha-512"])
    def test_other_sd_alg(self, alg: str) -> None:
        """Digests use the payload's _sd_alg."""
        result = process_disclosures({"_sd_alg": alg, "_sd": [digest(GIVEN, alg)]}, [GIVEN])
        assert result.claims == {"given_name": "Alice"}
        assert result.sd_alg == alg

    def test_digest_with_the_wrong_alg_does_not_match(self) -> None:
        """A sha-256 digest under _sd_alg sha-512 has the wrong length: a digest mismatch."""
        payload = {"_sd_alg": "sha-512", "_sd": [digest(GIVEN)]}
        assert _reason(payload, [GIVEN]) == "sd_jwt.digest_mismatch"

    def test_digest_that_is_not_base64url_is_a_mismatch(self) -> None:
        """A 43-character string with characters outside base64url is no sha-256 digest."""
        assert _reason({"_sd": ["+" * 43]}, []) == "sd_jwt.digest_mismatch"

    def test_payload_is_not_mutated(self) -> None:
        """Processing builds a new structure; the verified payload stays as signed."""
        payload = {"_sd": [digest(GIVEN)], "nested": {"_sd": [], "list": [reference(FR)]}}
        before = copy.deepcopy(payload)
        process_disclosures(payload, [GIVEN, FR])
        assert payload == before

    def test_same_name_at_another_level_is_fine(self) -> None:
        """A collision is only with claims at the same level."""
        inner = disclosure("s7", "given_name", "Bob")
        payload = {"given_name": "Alice", "child": {"_sd": [digest(inner)]}}
        assert process_disclosures(payload, [inner]).claims == {
            "given_name": "Alice",
            "child": {"given_name": "Bob"},
        }

    def test_nested_validity_claim_names_may_be_disclosed(self) -> None:
        """The SD-JWT VC rule covers top-level claims only; a nested "iss" is ordinary data."""
        inner = disclosure("s8", "iss", "somebody")
        assert process_disclosures({"ev": {"_sd": [digest(inner)]}}, [inner]).claims == {
            "ev": {"iss": "somebody"}
        }

    def test_equivalent_encodings_have_distinct_digests(self) -> None:
        """No canonicalization: a re-encoded Disclosure is a different one (RFC 9901 §4.2.1)."""
        compact = b64(json.dumps(["salt-1", "given_name", "Alice"], separators=(",", ":")).encode())
        assert compact != GIVEN
        assert _reason({"_sd": [digest(GIVEN)]}, [compact]) == "sd_jwt.disclosure_unreferenced"


class TestArrayElements:
    def test_disclosed_and_withheld_elements(self) -> None:
        """Disclosed elements replace their placeholder; others are removed (RFC 9901 §7.1 step 3.3-3.4)."""
        payload = {"nationalities": ["US", reference(DE), reference(FR), reference("decoy")]}
        result = process_disclosures(payload, [FR])
        assert result.claims == {"nationalities": ["US", "FR"]}
        # The index is the one in the processed array, after withheld elements were dropped.
        assert result.disclosed_paths == (("nationalities", 1),)

    def test_elements_inside_disclosed_objects(self) -> None:
        """Array placeholders inside a disclosed value are processed too."""
        parent = disclosure("s9", "nationalities", [reference(DE), reference(FR)])
        result = process_disclosures({"_sd": [digest(parent)]}, [parent, DE])
        assert result.claims == {"nationalities": ["DE"]}
        assert result.disclosed_paths == (("nationalities",), ("nationalities", 0))

    def test_disclosed_element_holding_an_object_with_sd(self) -> None:
        """An element Disclosure whose value is an object with its own _sd (RFC 9901 App. A.2 shape)."""
        method = disclosure("s10", "method", "pipp")
        evidence = disclosure("s11", {"_sd": [digest(method)], "type": "document"})
        result = process_disclosures({"evidence": [reference(evidence)]}, [evidence, method])
        assert result.claims == {"evidence": [{"type": "document", "method": "pipp"}]}
        assert result.disclosed_paths == (("evidence", 0), ("evidence", 0, "method"))

    def test_plain_objects_in_arrays_are_kept(self) -> None:
        """Only objects with the "..." key are placeholders."""
        payload = {"list": [{"a": 1}, [], {}]}
        assert process_disclosures(payload, []).claims == payload


class TestStructureErrors:
    @pytest.mark.parametrize(
        "sd",
        ["digest", {"a": 1}, [1], [None], [["x"]], None],
        ids=["str", "obj", "int", "null", "arr", "none"],
    )
    def test_sd_must_be_an_array_of_strings(self, sd: object) -> None:
        """_sd is an array of digest strings (RFC 9901 §4.2.4.1)."""
        assert _reason({"_sd": sd}, []) == "sd_jwt.malformed"
        assert _reason({"deep": [{"_sd": sd}]}, []) == "sd_jwt.malformed"

    @pytest.mark.parametrize(
        "element",
        [{"...": digest(FR), "extra": 1}, {"...": 1}, {"...": None}, {"...": [digest(FR)]}],
        ids=["extra-key", "int", "null", "array"],
    )
    def test_placeholder_must_be_exactly_one_string(self, element: dict[str, Any]) -> None:
        """An array placeholder is exactly {"...": digest} (RFC 9901 §4.2.4.2)."""
        assert _reason({"list": [element]}, [FR]) == "sd_jwt.malformed"

    def test_sd_alg_below_top_level(self) -> None:
        """_sd_alg only appears at the top level (RFC 9901 §4.1.1)."""
        assert _reason({"nested": {"_sd_alg": "sha-256"}}, []) == "sd_jwt.malformed"

    @pytest.mark.parametrize("alg", ["sha-256-32", "SHA-256", "sha-1", 256, None, ["sha-256"]])
    def test_unsupported_sd_alg(self, alg: object) -> None:
        """Anything but sha-256/384/512 is refused, including truncated variants (RFC 9901 §9.4)."""
        assert _reason({"_sd_alg": alg}, []) == "sd_jwt.unsupported_sd_alg"

    def test_ellipsis_as_plain_claim_name(self) -> None:
        """ "..." outside an array placeholder is reserved."""
        assert _reason({"...": "x"}, []) == "sd_jwt.reserved_claim_name"
        assert _reason({"a": {"...": digest(FR)}}, [FR]) == "sd_jwt.reserved_claim_name"

    def test_too_deep_payload(self) -> None:
        """Nesting beyond max_depth is refused."""
        payload: dict[str, Any] = {"a": [[[{"b": 1}]]]}
        assert process_disclosures(payload, [], max_depth=5).claims == payload
        assert _reason(payload, [], max_depth=4) == "sd_jwt.too_deep"

    def test_too_deep_through_disclosures(self) -> None:
        """Depth counts across recursive Disclosures, not per Disclosure."""
        chain: list[str] = []
        value: Any = "leaf"
        for level in range(6):
            item = disclosure(f"s{level}", f"c{level}", value)
            chain.append(item)
            value = {"_sd": [digest(item)]}
        assert process_disclosures(value, chain, max_depth=6).claims["c5"]["c4"]["c3"]["c2"]["c1"] == {
            "c0": "leaf"
        }
        assert _reason(value, chain, max_depth=5) == "sd_jwt.too_deep"


class TestDisclosureErrors:
    @pytest.mark.parametrize(
        "text",
        [
            "",
            "WyJhIiwiYiJd=",  # padded
            "WyJhIiwiYiJd+",  # standard alphabet
            "WyJhIiwiYiJ",  # non-canonical tail bits / truncated
            "not base64!",
            b64(b"not json"),
            b64(b'{"salt": "a"}'),
            b64(b'["only-salt"]'),
            b64(b'["s", "n", "v", "extra"]'),
            b64(b"[1, 2]"),
            b64(b'[1, "name", 2]'),
            b64(b'["s", 2, 3]'),
            b64(b'["s", "n", {"a": 1, "a": 2}]'),
            b64(b'["s", "n", NaN]'),
            b64(b'["s", "\xff"]'),
            b64(b'["s", "\\ud800"]'),
            b64("\ufeff".encode() + b'["s", "v"]'),
        ],
    )
    def test_malformed(self, text: str) -> None:
        """Strict base64url of a strict JSON array [salt, name, value] or [salt, value] (RFC 9901 §4.2)."""
        assert _reason({"_sd": [digest(text) if text.isascii() else "x"]}, [text]) == (
            "sd_jwt.disclosure_malformed"
        )

    def test_malformed_even_when_unreferenced(self) -> None:
        """Every presented Disclosure is decoded, so garbage is reported as malformed, not unreferenced."""
        assert _reason({}, ["@@@"]) == "sd_jwt.disclosure_malformed"

    def test_array_disclosure_for_an_object_claim(self) -> None:
        """A digest in _sd needs a three-element Disclosure (RFC 9901 §7.1 step 3.2.2.1)."""
        assert _reason({"_sd": [digest(FR)]}, [FR]) == "sd_jwt.disclosure_malformed"

    def test_object_disclosure_for_an_array_element(self) -> None:
        """A placeholder in an array needs a two-element Disclosure (RFC 9901 §7.1 step 3.2.3.1)."""
        assert _reason({"list": [reference(GIVEN)]}, [GIVEN]) == "sd_jwt.disclosure_malformed"

    @pytest.mark.parametrize("name", ["_sd", "...", "_sd_alg"])
    def test_reserved_structural_names(self, name: str) -> None:
        """_sd and ... are never claim names (RFC 9901 §4.2.1); _sd_alg neither, by our policy."""
        item = disclosure("s", name, "x")
        assert _reason({"_sd": [digest(item)]}, [item]) == "sd_jwt.reserved_claim_name"
        assert _reason({"n": {"_sd": [digest(item)]}}, [item]) == "sd_jwt.reserved_claim_name"

    @pytest.mark.parametrize("name", ["iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"])
    def test_never_disclosable_top_level_claims(self, name: str) -> None:
        """SD-JWT VC §2.2.2.3 claims are refused as disclosed top-level names (our policy)."""
        item = disclosure("s", name, "x")
        assert _reason({"_sd": [digest(item)]}, [item]) == "sd_jwt.reserved_claim_name"

    def test_collision_with_plain_claim(self) -> None:
        """A disclosed name already present in plain text is refused (RFC 9901 §7.1 step 3.2.2.3)."""
        assert _reason({"given_name": "Eve", "_sd": [digest(GIVEN)]}, [GIVEN]) == (
            "sd_jwt.claim_name_collision"
        )

    def test_collision_between_disclosures(self) -> None:
        """Two Disclosures for the same name at one level are refused."""
        other = disclosure("salt-x", "given_name", "Eve")
        payload = {"_sd": [digest(GIVEN), digest(other)]}
        assert _reason(payload, [GIVEN, other]) == "sd_jwt.claim_name_collision"

    def test_unreferenced(self) -> None:
        """A valid Disclosure that no reachable digest names is refused (RFC 9901 §7.1 step 5)."""
        assert _reason({"_sd": [digest(GIVEN)]}, [GIVEN, FAMILY]) == "sd_jwt.disclosure_unreferenced"

    def test_duplicated(self) -> None:
        """The same Disclosure string twice is refused even when the caller did not split it."""
        assert _reason({"_sd": [digest(GIVEN)]}, [GIVEN, GIVEN]) == "sd_jwt.disclosure_duplicated"


class TestDuplicateDigests:
    def test_twice_in_one_sd_array(self) -> None:
        """Any digest seen twice is refused (RFC 9901 §7.1 step 4), decoys included."""
        assert _reason({"_sd": [digest(GIVEN), digest(GIVEN)]}, [GIVEN]) == "sd_jwt.digest_duplicate"
        decoy = digest(disclosure("decoy-salt", "x", 1))
        assert _reason({"_sd": [decoy, decoy]}, []) == "sd_jwt.digest_duplicate"

    def test_across_levels(self) -> None:
        """The same digest at two levels is refused."""
        payload = {"_sd": [digest(GIVEN)], "n": {"_sd": [digest(GIVEN)]}}
        assert _reason(payload, [GIVEN]) == "sd_jwt.digest_duplicate"

    def test_twice_in_an_array(self) -> None:
        """An element placeholder repeated would duplicate the element."""
        assert _reason({"l": [reference(FR), reference(FR)]}, [FR]) == "sd_jwt.digest_duplicate"

    def test_inside_a_disclosure(self) -> None:
        """A Disclosure that re-lists a digest from the payload is refused."""
        inner = disclosure("s", "inner", {"_sd": [digest(GIVEN)]})
        payload = {"_sd": [digest(GIVEN), digest(inner)]}
        assert _reason(payload, [GIVEN, inner]) == "sd_jwt.digest_duplicate"
