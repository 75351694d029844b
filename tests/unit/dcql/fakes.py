"""Test doubles for the DCQL format handlers: tiny Decoded credentials and a Lookup over a dict of tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.errors import CredentialInvalid

VCT_PID = "https://credentials.example.com/identity_credential"


@dataclass(frozen=True)
class FakeSdJwt:
    """What the SD-JWT VC handler returns: processed payload, vct and where each Disclosure sits."""

    documents: tuple[Mapping[str, Any], ...]
    vct: str
    disclosed_paths: tuple[tuple[str | int, ...], ...]
    format: str = "dc+sd-jwt"
    alg: str = "ES256"


@dataclass(frozen=True)
class FakeJwtVc:
    """What the jwt_vc_json handler returns: the JWT claims set and the VCDM view, plus the types."""

    documents: tuple[Mapping[str, Any], ...]
    types: tuple[str, ...]
    format: str = "jwt_vc_json"
    alg: str = "ES256"


def sd_jwt(
    claims: Mapping[str, Any],
    *,
    vct: str = VCT_PID,
    disclosed: tuple[tuple[str | int, ...], ...] | None = None,
) -> FakeSdJwt:
    """An SD-JWT VC whose every top-level claim (unless ``disclosed`` says otherwise) is a Disclosure."""
    paths = disclosed if disclosed is not None else tuple((name,) for name in claims)
    payload = {"iss": "https://issuer.example", "vct": vct, "cnf": {"jwk": {}}, **claims}
    return FakeSdJwt(documents=(payload,), vct=vct, disclosed_paths=paths)


def jwt_vc(subject: Mapping[str, Any], *, types: tuple[str, ...] = ("VerifiableCredential",)) -> FakeJwtVc:
    vc = {"type": list(types), "credentialSubject": dict(subject)}
    payload = {"iss": "did:example:issuer", "vc": vc}
    return FakeJwtVc(documents=(payload, {**vc, "issuer": "did:example:issuer"}), types=types)


@dataclass
class FakeWallet:
    """Maps presentation strings to decoded credentials; records every lookup call."""

    objects: dict[str, Any] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, token: str, credential: Any) -> str:
        self.objects[token] = credential
        return token

    def lookup(self, fmt: str, presentation: Any) -> Any:
        self.calls.append((fmt, presentation))
        if not isinstance(presentation, str) or presentation not in self.objects:
            raise CredentialInvalid("credential.invalid", "unknown token")
        return self.objects[presentation]


def credential_query(query_id: str = "pid", *claims: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A dc+sd-jwt Credential Query asking for ``claims`` (none: no ``claims`` member)."""
    item: dict[str, Any] = {"id": query_id, "format": "dc+sd-jwt", "meta": {"vct_values": [VCT_PID]}}
    if claims:
        item["claims"] = list(claims)
    return {**item, **extra}


def claim(*path: str | int | None, **extra: Any) -> dict[str, Any]:
    return {"path": list(path), **extra}
