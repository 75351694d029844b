"""Start-up: a bad deployment fails to boot with a ConfigurationError that says what is wrong, and a good one
comes up with the keys, definitions and documents it should have."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from service.__main__ import openapi_document
from service.app import create_app
from service.errors import ConfigurationError
from service.keys import dump_keyring, generate_keyring
from service.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = REPO_ROOT / "definitions"
API_KEY = "startup-test-key"
GOOD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PD_WRAPPER: dict[str, Any] = {
    "presentation_definition": {
        "id": "member",
        "input_descriptors": [
            {"id": "m", "constraints": {"fields": [{"path": ["$.vc.credentialSubject.memberId"]}]}}
        ],
    }
}


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "definitions_dir": str(DEFINITIONS),
        "keyring_path": str(tmp_path / "var" / "keyring.json"),
        "webhook_url": "http://127.0.0.1:9/hook",
        "api_keys": (API_KEY,),
    }
    values.update(overrides)
    return load_settings({}, **values)


def _boot_error(settings: Settings, **kwargs: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings, **kwargs)
    return caught.value


@contextmanager
def _client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    """An in-process client (its peer is "testclient", not loopback) that presents the API key."""
    with TestClient(app) as client:
        client.headers["authorization"] = f"Bearer {API_KEY}"
        yield client


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    """A copy of the shipped definitions, to add a bad one to."""
    folder = tmp_path / "definitions"
    folder.mkdir()
    for path in DEFINITIONS.glob("*.json"):
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


# --- Definitions --- #


def test_shipped_definitions_boot(tmp_path: Path) -> None:
    """The definitions in the repository load (the baseline the broken cases differ from)."""
    app = create_app(_settings(tmp_path), keyring=generate_keyring())
    with _client(app) as client:
        assert {d["id"] for d in client.get("/v1/definitions").json()} >= {
            "age-over-18",
            "age-over-21",
            "age-over-18-sd-jwt",
            "age-over-21-sd-jwt",
        }


def test_extra_good_definition_is_served(tmp_path: Path, definitions: Path) -> None:
    """A new valid <id>.json in definitions_dir is listed after start-up."""
    (definitions / "member.json").write_text(json.dumps(PD_WRAPPER))
    app = create_app(_settings(tmp_path, definitions_dir=str(definitions)), keyring=generate_keyring())
    with _client(app) as client:
        assert client.get("/v1/definitions/member").json()["presentation_definition"]["id"] == "member"


BROKEN_DEFINITIONS: dict[str, tuple[str, str]] = {
    "invalid_json": ('{"presentation_definition": {"id": "broken", ', "definition.malformed"),
    "stem_is_not_id": (json.dumps(PD_WRAPPER), "definition.id_mismatch"),
    "unsupported_feature": (
        json.dumps(
            {
                "presentation_definition": {
                    "id": "broken",
                    "input_descriptors": [{"id": "a", "constraints": {"is_holder": [{"field_id": ["x"]}]}}],
                }
            }
        ),
        "definition.unsupported_feature",
    ),
    "bad_jsonpath": (
        json.dumps(
            {
                "presentation_definition": {
                    "id": "broken",
                    "input_descriptors": [{"id": "a", "constraints": {"fields": [{"path": ["$..[[["]}]}}],
                }
            }
        ),
        "definition.invalid_path",
    ),
    "no_envelope": (
        json.dumps(PD_WRAPPER["presentation_definition"] | {"id": "broken"}),
        "definition.malformed",
    ),
    "empty_trusted_issuers": (
        json.dumps(
            {
                **PD_WRAPPER,
                "presentation_definition": PD_WRAPPER["presentation_definition"] | {"id": "broken"},
                "trusted_issuers": [],
            }
        ),
        "definition.malformed",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_DEFINITIONS))
def test_broken_definition_fails_start_up(tmp_path: Path, definitions: Path, case: str) -> None:
    """A broken definition file stops start-up with its own code and the file's name."""
    text, reason = BROKEN_DEFINITIONS[case]
    (definitions / "broken.json").write_text(text)
    error = _boot_error(_settings(tmp_path, definitions_dir=str(definitions)), keyring=generate_keyring())
    assert error.reason == reason
    assert "broken.json" in error.description


def test_missing_definitions_dir_fails_start_up(tmp_path: Path) -> None:
    """A definitions_dir that does not exist is a configuration error."""
    error = _boot_error(
        _settings(tmp_path, definitions_dir=str(tmp_path / "nowhere")), keyring=generate_keyring()
    )
    assert error.reason == "definition.unreadable"


# --- Keyring --- #


def test_production_without_keyring_fails_start_up(tmp_path: Path) -> None:
    """Production never generates keys: no keyring file means no start."""
    settings = _settings(tmp_path, environment="production", webhook_url="https://rp.example/hook")
    error = _boot_error(settings)
    assert error.reason == "config.keyring"
    assert not (tmp_path / "var" / "keyring.json").exists()


