"""verify_response end to end over in-memory ports: issuer key selection by trust entry, I/O only for
trusted issuers, and how vp_token and presentation_submission map onto verified credentials.

Tokens come from the test actors (no service code); the DID resolver and the issuer metadata source are
counting fakes, so the tests can say exactly which fetches a response caused.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from service.did import DidDocument, LocalDidResolver
from service.errors import (
    CredentialInvalid,
    IdTokenInvalid,
    PresentationInvalid,
    SubmissionMismatch,
    VerifierError,
)
from service.jose.jwk import PublicJwk, parse_public_jwk
from service.presentation_exchange import PresentationDefinition, parse_definition
from service.response import AuthorizationResponse
from service.trust import TrustList, parse_trust_list
from service.verification import (
    Expectations,
    KeySources,
    VerificationPolicy,
    VerifiedResponse,
    verify_response,
)
from tests.e2e.actors import Issuer, KeyPair, SdJwtIssuer, TestCa, present

NOW = 1_700_000_000
CLIENT_ID = "x509_san_dns:verifier.example.org"
NONCE = "n-0S6_WzA2Mj"
ALGS = ["EdDSA", "ES256"]
AGE_VCT = "urn:example:age:1"
PID_VCT = "urn:eudi:pid:1"
POLICY = VerificationPolicy(
    holder_algs=frozenset(ALGS),
    issuer_algs=frozenset(ALGS),
    clock_skew=60,
    max_age=600,
    max_token_bytes=64 * 1024,
    max_presentations=3,
    max_credentials=4,
    subject_methods=frozenset({"key", "jwk"}),
)

HOLDER_KEY = KeyPair.generate("p256")
ISSUER_KEY = KeyPair.generate("ed25519")
OTHER_ISSUER_KEY = KeyPair.generate("ed25519")
PINNED_1 = KeyPair.generate("p256")
PINNED_2 = KeyPair.generate("p256")
ISSUER_DID = ISSUER_KEY.did_key()
OTHER_ISSUER_DID = OTHER_ISSUER_KEY.did_key()
PINNED_ISSUER = "https://pinned.example"
META_ISSUER = "https://meta.example"
PID_ISSUER = "https://pid.example"


# --- Ports: counting fakes --- #


@dataclass
class CountingResolver:
    """A DidResolver over the local methods that records every DID it is asked for."""

    inner: LocalDidResolver = field(default_factory=LocalDidResolver)
    calls: list[str] = field(default_factory=list)

    async def resolve(self, did: str) -> DidDocument:
        self.calls.append(did)
        return await self.inner.resolve(did)


@dataclass
class CountingMetadata:
    """An IssuerMetadataSource serving fixed (kid, key) lists and recording every issuer asked for."""

    published: dict[str, tuple[tuple[str | None, PublicJwk], ...]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def keys(self, iss: str) -> tuple[tuple[str | None, PublicJwk], ...]:
        self.calls.append(iss)
        return self.published.get(iss, ())


@dataclass
class Ports:
    resolver: CountingResolver
    metadata: CountingMetadata

    def issuer_resolves(self) -> list[str]:
        """DIDs resolved other than the holder's own (which the ID Token always needs)."""
        return [did for did in self.resolver.calls if did != HOLDER_KEY.did_key()]


@pytest.fixture
def ports() -> Ports:
    published = {META_ISSUER: (("k1", _public(PINNED_1)), ("k2", _public(PINNED_2)))}
    return Ports(CountingResolver(), CountingMetadata(published))


# --- Holder side: ID Token, VP JWT --- #


@dataclass(frozen=True)
class Subject:
    """The holder as it signs: did:key (kid header) or JWK thumbprint (sub_jwk / jwk header)."""

    did: bool

    @property
    def id(self) -> str:
        return HOLDER_KEY.did_key() if self.did else HOLDER_KEY.thumbprint_uri()

    def header(self) -> dict[str, Any]:
        key_ref = {"kid": HOLDER_KEY.did_key_url()} if self.did else {"jwk": HOLDER_KEY.public_jwk()}
        return {"alg": HOLDER_KEY.alg, "typ": "JWT", **key_ref}

    def id_token(self) -> str:
        claims = {
            "iss": self.id,
            "sub": self.id,
            "aud": CLIENT_ID,
            "nonce": NONCE,
            "iat": NOW,
            "exp": NOW + 300,
        }
        header = {"alg": HOLDER_KEY.alg, "typ": "JWT"}
        if self.did:
            header["kid"] = HOLDER_KEY.did_key_url()
        else:
            claims["sub_jwk"] = HOLDER_KEY.public_jwk()
        return HOLDER_KEY.sign_jws(header, claims)

    def vp(self, credentials: Sequence[str], **extra: Any) -> str:
        vp = {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": ["VerifiablePresentation"],
            "holder": self.id,
            "verifiableCredential": list(credentials),
        }
        claims = {"iss": self.id, "aud": CLIENT_ID, "nonce": NONCE, "iat": NOW, "exp": NOW + 300, "vp": vp}
        return HOLDER_KEY.sign_jws(self.header(), {**claims, **extra})


