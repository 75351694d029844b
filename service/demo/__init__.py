"""``python -m service demo``: the whole flow against a running service, with a built-in holder simulator.

Lives in the package (not under ``tests/``) so the container image can run it too. The demo plays the
three outside parties: a backend creating a transaction, a wallet answering it (``wallet.py``: a fresh
Ed25519 did:key holder with an age credential from a demo issuer whose key is public), and a webhook
receiver on the loopback interface (``flow.py``). The running service must trust the demo issuer::

    VERIFIER_TRUST_FILE=examples/demo/trust.json make run       # or: python -m service demo --print-trust

Test material only: the demo issuer's seed is published in this package.
"""

from __future__ import annotations

from typing import Any

from service.demo.flow import answer_link, hint_for, run_demo
from service.demo.wallet import DEMO_ISSUER_SEED, DemoError, DemoIssuer

__all__ = ["DEMO_ISSUER_SEED", "DemoError", "answer_link", "demo_trust_file", "hint_for", "run_demo"]


def demo_trust_file() -> dict[str, Any]:
    """A trust file admitting the demo issuer (the content of ``examples/demo/trust.json``)."""
    return {
        "issuers": [
            {"id": DemoIssuer().did, "name": "Demo age issuer (python -m service demo; test material only)"}
        ]
    }
