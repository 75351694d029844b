"""Hostile wallets, part 3: Presentation Exchange (security.md §5 holder binding, §6 re-verify, §7 DoS).

Wallet side: descriptor maps that try to make the verifier evaluate something other than a verified
credential. Backend side (trusted-ish, but the request must still not hang): pathological filters and
definitions in an inline `presentation_definition`, refused at creation or evaluated within a time budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.adversarial.conftest import ProcessService, spawn_service
from tests.adversarial.forge import age_credential, begin, expect_rejected, submission_for_vp
from tests.e2e.actors import Wallet, WebhookReceiver
from tests.e2e.conftest import Issuers, RunningService

Factory = Callable[..., Wallet]
TIME_BUDGET = 2.0  # seconds for a whole verification, however hostile the definition


def _entry(
    descriptor: str, path: str = "$", nested: str | None = "$.vp.verifiableCredential[0]"
) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": descriptor, "format": "jwt_vp_json", "path": path}
    if nested is not None:
        entry["path_nested"] = {"id": descriptor, "format": "jwt_vc_json", "path": nested}
    return entry


def _submission(definition_id: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"id": "hostile-submission", "definition_id": definition_id, "descriptor_map": list(entries)}


def _field_definition(
    definition_id: str, claim: str, schema: dict[str, Any] | None, **field: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {"path": [f"$.vc.credentialSubject.{claim}"], **field}
    if schema is not None:
        spec["filter"] = schema
    return {"id": definition_id, "input_descriptors": [{"id": "d", "constraints": {"fields": [spec]}}]}


# --- The candidate must be a verified credential (§5, §6) --- #


@pytest.mark.parametrize("definition", ["age-over-21", "inline-without-format"])
def test_descriptor_mapped_to_the_presentation_itself(
    service: RunningService, issuers: Issuers, make_wallet: Factory, definition: str
) -> None:
    """§5/§6: self-attested claims in the holder's own VP JWT are not a credential.

    The VP carries an under-age credential from the trusted issuer and, in its own payload, a
    `vc.credentialSubject.ageOver21: true`; the submission maps the descriptor to the VP (`$`, format
    jwt_vp_json, no path_nested). Only an issuer-signed credential may satisfy a descriptor.
    """
    wallet = make_wallet()
    if definition == "age-over-21":
        created, request = begin(service, wallet)
    else:
        inline = _field_definition("self-attested", "ageOver21", {"type": "boolean", "const": True})
        created, request = begin(service, wallet, definition_id=None, presentation_definition=inline)
    descriptor = request.descriptor_ids()[0]
    under_age = issuers.trusted.issue(wallet.holder.id, {"ageOver21": False})
    answer = wallet.respond(
        request,
        [under_age],
        vp_claims={"vc": {"credentialSubject": {"ageOver21": True}}},
        submission=_submission(request.presentation_definition["id"], _entry(descriptor, nested=None)),
    )
    expect_rejected(
        service,
        created,
        answer,
        frozenset({"submission.not_a_credential"}),
    )


def test_path_nested_escapes_to_a_sibling_presentation(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§5/§6 (PE: path_nested runs inside the object its parent selected): `$[1]...` from inside VP 0
    cannot reach VP 1's credential."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    under_age = issuers.trusted.issue(wallet.holder.id, {"ageOver21": False})
    of_age = age_credential(issuers, wallet)
    entry = _entry("age_credential", path="$[0]", nested="$[1].vp.verifiableCredential[0]")
    answer = wallet.respond(
        request,
        [[under_age], [of_age]],
        descriptor_ids=["age_credential", "x"],
        submission=_submission("age-over-21", entry),
    )
    expect_rejected(service, created, answer, "submission.path_unresolved")


def test_path_nested_to_a_token_outside_verifiable_credential(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§5: only the VP's `verifiableCredential` holds credentials; a JWT under another claim is not one."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    under_age = issuers.trusted.issue(wallet.holder.id, {"ageOver21": False})
    elsewhere = age_credential(issuers, wallet)
    answer = wallet.respond(
        request,
        [under_age],
        vp_claims={"evidence": [elsewhere]},
        submission=_submission("age-over-21", _entry("age_credential", nested="$.evidence[0]")),
    )
    expect_rejected(service, created, answer, "submission.format_mismatch")


def test_descendant_wildcard_path_nested(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§6/§7: `$..verifiableCredential[*]` over two credentials names no single candidate: ambiguous."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    under_age = issuers.trusted.issue(wallet.holder.id, {"ageOver21": False})
    answer = wallet.respond(
        request,
        [[under_age, age_credential(issuers, wallet)]],
        descriptor_ids=["age_credential", "x"],
        submission=submission_for_vp(request, "$..verifiableCredential[*]"),
    )
    expect_rejected(service, created, answer, "submission.path_ambiguous")


def test_descendant_wildcard_top_level_path(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§6 (OpenID4VP d20 §6.1): the top-level path is `$` or `$[n]`, never a search through vp_token."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    entry = _entry("age_credential", path="$..verifiableCredential[*]")
    answer = wallet.respond(
        request, [age_credential(issuers, wallet)], submission=_submission("age-over-21", entry)
    )
    expect_rejected(service, created, answer, "submission.path_invalid")


@pytest.mark.parametrize(
    "path",
    ["$.vp.verifiableCredential[?(@ =~ /.*/)]", "$.vp.verifiableCredential[(@.length-1)]", "$.vp.`len`"],
    ids=["regex-filter", "script", "extension"],
)
def test_jsonpath_script_in_submission(
    service: RunningService, issuers: Issuers, make_wallet: Factory, path: str
) -> None:
    """§7 (OID4VP d20 §12.6.2, PE security): no script, regex or extension evaluation in wallet JSONPath."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    answer = wallet.respond(
        request, [age_credential(issuers, wallet)], submission=submission_for_vp(request, path_nested=path)
    )
    expect_rejected(service, created, answer, "submission.malformed", injected=[path])


