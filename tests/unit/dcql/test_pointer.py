"""Claims path pointer processing (OpenID4VP 1.0 §7.1.1) and path comparison."""

from __future__ import annotations

from typing import Any

import pytest

from service.dcql.pointer import is_component, lies_on, path_label, select

# OpenID4VP 1.0 §7.3
ARTHUR: dict[str, Any] = {
    "name": "Arthur Dent",
    "address": {"street_address": "42 Market Street", "locality": "Milliways", "postal_code": "12345"},
    "degrees": [
        {"type": "Bachelor of Science", "university": "University of Betelgeuse"},
        {"type": "Master of Science", "university": "University of Betelgeuse"},
    ],
    "nationalities": ["British", "Betelgeusian"],
}


class TestSelect:
    def test_string_selects_member(self) -> None:
        """A string component selects the member of that name."""
        assert select(["name"], ARTHUR) == ["Arthur Dent"]

    def test_index_selects_element(self) -> None:
        """The fifth §7.3 example: an integer selects one array element."""
        assert select(["nationalities", 1], ARTHUR) == ["Betelgeusian"]

    def test_null_selects_every_element(self) -> None:
        """null selects all elements, and the next step applies to each."""
        assert select(["degrees", None, "type"], ARTHUR) == ["Bachelor of Science", "Master of Science"]
        assert select(["nationalities", None], ARTHUR) == ["British", "Betelgeusian"]

    def test_object_value_is_selected_whole(self) -> None:
        """A pointer ending at an object selects the object."""
        assert select(["address"], ARTHUR) == [ARTHUR["address"]]

    def test_missing_member_selects_nothing(self) -> None:
        """An element lacking the key is dropped; nothing left means no selection."""
        assert select(["birthdate"], ARTHUR) == []
        assert select(["address", "country"], ARTHUR) == []

    def test_missing_member_drops_only_that_element(self) -> None:
        """Elements lacking the key are removed; the others stay selected."""
        document = {"items": [{"a": 1}, {"b": 2}, {"a": 3}]}
        assert select(["items", None, "a"], document) == [1, 3]

    def test_index_out_of_range_selects_nothing(self) -> None:
        assert select(["nationalities", 2], ARTHUR) == []

    def test_index_out_of_range_drops_only_that_array(self) -> None:
        document = {"rows": [[1], [1, 2]]}
        assert select(["rows", None, 1], document) == [2]

    @pytest.mark.parametrize(
        "path",
        [
            ["name", "first"],  # string on a string
            ["address", 0],  # index on an object
            ["address", None],  # null on an object
            ["name", None],  # null on a string
            ["degrees", "type"],  # string on an array
        ],
    )
    def test_wrong_node_type_is_an_error(self, path: list[Any]) -> None:
        """A component that does not fit the node aborts processing: no selection (§7.1.1)."""
        assert select(path, ARTHUR) == []

    def test_one_unfit_element_aborts_the_whole_selection(self) -> None:
        """One selected non-object among objects makes the whole pointer an error, not a partial selection."""
        document = {"items": [{"a": 1}, "plain", {"a": 3}]}
        assert select(["items", None, "a"], document) == []

    @pytest.mark.parametrize("component", [-1, 1.0, True, False, {}, []])
    def test_invalid_component_is_an_error(self, component: object) -> None:
        assert select(["nationalities", component], ARTHUR) == []

    def test_empty_path_selects_nothing(self) -> None:
        assert select([], ARTHUR) == []

    def test_null_values_are_selected(self) -> None:
        """A claim whose value is null is still a selected value."""
        assert select(["x"], {"x": None}) == [None]

    def test_root_array(self) -> None:
        """Processing starts at the root whatever it is."""
        assert select([None], [1, 2]) == [1, 2]
        assert select(["a"], [1]) == []

    def test_selected_values_are_the_document_nodes(self) -> None:
        """Selection returns the nodes themselves, not copies."""
        (address,) = select(["address"], ARTHUR)
        assert address is ARTHUR["address"]


class TestIsComponent:
    @pytest.mark.parametrize("value", ["a", "", None, 0, 7])
    def test_valid(self, value: object) -> None:
        assert is_component(value)

    @pytest.mark.parametrize("value", [-1, 1.5, 1.0, True, [], {}])
    def test_invalid(self, value: object) -> None:
        assert not is_component(value)


class TestLiesOn:
    def test_same_path(self) -> None:
        assert lies_on(("address", "locality"), ("address", "locality"))

    def test_container_on_the_way(self) -> None:
        """A disclosure that is a parent of the requested claim is needed to reach it."""
        assert lies_on(("address",), ("address", "locality"))

    def test_inside_the_requested_claim(self) -> None:
        assert lies_on(("address", "locality"), ("address",))

    def test_sibling(self) -> None:
        assert not lies_on(("address", "region"), ("address", "locality"))

    def test_null_matches_indices_only(self) -> None:
        assert lies_on(("degrees", 1, "type"), ("degrees", None, "type"))
        assert not lies_on(("degrees", "x"), ("degrees", None))

    def test_member_name_is_not_an_index(self) -> None:
        """Type-sensitive: member "0" is not element 0."""
        assert not lies_on(("a", "0"), ("a", 0))


def test_path_label() -> None:
    assert path_label(("address", "street_address")) == "address.street_address"
    assert path_label(("degrees", None, "type")) == "degrees.*.type"
    assert path_label(("nationalities", 1)) == "nationalities.1"