def test_development_generates_private_keyring_and_reuses_it(tmp_path: Path) -> None:
    """Development writes a 0600 keyring at keyring_path once and the next start uses the same keys."""
    settings = _settings(tmp_path)
    keyring_file = tmp_path / "var" / "keyring.json"
    with _client(create_app(settings)) as client:
        first = client.get("/.well-known/jwks.json").json()
        created = client.post("/v1/presentations", json={"definition_id": "age-over-21"}).json()
    assert keyring_file.exists()
    assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
    content = keyring_file.read_text()
    assert set(json.loads(content)) == {"signing", "sealing"}
    with _client(create_app(settings)) as client:
        assert client.get("/.well-known/jwks.json").json() == first
        # A transaction sealed by the first start still opens: replicas sharing a keyring serve each other.
        request_path = "/wallet/requests/" + created["request_uri"].rpartition("/wallet/requests/")[2]
        assert client.get(request_path).status_code == 200
    assert keyring_file.read_text() == content
    assert [k["kid"] for k in first["keys"]] == [json.loads(content)["signing"][0]["kid"]]


def test_keyring_json_takes_precedence(tmp_path: Path) -> None:
    """keyring_json (a mounted secret) is used instead of the file, and no file is written."""
    keyring = generate_keyring()
    settings = _settings(tmp_path, environment="production", keyring_json=dump_keyring(keyring))
    with _client(create_app(settings)) as client:
        assert client.get("/.well-known/jwks.json").json() == keyring.jwks()
    assert not (tmp_path / "var" / "keyring.json").exists()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"signing": [], "sealing": []}',
        '{"signing": [{"kid": "a", "private_key_pem": "x"}], "sealing": []}',
    ],
    ids=["not_json", "empty", "bad_pem"],
)
def test_invalid_keyring_fails_start_up(tmp_path: Path, text: str) -> None:
    """An unusable keyring file is a configuration error, never silently replaced."""
    keyring_file = tmp_path / "var" / "keyring.json"
    keyring_file.parent.mkdir()
    keyring_file.write_text(text)
    assert _boot_error(_settings(tmp_path)).reason == "config.keyring"
    assert keyring_file.read_text() == text


# --- Algorithms, trust, webhooks, settings --- #


@pytest.mark.parametrize(
    ("field", "algs"),
    [
        ("holder_algs", ("ES256", "none")),
        ("holder_algs", ("HS256",)),
        ("issuer_algs", ("EdDSA", "HS512")),
        ("issuer_algs", ("none",)),
    ],
)
def test_unsafe_algorithms_fail_start_up(tmp_path: Path, field: str, algs: tuple[str, ...]) -> None:
    """`none` and HMAC algorithms can never be configured for holders or issuers."""
    error = _boot_error(_settings(tmp_path, **{field: algs}), keyring=generate_keyring())
    assert error.reason == "config.algorithms"


TRUST_FILES: dict[str, str] = {
    "not_json": "{issuers:",
    "unknown_member": json.dumps({"issuers": [], "extra": 1}),
    "not_a_list": json.dumps({"issuers": {"id": "did:key:z6Mk"}}),
    "non_did_without_jwks": json.dumps({"issuers": [{"id": "https://issuer.example"}]}),
    "duplicate_issuer": json.dumps({"issuers": [{"id": "did:key:z6Mkx"}, {"id": "did:key:z6Mkx"}]}),
    "jwks_without_keys": json.dumps({"issuers": [{"id": "did:key:z6Mkx", "jwks": {"keys": []}}]}),
    "private_jwk": json.dumps(
        {
            "issuers": [
                {
                    "id": "https://issuer.example",
                    "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "A" * 43, "d": "B" * 43}]},
                }
            ]
        }
    ),
}


@pytest.mark.parametrize("case", sorted(TRUST_FILES))
def test_invalid_trust_file_fails_start_up(tmp_path: Path, case: str) -> None:
    """A trust file that is not valid stops start-up with config.trust."""
    trust = tmp_path / "trust.json"
    trust.write_text(TRUST_FILES[case])
    error = _boot_error(_settings(tmp_path, trust_file=str(trust)), keyring=generate_keyring())
    assert error.reason == "config.trust"


def test_missing_trust_file_fails_start_up(tmp_path: Path) -> None:
    """A configured trust file that does not exist is an error, not an empty trust list."""
    error = _boot_error(
        _settings(tmp_path, trust_file=str(tmp_path / "absent.json")), keyring=generate_keyring()
    )
    assert error.reason == "config.trust"


