"""Field results and data minimisation, including the shipped age definitions with date filters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from service.errors import SubmissionMismatch
from service.presentation_exchange import (
    DescriptorResult,
    PresentationDefinition,
    disclosed_claims,
    evaluate_submission,
    load_definitions,
    materialize_definition,
    parse_submission,
)
from tests.unit.presentation_exchange.fakes import FakeWallet, descriptor, entry, pd, submission

REPO_ROOT = Path(__file__).resolve().parents[3]
TODAY = dt.date(2025, 11, 22)


def evaluate(
    definition: PresentationDefinition, subject: dict[str, Any], *, descriptor_id: str = "d"
) -> DescriptorResult:
    wallet = FakeWallet()
    wallet.add_vc("vc", subject)
    wallet.add_vp("vp", ["vc"])
    raw = submission(definition.id, entry(descriptor_id))
    return evaluate_submission(definition, parse_submission(raw), "vp", wallet.lookup).descriptors[0]


class TestDisclosedClaims:
    def test_keys_and_values_follow_the_minimisation_rules(self) -> None:
        """id or last path name as key; value when unfiltered or retained, True when a filter was answered."""
        definition = pd(
            descriptor(
                "d",
                {"id": "given", "path": ["$.vc.credentialSubject.givenName"]},
                {"path": ["$.vc.credentialSubject.nationality"]},
                {"id": "adult", "path": ["$.vc.credentialSubject.birthDate"], "filter": {"type": "string"}},
                {
                    "path": ["$.vc.credentialSubject.email"],
                    "filter": {"type": "string"},
                    "intent_to_retain": True,
                },
                {"id": "absent", "path": ["$.vc.credentialSubject.nothing"], "optional": True},
            )
        )
        subject = {
            "givenName": "Ada",
            "nationality": "GB",
            "birthDate": "1990-01-01",
            "email": "ada@example.com",
        }
        assert disclosed_claims(evaluate(definition, subject)) == {
            "given": "Ada",
            "nationality": "GB",
            "adult": True,
            "email": "ada@example.com",
        }

    def test_filtered_field_without_id_is_a_constraint_only(self) -> None:
        """A filter without an id (a type check) adds nothing; with an id it answers True."""
        definition = pd(
            descriptor(
                "d",
                {
                    "path": ["$.vc.type"],
                    "filter": {"type": "array", "contains": {"const": "VerifiableCredential"}},
                },
                {"id": "adult", "path": ["$.vc.credentialSubject.age"], "filter": {"minimum": 18}},
            )
        )
        assert disclosed_claims(evaluate(definition, {"age": 30})) == {"adult": True}

    def test_first_field_wins_a_key_clash(self) -> None:
        """Two id-less fields ending in the same name keep the first value."""
        definition = pd(
            descriptor(
                "d", {"path": ["$.vc.credentialSubject.a.name"]}, {"path": ["$.vc.credentialSubject.name"]}
            )
        )
        assert disclosed_claims(evaluate(definition, {"a": {"name": "first"}, "name": "second"})) == {
            "name": "first"
        }

    def test_path_without_a_name_uses_the_path(self) -> None:
        """A path with no member name (e.g. $.x[0] has one; $ has none) falls back to the path text."""
        definition = pd(
            descriptor("d", {"path": ["$"], "filter": {"type": "object"}, "intent_to_retain": True})
        )
        claims = disclosed_claims(evaluate(definition, {}))
        assert list(claims) == ["$"]

    def test_field_match_records_filter_and_retention(self) -> None:
        """FieldMatch carries the path that matched, the value, and the filtered/retain flags."""
        definition = pd(
            descriptor(
                "d", {"id": "x", "path": ["$.nope", "$.vc.credentialSubject.x"], "filter": {"const": 1}}
            )
        )
        (match,) = evaluate(definition, {"x": 1}).fields
        assert (match.field_id, match.path, match.value, match.filtered, match.retain) == (
            "x",
            "$.vc.credentialSubject.x",
            1,
            True,
            False,
        )


@pytest.fixture(scope="module")
def age_definitions() -> dict[str, PresentationDefinition]:
    registry = load_definitions(REPO_ROOT / "definitions")
    return {
        name: materialize_definition(registry_entry.definition, today=TODAY)
        for name in ("age-over-18", "age-over-21")
        if (registry_entry := registry.get(name)) is not None
    }


class TestAgeDefinitions:
    @pytest.mark.parametrize(
        ("name", "subject"),
        [
            ("age-over-21", {"ageOver21": True}),
            ("age-over-21", {"birthDate": "2004-11-22"}),  # 21st birthday today
            ("age-over-21", {"ageOver21": False, "birthDate": "1980-05-01"}),  # boolean fails, date proves it
            ("age-over-18", {"ageOver18": True}),
            ("age-over-18", {"birthDate": "2007-11-22"}),
        ],
    )
    def test_old_enough_either_way(
        self, age_definitions: dict[str, PresentationDefinition], name: str, subject: dict[str, Any]
    ) -> None:
        """A true ageOverN claim or a birth date N years back satisfies the field; only True is disclosed."""
        definition = age_definitions[name]
        field_id = "age_over_21" if name.endswith("21") else "age_over_18"
        result = evaluate(definition, subject, descriptor_id="age_credential")
        assert disclosed_claims(result) == {field_id: True}

    @pytest.mark.parametrize(
        ("name", "subject", "reason"),
        [
            ("age-over-21", {"birthDate": "2004-11-23"}, "submission.filter_failed"),
            ("age-over-21", {"ageOver21": False}, "submission.filter_failed"),
            ("age-over-21", {"ageOver18": True}, "submission.field_missing"),
            ("age-over-21", {"birthDate": "22/11/2000"}, "submission.filter_failed"),
            ("age-over-18", {"birthDate": "2007-11-23"}, "submission.filter_failed"),
        ],
    )
    def test_too_young_or_unproven(
        self,
        age_definitions: dict[str, PresentationDefinition],
        name: str,
        subject: dict[str, Any],
        reason: str,
    ) -> None:
        """A day short of the birthday, a false claim, a non-ISO date or no claim at all is refused."""
        with pytest.raises(SubmissionMismatch) as caught:
            evaluate(age_definitions[name], subject, descriptor_id="age_credential")
        assert caught.value.reason == reason

    def test_leap_day_birthday(self) -> None:
        """Born Feb 29: on Feb 28 of a non-leap year the holder is not yet of age; on Mar 1 they are."""
        registry = load_definitions(REPO_ROOT / "definitions")
        registry_entry = registry.get("age-over-21")
        assert registry_entry is not None
        subject = {"birthDate": "2004-02-29"}
        on_28th = materialize_definition(registry_entry.definition, today=dt.date(2025, 2, 28))
        with pytest.raises(SubmissionMismatch):
            evaluate(on_28th, subject, descriptor_id="age_credential")
        on_1st = materialize_definition(registry_entry.definition, today=dt.date(2025, 3, 1))
        assert disclosed_claims(evaluate(on_1st, subject, descriptor_id="age_credential")) == {
            "age_over_21": True
        }

    def test_unmaterialised_definition_never_accepts_a_date(self) -> None:
        """Evaluating the templated definition fails closed for birth dates."""
        registry_entry = load_definitions(REPO_ROOT / "definitions").get("age-over-21")
        assert registry_entry is not None
        with pytest.raises(SubmissionMismatch):
            evaluate(registry_entry.definition, {"birthDate": "1950-01-01"}, descriptor_id="age_credential")