DID_HOLDER = Subject(did=True)
THUMBPRINT_HOLDER = Subject(did=False)


# --- Issuer side: JWT VCs and SD-JWT VCs --- #


def _public(key: KeyPair) -> PublicJwk:
    return parse_public_jwk(key.public_jwk())


def _vc(
    holder: Subject = DID_HOLDER,
    *,
    key: KeyPair = ISSUER_KEY,
    types: Sequence[str] = ("AgeCredential",),
    **options: Any,
) -> str:
    return Issuer(key, now=lambda: NOW).issue(holder.id, {"ageOver18": True}, types=types, **options)


def _sd_jwt(
    issuer: SdJwtIssuer,
    *,
    vct: str = PID_VCT,
    holder_key: KeyPair = HOLDER_KEY,
    **options: Any,
) -> str:
    issued = issuer.issue(
        {"age_over_18": True, "given_name": "Erika"},
        vct=vct,
        holder_jwk=holder_key.public_jwk(),
        sd=["age_over_18", "given_name"],
        **options,
    )
    return present(
        issued, disclose=["age_over_18"], aud=CLIENT_ID, nonce=NONCE, holder_key=holder_key, now=NOW
    )


def _sd_issuer(key: KeyPair, iss: str, **options: Any) -> SdJwtIssuer:
    return SdJwtIssuer(key, iss, now=lambda: NOW, **options)


# --- Definition, submission, trust --- #

AGE_FIELD = {"path": ["$.vc.credentialSubject.ageOver18"], "filter": {"type": "boolean", "const": True}}
SD_AGE_FIELD = {"path": ["$.age_over_18"], "filter": {"type": "boolean", "const": True}}


def _vc_descriptor(descriptor_id: str) -> dict[str, Any]:
    return {
        "id": descriptor_id,
        "format": {"jwt_vc_json": {"alg": ALGS}, "jwt_vp_json": {"alg": ALGS}},
        "constraints": {"fields": [AGE_FIELD]},
    }


def _sd_descriptor(descriptor_id: str) -> dict[str, Any]:
    return {
        "id": descriptor_id,
        "format": {"dc+sd-jwt": {"sd-jwt_alg_values": ALGS, "kb-jwt_alg_values": ALGS}},
        "constraints": {"fields": [{"path": ["$.vct"]}, SD_AGE_FIELD]},
    }


def _definition(*descriptors: dict[str, Any]) -> PresentationDefinition:
    return parse_definition({"id": "test-definition", "input_descriptors": list(descriptors)})


VC_DEFINITION = _definition(_vc_descriptor("age"))
TWO_VC_DEFINITION = _definition(_vc_descriptor("age"), _vc_descriptor("age_again"))
SD_DEFINITION = _definition(_sd_descriptor("pid"))
BOTH_DEFINITION = _definition(_vc_descriptor("age"), _sd_descriptor("pid"))


def _top(index: int | None) -> str:
    return "$" if index is None else f"$[{index}]"


def vc_entry(
    descriptor_id: str,
    vp_index: int | None = None,
    vc_index: int = 0,
    *,
    nested_format: str = "jwt_vc_json",
    nested_path: str | None = None,
) -> dict[str, Any]:
    """A map entry for a VC inside a VP (path_nested into vp.verifiableCredential)."""
    return {
        "id": descriptor_id,
        "format": "jwt_vp_json",
        "path": _top(vp_index),
        "path_nested": {
            "id": descriptor_id,
            "format": nested_format,
            "path": nested_path or f"$.vp.verifiableCredential[{vc_index}]",
        },
    }


def sd_entry(descriptor_id: str, index: int | None = None, *, fmt: str = "dc+sd-jwt") -> dict[str, Any]:
    """A map entry for a top-level SD-JWT."""
    return {"id": descriptor_id, "format": fmt, "path": _top(index)}