@pytest.mark.parametrize(
    "secret", ["whsec_!!!not-base64!!!", "whsec_c2hvcnQ="], ids=["not_base64", "too_short"]
)
def test_invalid_webhook_secret_fails_start_up(tmp_path: Path, secret: str) -> None:
    """A webhook secret that is not base64 or under 24 bytes fails at start-up, not at the first verdict."""
    error = _boot_error(
        _settings(tmp_path, webhook_secrets=(GOOD_SECRET, secret)), keyring=generate_keyring()
    )
    assert error.reason == "webhook.secret_invalid"


def test_retry_delays_out_of_order_fail_start_up(tmp_path: Path) -> None:
    """A base retry delay above the maximum is refused."""
    settings = _settings(tmp_path, webhook_base_delay=10.0, webhook_max_delay=1.0)
    assert _boot_error(settings, keyring=generate_keyring()).reason == "config.webhook"


@pytest.mark.parametrize(
    ("environ", "overrides"),
    [
        ({"VERIFIER_PORT": "eighty"}, {}),
        ({"VERIFIER_ENVIRONMENT": "staging"}, {}),
        ({"VERIFIER_CLOCK_SKEW": "601"}, {}),
        ({"VERIFIER_TRANSACTION_TTL": "0"}, {}),
        ({"VERIFIER_CLIENT_ID_SCHEME": "pre-registered"}, {}),
        ({}, {"no_such_setting": True}),
    ],
    ids=["port", "environment", "clock_skew", "ttl", "scheme", "unknown"],
)
def test_invalid_settings(environ: dict[str, str], overrides: dict[str, Any]) -> None:
    """Settings out of range or unknown are a config.invalid ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ, **overrides)
    assert caught.value.reason == "config.invalid"


def test_settings_from_environment() -> None:
    """VERIFIER_* variables are read, lists split on commas, booleans parsed, overrides win."""
    settings = load_settings(
        {
            "VERIFIER_API_KEYS": "k1, k2,,",
            "VERIFIER_ALLOW_LOOPBACK_WITHOUT_KEY": "false",
            "VERIFIER_PORT": "9000",
            "VERIFIER_TRANSACTION_TTL": "120",
            "OTHER_PORT": "1",
        },
        transaction_ttl=60,
    )
    assert settings.api_keys == ("k1", "k2")
    assert settings.allow_loopback_without_key is False
    assert settings.port == 9000
    assert settings.transaction_ttl == 60


# --- The console entry point --- #


def _child_env(**values: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("VERIFIER_")}
    return env | values


def test_entry_point_exits_2_on_configuration_error(tmp_path: Path) -> None:
    """`python -m service` with an unusable configuration exits 2 naming the reason, without a traceback."""
    env = _child_env(
        VERIFIER_ENVIRONMENT="production",
        VERIFIER_KEYRING_PATH=str(tmp_path / "absent.json"),
        VERIFIER_DEFINITIONS_DIR=str(DEFINITIONS),
        VERIFIER_PORT="0",
    )
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "configuration error: config.keyring" in result.stderr
    assert "Traceback" not in result.stderr


def test_served_process_freezes_its_start_up_heap(tmp_path: Path) -> None:
    """`serve` moves the start-up objects out of the collector's reach before the server runs, so a full
    collection no longer pauses the event loop for all of them (service/__main__.py). The child replaces
    only the server (uvicorn.run) with a probe that reports what it found."""
    script = (
        "import gc, sys\n"
        "import service.__main__ as entry\n"
        "entry.uvicorn.run = lambda *args, **kwargs: print(gc.get_freeze_count())\n"
        "sys.exit(entry.serve())\n"
    )
    env = _child_env(
        VERIFIER_KEYRING_PATH=str(tmp_path / "var" / "keyring.json"),
        VERIFIER_DEFINITIONS_DIR=str(DEFINITIONS),
        VERIFIER_WEBHOOK_URL="http://127.0.0.1:9/hook",
        VERIFIER_API_KEYS=API_KEY,
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    frozen = int(result.stdout)
    assert frozen > 10_000  # the app and its modules, not a handful of objects


@pytest.fixture
def openapi() -> dict[str, Any]:
    return json.loads(openapi_document())


def test_openapi_document(openapi: dict[str, Any]) -> None:
    """`python -m service openapi` documents the backend and wallet paths with their methods."""
    paths = openapi["paths"]
    assert "post" in paths["/v1/presentations"]
    assert "post" in paths["/wallet/responses/{handle}"]
    assert "get" in paths["/wallet/requests/{handle}"]
    assert "get" in paths["/v1/definitions"]
    assert openapi["openapi"].startswith("3.")


def test_openapi_command_prints_the_document(tmp_path: Path) -> None:
    """`python -m service openapi` prints the same document and exits 0, whatever the environment says."""
    env = _child_env(VERIFIER_ENVIRONMENT="production", VERIFIER_KEYRING_PATH=str(tmp_path / "absent.json"))
    result = subprocess.run(
        [sys.executable, "-m", "service", "openapi"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(openapi_document())
