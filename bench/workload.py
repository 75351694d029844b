"""Scenarios and the pre-generation phase: real transactions, each answered by a distinct honest wallet.

Before any timing, for every response it will post, the benchmark

1. creates a transaction (``POST /v1/presentations``, the backend's step),
2. fetches its request object (``GET request_uri``, the wallet's step), checked by the holder simulator,
3. builds the wallet's answer with the holder simulator: a fresh holder key (so no two responses share a
   key), fresh credential(s) from the benchmark issuer(s), an ID Token and either one ``jwt_vp_json`` VP
   or one SD-JWT VC with its Key Binding JWT, bound to that transaction's nonce and client id,
   form-encoded once. The OpenID4VP 1.0 scenario answers the DCQL query with a VP and no ID Token,
   encrypted (``direct_post.jwt``, ECDH-ES) to the transaction's key.

Steps 1 and 2 run over keep-alive connections: the first 40 of each one at a time (their latency, and the
CPU of an idle service), the rest from 8 concurrent clients (the CPU per request of a busy service, the
figure the flow adds up, as for the response). They are part of the flow; the floor counts the request
object's signature. Each
response is then serialised into the exact bytes of its HTTP request, so posting it costs the load
generator almost nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bench.procs import BenchError, ServiceProcess
from bench.wire import Pool, address, encode_request
from tests.e2e.actors import Holder, Issuer, KeyPair, SdJwtIssuer, Wallet, WalletV1
from tests.e2e.actors.holder import AuthorizationRequest
from tests.e2e.actors.keys import decode_jws
from tests.e2e.actors.sd_jwt import split_presentation

HolderKind = Literal["ed25519", "p256"]
CredentialFormat = Literal["jwt_vc_json", "dc+sd-jwt"]
AGE_ATTESTATION_VCT = "urn:example:age-attestation:1"
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Scenario:
    """What the wallet presents."""

    name: str
    holder: HolderKind
    credentials: int
    definition_id: str
    format: CredentialFormat = "jwt_vc_json"
    protocol: Literal["draft", "1.0"] = "draft"

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
        Scenario("ed25519-sdjwt", "ed25519", 1, "age-attestation-over-21", "dc+sd-jwt"),
        Scenario("ed25519-1vc-v1", "ed25519", 1, "age-over-21", protocol="1.0"),
    )
}


class Issuers:
    """The benchmark's credential issuers (Ed25519 did:key), all in the service's trust file: two of
    W3C JWT VCs, and one of SD-JWT VC age attestations."""

    def __init__(self) -> None:
        self.age = Issuer(KeyPair.generate("ed25519"))
        self.membership = Issuer(KeyPair.generate("ed25519"))
        attestation = KeyPair.generate("ed25519")
        self.attestation = SdJwtIssuer(attestation, attestation.did_key(), kid=attestation.did_key_url())

    @property
    def trust_entries(self) -> list[dict[str, object]]:
        """The issuers' entries of the trust file."""
        return [
            {"id": self.age.did},
            {"id": self.membership.did},
            {"id": self.attestation.iss, "vct": [AGE_ATTESTATION_VCT]},
        ]


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
    request: bytes
    holder_checks: tuple[Signed, ...]
    issuer_checks: tuple[Signed, ...]
    request_object_input: bytes


@dataclass
class StepStats:
    """One flow step (create or request object): latencies and service CPU one request at a time, and the
    service CPU under load (``LOADED_CLIENTS`` concurrent clients), as the response is measured."""

    latencies: list[float] = dataclasses.field(default_factory=list)
    service_cpu: float = 0.0
    loaded_count: int = 0
    loaded_cpu: float = 0.0

    def extend(self, other: StepStats) -> None:
        """Accumulate another batch."""
        self.latencies.extend(other.latencies)
        self.service_cpu += other.service_cpu
        self.loaded_count += other.loaded_count
        self.loaded_cpu += other.loaded_cpu


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


SEQUENTIAL = 40
"""Requests of each step sent one at a time (unloaded latency, and the CPU of an otherwise idle service)."""
LOADED_CLIENTS = 8
"""Concurrent clients for the rest of each step: a backend creating transactions for many users at once."""

Answer = tuple[int, bytes]


async def _step(pool: Pool, requests: list[bytes], service: ServiceProcess, stats: StepStats) -> list[Answer]:
    """Send ``requests``: the first ``SEQUENTIAL`` one at a time, the rest from ``LOADED_CLIENTS`` clients;
    the answers in request order."""
    answers: list[Answer | None] = [None] * len(requests)

    async def send(index: int) -> None:
        started = time.perf_counter()
        reply = await pool.exchange(requests[index])
        if index < SEQUENTIAL:
            stats.latencies.append(time.perf_counter() - started)
        answers[index] = (reply.status, reply.body)

    service.wait_idle()
    cpu = service.cpu_seconds()
    for index in range(min(SEQUENTIAL, len(requests))):
        await send(index)
    service.wait_idle()
    stats.service_cpu = service.cpu_seconds() - cpu
    loaded = iter(range(SEQUENTIAL, len(requests)))

    async def client() -> None:
        for index in loaded:  # one shared iterator: each request is sent exactly once
            await send(index)

    cpu = service.cpu_seconds()
    await asyncio.gather(*(client() for _ in range(LOADED_CLIENTS)))
    service.wait_idle()
    stats.loaded_cpu = service.cpu_seconds() - cpu
    stats.loaded_count = max(0, len(requests) - SEQUENTIAL)
    return [answer for answer in answers if answer is not None]


