"""The checked-in OpenAPI document is the one the app generates (regenerate with `make openapi`)."""

from __future__ import annotations

import json
from pathlib import Path

from service.__main__ import openapi_document

OPENAPI_FILE = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_openapi_document_has_not_drifted() -> None:
    """A route or schema change without `make openapi` fails here."""
    assert json.loads(openapi_document()) == json.loads(OPENAPI_FILE.read_text())


def test_openapi_documents_both_faces() -> None:
    """The document covers the backend API and the wallet endpoints."""
    paths = json.loads(OPENAPI_FILE.read_text())["paths"]
    expected = (
        "/v1/presentations",
        "/v1/definitions",
        "/.well-known/jwks.json",
        "/wallet/responses/{handle}",
    )
    for path in expected:
        assert path in paths
