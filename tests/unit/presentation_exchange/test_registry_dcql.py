"""Definition files with a ``dcql_query`` (the OpenID4VP 1.0 form where translation cannot express them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from service.dcql import DcqlQuery, check_supported, definition_to_dcql, disclosed_claims, evaluate_dcql
from service.errors import BadBackendRequest, ConfigurationError, SubmissionMismatch
from service.presentation_exchange import DefinitionEntry, definition_digest, load_definitions
from tests.unit.dcql.fakes import VCT_PID, FakeWallet, jwt_vc, sd_jwt

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED = load_definitions(REPO_ROOT / "definitions")
PD = {
    "id": "basic",
    "input_descriptors": [
        {
            "id": "pid",
            "format": {"dc+sd-jwt": {}},
            "constraints": {"fields": [{"path": ["$.vct"], "filter": {"const": VCT_PID}}]},
        }
    ],
}
DCQL = {"credentials": [{"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT_PID]}}]}


def write(directory: Path, name: str, content: dict[str, Any]) -> None:
    (directory / name).write_text(json.dumps(content))


def config_error(directory: Path) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        load_definitions(directory)
    return caught.value


def with_definition(entries: list[DefinitionEntry]) -> Any:
    items = [item for item in entries if item.definition is not None]
    return pytest.mark.parametrize("entry", items, ids=[item.id for item in items])


class TestShippedDefinitions:
    @with_definition(SHIPPED.list())
    def test_has_a_dcql_form(self, entry: DefinitionEntry) -> None:
        """Each definition translates, or carries a dcql_query because it does not (no stale overrides)."""
        assert entry.definition is not None
        if entry.dcql is None:
            check_supported(definition_to_dcql(entry.definition))
            return
        with pytest.raises(BadBackendRequest) as caught:
            definition_to_dcql(entry.definition)
        assert caught.value.reason == "dcql.untranslatable"
        check_supported(entry.dcql)

    @with_definition(SHIPPED.list())
    def test_dcql_form_keeps_the_ids(self, entry: DefinitionEntry) -> None:
        """Query ids are the descriptor ids; claim ids include the field ids, so verdicts keep their keys."""
        assert entry.definition is not None
        query = entry.dcql or definition_to_dcql(entry.definition)
        assert [item.id for item in query.credentials] == [d.id for d in entry.definition.input_descriptors]
        for descriptor in entry.definition.input_descriptors:
            credential = query.credential(descriptor.id)
            assert credential is not None
            claim_ids = {claim.id for claim in credential.claims or ()}
            assert {f.id for f in descriptor.constraints.fields if f.id is not None} <= claim_ids

    @with_definition([item for item in SHIPPED.list() if item.dcql is not None])
    def test_dcql_form_asks_for_the_age_boolean(self, entry: DefinitionEntry) -> None:
        """The boolean proves the age in every accepted spelling, with the PE verdict key; false does not."""
        assert entry.dcql is not None
        match = re.search(r"over-([0-9]+)", entry.id)
        assert match is not None
        age = match.group(1)
        (query,) = entry.dcql.credentials
        for holds in (True, False):
            for credential in _age_credentials(query.format, age, holds, query.meta.vct_values):
                wallet = FakeWallet()
                wallet.add("token", credential)
                vp_token = {query.id: ["token"]}
                if not holds:
                    with pytest.raises(SubmissionMismatch):
                        evaluate_dcql(entry.dcql, vp_token, wallet.lookup)
                    continue
                result = evaluate_dcql(entry.dcql, vp_token, wallet.lookup)
                claims = disclosed_claims(result.queries[0])
                assert claims in ({f"age_over_{age}": True}, {f"age_over_{age}_alt1": True})

    def test_digests_of_files_without_dcql_are_unchanged(self) -> None:
        """sign-in.json has no dcql_query: its digest keeps the shape it always had."""
        entry = SHIPPED.get("sign-in")
        assert entry is not None
        assert entry.dcql is None
        assert entry.digest == definition_digest({"presentation_definition": None, "sign_in": {}})


def _age_credentials(fmt: str, age: str, holds: bool, vct_values: tuple[str, ...] | None) -> list[Any]:
    if fmt == "jwt_vc_json":
        return [jwt_vc({f"ageOver{age}": holds})]
    assert vct_values is not None
    nested = sd_jwt(
        {"age_equal_or_over": {age: holds}},
        vct=vct_values[-1],
        disclosed=(("age_equal_or_over",), ("age_equal_or_over", age)),
    )
    return [nested, sd_jwt({f"age_over_{age}": holds}, vct=vct_values[0])]


class TestDcqlQueryMember:
    def test_loads_as_the_entry_dcql(self, tmp_path: Path) -> None:
        """The file's dcql_query is parsed into DefinitionEntry.dcql; raw is the file's JSON."""
        write(tmp_path, "basic.json", {"presentation_definition": PD, "dcql_query": DCQL})
        entry = load_definitions(tmp_path).get("basic")
        assert entry is not None
        assert isinstance(entry.dcql, DcqlQuery)
        assert entry.dcql.raw == DCQL

    def test_absent_means_none(self, tmp_path: Path) -> None:
        write(tmp_path, "basic.json", {"presentation_definition": PD})
        entry = load_definitions(tmp_path).get("basic")
        assert entry is not None
        assert entry.dcql is None

    def test_digest_counts_it_only_when_present(self, tmp_path: Path) -> None:
        """A file without dcql_query keeps its digest; one with it digests the query too."""
        write(tmp_path, "basic.json", {"presentation_definition": PD})
        write(tmp_path, "other.json", {"presentation_definition": {**PD, "id": "other"}, "dcql_query": DCQL})
        write(tmp_path, "both.json", {"presentation_definition": {**PD, "id": "both"}, "sign_in": {}})
        registry = load_definitions(tmp_path)
        basic, other, both = (registry.get(name) for name in ("basic", "other", "both"))
        assert basic is not None
        assert other is not None
        assert both is not None
        assert basic.digest == definition_digest(PD)
        assert both.digest == definition_digest(
            {"presentation_definition": {**PD, "id": "both"}, "sign_in": {}}
        )
        assert other.digest != definition_digest({**PD, "id": "other"})
        changed = {"credentials": [{**DCQL["credentials"][0], "meta": {"vct_values": ["urn:other"]}}]}
        write(
            tmp_path, "other.json", {"presentation_definition": {**PD, "id": "other"}, "dcql_query": changed}
        )
        again = load_definitions(tmp_path)
        assert again.get("basic") == basic
        changed_entry = again.get("other")
        assert changed_entry is not None
        assert changed_entry.digest != other.digest

    @pytest.mark.parametrize(
        ("content", "reason", "says"),
        [
            ({"presentation_definition": PD, "dcql_query": []}, "definition.malformed", ""),
            (
                {"presentation_definition": PD, "dcql_query": {"credentials": []}},
                "dcql.malformed",
                "credentials",
            ),
            (
                {
                    "presentation_definition": PD,
                    "dcql_query": {"credentials": [{"id": "pid", "format": "dc+sd-jwt"}]},
                },
                "dcql.malformed",
                "dcql_query/credentials/0/meta: is required",
            ),
            (
                {
                    "presentation_definition": PD,
                    "dcql_query": {"credentials": [{**DCQL["credentials"][0], "meta": {}}]},
                },
                "dcql.invalid_meta",
                "dcql_query/credentials/0/meta/vct_values",
            ),
            (
                {
                    "presentation_definition": PD,
                    "dcql_query": {
                        "credentials": [
                            {
                                "id": "mdl",
                                "format": "mso_mdoc",
                                "meta": {"doctype_value": "org.iso.18013.5.1.mDL"},
                            }
                        ]
                    },
                },
                "dcql.unsupported_format",
                "dcql_query/credentials/0/format",
            ),
            ({"presentation_definition": PD, "dcql_query": {}}, "dcql.malformed", "dcql_query/credentials"),
            (
                {"sign_in": {}, "dcql_query": DCQL},
                "definition.malformed",
                "dcql_query needs presentation_definition",
            ),
        ],
        ids=["not an object", "empty", "no meta", "no vct_values", "mdoc", "no credentials", "no definition"],
    )
    def test_bad_dcql_query_fails_start_up_naming_the_file(
        self, tmp_path: Path, content: dict[str, Any], reason: str, says: str
    ) -> None:
        """ConfigurationError with the parser's reason, the file name and the pointer inside dcql_query."""
        write(tmp_path, "basic.json", content)
        error = config_error(tmp_path)
        assert error.reason == reason
        assert error.description.startswith("basic.json: ")
        assert says in error.description