def _submission(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"id": "submission-1", "definition_id": "test-definition", "descriptor_map": list(entries)}


def _trust(*issuers: Mapping[str, Any]) -> TrustList:
    return parse_trust_list(json.dumps({"issuers": list(issuers)}))


def _jwks(*keys: tuple[str | None, KeyPair]) -> dict[str, Any]:
    return {"keys": [{**key.public_jwk(), **({"kid": kid} if kid else {})} for kid, key in keys]}


DID_TRUST = _trust({"id": ISSUER_DID})


def _response(
    vp_token: Any,
    submission: Any,
    holder: Subject = DID_HOLDER,
) -> AuthorizationResponse:
    return AuthorizationResponse(
        state=None, id_token=holder.id_token(), vp_token=vp_token, presentation_submission=submission
    )


def _verify(
    ports: Ports,
    response: AuthorizationResponse,
    *,
    definition: PresentationDefinition,
    trust: TrustList,
    trusted_issuers: frozenset[str] | None = None,
    with_metadata: bool = True,
) -> VerifiedResponse:
    return asyncio.run(
        verify_response(
            response,
            expected=Expectations(
                client_id=CLIENT_ID, nonce=NONCE, definition=definition, trusted_issuers=trusted_issuers
            ),
            policy=POLICY,
            trust=trust,
            keys=KeySources(dids=ports.resolver, metadata=ports.metadata if with_metadata else None),
            now=NOW,
        )
    )


def _reason(call: Callable[[], object], error: type[VerifierError] = VerifierError) -> str:
    with pytest.raises(error) as caught:
        call()
    return caught.value.reason


def _vc_response(vc: str, holder: Subject = DID_HOLDER) -> AuthorizationResponse:
    return _response(holder.vp([vc]), _submission(vc_entry("age")), holder)


def _sd_response(token: str, holder: Subject = DID_HOLDER) -> AuthorizationResponse:
    return _response(token, _submission(sd_entry("pid")), holder)


# --- Happy paths --- #


def test_vp_and_sd_jwt_in_one_vp_token_satisfy_two_descriptors(ports: Ports) -> None:
    """A VP (with a JWT VC) and an SD-JWT side by side: verified, both descriptors in the result."""
    vc = _vc()
    sd = _sd_jwt(_sd_issuer(ISSUER_KEY, ISSUER_DID, kid=ISSUER_KEY.did_key_url()))
    response = _response([DID_HOLDER.vp([vc]), sd], _submission(vc_entry("age", 0), sd_entry("pid", 1)))
    verified = _verify(ports, response, definition=BOTH_DEFINITION, trust=DID_TRUST)
    assert verified.holder.id == DID_HOLDER.id
    assert [item.descriptor_id for item in verified.submission.descriptors] == ["age", "pid"]
    age, pid = verified.submission.get("age"), verified.submission.get("pid")
    assert age is not None
    assert pid is not None
    assert age.credential.format == "jwt_vc_json"
    assert [outer.format for outer in age.presentations] == ["jwt_vp_json"]
    assert pid.credential.format == "dc+sd-jwt"
    assert pid.presentations == ()
    assert pid.credential.documents[0]["age_over_18"] is True
    assert "given_name" not in pid.credential.documents[0]
    # One DID issuer behind both credentials: its document is fetched once.
    assert ports.issuer_resolves() == [ISSUER_DID]


def test_thumbprint_holder_with_vp_is_verified(ports: Ports) -> None:
    """A JWK-thumbprint holder: no DID resolution for the holder, the issuer DID resolved once."""
    verified = _verify(
        ports,
        _vc_response(_vc(THUMBPRINT_HOLDER), THUMBPRINT_HOLDER),
        definition=VC_DEFINITION,
        trust=DID_TRUST,
    )
    assert verified.holder.id == THUMBPRINT_HOLDER.id
    assert ports.resolver.calls == [ISSUER_DID]


def test_trusted_did_issuer_of_two_credentials_is_resolved_once(ports: Ports) -> None:
    """Two VCs of one trusted DID issuer in one VP: the issuer DID is resolved exactly once."""
    vp = DID_HOLDER.vp([_vc(), _vc()])
    response = _response(vp, _submission(vc_entry("age", None, 0), vc_entry("age_again", None, 1)))
    verified = _verify(ports, response, definition=TWO_VC_DEFINITION, trust=DID_TRUST)
    assert len(verified.submission.descriptors) == 2
    assert ports.resolver.calls == [DID_HOLDER.id, ISSUER_DID]
    assert ports.metadata.calls == []


