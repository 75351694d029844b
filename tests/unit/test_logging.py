"""Log redaction: secret-named fields are dropped and JWT-looking strings masked, ids and reasons kept."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.jose.jws import sign_jws
from service.logging import redact

JWT = sign_jws({"typ": "JWT"}, {"iss": "did:key:z6MkHolder", "nonce": "n-0S6"}, Ed25519PrivateKey.generate())


def _redact(**event: Any) -> dict[str, Any]:
    return dict(redact(None, "info", dict(event)))


class TestRedact:
    @pytest.mark.parametrize(
        "name",
        [
            "id_token",
            "vp_token",
            "token",
            "access_token",
            "jwt",
            "request_jws",
            "client_secret",
            "webhook_secret",
            "password",
            "authorization",
            "api_key",
            "private",
            "nonce",
            "claims",
            "disclosed_claim",
            "disclosure",
            "vp",
            "vc",
            "sub_jwk",
            "key_material",
            "ID_TOKEN",
        ],
    )
    def test_sensitive_field_dropped(self, name: str) -> None:
        """A field whose name says token, secret, key or claim has its value replaced."""
        event = _redact(event="presentation.received", **{name: "value-123"})
        assert event[name] == "[redacted]"
        assert event["event"] == "presentation.received"

    def test_structured_sensitive_value_dropped(self) -> None:
        """A sensitive field is redacted whatever its value's type."""
        event = _redact(event="x", claims={"birthDate": "2000-01-01"}, nonce=12345)
        assert event == {"event": "x", "claims": "[redacted]", "nonce": "[redacted]"}

    def test_jwt_inside_another_value_masked(self) -> None:
        """A JWT embedded in an innocently named string is masked, the rest of the text kept."""
        event = _redact(event="x", detail=f"wallet sent {JWT} twice", body=f"id_token={JWT}&state=s")
        assert event["detail"] == "wallet sent [jwt] twice"
        assert event["body"] == "id_token=[jwt]&state=s"

    def test_unsigned_jwt_masked(self) -> None:
        """An unsecured JWT (empty signature segment) is masked too."""
        token = JWT.rsplit(".", 1)[0] + "."
        assert _redact(event="x", detail=token)["detail"] == "[jwt]"

    def test_transaction_id_and_reason_kept(self) -> None:
        """transaction_id and reason pass through unchanged."""
        event = _redact(event="presentation.rejected", transaction_id="txn_7sGq2", reason="id_token.expired")
        assert event == {
            "event": "presentation.rejected",
            "transaction_id": "txn_7sGq2",
            "reason": "id_token.expired",
        }

    def test_harmless_fields_untouched(self) -> None:
        """Ids, counts, kids and hashes are logged as they are."""
        fields = {
            "event": "x",
            "kid": "did:key:z#z",
            "credentials": 2,
            "digest": "0a1b2c3d4e5f6a7b",
            "ok": True,
        }
        assert _redact(**fields) == fields

    def test_event_text_is_masked(self) -> None:
        """Even the event message is masked if it carries a JWT."""
        assert _redact(event=f"got {JWT}")["event"] == "got [jwt]"

    def test_nested_values_redacted(self) -> None:
        """A JWT inside a dict or list value, or a secret-named key in a nested dict, is not logged."""
        event = _redact(event="x", form={"id_token": JWT, "state": "s"}, tokens_seen=[JWT])
        rendered = json.dumps(event)
        assert JWT not in rendered
        assert JWT.split(".")[1] not in rendered

    def test_rendered_line_never_contains_the_token(self) -> None:
        """Through a structlog chain with the JSON renderer, the token never reaches the output."""
        logger = structlog.wrap_logger(
            structlog.ReturnLogger(), processors=[redact, structlog.processors.JSONRenderer()]
        )
        line = logger.info("presentation.received", vp_token=JWT, note=f"raw {JWT}", transaction_id="t1")
        assert JWT not in line
        assert json.loads(line)["transaction_id"] == "t1"


class TestFinalConfiguration:
    def test_cached_loggers_keep_rendering_and_redacting(self) -> None:
        """With ``final=True`` (the served process) a module logger is built once: every later event of it
        is still filtered by level, rendered as JSON and redacted. Run in a child process, since the
        cache would outlive this test."""
        script = (
            "import structlog\n"
            "from service.logging import configure_logging\n"
            "configure_logging(fmt='json', level='info', final=True)\n"
            "log = structlog.get_logger('m')\n"
            "log.debug('hidden')\n"
            f"log.info('first', id_token={JWT!r}, reason='r1')\n"
            "log.info('second', reason='r2')\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        events = [json.loads(line) for line in done.stdout.splitlines()]
        assert [event["event"] for event in events] == ["first", "second"]
        assert [event["reason"] for event in events] == ["r1", "r2"]
        assert JWT not in done.stdout
