"""Test doubles for the format handlers: a tiny Decoded and a Lookup over a dict of tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.errors import CredentialInvalid
from service.presentation_exchange import PresentationDefinition, parse_definition

ALGS = ["EdDSA", "ES256"]


@dataclass(frozen=True)
class FakeDecoded:
    format: str
    alg: str
    documents: tuple[Mapping[str, Any], ...]


@dataclass
class FakeWallet:
    """Maps token strings to decoded objects; records every lookup call."""

    objects: dict[str, FakeDecoded] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def add_vc(
        self, token: str, subject: Mapping[str, Any], *, alg: str = "ES256", fmt: str = "jwt_vc_json"
    ) -> str:
        claims = {
            "iss": "did:example:issuer",
            "vc": {"type": ["VerifiableCredential"], "credentialSubject": dict(subject)},
        }
        self.objects[token] = FakeDecoded(fmt, alg, (claims, claims["vc"]))
        return token

    def add_vp(
        self, token: str, credentials: list[str], *, alg: str = "ES256", fmt: str = "jwt_vp_json"
    ) -> str:
        claims = {"iss": "did:example:holder", "vp": {"verifiableCredential": list(credentials)}}
        self.objects[token] = FakeDecoded(fmt, alg, (claims,))
        return token

    def lookup(self, fmt: str, node: Any) -> FakeDecoded:
        self.calls.append((fmt, node))
        if not isinstance(node, str) or node not in self.objects:
            raise CredentialInvalid("credential.invalid", "unknown token")
        return self.objects[node]


def entry(
    descriptor_id: str,
    *,
    path: str = "$",
    nested: str | None = "$.vp.verifiableCredential[0]",
    fmt: str = "jwt_vp_json",
    nested_fmt: str = "jwt_vc_json",
) -> dict[str, Any]:
    item: dict[str, Any] = {"id": descriptor_id, "format": fmt, "path": path}
    if nested is not None:
        item["path_nested"] = {"id": descriptor_id, "format": nested_fmt, "path": nested}
    return item


def submission(definition_id: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"id": "sub-1", "definition_id": definition_id, "descriptor_map": list(entries)}


def descriptor(descriptor_id: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": descriptor_id, "constraints": {"fields": list(fields)}, **extra}


def pd(*descriptors: dict[str, Any], definition_id: str = "pd-1", **extra: Any) -> PresentationDefinition:
    return parse_definition({"id": definition_id, "input_descriptors": list(descriptors), **extra})


def raw_pd(*descriptors: dict[str, Any], definition_id: str = "pd-1", **extra: Any) -> dict[str, Any]:
    return {"id": definition_id, "input_descriptors": list(descriptors), **extra}