# --- Untrusted issuers cause no I/O --- #


def test_untrusted_did_issuer_is_refused_without_resolution(ports: Ports) -> None:
    """A JWT VC from a DID issuer not on the list: untrusted_issuer, and its DID is never resolved."""
    response = _vc_response(_vc(THUMBPRINT_HOLDER, key=OTHER_ISSUER_KEY), THUMBPRINT_HOLDER)
    reason = _reason(lambda: _verify(ports, response, definition=VC_DEFINITION, trust=DID_TRUST))
    assert reason == "credential.untrusted_issuer"
    assert ports.resolver.calls == []
    assert ports.metadata.calls == []


def test_untrusted_https_issuer_is_refused_without_metadata_fetch(ports: Ports) -> None:
    """An SD-JWT from an https issuer not on the list: untrusted_issuer, no metadata fetch."""
    token = _sd_jwt(_sd_issuer(PINNED_2, "https://stranger.example", kid="k2"))
    trust = _trust({"id": META_ISSUER, "metadata": True})
    reason = _reason(
        lambda: _verify(ports, _sd_response(token, THUMBPRINT_HOLDER), definition=SD_DEFINITION, trust=trust)
    )
    assert reason == "credential.untrusted_issuer"
    assert ports.resolver.calls == []
    assert ports.metadata.calls == []


def test_untrusted_issuers_cause_no_io_even_when_a_trusted_one_is_present(ports: Ports) -> None:
    """Only the trusted issuer's keys are fetched; the untrusted credential then fails on its own."""
    trusted = _sd_jwt(_sd_issuer(PINNED_2, META_ISSUER, kid="k2"))
    untrusted = _vc(THUMBPRINT_HOLDER, key=OTHER_ISSUER_KEY)
    response = _response(
        [THUMBPRINT_HOLDER.vp([untrusted]), trusted],
        _submission(vc_entry("age", 0), sd_entry("pid", 1)),
        THUMBPRINT_HOLDER,
    )
    trust = _trust({"id": META_ISSUER, "metadata": True})
    reason = _reason(lambda: _verify(ports, response, definition=BOTH_DEFINITION, trust=trust))
    assert reason == "credential.untrusted_issuer"
    assert ports.resolver.calls == []
    assert ports.metadata.calls == [META_ISSUER]


def test_narrowed_trusted_issuers_exclude_an_otherwise_trusted_issuer(ports: Ports) -> None:
    """A definition's trusted_issuers that leaves the issuer out: untrusted_issuer, and no resolution."""
    response = _vc_response(_vc(THUMBPRINT_HOLDER), THUMBPRINT_HOLDER)
    reason = _reason(
        lambda: _verify(
            ports,
            response,
            definition=VC_DEFINITION,
            trust=DID_TRUST,
            trusted_issuers=frozenset({OTHER_ISSUER_DID}),
        )
    )
    assert reason == "credential.untrusted_issuer"
    assert ports.resolver.calls == []


def test_narrowing_can_never_widen_the_trust_list(ports: Ports) -> None:
    """Naming an issuer in trusted_issuers that the trust file does not list does not trust it."""
    response = _vc_response(_vc(THUMBPRINT_HOLDER, key=OTHER_ISSUER_KEY), THUMBPRINT_HOLDER)
    reason = _reason(
        lambda: _verify(
            ports,
            response,
            definition=VC_DEFINITION,
            trust=DID_TRUST,
            trusted_issuers=frozenset({OTHER_ISSUER_DID}),
        )
    )
    assert reason == "credential.untrusted_issuer"
    assert ports.resolver.calls == []


def test_narrowing_that_includes_the_issuer_still_verifies(ports: Ports) -> None:
    """trusted_issuers naming the trusted issuer leaves it trusted."""
    response = _vc_response(_vc())
    verified = _verify(
        ports, response, definition=VC_DEFINITION, trust=DID_TRUST, trusted_issuers=frozenset({ISSUER_DID})
    )
    assert verified.submission.get("age") is not None


# --- x5c --- #


