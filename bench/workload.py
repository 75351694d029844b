"""Scenarios and the pre-generation phase: real transactions, each answered by a distinct honest wallet.

Before any timing, for every response it will post, the benchmark

1. creates a transaction (``POST /v1/presentations``, the backend's step),
2. fetches its request object (``GET request_uri``, the wallet's step), checked by the holder simulator,
3. builds the wallet's answer with the holder simulator: a fresh holder key (so no two responses share a
   key), fresh credential(s) from the benchmark issuer(s), an ID Token and one ``jwt_vp_json`` VP bound to
   that transaction's nonce and client id, form-encoded once.

Steps 1 and 2 run one at a time over one keep-alive connection; their latency and the service CPU they
cost are recorded (they are part of the flow; the floor counts the request object's signature).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bench.procs import BenchError, ServiceProcess
from tests.e2e.actors import Holder, Issuer, KeyPair, Wallet
from tests.e2e.actors.keys import decode_jws

HolderKind = Literal["ed25519", "p256"]
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class Scenario:
    """What the wallet presents."""

    name: str
    holder: HolderKind
    credentials: int
    definition_id: str

    @property
    def holder_alg(self) -> str:
        """JWS alg of the holder's ID Token and VP."""
        return "EdDSA" if self.holder == "ed25519" else "ES256"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("ed25519-1vc", "ed25519", 1, "age-over-21"),
        Scenario("p256-1vc", "p256", 1, "age-over-21"),
        Scenario("ed25519-2vc", "ed25519", 2, "age-and-membership"),
        Scenario("p256-2vc", "p256", 2, "age-and-membership"),
    )
}


class Issuers:
    """The benchmark's two credential issuers (Ed25519 did:key), both in the service's trust file."""

    def __init__(self) -> None:
        self.age = Issuer(KeyPair.generate("ed25519"))
        self.membership = Issuer(KeyPair.generate("ed25519"))

    @property
    def dids(self) -> list[str]:
        """Issuer DIDs for the trust file."""
        return [self.age.did, self.membership.did]


@dataclass(frozen=True)
class Signed:
    """The signature check one JWS needs: key, signing input, signature (DER for ECDSA)."""

    key: PublicKey
    signing_input: bytes
    signature: bytes


@dataclass(frozen=True)
class Prepared:
    """One ready-to-post wallet response and the signature work verifying it takes."""

    txn: str
    response_uri: str
    body: bytes
    holder_checks: tuple[Signed, ...]
    issuer_checks: tuple[Signed, ...]
    request_object_input: bytes


@dataclass
class StepStats:
    """Sequential latencies of one flow step and the service CPU it cost."""

    latencies: list[float] = dataclasses.field(default_factory=list)
    service_cpu: float = 0.0

    def extend(self, other: StepStats) -> None:
        """Accumulate another batch."""
        self.latencies.extend(other.latencies)
        self.service_cpu += other.service_cpu


@dataclass
class Batch:
    """The output of one pre-generation run."""

    items: list[Prepared]
    create: StepStats
    request_object: StepStats


def _signed(token: str, key: PublicKey) -> Signed:
    """Signature material of a compact JWS for ``key`` (raw r||s converted to DER for ECDSA)."""
    _, _, signing_input, signature = decode_jws(token)
    if isinstance(key, ec.EllipticCurvePublicKey):
        half = len(signature) // 2
        r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        signature = encode_dss_signature(r, s)
    return Signed(key, signing_input, signature)


def _credentials(scenario: Scenario, issuers: Issuers, subject: str, serial: int) -> list[str]:
    """Fresh credentials for one holder (distinct jti, iat, subject every time)."""
    vcs = [issuers.age.issue(subject, {"ageOver21": True})]
    if scenario.credentials == 2:
        vcs.append(
            issuers.membership.issue(subject, {"memberId": f"M-{serial}"}, types=("MembershipCredential",))
        )
    return vcs


def prepare(
    service: ServiceProcess,
    http: httpx.Client,
    scenario: Scenario,
    issuers: Issuers,
    count: int,
    tag: str,
) -> Batch:
    """Create ``count`` transactions, fetch their request objects, and build one response for each."""
    create = StepStats()
    service.wait_idle()
    cpu = service.cpu_seconds()
    created: list[dict[str, Any]] = []
    for i in range(count):
        body = {"definition_id": scenario.definition_id, "correlation_id": f"{tag}-{i}"}
        started = time.perf_counter()
        answer = http.post(f"{service.url}/v1/presentations", json=body)
        create.latencies.append(time.perf_counter() - started)
        if answer.status_code != 201:
            raise BenchError(f"create answered {answer.status_code}: {answer.text[:500]}")
        created.append(answer.json())
    service.wait_idle()
    create.service_cpu = service.cpu_seconds() - cpu

    fetched = StepStats()
    cpu = service.cpu_seconds()
    objects: list[tuple[str, str, str]] = []
    for entry in created:
        query = parse_qs(urlsplit(entry["authorization_request_uri"]).query)
        client_id, request_uri = query["client_id"][0], query["request_uri"][0]
        started = time.perf_counter()
        answer = http.get(request_uri)
        fetched.latencies.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise BenchError(f"request object answered {answer.status_code}: {answer.text[:500]}")
        objects.append((client_id, request_uri, answer.text.strip()))
    service.wait_idle()
    fetched.service_cpu = service.cpu_seconds() - cpu

    items: list[Prepared] = []
    for serial, (entry, (client_id, request_uri, jwt)) in enumerate(zip(created, objects, strict=True)):
        wallet = Wallet(Holder(KeyPair.generate(scenario.holder), "did:key"), http)
        request = dataclasses.replace(wallet.check_request_object(client_id, jwt), request_uri=request_uri)
        vcs = _credentials(scenario, issuers, wallet.holder.id, serial)
        form = wallet.build_response(request, vcs)
        holder_key = wallet.holder.key.public_key()
        issuer_keys = [issuers.age.key.public_key(), issuers.membership.key.public_key()]
        items.append(
            Prepared(
                txn=entry["transaction_id"],
                response_uri=request.response_uri,
                body=urlencode(form).encode("ascii"),
                holder_checks=(_signed(form["id_token"], holder_key), _signed(form["vp_token"], holder_key)),
                issuer_checks=tuple(_signed(vc, key) for vc, key in zip(vcs, issuer_keys, strict=False)),
                request_object_input=jwt.rpartition(".")[0].encode("ascii"),
            )
        )
    if len({item.body for item in items}) != len(items):
        raise BenchError("pre-generated responses are not all distinct")
    return Batch(items, create, fetched)

