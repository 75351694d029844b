"""Generate the fuzz corpus seeds in fuzz/seeds/ from the test actors (run once; the output is committed).

    .venv/bin/python -m fuzz.make_seeds

Every seed is a real artefact of a real flow: form bodies, ID Tokens, VPs, VCs, SD-JWT(+KB)s, DIDs, JWKs,
submissions and definitions. ``flows/*.json`` also carry what is needed to run the whole verification
offline (client_id, nonce, state, the verification time, the definition and the trust file).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import rsa, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.e2e.actors import (
    AuthorizationRequest,
    Holder,
    Issuer,
    KeyPair,
    SdJwtIssuer,
    TestCa,
    Wallet,
    b64url,
)
from tests.e2e.actors.keys import base58btc_encode, varint

SEEDS = Path(__file__).resolve().parent / "seeds"
REPO = SEEDS.parents[1]
PID_ISSUER = "https://pid.example"
PID_VCT = "urn:eudi:pid:1"
AV_VCT = "urn:example:age-attestation:1"


def _write(kind: str, name: str, content: str | dict[str, Any] | list[Any]) -> None:
    folder = SEEDS / kind
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        (folder / f"{name}.txt").write_text(content)
    else:
        (folder / f"{name}.json").write_text(json.dumps(content, indent=1, sort_keys=True) + "\n")


def _definition(name: str) -> dict[str, Any]:
    data = json.loads((REPO / "definitions" / f"{name}.json").read_text())
    return dict(data["presentation_definition"])


def _request(client_id: str, definition: dict[str, Any], index: int) -> AuthorizationRequest:
    nonce = b64url(f"fuzz-nonce-{index:04d}-0123456".encode())
    state = b64url(f"fuzz-state-{index:04d}-0123456".encode())
    return AuthorizationRequest(
        client_id=client_id,
        client_id_scheme="did",
        response_uri="http://127.0.0.1:8080/wallet/responses/x",
        nonce=nonce,
        state=state,
        presentation_definition=definition,
        client_metadata={},
        jwt="",
        header={},
        payload={},
    )


def main() -> None:  # noqa: PLR0915 (one linear script)
    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    now = int(time.time())  # noqa: TID251 (seeds are stamped once, when generated)
    verifier = KeyPair.generate("p256")
    client_id = verifier.did_key()
    trusted = Issuer(KeyPair.generate("ed25519"))
    second = Issuer(KeyPair.generate("p256"), "did:jwk")
    pid_ca = TestCa.create("PID root")
    leaf, leaf_key = pid_ca.leaf(dns_names=["pid.example"])
    pid = SdJwtIssuer(leaf_key, PID_ISSUER, x5c=pid_ca.x5c(leaf))
    did_sd_key = KeyPair.generate("ed25519")
    did_sd = SdJwtIssuer(did_sd_key, did_sd_key.did_key(), kid=did_sd_key.did_key_url())
    trust = {
        "issuers": [
            {"id": trusted.did, "name": "Trusted"},
            {"id": second.did, "name": "Second"},
            {"id": PID_ISSUER, "vct": [PID_VCT], "x509_anchors": [pid_ca.root_pem()]},
            {"id": did_sd.iss, "vct": [AV_VCT, PID_VCT]},
        ]
    }
    _write("trust", "trust", trust)

    index = 0

    def flow(
        name: str, definition: dict[str, Any], form: dict[str, str], request: AuthorizationRequest
    ) -> None:
        body = urlencode(form)
        _write("form", name, body)
        _write(
            "flows",
            name,
            {
                "client_id": client_id,
                "nonce": request.nonce,
                "state": request.state,
                "now": now + 5,
                "definition": definition,
                "body": body,
            },
        )
        for field in ("id_token", "vp_token"):
            if field in form and not form[field].startswith("["):
                _write("jws" if "~" not in form[field] else "sd_jwt", f"{name}-{field}", form[field])
        _write("submission", name, json.loads(form["presentation_submission"]))

    # W3C flows: each holder kind and subject syntax
    age21 = _definition("age-over-21")
    for kind, subject in [
        ("ed25519", "did:key"),
        ("p256", "did:key"),
        ("p256", "did:jwk"),
        ("p256", "jwk_thumbprint"),
        ("secp256k1", "did:key"),
        ("p384", "did:key"),
    ]:
        index += 1
        wallet = Wallet(Holder(KeyPair.generate(kind), subject))  # type: ignore[arg-type]
        request = _request(client_id, age21, index)
        vc = trusted.issue(wallet.holder.id, {"ageOver21": True, "birthDate": "1990-01-01"})
        name = f"age21-{kind}-{subject.replace(':', '_')}"
        flow(name, age21, wallet.build_response(request, [vc]), request)
        _write("jws", f"{name}-vc", vc)
        _write("did", name, wallet.holder.id)
        if wallet.holder.kid:
            _write("did", f"{name}-url", wallet.holder.kid)
        _write("jwk", name, wallet.holder.key.public_jwk())
        wallet.close()

    # Two credentials, two presentations, an inline definition with two descriptors
    index += 1
    two = {
        "id": "two-vps",
        "input_descriptors": [
            {"id": "a", "constraints": {"fields": [{"path": ["$.vc.credentialSubject.ageOver21"]}]}},
            {
                "id": "b",
                "constraints": {
                    "fields": [
                        {
                            "id": "member",
                            "path": ["$.vc.credentialSubject.memberId"],
                            "intent_to_retain": True,
                        }
                    ]
                },
            },
        ],
    }
    wallet = Wallet(Holder(KeyPair.generate("ed25519")))
    request = _request(client_id, two, index)
    first = trusted.issue(wallet.holder.id, {"ageOver21": True})
    member = second.issue(wallet.holder.id, {"memberId": "M-7"}, types=("MembershipCredential",))
    flow("two-vps", two, wallet.build_response(request, [[first], [member]]), request)
    _write("definition", "two-vps", two)
    wallet.close()

    # SD-JWT VC flows: PID over x5c, age attestation over a DID issuer
    for name, definition_name, issuer, vct, claims, sd, disclose in [
        (
            "pid-age18",
            "age-over-18-sd-jwt",
            pid,
            PID_VCT,
            {
                "given_name": "Erika",
                "birthdate": "1980-01-01",
                "age_equal_or_over": {"18": True, "21": True},
                "nationalities": ["DE"],
            },
            ("given_name", "birthdate", "age_equal_or_over", ("age_equal_or_over", "18"), "nationalities"),
            [("age_equal_or_over", "18")],
        ),
        (
            "attestation-age21",
            "age-attestation-over-21",
            did_sd,
            AV_VCT,
            {"age_over_21": True},
            ("age_over_21",),
            None,
        ),
    ]:
        index += 1
        definition = _definition(definition_name)
        wallet = Wallet(Holder(KeyPair.generate("p256")))
        request = _request(client_id, definition, index)
        issued = issuer.issue(claims, vct=vct, holder_jwk=wallet.holder.key.public_jwk(), sd=sd, decoys=2)
        presentation = wallet.present_sd_jwt(request, issued, disclose=disclose)
        flow(
            name, definition, wallet.build_response(request, [], sd_jwt_presentations=[presentation]), request
        )
        _write("sd_jwt", f"{name}-all", issued.all())
        for i, disclosure in enumerate(issued.disclosures.values()):
            _write("disclosure", f"{name}-{i}", disclosure)
        wallet.close()

    # Wallet error responses and odd-but-legal bodies
    _write(
        "form", "wallet-error", urlencode({"error": "access_denied", "error_description": "no", "state": "s"})
    )
    _write("form", "empty", "")
    _write("form", "quoted-vp-token", urlencode({"vp_token": '"a.b.c"', "state": "s"}))

    # Definitions shipped with the service
    for path in sorted((REPO / "definitions").glob("*.json")):
        if "presentation_definition" in json.loads(path.read_text()):
            _write("definition", path.stem, _definition(path.stem))

    # DIDs and JWKs that only appear as issuers or as oddities
    _write("did", "issuer-did-key", trusted.did)
    _write("did", "issuer-did-jwk", second.did)
    _write("did", "issuer-did-jwk-url", second.kid)
    _write("did", "did-web", "did:web:example.com:user:alice")
    x_raw = x25519.X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    _write("jwk", "x25519", {"kty": "OKP", "crv": "X25519", "x": b64url(x_raw)})
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
    _write(
        "jwk",
        "rsa-2048",
        {
            "kty": "RSA",
            "n": b64url(numbers.n.to_bytes(256, "big")),
            "e": b64url(numbers.e.to_bytes(3, "big")),
        },
    )
    _write(
        "jwk",
        "p521-shape",
        {"kty": "EC", "crv": "P-521", "x": b64url(b"\x01" * 66), "y": b64url(b"\x02" * 66)},
    )
    _write("did", "x25519-did-key", "did:key:z" + base58btc_encode(varint(0xEC) + x_raw))
    print(f"seeds written to {SEEDS}")


if __name__ == "__main__":
    main()
