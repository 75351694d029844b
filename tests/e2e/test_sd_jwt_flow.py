"""SD-JWT VC presentations over HTTP: EU PID (x5c issuer) and age attestations (DID issuer), bound to the
SIOPv2 ID Token's holder through `cnf` and the KB-JWT."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.actors import DELETE, KeyPair, SdJwtIssuer, Wallet, WebhookReceiver, make_disclosure
from tests.e2e.conftest import AV_VCT, PID_VCT, Issuers, RunningService, start_service

PID_SD = (
    "given_name",
    "family_name",
    "birthdate",
    "age_equal_or_over",
    ("age_equal_or_over", "18"),
    ("age_equal_or_over", "21"),
    "nationalities",
)


def _pid(
    issuers: Issuers, wallet: Wallet, *, issuer: SdJwtIssuer | None = None, age: int = 30, **extra: Any
) -> Any:
    birth = dt.date.today().replace(year=dt.date.today().year - age) - dt.timedelta(days=2)
    claims = {
        "given_name": "Erika",
        "family_name": "Mustermann",
        "birthdate": birth.isoformat(),
        "age_equal_or_over": {"18": age >= 18, "21": age >= 21},
        "nationalities": ["DE"],
    }
    return (issuer or issuers.pid).issue(
        claims,
        vct=extra.pop("vct", PID_VCT),
        holder_jwk=wallet.holder.key.public_jwk(),
        sd=PID_SD,
        decoys=3,
        **extra,
    )


def _begin(service: RunningService, wallet: Wallet, definition_id: str) -> tuple[dict[str, Any], Any]:
    created = service.create(definition_id=definition_id)
    return created, wallet.fetch_request(created["authorization_request_uri"])


def _send(wallet: Wallet, request: Any, presentation: str, **options: Any) -> Any:
    return wallet.respond(request, [], sd_jwt_presentations=[presentation], **options)


@pytest.mark.parametrize(
    ("kind", "subject"), [("ed25519", "did:key"), ("p256", "did:key"), ("p256", "jwk_thumbprint")]
)
def test_pid_proves_age_over_18(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet], kind: str, subject: str
) -> None:
    """A PID disclosing only age_equal_or_over.18 is verified; the verdict names vct and says true."""
    wallet = make_wallet(kind, subject)
    created, request = _begin(service, wallet, "age-over-18-sd-jwt")
    presentation = wallet.present_sd_jwt(
        request, _pid(issuers, wallet), disclose=[("age_equal_or_over", "18")]
    )
    answer = _send(wallet, request, presentation)
    assert answer.status_code == 200, answer.text
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified"
    [credential] = verdict["credentials"]
    assert credential["format"] == "dc+sd-jwt"
    assert credential["issuer"] == "https://pid.example"
    assert credential["vct"] == PID_VCT
    assert credential["claims"] == {"age_over_18": True}
    assert credential["trust"] == {"rule": "trust_file", "key_source": "x5c", "narrowed_by_definition": False}


def test_pid_birthdate_proves_age_over_21_without_revealing_it(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A disclosed birthdate old enough satisfies age-over-21; the verdict says true, not the date."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, "age-over-21-sd-jwt")
    issued = _pid(issuers, wallet, age=40)
    answer = _send(wallet, request, wallet.present_sd_jwt(request, issued, disclose=["birthdate"]))
    assert answer.status_code == 200, answer.text
    verdict = service.verdict(created["transaction_id"])
    assert verdict["credentials"][0]["claims"] == {"age_over_21": True}
    assert issued.plain["birthdate"] not in str(verdict)


def test_flat_age_over_claim_and_legacy_names(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """The flat age_over_18 style, the older vct and the vc+sd-jwt typ/format are accepted."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, "age-over-18-sd-jwt")
    legacy = SdJwtIssuer(issuers.pid.key, issuers.pid.iss, typ="vc+sd-jwt", x5c=issuers.pid.x5c)
    issued = legacy.issue(
        {"age_over_18": True, "given_name": "Erika"},
        vct="urn:eu.europa.ec.eudi:pid:1",
        holder_jwk=wallet.holder.key.public_jwk(),
        sd=("age_over_18", "given_name"),
    )
    presentation = wallet.present_sd_jwt(request, issued, disclose=["age_over_18"])
    answer = _send(wallet, request, presentation, sd_jwt_format="vc+sd-jwt")
    assert answer.status_code == 200, answer.text
    assert service.verdict(created["transaction_id"])["credentials"][0]["claims"] == {"age_over_18": True}


