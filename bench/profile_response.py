"""Profile the response step in-process (no HTTP, no server): where the verifier's own CPU goes.

    .venv/bin/python -m bench.profile_response [N] [draft|1.0]

Creates N transactions through the real app (litestar TestClient), builds N distinct honest wallet
responses with the holder simulator, then runs ``Verifier.respond`` for each under cProfile and prints
the mean wall time per response and the top functions by own time. Optimise against this, not by guess.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import pstats
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import structlog
from litestar.testing import TestClient

from service.app import create_app
from service.keys import generate_keyring
from service.settings import load_settings
from tests.e2e.actors import Holder, Issuer, KeyPair, Wallet, WalletV1


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    protocol = sys.argv[2] if len(sys.argv) > 2 else "draft"
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    issuer = Issuer(KeyPair.generate("ed25519"))
    trust = Path(tempfile.mkdtemp()) / "trust.json"
    trust.write_text(json.dumps({"issuers": [{"id": issuer.did}]}))
    settings = load_settings(
        {},
        trust_file=str(trust),
        webhook_url="http://127.0.0.1:9/unused",
        public_url="http://testserver.local",
        api_keys=("k",),
    )
    app = create_app(settings, keyring=generate_keyring())
    verifier = app.dependencies["verifier"].dependency()
    jobs = []
    with TestClient(app, base_url="http://testserver.local") as client:
        client.headers["authorization"] = "Bearer k"
        for _ in range(count):
            body = {"definition_id": "age-over-21", "protocol": protocol}
            created = client.post("/v1/presentations", json=body).json()
            holder = Holder(KeyPair.generate("ed25519"), "did:key")
            vc = issuer.issue(holder.id, {"ageOver21": True})
            if protocol == "1.0":
                v1 = WalletV1(holder, http=client)
                v1_request = v1.fetch_request(created["authorization_request_uri"])
                payload = v1.build_response_v1(v1_request, {"age_credential": v1.vp_for(v1_request, vc)})
                form = {"response": v1.encrypt(v1_request, payload)}
                response_uri = v1_request.response_uri
            else:
                wallet = Wallet(holder, http=client)
                request = wallet.fetch_request(created["authorization_request_uri"])
                form = wallet.build_response(request, [vc])
                response_uri = request.response_uri
            handle = urlsplit(response_uri).path.rsplit("/", 1)[1]
            jobs.append((handle, urlencode(form).encode()))

    async def run() -> None:
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for handle, body in jobs:
            await verifier.respond(handle, body)
        profile.disable()
        print(f"mean per response (under cProfile): {(time.perf_counter() - started) / count * 1000:.2f} ms")
        stats = pstats.Stats(profile).sort_stats("tottime")
        stats.print_stats(25)
        if "--callers" in sys.argv:
            stats.print_callers("fullmatch|search|findall")

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
