"""The operator docs stay true: docs/configuration.md is what the generator makes from Settings, every
setting is documented, and the Kubernetes sidecar example is valid YAML with the hardening it promises."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from service.keys import load_keyring
from service.settings import ENV_PREFIX, Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
REGENERATE = "python docs/generate_config_reference.py > docs/configuration.md"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_config_reference", DOCS / "generate_config_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _generator()


def test_configuration_reference_is_up_to_date(generator: ModuleType) -> None:
    expected = generator.generate()
    current = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert current == expected, (
        f"docs/configuration.md is out of date with service/settings.py; run: {REGENERATE}"
    )


def test_generator_is_deterministic(generator: ModuleType) -> None:
    assert generator.generate() == generator.generate()


def test_check_flag_reports_drift(generator: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert generator.main(["--check"]) == 0
    original = generator.OUTPUT
    try:
        generator.OUTPUT = DOCS / "does-not-exist.md"
        assert generator.main(["--check"]) == 1
    finally:
        generator.OUTPUT = original
    assert "run: python docs/generate_config_reference.py" in capsys.readouterr().err


def test_every_setting_has_a_docstring(generator: ModuleType) -> None:
    source = (REPO_ROOT / "service" / "settings.py").read_text(encoding="utf-8")
    docs = generator.field_docstrings(source)
    missing = [name for name in Settings.__struct_fields__ if not docs.get(name, "").strip()]
    assert not missing, f"Settings fields without an attribute docstring: {missing}"


def test_every_setting_appears_with_its_environment_variable() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for name in Settings.__struct_fields__:
        assert f"| `{name}` | `{ENV_PREFIX}{name.upper()}` |" in text, name
    assert "**undocumented**" not in text


# --- docs/deployment/kubernetes-sidecar.yaml --- #


def _documents() -> list[dict[str, Any]]:
    text = (DOCS / "deployment" / "kubernetes-sidecar.yaml").read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _verifier_container() -> tuple[dict[str, Any], dict[str, Any]]:
    workload = next(doc for doc in _documents() if doc["kind"] in {"Deployment", "Pod"})
    pod_spec = workload["spec"]["template"]["spec"] if workload["kind"] == "Deployment" else workload["spec"]
    verifier = next(c for c in pod_spec["containers"] if c["image"].split(":")[0].endswith("siop-verifier"))
    return pod_spec, verifier


def test_sidecar_manifest_parses_and_runs_two_containers() -> None:
    kinds = {doc["kind"] for doc in _documents()}
    assert {"ConfigMap", "Deployment"} <= kinds
    pod_spec, _ = _verifier_container()
    assert len(pod_spec["containers"]) == 2


def test_sidecar_manifest_configuration() -> None:
    pod_spec, verifier = _verifier_container()
    assert {"containerPort": 8080, "name": "verifier", "protocol": "TCP"} in verifier["ports"]
    env = {item["name"]: item for item in verifier["env"]}
    assert env["VERIFIER_ENVIRONMENT"]["value"] == "production"
    assert env["VERIFIER_KEYRING_PATH"]["value"] == "/run/secrets/keyring.json"
    assert "VERIFIER_STORE_URL" in env
    assert any("configMapRef" in source for source in verifier["envFrom"])
    # Every VERIFIER_* name in the manifest is a real setting.
    config_map = next(doc for doc in _documents() if doc["kind"] == "ConfigMap")
    names = set(env) | set(config_map["data"])
    known = {ENV_PREFIX + field.upper() for field in Settings.__struct_fields__}
    assert names <= known, names - known


def test_sidecar_manifest_keyring_is_a_read_only_secret() -> None:
    pod_spec, verifier = _verifier_container()
    mount = next(m for m in verifier["volumeMounts"] if m["mountPath"] == "/run/secrets/keyring.json")
    assert mount["readOnly"] is True
    assert mount["subPath"] == "keyring.json"
    volume = next(v for v in pod_spec["volumes"] if v["name"] == mount["name"])
    assert "secretName" in volume["secret"]


def test_sidecar_manifest_probes_resources_and_hardening() -> None:
    pod_spec, verifier = _verifier_container()
    assert verifier["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert verifier["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert {"cpu", "memory"} <= set(verifier["resources"]["limits"])
    security = verifier["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod_spec["automountServiceAccountToken"] is False


# --- docs/key-rotation.md and docs/troubleshooting.md --- #


def test_key_rotation_one_liners_run_in_order(tmp_path: Path) -> None:
    """Every `python -c '…' keyring.json` snippet of the runbook works, in the order written."""
    text = (DOCS / "key-rotation.md").read_text(encoding="utf-8")
    snippets = re.findall(r"python -c '(.*?)'( > keyring\.json| keyring\.json)", text, flags=re.DOTALL)
    assert len(snippets) >= 5
    keyring = tmp_path / "keyring.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    outputs = []
    for code, target in snippets:
        args = [sys.executable, "-c", code] + ([] if target.startswith(" >") else [str(keyring)])
        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
        if target.startswith(" >"):
            keyring.write_text(done.stdout, encoding="utf-8")
        outputs.append(done.stdout)
    staged = next(line for out in outputs for line in out.splitlines() if line.startswith("staged"))
    final = load_keyring(keyring.read_text(encoding="utf-8"))
    assert len(final.signing) == 1
    assert len(final.sealing) == 1
    assert staged.split()[2] == final.active_signing.kid
    assert staged.split()[4] == final.active_sealing.kid


def test_troubleshooting_covers_enough_reason_codes() -> None:
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    first_cells = re.findall(r"^\| ([^|]+) \|", text, flags=re.MULTILINE)
    codes = {code for cell in first_cells for code in re.findall(r"`([a-z_]+\.[a-z_0-9]+)`", cell)}
    assert len(codes) >= 40, len(codes)
    for group in (
        "transaction.",
        "id_token.",
        "presentation.",
        "credential.",
        "submission.",
        "holder_binding.",
    ):
        assert any(code.startswith(group) for code in codes), group