def test_x5c_on_a_credential_whose_issuer_has_no_anchors_is_untrusted_chain(ports: Ports) -> None:
    """A trusted DID issuer that adds an x5c header: x5c is not its mechanism (untrusted_chain), no I/O."""
    ca = TestCa.create(now=lambda: NOW)
    leaf, _ = ca.leaf(uris=[ISSUER_DID], key=KeyPair.generate("p256"))
    token = _sd_jwt(_sd_issuer(ISSUER_KEY, ISSUER_DID, kid=ISSUER_KEY.did_key_url(), x5c=ca.x5c(leaf)))
    reason = _reason(
        lambda: _verify(
            ports, _sd_response(token, THUMBPRINT_HOLDER), definition=SD_DEFINITION, trust=DID_TRUST
        )
    )
    assert reason == "credential.untrusted_chain"
    assert ports.resolver.calls == []


def test_x5c_on_a_pinned_jwks_issuer_is_untrusted_chain(ports: Ports) -> None:
    """An https issuer trusted by pinned jwks cannot switch to an x5c chain of its choosing."""
    ca = TestCa.create(now=lambda: NOW)
    leaf, leaf_key = ca.leaf(dns_names=["pinned.example"])
    token = _sd_jwt(_sd_issuer(leaf_key, PINNED_ISSUER, x5c=ca.x5c(leaf)))
    trust = _trust({"id": PINNED_ISSUER, "jwks": _jwks(("k1", PINNED_1))})
    reason = _reason(lambda: _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=trust))
    assert reason == "credential.untrusted_chain"


def test_x5c_chain_to_a_configured_anchor_is_verified(ports: Ports) -> None:
    """An x5c leaf under the configured root whose dNSName is the issuer's host: verified, no I/O."""
    ca = TestCa.create(now=lambda: NOW)
    leaf, leaf_key = ca.leaf(dns_names=["pid.example"])
    token = _sd_jwt(_sd_issuer(leaf_key, PID_ISSUER, x5c=ca.x5c(leaf)))
    trust = _trust({"id": PID_ISSUER, "x509_anchors": [ca.root_pem()]})
    verified = _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=trust)
    pid = verified.submission.get("pid")
    assert pid is not None
    assert pid.credential.documents[0]["iss"] == PID_ISSUER
    assert ports.issuer_resolves() == []
    assert ports.metadata.calls == []


def test_x5c_leaf_not_naming_the_issuer_is_issuer_mismatch(ports: Ports) -> None:
    """A valid chain whose leaf SAN names another host than the trust entry's https id: issuer_mismatch."""
    ca = TestCa.create(now=lambda: NOW)
    leaf, leaf_key = ca.leaf(dns_names=["other.example"], uris=["https://other.example"])
    token = _sd_jwt(_sd_issuer(leaf_key, PID_ISSUER, x5c=ca.x5c(leaf)))
    trust = _trust({"id": PID_ISSUER, "x509_anchors": [ca.root_pem()]})
    reason = _reason(lambda: _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=trust))
    assert reason == "credential.issuer_mismatch"


def test_x5c_chain_to_another_root_is_untrusted_chain(ports: Ports) -> None:
    """A chain from a CA that is not the entry's anchor: untrusted_chain."""
    ca, rogue = TestCa.create(now=lambda: NOW), TestCa.create("Rogue Root", now=lambda: NOW)
    leaf, leaf_key = rogue.leaf(dns_names=["pid.example"])
    token = _sd_jwt(_sd_issuer(leaf_key, PID_ISSUER, x5c=rogue.x5c(leaf)))
    trust = _trust({"id": PID_ISSUER, "x509_anchors": [ca.root_pem()]})
    reason = _reason(lambda: _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=trust))
    assert reason == "credential.untrusted_chain"


def test_x509_only_issuer_without_x5c_has_no_key_source(ports: Ports) -> None:
    """An issuer trusted only by X.509 anchors cannot be verified by any other key: no_key_source, no I/O."""
    ca = TestCa.create(now=lambda: NOW)
    token = _sd_jwt(_sd_issuer(PINNED_1, PID_ISSUER, kid="k1"))
    trust = _trust({"id": PID_ISSUER, "x509_anchors": [ca.root_pem()]})
    reason = _reason(lambda: _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=trust))
    assert reason == "credential.no_key_source"
    assert ports.issuer_resolves() == []
    assert ports.metadata.calls == []


# --- Pinned jwks --- #

PINNED_TRUST = _trust({"id": PINNED_ISSUER, "jwks": _jwks(("k1", PINNED_1), ("k2", PINNED_2))})


