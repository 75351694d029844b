"""API fuzzing: schemathesis drives every operation of the checked-in openapi/openapi.json against the real
service (tests/e2e start_service: uvicorn on a loopback port) and checks each answer.

    .venv/bin/pytest fuzz/test_schemathesis.py -p no:cacheprovider     # 25 cases per operation
    FUZZ_API_EXAMPLES=1000 .venv/bin/pytest fuzz/test_schemathesis.py  # a longer run (campaign: 500)

Checks: no 5xx (`not_a_server_error`), the body matches the documented response schema
(`response_schema_conformance`), the status code and content type are documented ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.actors import WebhookReceiver
from tests.e2e.conftest import RunningService, start_service

REPO = Path(__file__).resolve().parents[1]
_ENV = os.environ  # noqa: TID251 (a test harness, not the service)
_DEFAULT = "500" if _ENV.get("HYPOTHESIS_PROFILE") == "campaign" else "25"
EXAMPLES = int(_ENV.get("FUZZ_API_EXAMPLES", _DEFAULT))
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]

schema = schemathesis.openapi.from_path(REPO / "openapi" / "openapi.json")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with WebhookReceiver() as receiver:
        running = start_service(tmp_path_factory.mktemp("api"), receiver, {"issuers": []})
        try:
            yield running
        finally:
            running.stop()


def _documented_store_refusal(case: schemathesis.Case, status: int, body: bytes) -> bool:
    """501 `store.required` is the documented answer of store-backed operations on a store-less replica."""
    documented = str(status) in (case.operation.definition.raw.get("responses") or {})
    return status == 501 and documented and b'"store.required"' in body


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None)
def test_api(case: schemathesis.Case, api: RunningService) -> None:
    """Every documented operation, with schema-driven inputs: documented answers only, never a 5xx."""
    response = case.call(base_url=api.url)
    checks = CHECKS
    if _documented_store_refusal(case, response.status_code, response.content):
        checks = [check for check in CHECKS if check is not not_a_server_error]
    case.validate_response(response, checks=checks)
