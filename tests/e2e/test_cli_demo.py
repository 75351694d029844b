"""`python -m service demo` over real HTTP: the built-in holder simulator against a running service, the
demo issuer trusted through examples/demo/trust.json, the verdict received on the demo's own loopback
webhook and checked against the JWKS."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.cli import main
from service.demo import demo_trust_file
from tests.e2e.actors import WebhookReceiver
from tests.e2e.conftest import REPO_ROOT, RunningService, start_service

EXAMPLE_TRUST = REPO_ROOT / "examples" / "demo" / "trust.json"
README_TRUST = REPO_ROOT / "tests" / "fixtures" / "demo" / "trust.json"


@pytest.fixture(scope="module")
def demo_service(
    tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver
) -> Iterator[RunningService]:
    """A development service trusting exactly what examples/demo/trust.json says."""
    running = start_service(tmp_path_factory.mktemp("demo"), receiver, json.loads(EXAMPLE_TRUST.read_text()))
    yield running
    running.stop()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _claims(out: str) -> dict[str, object]:
    """The verdict claims: the JSON object the demo prints last."""
    return dict(json.loads(out[out.index("\n{") + 1 :]))


def test_the_example_trust_file_admits_the_demo_issuer() -> None:
    """examples/demo/trust.json is what `demo --print-trust` prints, and names the README walkthrough's
    issuer too (one public demo seed)."""
    assert json.loads(EXAMPLE_TRUST.read_text()) == demo_trust_file()
    [demo] = demo_trust_file()["issuers"]
    [readme] = json.loads(README_TRUST.read_text())["issuers"]
    assert demo["id"] == readme["id"]


@pytest.mark.parametrize("definition", ["age-over-18", "age-over-21", "sign-in", "sign-in-over-18"])
def test_demo_runs_the_whole_flow(
    demo_service: RunningService, capsys: pytest.CaptureFixture[str], definition: str
) -> None:
    code, out, err = _run(capsys, "demo", "--url", demo_service.url, "--definition", definition)
    assert code == 0, out + err
    for step in (
        "1. backend: POST",
        "2. wallet: GET",
        "request object checked: signed by did:key:",
        "3. wallet: POST",
        "HTTP 200 {}",
        "4. webhook: presentation.verified",
    ):
        assert step in out, (step, out)
    assert f"the verdict's signature checks out against {demo_service.url}/.well-known/jwks.json" in out
    claims = _claims(out)
    assert claims["result"] == "verified"
    assert claims["definition_id"] == definition
    assert claims["correlation_id"] == "demo"
    assert claims["iss"] == demo_service.url


def test_an_under_age_holder_exits_1_with_a_rejected_verdict(
    demo_service: RunningService, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "demo", "--url", demo_service.url, "--under-age")
    assert code == 1
    assert "4. webhook: presentation.rejected" in out
    claims = _claims(out)
    assert claims["result"] == "rejected"
    assert [error["code"] for error in claims["errors"]] == ["submission.filter_failed"]  # type: ignore[attr-defined]


def test_a_service_not_trusting_the_demo_issuer_gets_a_hint(
    service: RunningService, capsys: pytest.CaptureFixture[str]
) -> None:
    """The e2e suite's shared service trusts its own issuers only: rejected, and the demo says why."""
    code, out, err = _run(capsys, "demo", "--url", service.url)
    assert code == 1
    assert [error["code"] for error in _claims(out)["errors"]] == ["credential.untrusted_issuer"]  # type: ignore[attr-defined]
    assert "hint: the service does not trust the demo issuer: start it with VERIFIER_TRUST_FILE=" in err


def test_a_definition_the_demo_wallet_cannot_answer_is_a_clear_error(
    demo_service: RunningService, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "demo", "--url", demo_service.url, "--definition", "age-over-18-sd-jwt")
    assert code == 1
    assert "the demo wallet holds only a jwt_vc_json age credential" in err


def test_no_service_listening_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "demo", "--url", "http://127.0.0.1:9", "--timeout", "1")
    assert code == 1
    assert "Cannot reach the verifier at http://127.0.0.1:9" in err


def test_link_mode_answers_someone_elses_transaction(
    demo_service: RunningService, capsys: pytest.CaptureFixture[str]
) -> None:
    """`demo --link` plays only the wallet (the playground's "no wallet at hand" command)."""
    created = demo_service.create(definition_id="age-over-18", correlation_id="linked")
    code, out, err = _run(capsys, "demo", "--link", created["authorization_request_uri"])
    assert code == 0, out + err
    assert "1. backend" not in out
    assert "3. wallet: POST" in out
    verdict = demo_service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified"
    assert verdict["correlation_id"] == "linked"


def test_print_trust_and_the_module_entry_point(tmp_path: Path) -> None:
    """`python -m service demo --print-trust` in a subprocess: the console entry point is wired."""
    done = subprocess.run(
        [sys.executable, "-m", "service", "demo", "--print-trust"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == demo_trust_file()