@pytest.mark.parametrize(("kid", "signer"), [("k1", PINNED_1), ("k2", PINNED_2)])
def test_pinned_jwks_issuer_key_is_selected_by_kid(ports: Ports, kid: str, signer: KeyPair) -> None:
    """Each pinned key is picked by its kid; no DID or metadata I/O."""
    token = _sd_jwt(_sd_issuer(signer, PINNED_ISSUER, kid=kid))
    verified = _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=PINNED_TRUST)
    assert verified.submission.get("pid") is not None
    assert ports.issuer_resolves() == []
    assert ports.metadata.calls == []


def test_pinned_kid_selects_the_key_that_must_verify(ports: Ports) -> None:
    """kid k1 on a token signed with k2's key: the k1 key is used and the signature fails."""
    token = _sd_jwt(_sd_issuer(PINNED_2, PINNED_ISSUER, kid="k1"))
    reason = _reason(
        lambda: _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=PINNED_TRUST)
    )
    assert reason == "credential.bad_signature"


@pytest.mark.parametrize("kid", [f"{ISSUER_DID}#key-2", "#key-2"])
def test_pinned_did_issuer_key_is_selected_by_did_url_fragment(ports: Ports, kid: str) -> None:
    """A DID issuer with pinned keys: a DID URL kid selects by fragment; its DID document is never fetched."""
    trust = _trust({"id": ISSUER_DID, "jwks": _jwks(("key-1", PINNED_1), ("key-2", ISSUER_KEY))})
    vc = _vc(header_overrides={"kid": kid})
    verified = _verify(ports, _vc_response(vc), definition=VC_DEFINITION, trust=trust)
    assert verified.submission.get("age") is not None
    assert ports.issuer_resolves() == []


@pytest.mark.parametrize("kid", ["k3", "did:example:issuer#k3", ""])
def test_pinned_jwks_unknown_kid_is_unknown_key(ports: Ports, kid: str) -> None:
    """A kid that names no pinned key: credential.unknown_key (no fallback to another key)."""
    token = _sd_jwt(_sd_issuer(PINNED_2, PINNED_ISSUER, kid=kid))
    reason = _reason(
        lambda: _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=PINNED_TRUST)
    )
    assert reason == "credential.unknown_key"


def test_several_pinned_keys_and_no_kid_is_unknown_key(ports: Ports) -> None:
    """Without kid the issuer key is ambiguous among several pinned keys: credential.unknown_key."""
    token = _sd_jwt(_sd_issuer(PINNED_1, PINNED_ISSUER))
    reason = _reason(
        lambda: _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=PINNED_TRUST)
    )
    assert reason == "credential.unknown_key"


def test_single_pinned_key_needs_no_kid(ports: Ports) -> None:
    """With exactly one pinned key, a token without kid uses it."""
    trust = _trust({"id": PINNED_ISSUER, "jwks": _jwks((None, PINNED_1))})
    token = _sd_jwt(_sd_issuer(PINNED_1, PINNED_ISSUER))
    assert _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=trust).submission.descriptors


# --- Issuer metadata --- #

META_TRUST = _trust({"id": META_ISSUER, "metadata": True})


@pytest.mark.parametrize(("kid", "signer"), [("k1", PINNED_1), ("k2", PINNED_2)])
def test_metadata_issuer_key_is_selected_by_kid(ports: Ports, kid: str, signer: KeyPair) -> None:
    """Keys from the issuer metadata, picked by kid; the metadata is fetched once for that issuer."""
    token = _sd_jwt(_sd_issuer(signer, META_ISSUER, kid=kid))
    verified = _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=META_TRUST)
    assert verified.submission.get("pid") is not None
    assert ports.metadata.calls == [META_ISSUER]
    assert ports.issuer_resolves() == []


def test_metadata_issuer_unknown_kid_is_unknown_key(ports: Ports) -> None:
    """A kid the published metadata does not list: credential.unknown_key."""
    token = _sd_jwt(_sd_issuer(PINNED_2, META_ISSUER, kid="k9"))
    reason = _reason(lambda: _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=META_TRUST))
    assert reason == "credential.unknown_key"


def test_metadata_issuer_without_a_metadata_source_has_no_key_source(ports: Ports) -> None:
    """A metadata-trusted issuer when no metadata port is wired: credential.no_key_source."""
    token = _sd_jwt(_sd_issuer(PINNED_2, META_ISSUER, kid="k2"))
    reason = _reason(
        lambda: _verify(
            ports, _sd_response(token), definition=SD_DEFINITION, trust=META_TRUST, with_metadata=False
        )
    )
    assert reason == "credential.no_key_source"


