"""Unit tests for the checked, bounded JSONPath subset."""

from __future__ import annotations

import pytest

from service.presentation_exchange.jsonpath import (
    MAX_MATCHES,
    MAX_PATH_LENGTH,
    InvalidPathError,
    compile_path,
    find,
)

DOC = {
    "vc": {
        "type": ["VerifiableCredential", "IDCredential"],
        "credentialSubject": {
            "birthDate": "2000-01-01",
            "accounts": [{"id": "a", "n": 1}, {"id": "b", "n": 2}],
        },
    },
    "@context": ["x"],
}


class TestCompilePath:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("$", [DOC]),
            ("$.vc.credentialSubject.birthDate", ["2000-01-01"]),
            ("$['vc']['type'][1]", ["IDCredential"]),
            ('$["@context"][0]', ["x"]),
            ("$.vc.type[-1]", ["IDCredential"]),
            ("$.vc.type[0,1]", ["VerifiableCredential", "IDCredential"]),
            ("$.vc.type[1:]", ["IDCredential"]),
            ("$.vc.type[::-1]", ["IDCredential", "VerifiableCredential"]),
            ("$.vc.credentialSubject.accounts[*].id", ["a", "b"]),
            ("$..birthDate", ["2000-01-01"]),
            ("$.vc.credentialSubject.accounts[?(@.n > 1)].id", ["b"]),
            ("$.vc.credentialSubject.accounts[?(@.id == 'a' || @.n == 2)].n", [1, 2]),
            ("$.vc.credentialSubject.accounts[?(!@.missing)].id", ["a", "b"]),
            ("$.vc.type[?(@ == 'IDCredential')]", ["IDCredential"]),
            ("$.vc.missing", []),
            ("$.vc.type[5]", []),
        ],
    )
    def test_supported_syntax_selects_expected_values(self, text: str, expected: list[object]) -> None:
        """Each construct PE lists (dot, bracket, index, union, slice, *, .., ?()) evaluates as RFC 9535."""
        assert find(compile_path(text), DOC) == expected

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("$[(@.length-1)]", "could not be parsed"),
            ("$.a[?(@.b =~ 'x')]", "regex"),
            ("$.a.`len`", "Len is not supported"),
            ("$.a where b", "Where is not supported"),
            ("$.a | $.b", "could not be parsed"),
            ("$.a[?(@.b == x)]", "could not be parsed"),
            ("$..a..b", "at most once"),
            ("a.b", "must start at the root"),
            ("@.a", "must start at the root"),
            ("$.a[?($.b == 1)]", "must start at '@'"),
            ("$.a[?(@..b)]", "must start at '@'"),
            ("$.a[?(@.b + 1 == 2)]", "must start at '@'"),
            ("$.a.`parent`", "Parent is not supported"),
            ("$[", "could not be parsed"),
        ],
    )
    def test_unsafe_or_unknown_syntax_is_refused(self, text: str, message: str) -> None:
        """Scripts, regex, extensions, relative paths and deprecated operators raise InvalidPathError."""
        with pytest.raises(InvalidPathError, match=message):
            compile_path(text)

    def test_length_is_capped(self) -> None:
        """A path longer than MAX_PATH_LENGTH is refused before parsing."""
        with pytest.raises(InvalidPathError, match="longer than"):
            compile_path("$." + "a" * MAX_PATH_LENGTH)

    def test_compilation_is_cached(self) -> None:
        """The same text compiles to the same object (compiled once, reused)."""
        assert compile_path("$.cached.path") is compile_path("$.cached.path")

    def test_last_name_is_the_final_member_name(self) -> None:
        """last_name gives the last member selected by name, or None when there is none."""
        assert compile_path("$.vc.credentialSubject.birthDate").last_name == "birthDate"
        assert compile_path("$.accounts[*].id").last_name == "id"
        assert compile_path("$.list[0]").last_name == "list"
        assert compile_path("$[0]").last_name is None


class TestFindBounds:
    def test_matches_are_capped(self) -> None:
        """A wildcard over a huge array yields at most MAX_MATCHES nodes."""
        assert len(find(compile_path("$[*]"), list(range(MAX_MATCHES * 3)))) == MAX_MATCHES

    def test_descendant_walk_visits_shared_containers_once(self) -> None:
        """Duplicate start nodes ($[0,-1] on a one-element array) do not multiply the .. walk."""
        doc = [{"x": 1}]
        assert find(compile_path("$[0,-1]..x"), doc) == [1]

    def test_duplicate_selectors_cannot_explode(self) -> None:
        """Nested unions that would multiply matches exponentially stay bounded by the per-step cap."""
        doc: object = 1
        for _ in range(30):
            doc = [doc]
        path = "$" + "[0,-1]" * 30
        assert len(find(compile_path(path), doc)) == MAX_MATCHES

    def test_zero_step_slice_selects_nothing(self) -> None:
        """[::0] is empty rather than an error (RFC 9535 §2.3.4.2.2)."""
        assert find(compile_path("$[0:2:0]"), [1, 2]) == []

    def test_names_do_not_select_from_arrays(self) -> None:
        """A member name applied to an array selects nothing."""
        assert find(compile_path("$.length"), [1, 2]) == []
