"""Unit tests for loading definitions/ into a registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.errors import ConfigurationError
from service.presentation_exchange import definition_digest, load_definitions
from service.presentation_exchange.registry import MAX_DEFINITION_FILE_BYTES

REPO_ROOT = Path(__file__).resolve().parents[3]
PD = {"id": "basic", "input_descriptors": [{"id": "d", "constraints": {"fields": [{"path": ["$.vc.type"]}]}}]}


def write(directory: Path, name: str, content: Any) -> Path:
    path = directory / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def config_error(directory: Path) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        load_definitions(directory)
    return caught.value


class TestLoadDefinitions:
    def test_shipped_definitions_load(self) -> None:
        """Every file in definitions/ loads and compiles; birth-date ones carry a templated age filter."""
        registry = load_definitions(REPO_ROOT / "definitions")
        assert [item.id for item in registry.list()] == [
            "age-attestation-over-18",
            "age-attestation-over-21",
            "age-over-18",
            "age-over-18-sd-jwt",
            "age-over-21",
            "age-over-21-sd-jwt",
            "sign-in",
            "sign-in-over-18",
        ]
        for item in registry.list():
            if item.definition is None:
                assert item.sign_in is not None
                continue
            assert item.definition.templated == ("attestation" not in item.id)
            assert item.description
            assert len(item.digest) == 64

    def test_entry_carries_metadata(self, tmp_path: Path) -> None:
        """description, trusted_issuers and a digest of the raw definition are kept per entry."""
        write(
            tmp_path,
            "basic.json",
            {
                "presentation_definition": PD,
                "description": "Basic",
                "trusted_issuers": ["did:web:a", "did:web:a", "did:key:z"],
            },
        )
        write(tmp_path, "notes.txt", "ignored")
        registry = load_definitions(tmp_path)
        item = registry.get("basic")
        assert item is not None
        assert (item.description, item.trusted_issuers) == ("Basic", frozenset({"did:web:a", "did:key:z"}))
        assert item.digest == definition_digest(PD)
        assert registry.get("missing") is None
        assert len(registry) == 1
        assert "basic" in registry

    def test_digest_ignores_key_order_and_whitespace(self) -> None:
        """The digest is over canonical JSON, so formatting does not change it; content does."""
        reordered = json.loads(json.dumps(PD, indent=4))
        reordered = {"input_descriptors": reordered["input_descriptors"], "id": reordered["id"]}
        assert definition_digest(reordered) == definition_digest(PD)
        assert definition_digest({**PD, "name": "x"}) != definition_digest(PD)

    def test_trusted_issuers_default_to_none(self, tmp_path: Path) -> None:
        """Without trusted_issuers the entry says None (no per-definition restriction)."""
        write(tmp_path, "basic.json", {"presentation_definition": PD})
        item = load_definitions(tmp_path).get("basic")
        assert item is not None
        assert item.trusted_issuers is None

    @pytest.mark.parametrize(
        ("name", "content", "reason"),
        [
            ("basic.json", "{not json", "definition.malformed"),
            ("basic.json", {"presentation_definition": PD, "extra": 1}, "definition.malformed"),
            ("basic.json", {"definition": PD}, "definition.malformed"),
            ("basic.json", {"presentation_definition": PD, "trusted_issuers": []}, "definition.malformed"),
            (
                "basic.json",
                {"presentation_definition": PD, "trusted_issuers": [""]},
                "definition.malformed",
            ),
            ("other.json", {"presentation_definition": PD}, "definition.id_mismatch"),
            (
                "basic.json",
                {"presentation_definition": {**PD, "frame": {}}},
                "definition.unsupported_feature",
            ),
            (
                "basic.json",
                {"presentation_definition": {**PD, "input_descriptors": []}},
                "definition.malformed",
            ),
        ],
    )
    def test_bad_files_fail_start_up_naming_the_file(
        self, tmp_path: Path, name: str, content: Any, reason: str
    ) -> None:
        """Any problem raises ConfigurationError with its reason and the file name in the description."""
        write(tmp_path, name, content)
        error = config_error(tmp_path)
        assert error.reason == reason
        assert error.description.startswith(name)

    def test_oversized_file_is_refused(self, tmp_path: Path) -> None:
        """Files over 256 KiB are refused before decoding."""
        write(tmp_path, "basic.json", " " * (MAX_DEFINITION_FILE_BYTES + 1))
        assert config_error(tmp_path).reason == "definition.too_large"

    def test_missing_directory_is_refused(self, tmp_path: Path) -> None:
        """A definitions directory that does not exist is a configuration error."""
        assert config_error(tmp_path / "nope").reason == "definition.unreadable"

    def test_empty_directory_gives_an_empty_registry(self, tmp_path: Path) -> None:
        """No files, no definitions (and no error)."""
        assert load_definitions(tmp_path).list() == []
