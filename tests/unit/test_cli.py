"""The operator CLI: keyring files, definitions validation and verdict verification."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from service.cli import main
from service.jose.encoding import b64url_decode, b64url_encode
from service.keys import Keyring, dump_keyring, generate_keyring, load_keyring
from service.verdict import CredentialEntry, HolderEntry, VerdictContext, sign_verdict, verified_verdict

REPO = Path(__file__).resolve().parents[2]
CONTEXT = VerdictContext(
    issuer="https://verifier.example.com",
    transaction_id="txn_cli",
    definition_id="age-over-21",
    correlation_id="order-1",
)
HOLDER = HolderEntry(id="did:key:z6MkHolder", method="did")
CREDENTIAL = CredentialEntry(
    descriptor_id="age_credential",
    format="jwt_vc_json",
    issuer="did:key:z6MkIssuer",
    types=["VerifiableCredential", "AgeCredential"],
    claims={"age_over_21": True},
    status="no_status",
)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _write_keyring(path: Path, keyring: Keyring) -> Path:
    path.write_text(dump_keyring(keyring))
    return path


# --- dispatch --- #


def test_serve_is_the_default_and_is_handed_in(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []

    def serve() -> int:
        calls.append("serve")
        return 0

    def openapi() -> int:
        calls.append("openapi")
        return 0

    assert main([], serve=serve, openapi=openapi) == 0
    assert main(["serve"], serve=serve, openapi=openapi) == 0
    assert main(["openapi"], serve=serve, openapi=openapi) == 0
    assert calls == ["serve", "serve", "openapi"]
    assert main(["serve"]) == 2
    assert "not available" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["frobnicate"], ["keys"], ["keys", "shred"], ["verdict", "verify", "x"]])
def test_unknown_commands_and_bad_usage_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "usage:" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    assert "keys generate" in out


# --- keys --- #


def test_keys_generate_writes_an_owner_only_keyring(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "secrets" / "keyring.json"
    code, out, err = _run(capsys, "keys", "generate", "--out", str(path))
    assert (code, err) == (0, "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keyring = load_keyring(path.read_text())
    report = json.loads(out)
    assert report["keyring"] == str(path)
    assert report["signing"] == [keyring.active_signing.kid]
    assert report["sealing"] == [keyring.active_sealing.kid]
    assert "PRIVATE" not in out


def test_keys_generate_refuses_to_overwrite_without_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write_keyring(tmp_path / "keyring.json", generate_keyring())
    before = path.read_text()
    code, out, err = _run(capsys, "keys", "generate", "--out", str(path))
    assert code == 2
    assert out == ""
    assert "--force" in err
    assert path.read_text() == before

    code, _, _ = _run(capsys, "keys", "generate", "--out", str(path), "--force")
    assert code == 0
    assert path.read_text() != before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    load_keyring(path.read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]  # no temp file left behind


def test_keys_rotate_puts_new_keys_first_and_keeps_the_old(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    old = generate_keyring()
    path = _write_keyring(tmp_path / "keyring.json", old)
    code, out, err = _run(capsys, "keys", "rotate", "--keyring", str(path))
    assert (code, err) == (0, "")
    rotated = load_keyring(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    report = json.loads(out)
    new_signing, new_sealing = report["new"]["signing"], report["new"]["sealing"]
    assert [key.kid for key in rotated.signing] == [new_signing, old.active_signing.kid]
    assert [key.kid for key in rotated.sealing] == [new_sealing, old.active_sealing.kid]
    assert rotated.sealing[1].key == old.active_sealing.key
    assert rotated.signing[1].public == old.active_signing.public

    code, out, _ = _run(capsys, "keys", "jwks", "--keyring", str(path))
    assert code == 0
    assert [jwk["kid"] for jwk in json.loads(out)["keys"]] == [new_signing, old.active_signing.kid]


def test_keys_jwks_prints_only_public_members(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    keyring = generate_keyring()
    path = _write_keyring(tmp_path / "keyring.json", keyring)
    code, out, _ = _run(capsys, "keys", "jwks", "--keyring", str(path))
    assert code == 0
    jwks = json.loads(out)
    assert jwks == keyring.jwks()
    for jwk in jwks["keys"]:
        assert set(jwk) <= {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert "PRIVATE" not in out


def test_keys_on_a_missing_or_broken_keyring_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(capsys, "keys", "jwks", "--keyring", str(tmp_path / "absent.json"))
    assert code == 2
    assert "absent.json" in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"signing": []}')
    code, _, err = _run(capsys, "keys", "rotate", "--keyring", str(broken))
    assert code == 2
    assert "config.keyring" in err
    assert broken.read_text() == '{"signing": []}'


# --- definitions --- #


def test_definitions_validate_the_shipped_folder(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "definitions", "validate", str(REPO / "definitions"))
    assert (code, err) == (0, "")
    expected = sorted(path.stem for path in (REPO / "definitions").glob("*.json"))
    assert out.splitlines() == expected
    assert "age-over-21" in expected


def test_definitions_validate_defaults_to_the_configured_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("VERIFIER_DEFINITIONS_DIR", raising=False)
    code, out, _ = _run(capsys, "definitions", "validate")
    assert code == 0
    assert "age-over-21" in out.splitlines()


def test_definitions_validate_names_the_broken_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "age-over-21.json").write_bytes((REPO / "definitions" / "age-over-21.json").read_bytes())
    (tmp_path / "oops.json").write_text('{"presentation_definition": {"id": "oops"}, "surprise": 1}')
    code, out, err = _run(capsys, "definitions", "validate", str(tmp_path))
    assert code == 1
    assert out == ""
    assert err.startswith("definition.malformed: oops.json")


def test_definitions_validate_a_missing_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "definitions", "validate", str(tmp_path / "nowhere"))
    assert code == 1
    assert "definition.unreadable" in err


# --- verdict --- #


@pytest.fixture(scope="module")
def keyring() -> Keyring:
    return generate_keyring()


@pytest.fixture
def verdict(keyring: Keyring) -> str:
    return sign_verdict(
        verified_verdict(CONTEXT, now=1_700_000_000, holder=HOLDER, credentials=[CREDENTIAL]), keyring
    )


@pytest.fixture
def jwks_file(tmp_path: Path, keyring: Keyring) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keyring.jwks()))
    return path


def test_verdict_verify_with_a_jwks_file(
    capsys: pytest.CaptureFixture[str], verdict: str, jwks_file: Path
) -> None:
    code, out, err = _run(capsys, "verdict", "verify", verdict, "--jwks", str(jwks_file))
    assert (code, err) == (0, "")
    claims = json.loads(out)
    assert claims["result"] == "verified"
    assert claims["txn"] == "txn_cli"
    assert claims["credentials"][0]["claims"] == {"age_over_21": True}


def test_verdict_verify_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, verdict: str, jwks_file: Path
) -> None:
    monkeypatch.setattr("sys.stdin", _Stdin(verdict + "\n"))
    code, out, _ = _run(capsys, "verdict", "verify", "-", "--jwks", str(jwks_file))
    assert code == 0
    assert json.loads(out)["correlation_id"] == "order-1"


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def read(self) -> str:
        return self.text


def _tamper_payload(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["result"] = "rejected"
    return ".".join([header, b64url_encode(json.dumps(claims).encode()), signature])


def _with_header(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    fields = {**json.loads(b64url_decode(header)), **changes}
    return ".".join([b64url_encode(json.dumps(fields).encode()), payload, signature])


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (_tamper_payload, "verdict.bad_signature"),
        (lambda token: _with_header(token, typ="JWT"), "verdict.wrong_typ"),
        (lambda token: _with_header(token, kid="someone-else"), "verdict.unknown_kid"),
        (lambda token: _with_header(token, alg="ES512"), "verdict.alg_not_allowed"),
        (lambda token: _with_header(token, alg="none"), "verdict.alg_not_allowed"),
        (lambda token: _with_header(token, alg="EdDSA"), "verdict.alg_key_mismatch"),
        (lambda token: token.rsplit(".", 1)[0], "verdict.malformed"),
    ],
)
def test_verdict_verify_refuses(
    capsys: pytest.CaptureFixture[str], verdict: str, jwks_file: Path, mutate: Any, reason: str
) -> None:
    code, out, err = _run(capsys, "verdict", "verify", mutate(verdict), "--jwks", str(jwks_file))
    assert code == 1
    assert out == ""
    assert err.startswith(reason)


def test_verdict_verify_with_another_keyring_fails(
    capsys: pytest.CaptureFixture[str], verdict: str, tmp_path: Path, keyring: Keyring
) -> None:
    # Same kid, different key: only the signature check can tell.
    other = generate_keyring().jwks()["keys"][0]
    other["kid"] = keyring.active_signing.kid
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"keys": [other]}))
    code, _, err = _run(capsys, "verdict", "verify", verdict, "--jwks", str(path))
    assert code == 1
    assert err.startswith("verdict.bad_signature")


@pytest.mark.parametrize("content", ["not json", '{"no": "keys"}', '{"keys": [{"kid": "x", "d": "secret"}]}'])
def test_verdict_verify_with_a_bad_jwks(
    capsys: pytest.CaptureFixture[str], verdict: str, tmp_path: Path, keyring: Keyring, content: str
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content.replace('"x"', json.dumps(keyring.active_signing.kid)))
    code, out, err = _run(capsys, "verdict", "verify", verdict, "--jwks", str(path))
    assert code == 1
    assert out == ""
    assert err


@pytest.fixture
def jwks_server(keyring: Keyring) -> Iterator[str]:
    body = json.dumps(keyring.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/.well-known/jwks.json":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_verdict_verify_with_a_jwks_url(
    capsys: pytest.CaptureFixture[str], verdict: str, jwks_server: str
) -> None:
    code, out, err = _run(
        capsys, "verdict", "verify", verdict, "--jwks", f"{jwks_server}/.well-known/jwks.json"
    )
    assert (code, err) == (0, "")
    assert json.loads(out)["result"] == "verified"

    code, out, err = _run(capsys, "verdict", "verify", verdict, "--jwks", f"{jwks_server}/missing")
    assert code == 1
    assert out == ""
    assert "cannot fetch JWKS" in err