def test_age_attestation_from_a_did_issuer(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """An age attestation with only the age claim, issued by a did:key issuer, proves age over 21."""
    wallet = make_wallet("p256", "did:jwk")
    created, request = _begin(service, wallet, "age-attestation-over-21")
    issued = issuers.did_sd.issue(
        {"age_over_21": True}, vct=AV_VCT, holder_jwk=wallet.holder.key.public_jwk(), sd=("age_over_21",)
    )
    answer = _send(wallet, request, wallet.present_sd_jwt(request, issued))
    assert answer.status_code == 200, answer.text
    verdict = service.verdict(created["transaction_id"])
    assert verdict["credentials"][0] | {"claims": None} == {
        "descriptor_id": "age_attestation",
        "format": "dc+sd-jwt",
        "issuer": issuers.did_sd.iss,
        "types": [AV_VCT],
        "vct": AV_VCT,
        "claims": None,
        "status": "no_status",
        "trust": {"rule": "trust_file", "key_source": "did", "narrowed_by_definition": False},
    }


def test_cnf_by_did_url_binds_to_the_did_holder(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """cnf.kid naming the holder's own DID URL binds the credential to the ID Token subject."""
    wallet = make_wallet("ed25519", "did:key")
    created, request = _begin(service, wallet, "age-attestation-over-18")
    issued = issuers.did_sd.issue(
        {"age_over_18": True}, vct=AV_VCT, holder_kid=wallet.holder.key.did_key_url(), sd=("age_over_18",)
    )
    answer = _send(wallet, request, wallet.present_sd_jwt(request, issued))
    assert answer.status_code == 200, answer.text
    assert service.verdict(created["transaction_id"])["result"] == "verified"


# --- Rejections, each with its own reason --- #


def _expect(service: RunningService, created: dict[str, Any], answer: Any, reason: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "rejected"
    assert [e["code"] for e in verdict["errors"]] == [reason]


AGE_18 = [("age_equal_or_over", "18")]

PRESENTATION_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "disclosure_not_referenced": (
        {"extra_disclosures": [make_disclosure("age_over_18", True)]},
        "sd_jwt.disclosure_unreferenced",
    ),
    "disclosure_duplicated": ({"duplicate_disclosure": True}, "sd_jwt.disclosure_duplicated"),
    # A disclosure altered after issuance no longer hashes to any digest the issuer signed.
    "disclosure_altered": ({"tamper_disclosure": True}, "sd_jwt.disclosure_unreferenced"),
    "kb_missing": ({"kb": False}, "key_binding.missing"),
    "kb_wrong_nonce": ({"nonce": "not-the-nonce"}, "key_binding.nonce_mismatch"),
    "kb_wrong_aud": ({"aud": "https://other-verifier.example"}, "key_binding.audience_mismatch"),
    "kb_stale_iat": ({"kb_payload_overrides": {"iat": 1_000_000}}, "key_binding.too_old"),
    "kb_future_iat": ({"kb_payload_overrides": {"iat": 4_000_000_000}}, "key_binding.issued_in_future"),
    "kb_wrong_sd_hash": ({"kb_payload_overrides": {"sd_hash": "AAAA"}}, "key_binding.sd_hash_mismatch"),
    "kb_without_sd_hash": ({"kb_payload_overrides": {"sd_hash": DELETE}}, "key_binding.sd_hash_missing"),
    "kb_wrong_typ": ({"kb_header_overrides": {"typ": "JWT"}}, "key_binding.wrong_typ"),
    "kb_signed_by_another_key": ({"holder_key": KeyPair.generate("ed25519")}, "key_binding.bad_signature"),
    "over_disclosure": ({"disclose": [*AGE_18, "given_name"]}, "submission.over_disclosure"),
}


@pytest.mark.parametrize("case", sorted(PRESENTATION_CASES))
def test_rejected_presentations(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet], case: str
) -> None:
    """Each tampered SD-JWT presentation is refused with its reason in the signed verdict."""
    options, reason = PRESENTATION_CASES[case]
    wallet = make_wallet()
    created, request = _begin(service, wallet, "age-over-18-sd-jwt")
    options = {"disclose": AGE_18, **options}
    presentation = wallet.present_sd_jwt(request, _pid(issuers, wallet), **options)
    _expect(service, created, _send(wallet, request, presentation), reason)


def test_rejected_cnf_not_the_id_token_subject(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A credential bound to another key, with a KB-JWT by that key, fails holder binding to the ID Token."""
    wallet = make_wallet()
    other = KeyPair.generate("ed25519")
    created, request = _begin(service, wallet, "age-over-18-sd-jwt")
    issued = issuers.pid.issue(
        {"age_equal_or_over": {"18": True}},
        vct=PID_VCT,
        holder_jwk=other.public_jwk(),
        sd=("age_equal_or_over", ("age_equal_or_over", "18")),
    )
    presentation = wallet.present_sd_jwt(request, issued, holder_key=other)
    _expect(service, created, _send(wallet, request, presentation), "holder_binding.cnf_mismatch")


def test_rejected_chain_to_an_untrusted_root(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A PID whose x5c chain leads to a root nobody configured is refused."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, "age-over-18-sd-jwt")
    issued = _pid(issuers, wallet, issuer=issuers.rogue_pid)
    presentation = wallet.present_sd_jwt(request, issued, disclose=AGE_18)
    _expect(service, created, _send(wallet, request, presentation), "credential.untrusted_chain")


def test_rejected_expired_credential(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A PID past its exp is refused."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, "age-over-18-sd-jwt")
    issued = _pid(issuers, wallet, iat=1_000_000, exp=2_000_000)
    presentation = wallet.present_sd_jwt(request, issued, disclose=AGE_18)
    _expect(service, created, _send(wallet, request, presentation), "credential.expired")


def test_rejected_under_age(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A 16-year-old's PID (age_equal_or_over.18 false) is refused."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, "age-over-18-sd-jwt")
    presentation = wallet.present_sd_jwt(request, _pid(issuers, wallet, age=16), disclose=AGE_18)
    _expect(service, created, _send(wallet, request, presentation), "submission.filter_failed")


def test_rejected_under_age_by_birthdate(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A birthdate 20 years back does not prove age over 21."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, "age-over-21-sd-jwt")
    presentation = wallet.present_sd_jwt(request, _pid(issuers, wallet, age=20), disclose=["birthdate"])
    _expect(service, created, _send(wallet, request, presentation), "submission.filter_failed")


def test_rejected_vct_the_issuer_is_not_trusted_for(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """The PID provider is trusted for PIDs only: another vct from it is refused."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, "age-attestation-over-18")
    issued = issuers.pid.issue(
        {"age_over_18": True}, vct=AV_VCT, holder_jwk=wallet.holder.key.public_jwk(), sd=("age_over_18",)
    )
    _expect(
        service,
        created,
        _send(wallet, request, wallet.present_sd_jwt(request, issued)),
        "credential.untrusted_issuer",
    )


def test_rejected_wrong_vct_for_the_definition(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """An age attestation is not a PID: the PID definition's vct filter refuses it."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, "age-over-18-sd-jwt")
    issued = issuers.did_sd.issue(
        {"age_over_18": True}, vct=AV_VCT, holder_jwk=wallet.holder.key.public_jwk(), sd=("age_over_18",)
    )
    presentation = wallet.present_sd_jwt(request, issued)
    _expect(service, created, _send(wallet, request, presentation), "submission.filter_failed")


def test_rejected_digest_mismatch(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """Digests that are not of the declared _sd_alg (sha-256 digests under sha-512) are refused."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, "age-over-18-sd-jwt")
    issued = _pid(issuers, wallet, payload_overrides={"_sd_alg": "sha-512"})
    presentation = wallet.present_sd_jwt(request, issued, disclose=AGE_18)
    _expect(service, created, _send(wallet, request, presentation), "sd_jwt.digest_mismatch")


class _MetadataServer:
    """A real HTTP server publishing JWT VC Issuer Metadata for one issuer, counting requests."""

    def __init__(self, key: KeyPair) -> None:
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = json.dumps(
                    {"issuer": server.issuer, "jwks": {"keys": [key.public_jwk() | {"kid": "k1"}]}}
                ).encode()
                self.send_response(200 if self.path == "/.well-known/jwt-vc-issuer/issuer" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://localhost:{self.httpd.server_address[1]}/issuer"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_issuer_keys_from_jwt_vc_issuer_metadata(
    tmp_path: Path, receiver: WebhookReceiver, make_wallet: Callable[..., Wallet]
) -> None:
    """An https-style issuer whose key is published in its metadata is verified; the metadata is cached."""
    key = KeyPair.generate("p256")
    metadata = _MetadataServer(key)
    issuer = SdJwtIssuer(key, metadata.issuer, kid="k1")
    trust = {"issuers": [{"id": metadata.issuer, "metadata": True, "vct": [AV_VCT]}]}
    service = start_service(tmp_path, receiver, trust)
    try:
        for _ in range(2):
            wallet = make_wallet()
            created, request = _begin(service, wallet, "age-attestation-over-18")
            issued = issuer.issue(
                {"age_over_18": True},
                vct=AV_VCT,
                holder_jwk=wallet.holder.key.public_jwk(),
                sd=("age_over_18",),
            )
            answer = _send(wallet, request, wallet.present_sd_jwt(request, issued))
            assert answer.status_code == 200, answer.text
            assert service.verdict(created["transaction_id"])["credentials"][0]["issuer"] == metadata.issuer
        assert metadata.hits == 1
    finally:
        service.stop()
        metadata.close()


def test_kb_jwt_alg_values_of_the_definition_are_honoured(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """An inline definition allowing only ES256 key binding refuses an EdDSA KB-JWT."""
    definition = {
        "id": "es256-binding-only",
        "input_descriptors": [
            {
                "id": "age",
                "format": {"dc+sd-jwt": {"sd-jwt_alg_values": ["EdDSA"], "kb-jwt_alg_values": ["ES256"]}},
                "constraints": {"fields": [{"path": ["$.age_over_18"], "filter": {"const": True}}]},
            }
        ],
    }
    wallet = make_wallet("ed25519")
    created = service.create(definition_id=None, presentation_definition=definition)
    request = wallet.fetch_request(created["authorization_request_uri"])
    issued = issuers.did_sd.issue(
        {"age_over_18": True}, vct=AV_VCT, holder_jwk=wallet.holder.key.public_jwk(), sd=("age_over_18",)
    )
    answer = _send(wallet, request, wallet.present_sd_jwt(request, issued))
    _expect(service, created, answer, "submission.format_not_allowed")


def test_client_metadata_lists_sd_jwt_formats(
    service: RunningService, make_wallet: Callable[..., Wallet]
) -> None:
    """The request object's client_metadata names dc+sd-jwt and vc+sd-jwt with both algorithm lists."""
    wallet = make_wallet()
    _, request = _begin(service, wallet, "age-over-18-sd-jwt")
    formats = request.client_metadata["vp_formats"]
    for name in ("dc+sd-jwt", "vc+sd-jwt"):
        assert "ES256" in formats[name]["sd-jwt_alg_values"]
        assert "EdDSA" in formats[name]["kb-jwt_alg_values"]