async def _create_and_fetch(
    url: str, scenario: Scenario, count: int, tag: str, service: ServiceProcess
) -> tuple[list[tuple[str, str, str, str]], StepStats, StepStats]:
    """Steps 1 and 2 for ``count`` transactions, over keep-alive connections."""
    create, fetched = StepStats(), StepStats()
    pool = Pool(*address(url))
    bodies = [
        json.dumps(
            {
                "definition_id": scenario.definition_id,
                "correlation_id": f"{tag}-{i}",
                "protocol": scenario.protocol,
            }
        ).encode()
        for i in range(count)
    ]
    creates = [encode_request("POST", f"{url}/v1/presentations", body, "application/json") for body in bodies]
    links: list[tuple[str, str, str]] = []
    for status, body in await _step(pool, creates, service, create):
        if status != 201:
            raise BenchError(f"create answered {status}: {body[:500]!r}")
        created = json.loads(body)
        query = parse_qs(urlsplit(created["authorization_request_uri"]).query)
        client_id, request_uri = query["client_id"][0], query["request_uri"][0]
        if address(request_uri) != (pool.host, pool.port):
            raise BenchError(f"request_uri {request_uri} is not on the service")
        links.append((created["transaction_id"], client_id, request_uri))
    fetches = [encode_request("GET", request_uri) for _, _, request_uri in links]
    fetched_objects: list[tuple[str, str, str, str]] = []
    for (txn, client_id, request_uri), (status, body) in zip(
        links, await _step(pool, fetches, service, fetched), strict=True
    ):
        if status != 200:
            raise BenchError(f"request object answered {status}: {body[:500]!r}")
        fetched_objects.append((txn, client_id, request_uri, body.decode("ascii").strip()))
    pool.close()
    return fetched_objects, create, fetched


def _sd_jwt_response(
    wallet: Wallet, request: AuthorizationRequest, issuers: Issuers
) -> tuple[dict[str, str], str]:
    """An age attestation bound to the holder key, presented with a KB-JWT: (form, presentation)."""
    issued = issuers.attestation.issue(
        {"age_over_21": True},
        vct=AGE_ATTESTATION_VCT,
        holder_jwk=wallet.holder.key.public_jwk(),
        sd=("age_over_21",),
    )
    presentation = wallet.present_sd_jwt(request, issued)
    return wallet.build_response(request, [], sd_jwt_presentations=[presentation]), presentation


def _v1_response(
    http: httpx.Client, holder: Holder, client_id: str, jwt: str, vcs: list[str]
) -> tuple[str, dict[str, str], str]:
    """A 1.0 wallet's answer: the VP under the query's id, encrypted: (response_uri, form, vp)."""
    wallet = WalletV1(holder, http)
    request = wallet.check_request_object(client_id, jwt)
    vp = wallet.vp_for(request, vcs[0])
    payload = wallet.build_response_v1(request, {request.credential_ids()[0]: vp})
    return request.response_uri, {"response": wallet.encrypt(request, payload)}, vp


def prepare(
    service: ServiceProcess,
    http: httpx.Client,
    scenario: Scenario,
    issuers: Issuers,
    count: int,
    tag: str,
) -> Batch:
    """Create ``count`` transactions, fetch their request objects, and build one response for each.

    ``http`` is only handed to the holder simulator's Wallet, which makes no request here: the request
    object is checked with ``Wallet.check_request_object`` after the benchmark fetched it itself.
    """
    objects, create, fetched = asyncio.run(_create_and_fetch(service.url, scenario, count, tag, service))
    items: list[Prepared] = []
    issuer_keys = [issuers.age.key.public_key(), issuers.membership.key.public_key()]
    for serial, (txn, client_id, request_uri, jwt) in enumerate(objects):
        holder = Holder(KeyPair.generate(scenario.holder), "did:key")
        holder_key = holder.key.public_key()
        if scenario.protocol == "1.0":
            vcs = _credentials(scenario, issuers, holder.id, serial)
            response_uri, form, vp = _v1_response(http, holder, client_id, jwt, vcs)
            items.append(
                Prepared(
                    txn=txn,
                    response_uri=response_uri,
                    request=encode_request("POST", response_uri, urlencode(form).encode("ascii"), FORM_TYPE),
                    holder_checks=(_signed(vp, holder_key),),
                    issuer_checks=(_signed(vcs[0], issuer_keys[0]),),
                    request_object_input=jwt.rpartition(".")[0].encode("ascii"),
                )
            )
            continue
        wallet = Wallet(holder, http)
        request = dataclasses.replace(wallet.check_request_object(client_id, jwt), request_uri=request_uri)
        if scenario.format == "dc+sd-jwt":
            form, presentation = _sd_jwt_response(wallet, request, issuers)
            issuer_jwt, _, kb_jwt = split_presentation(presentation)
            holder_checks = (_signed(form["id_token"], holder_key), _signed(kb_jwt, holder_key))
            issuer_checks: tuple[Signed, ...] = (_signed(issuer_jwt, issuers.attestation.key.public_key()),)
        else:
            vcs = _credentials(scenario, issuers, wallet.holder.id, serial)
            form = wallet.build_response(request, vcs)
            holder_checks = (_signed(form["id_token"], holder_key), _signed(form["vp_token"], holder_key))
            issuer_checks = tuple(_signed(vc, key) for vc, key in zip(vcs, issuer_keys, strict=False))
        if form.get("state") is None:
            raise BenchError("the request object carries no state")
        body = urlencode(form).encode("ascii")
        items.append(
            Prepared(
                txn=txn,
                response_uri=request.response_uri,
                request=encode_request("POST", request.response_uri, body, FORM_TYPE),
                holder_checks=holder_checks,
                issuer_checks=issuer_checks,
                request_object_input=jwt.rpartition(".")[0].encode("ascii"),
            )
        )
    if len({item.request for item in items}) != len(items):
        raise BenchError("pre-generated responses are not all distinct")
    return Batch(items, create, fetched)
