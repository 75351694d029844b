"""Published did:web examples (w3c-ccg/did-method-web): URL mapping and the example DID documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.did.did_web import did_web_url, parse_did_document

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "did-web"
URL_CASES = sorted((VECTORS / "url-mapping").glob("*.json"))
DOCUMENTS = sorted((VECTORS / "documents").glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


def test_vector_files_are_present() -> None:
    """The vector directories hold the expected files (a wrong path must not pass silently)."""
    assert len(URL_CASES) >= 3
    assert len(DOCUMENTS) >= 1


@pytest.mark.parametrize("path", URL_CASES, ids=[path.stem for path in URL_CASES])
def test_url_mapping(path: Path) -> None:
    """Each published DID maps to its published document URL (did:web "Read (Resolve)")."""
    case = _load(path)
    assert did_web_url(case["did"]) == case["expected_url"]


@pytest.mark.parametrize("path", DOCUMENTS, ids=[path.stem for path in DOCUMENTS])
def test_example_documents_parse(path: Path) -> None:
    """Each example document parses for the DID in its id; suites we do not verify with are skipped."""
    case = _load(path)
    raw = case["did_document"]
    assert raw["id"] == case["did"]
    document = parse_did_document(raw["id"], raw)
    assert document.id == case["did"]
    listed = {method["id"] for method in raw.get("verificationMethod", [])}
    assert {method.id for method in document.verification_methods} <= listed
    assert document.authentication <= {method.id for method in document.verification_methods}