THREE_QUESTIONS = {
    "id": "three-questions",
    "input_descriptors": [
        {
            "id": descriptor,
            "constraints": {
                "fields": [{"id": f"{descriptor}_claim", "path": [f"$.vc.credentialSubject.{claim}"]}]
            },
        }
        for descriptor, claim in (("age", "ageOver21"), ("name", "givenName"), ("member", "memberId"))
    ],
}


def test_one_credential_mapped_to_every_descriptor(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§6 (PE): a credential mapped to several descriptors must satisfy each; an age-only one cannot
    answer the name and membership questions."""
    wallet = make_wallet()
    created, request = begin(service, wallet, definition_id=None, presentation_definition=THREE_QUESTIONS)
    entries = [_entry(descriptor) for descriptor in ("age", "name", "member")]
    answer = wallet.respond(
        request, [age_credential(issuers, wallet)], submission=_submission("three-questions", *entries)
    )
    expect_rejected(service, created, answer, "submission.field_missing")


def test_descriptor_map_of_a_thousand_entries(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§7: a descriptor_map far beyond any definition is refused before it is walked."""
    wallet = make_wallet()
    created, request = begin(service, wallet)
    entries = [_entry("age_credential") for _ in range(1000)]
    answer = wallet.respond(
        request, [age_credential(issuers, wallet)], submission=_submission("age-over-21", *entries)
    )
    expect_rejected(service, created, answer, "submission.malformed")


# --- Backend-supplied definitions: refused at creation, or evaluated within the budget (§7) --- #


@pytest.mark.parametrize("count", [65, 5000])
def test_thousands_of_descriptors_refused_at_creation(service: RunningService, count: int) -> None:
    """§7: a definition with more input descriptors than the limit is refused with problem+json."""
    definition = {
        "id": f"many-{count}",
        "input_descriptors": [
            {"id": f"d{i}", "constraints": {"fields": [{"path": ["$.vc.credentialSubject.x"]}]}}
            for i in range(count)
        ],
    }
    answer = service.backend.post("/v1/presentations", json={"presentation_definition": definition})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "definition.too_large"


def test_deeply_nested_definition_refused_at_creation(service: RunningService) -> None:
    """§7: a definition nested 5000 levels deep is refused (no recursion error, no 5xx)."""
    deep = '{"a": ' * 5000 + "{}" + "}" * 5000
    body = '{"presentation_definition": {"id": "deep", "input_descriptors": [], "x": ' + deep + "}}"
    answer = service.backend.post(
        "/v1/presentations", content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.fixture
def process_service(tmp_path: Path, receiver: WebhookReceiver, issuers: Issuers) -> Iterator[ProcessService]:
    """A service in its own process: a regex that pins a CPU there cannot freeze this test run."""
    running = spawn_service(tmp_path, receiver, issuers.trust_file())
    try:
        yield running
    finally:
        running.kill()


def _within_budget(
    backend: httpx.Client, definition: dict[str, Any], wallet: Wallet, credential: Callable[[Wallet], str]
) -> tuple[str, httpx.Response | None, float]:
    """Create the transaction and answer it; (outcome, answer, seconds). A refusal at creation is fine."""
    start = time.monotonic()
    created = backend.post("/v1/presentations", json={"presentation_definition": definition})
    if created.status_code == 400 and created.headers["content-type"].startswith("application/problem+json"):
        return "refused", None, time.monotonic() - start
    assert created.status_code == 201, created.text
    request = wallet.fetch_request(created.json()["authorization_request_uri"])
    form = wallet.build_response(request, [credential(wallet)])
    try:
        answer = wallet.http.post(request.response_uri, data=form, timeout=TIME_BUDGET)
    except httpx.TimeoutException:
        return "timed_out", None, time.monotonic() - start
    return created.json()["transaction_id"], answer, time.monotonic() - start


def test_catastrophic_regex_filter(
    process_service: ProcessService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§7 (POLICY: regex time limits): a backend filter `pattern` with catastrophic backtracking must be
    refused at creation or evaluated within the budget — never hang the verifier."""
    definition = _field_definition("regex-bomb", "nickname", {"type": "string", "pattern": "^(a+)+$"})
    wallet = make_wallet()
    outcome, answer, seconds = _within_budget(
        process_service.backend,
        definition,
        wallet,
        lambda w: issuers.trusted.issue(w.holder.id, {"nickname": "a" * 39 + "b"}),
    )
    assert outcome != "timed_out", f"verification did not finish within {TIME_BUDGET} s"
    assert seconds < TIME_BUDGET + 1
    if outcome != "refused":
        assert answer is not None
        assert answer.status_code == 400, answer.text
        verdict = process_service.verdict(outcome)
        assert [e["code"] for e in verdict["errors"]] == ["submission.filter_failed"]


def test_huge_min_length_filter(service: RunningService, issuers: Issuers, make_wallet: Factory) -> None:
    """§7: `minLength: 10**15` costs nothing to check; the verification finishes within the budget."""
    definition = _field_definition("huge-min-length", "nickname", {"type": "string", "minLength": 10**15})
    wallet = make_wallet()
    outcome, answer, seconds = _within_budget(
        service.backend, definition, wallet, lambda w: issuers.trusted.issue(w.holder.id, {"nickname": "abc"})
    )
    assert seconds < TIME_BUDGET
    if outcome != "refused":
        assert answer is not None
        created = {"transaction_id": outcome}
        expect_rejected(service, created, answer, "submission.filter_failed")


def test_float_multiple_of_against_a_huge_integer_claim(
    service: RunningService, issuers: Issuers, make_wallet: Factory
) -> None:
    """§7: a number filter over an enormous (but valid JSON) claim decides, it does not crash."""
    definition = _field_definition("multiple-of", "points", {"type": "number", "multipleOf": 0.5})
    wallet = make_wallet()
    outcome, answer, _ = _within_budget(
        service.backend, definition, wallet, lambda w: issuers.trusted.issue(w.holder.id, {"points": 10**400})
    )
    assert answer is not None
    assert answer.status_code < 500, answer.text
    # 10**400 is a multiple of 0.5: accepted; a refusal would at least have to be a filter decision.
    verdict = service.verdict(outcome)
    assert verdict["result"] == "verified" or [e["code"] for e in verdict["errors"]] == [
        "submission.filter_failed"
    ]