# --- Trust restricted by type --- #


def test_issuer_trusted_for_another_vct_is_untrusted(ports: Ports) -> None:
    """An issuer trusted only for vct X presenting vct Y: credential.untrusted_issuer."""
    trust = _trust({"id": META_ISSUER, "metadata": True, "vct": [PID_VCT]})
    token = _sd_jwt(_sd_issuer(PINNED_2, META_ISSUER, kid="k2"), vct=AGE_VCT)
    reason = _reason(lambda: _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=trust))
    assert reason == "credential.untrusted_issuer"


def test_issuer_trusted_for_the_vct_presented_is_verified(ports: Ports) -> None:
    """The same issuer presenting a vct it is trusted for passes."""
    trust = _trust({"id": META_ISSUER, "metadata": True, "vct": [AGE_VCT, PID_VCT]})
    token = _sd_jwt(_sd_issuer(PINNED_2, META_ISSUER, kid="k2"), vct=AGE_VCT)
    assert _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=trust).submission.descriptors


def test_issuer_trusted_for_other_credential_types_is_untrusted(ports: Ports) -> None:
    """A JWT VC whose types miss the issuer's credential_types: credential.untrusted_issuer."""
    trust = _trust({"id": ISSUER_DID, "credential_types": ["IdentityCredential"]})
    reason = _reason(lambda: _verify(ports, _vc_response(_vc()), definition=VC_DEFINITION, trust=trust))
    assert reason == "credential.untrusted_issuer"


# --- Submission mapping --- #


def test_vc_mapped_directly_at_top_level_is_format_mismatch(ports: Ports) -> None:
    """A jwt_vc_json entry pointing straight at the vp_token (a VP): submission.format_mismatch."""
    response = _response(
        DID_HOLDER.vp([_vc()]), _submission({"id": "age", "format": "jwt_vc_json", "path": "$"})
    )
    reason = _reason(lambda: _verify(ports, response, definition=VC_DEFINITION, trust=DID_TRUST))
    assert reason == "submission.format_mismatch"


def test_vc_outside_verifiable_credential_is_format_mismatch(ports: Ports) -> None:
    """A valid VC smuggled into another VP claim and mapped there is not a presented credential."""
    vc = _vc()
    vp = DID_HOLDER.vp([], evidence=vc)
    response = _response(vp, _submission(vc_entry("age", nested_path="$.evidence")))
    reason = _reason(lambda: _verify(ports, response, definition=VC_DEFINITION, trust=DID_TRUST))
    assert reason == "submission.format_mismatch"


def test_jwt_vc_mapped_as_sd_jwt_is_format_mismatch(ports: Ports) -> None:
    """A JWT VC inside a VP mapped with format dc+sd-jwt: submission.format_mismatch."""
    response = _response(DID_HOLDER.vp([_vc()]), _submission(vc_entry("pid", nested_format="dc+sd-jwt")))
    reason = _reason(lambda: _verify(ports, response, definition=SD_DEFINITION, trust=DID_TRUST))
    assert reason == "submission.format_mismatch"


@pytest.mark.parametrize("fmt", ["jwt_vp_json", "jwt_vc_json"])
def test_sd_jwt_mapped_as_a_jwt_format_is_format_mismatch(ports: Ports, fmt: str) -> None:
    """A top-level SD-JWT mapped as a VP or a JWT VC: submission.format_mismatch."""
    token = _sd_jwt(_sd_issuer(PINNED_1, PINNED_ISSUER, kid="k1"))
    response = _response(token, _submission(sd_entry("pid", fmt=fmt)))
    reason = _reason(lambda: _verify(ports, response, definition=SD_DEFINITION, trust=PINNED_TRUST))
    assert reason == "submission.format_mismatch"


def test_vp_mapped_as_sd_jwt_is_format_mismatch(ports: Ports) -> None:
    """A VP JWT mapped with format dc+sd-jwt: submission.format_mismatch."""
    response = _response(DID_HOLDER.vp([_vc()]), _submission(sd_entry("pid")))
    reason = _reason(lambda: _verify(ports, response, definition=SD_DEFINITION, trust=DID_TRUST))
    assert reason == "submission.format_mismatch"


