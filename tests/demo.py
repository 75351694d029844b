"""The README walkthrough as a script: backend, wallet and webhook receiver against a running service.

    VERIFIER_TRUST_FILE=tests/fixtures/demo/trust.json make run      # terminal 1
    .venv/bin/python -m tests.demo                                   # terminal 2

It plays all three outside parties with the test actors (which share no code with the service):
creates a presentation request, answers it as a wallet holding an age credential from the demo issuer,
and prints the verdict the webhook received after checking its signature against the service's JWKS.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.e2e.actors import Holder, Issuer, KeyPair, Wallet, WebhookReceiver, verify_verdict

DEMO_ISSUER = Path(__file__).resolve().parent / "fixtures" / "demo" / "issuer.json"


def _demo_issuer() -> Issuer:
    data = json.loads(DEMO_ISSUER.read_text())
    return Issuer(KeyPair("ed25519", Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data["seed_hex"]))))


def run(service_url: str, definition_id: str, *, over_age: bool) -> int:
    """One full transaction; returns 0 when the verdict says `verified`."""
    with WebhookReceiver() as receiver, httpx.Client(base_url=service_url, timeout=10) as backend:
        created = backend.post(
            "/v1/presentations",
            json={"definition_id": definition_id, "webhook_url": receiver.url, "correlation_id": "demo-1"},
        )
        created.raise_for_status()
        link = created.json()["authorization_request_uri"]
        print(f"1. backend created transaction {created.json()['transaction_id']}\n   wallet link: {link}")

        wallet = Wallet(Holder(KeyPair.generate("p256"), "did:key"))
        request = wallet.fetch_request(link)
        print(f"2. wallet fetched and checked the signed request object from {request.client_id}")
        credential = _demo_issuer().issue(wallet.holder.id, {"ageOver21": over_age, "ageOver18": over_age})
        answer = wallet.respond(request, [credential])
        print(f"3. wallet posted its response: HTTP {answer.status_code} {answer.text}")
        wallet.close()

        [attempt] = receiver.wait_for(1, timeout=15)
        verdict = verify_verdict(attempt.body.decode(), backend.get("/.well-known/jwks.json").json())
        print("4. webhook received a verdict; its signature verifies with the published JWKS:")
        print(json.dumps(verdict, indent=2))
        return 0 if verdict["result"] == "verified" else 1


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--service", default="http://127.0.0.1:8080", help="base URL of the running verifier")
    parser.add_argument("--definition", default="age-over-21")
    parser.add_argument("--under-age", action="store_true", help="present a credential that says false")
    args = parser.parse_args()
    return run(args.service, args.definition, over_age=not args.under_age)


if __name__ == "__main__":
    sys.exit(main())