def test_missing_presentation_submission_is_submission_missing(ports: Ports) -> None:
    """A response without presentation_submission: submission.missing."""
    response = _response(DID_HOLDER.vp([_vc()]), None)
    reason = _reason(
        lambda: _verify(ports, response, definition=VC_DEFINITION, trust=DID_TRUST), SubmissionMismatch
    )
    assert reason == "submission.missing"


# --- vp_token shape --- #


def test_too_many_presentations_is_too_many(ports: Ports) -> None:
    """More presentations than max_presentations: presentation.too_many (before any is decoded)."""
    response = _response(["a.b.c"] * (POLICY.max_presentations + 1), _submission(vc_entry("age", 0)))
    reason = _reason(
        lambda: _verify(ports, response, definition=VC_DEFINITION, trust=DID_TRUST), PresentationInvalid
    )
    assert reason == "presentation.too_many"


@pytest.mark.parametrize("vp_token", [[], 42, [42], ["a.b.c", None], {"0": "a.b.c"}, True], ids=repr)
def test_malformed_vp_token_is_malformed(ports: Ports, vp_token: Any) -> None:
    """vp_token an empty list, a number, or not all strings: presentation.malformed."""
    response = _response(vp_token, _submission(vc_entry("age")))
    reason = _reason(
        lambda: _verify(ports, response, definition=VC_DEFINITION, trust=DID_TRUST), PresentationInvalid
    )
    assert reason == "presentation.malformed"


def test_vp_with_array_typ_is_wrong_typ(ports: Ports) -> None:
    """A VP JWT whose typ header is an array is presentation.wrong_typ, not an unhandled TypeError."""
    claims = {"iss": DID_HOLDER.id, "aud": CLIENT_ID, "nonce": NONCE, "iat": NOW, "vp": {}}
    vp = HOLDER_KEY.sign_jws({**DID_HOLDER.header(), "typ": ["JWT"]}, claims)
    response = _response(vp, _submission(vc_entry("age")))
    reason = _reason(lambda: _verify(ports, response, definition=VC_DEFINITION, trust=DID_TRUST))
    assert reason == "presentation.wrong_typ"


def test_vc_with_object_typ_is_wrong_typ(ports: Ports) -> None:
    """A VC JWT inside a valid VP whose typ header is an object is credential.wrong_typ."""
    vc = _vc(header_overrides={"typ": {"media": "JWT"}})
    reason = _reason(lambda: _verify(ports, _vc_response(vc), definition=VC_DEFINITION, trust=DID_TRUST))
    assert reason == "credential.wrong_typ"


def test_sd_jwt_with_array_typ_is_wrong_typ(ports: Ports) -> None:
    """An SD-JWT whose issuer JWT typ is an array is credential.wrong_typ."""
    token = _sd_jwt(_sd_issuer(PINNED_1, PINNED_ISSUER, kid="k1", typ=["dc+sd-jwt"]))
    reason = _reason(
        lambda: _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=PINNED_TRUST)
    )
    assert reason == "credential.wrong_typ"


def test_missing_vp_token_is_presentation_missing(ports: Ports) -> None:
    """No vp_token at all: presentation.missing."""
    response = _response(None, _submission(vc_entry("age")))
    reason = _reason(
        lambda: _verify(ports, response, definition=VC_DEFINITION, trust=DID_TRUST), PresentationInvalid
    )
    assert reason == "presentation.missing"


def test_missing_id_token_is_refused_before_anything_else(ports: Ports) -> None:
    """No id_token: id_token.missing, and nothing is resolved."""
    response = AuthorizationResponse(state=None, id_token=None, vp_token=None, presentation_submission=None)
    reason = _reason(
        lambda: _verify(ports, response, definition=VC_DEFINITION, trust=DID_TRUST), IdTokenInvalid
    )
    assert reason == "id_token.missing"
    assert ports.resolver.calls == []


def test_holder_binding_failure_passes_through_the_pipeline(ports: Ports) -> None:
    """An SD-JWT bound to another holder key fails as holder_binding.cnf_mismatch, not as a credential."""
    other = KeyPair.generate("p256")
    token = _sd_jwt(_sd_issuer(PINNED_1, PINNED_ISSUER, kid="k1"), holder_key=other)
    with pytest.raises(VerifierError) as caught:
        _verify(ports, _sd_response(token), definition=SD_DEFINITION, trust=PINNED_TRUST)
    assert caught.value.reason == "holder_binding.cnf_mismatch"
    assert not isinstance(caught.value, CredentialInvalid)
