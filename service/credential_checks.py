"""Every presentation and credential of one response, verified once each: the PE / DCQL ``Lookup``.

``CredentialChecks`` decodes all presentations up front, then (``prepare``) resolves holder DIDs when there
is no ID Token, verifies each VP's holder proof and fetches the keys of trusted issuers only — the awaits.
``lookup`` then verifies a credential the first time the submission or the query points at it (issuer
trust, the issuer key by the mechanism its trust entry permits, signature, validity, holder binding), and
``check_statuses`` asks the status lists of the credentials used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from service.did.resolve import DidDocument, DidResolver, select_verification_method
from service.errors import CredentialInvalid, SubmissionMismatch
from service.holders import presentation_holder, presentation_holder_did, sd_jwt_holder, sd_jwt_holder_did
from service.id_token import Holder
from service.issuer_keys import check_issuer_matches_leaf, verify_x5c
from service.jose.jwk import PublicJwk
from service.jose.jws import Jws
from service.presentation_exchange import (
    Decoded,
)
from service.status import (
    StatusListSource,
    StatusOutcome,
    StatusPolicy,
    check_bitstring_status,
    check_token_status,
    parse_credential_status,
    parse_status_reference,
)
from service.tracing import set_attribute, span
from service.trust import TrustDecision, TrustedIssuer, TrustList
from service.verification_inputs import Expectations, IssuerKeys, KeySources, VerificationPolicy
from service.vocabulary import FORMAT_DC_SD_JWT, FORMAT_JWT_VC_JSON, FORMAT_JWT_VP_JSON
from service.vp_formats.jwt_vc_json import (
    PresentationExpectations,
    VerifiedCredential,
    VerifiedPresentation,
    credential_issuer,
    decode_credential,
    decode_presentation,
    verify_credential,
    verify_presentation,
)
from service.vp_formats.sd_jwt_vc import (
    InspectedSdJwt,
    SdJwtExpectations,
    VerifiedSdJwt,
    inspect_sd_jwt,
    verify_sd_jwt_vc,
)

__all__ = ["CredentialChecks", "is_sd_jwt"]


def is_sd_jwt(token: str) -> bool:
    # A compact JWS never contains '~'; an SD-JWT always does (RFC 9901 §4).
    return "~" in token


class CredentialChecks:
    """Every presentation of one response, verified once each: the PE / DCQL ``Lookup``."""

    def __init__(
        self,
        tokens: tuple[str, ...],
        *,
        holder: Holder | None,
        expected: Expectations,
        policy: VerificationPolicy,
        trust: TrustList,
        now: float,
    ) -> None:
        self._holder = holder
        self._expected = expected
        self._policy = policy
        self._trust = trust
        self._now = now
        self._vp_jws: dict[str, Jws] = {}
        self._presentations: dict[str, VerifiedPresentation] = {}
        self._sd_jwts: dict[str, InspectedSdJwt] = {}
        # Credentials are only accepted from inside a presentation the holder signed.
        self._vc_jwts: dict[str, Jws] = {}
        self._holders: dict[str, Holder] = {}
        """The holder each presentation or credential token is bound to."""
        for token in tokens:
            if is_sd_jwt(token):
                self._sd_jwts[token] = inspect_sd_jwt(
                    token, max_length=policy.max_token_bytes, max_disclosures=policy.max_disclosures
                )
            else:
                self._vp_jws[token] = decode_presentation(token, max_length=policy.max_token_bytes)
        self._holder_documents: dict[str, DidDocument] = {}
        self._documents: dict[str, DidDocument] = {}
        self._metadata: dict[str, IssuerKeys] = {}
        self._jwks: dict[str, IssuerKeys] = {}
        self._verified: dict[str, Decoded] = {}

    @property
    def _credential_skew(self) -> int:
        skew = self._policy.credential_clock_skew
        return self._policy.clock_skew if skew is None else skew

    async def prepare(self, keys: KeySources) -> None:
        """Resolve holder DIDs (no ID Token), verify every VP's holder proof, fetch trusted issuers' keys."""
        source = "presentation" if self._holder is None else "id_token"
        with span("verifier.holder_binding", source=source):
            await self._bind_presentations(keys.dids)
        await self.fetch_issuer_keys(keys)

    async def _bind_presentations(self, resolver: DidResolver) -> None:
        """The holder of every presentation: the ID Token's, or (1.0) the key each one names."""
        if self._holder is None:
            await self._resolve_holder_dids(resolver)
        index = 0
        for token, jws in self._vp_jws.items():
            with span("verifier.presentation", format=FORMAT_JWT_VP_JSON, index=index):
                self._add_presentation(token, jws)
            index += 1
        for token, inspected in self._sd_jwts.items():
            with span("verifier.presentation", format=FORMAT_DC_SD_JWT, index=index):
                self._holders[token] = self._holder or sd_jwt_holder(
                    inspected.jws.payload,
                    self._holder_document(sd_jwt_holder_did(inspected.jws.payload)),
                    subject_methods=self._policy.subject_methods,
                )
            index += 1

    async def _resolve_holder_dids(self, resolver: DidResolver) -> None:
        dids = {presentation_holder_did(jws) for jws in self._vp_jws.values()}
        dids |= {sd_jwt_holder_did(inspected.jws.payload) for inspected in self._sd_jwts.values()}
        for did in sorted(did for did in dids if did is not None):
            self._holder_documents[did] = await resolver.resolve(did)

    def _holder_document(self, did: str | None) -> DidDocument | None:
        return None if did is None else self._holder_documents.get(did)

    def common_holder(self) -> Holder | None:
        """The holder every presentation is bound to, when they agree (1.0 without ID Token)."""
        holders = {holder.id: holder for holder in self._holders.values()}
        return next(iter(holders.values())) if len(holders) == 1 else None

    def _add_presentation(self, token: str, jws: Jws) -> None:
        holder = self._holder or presentation_holder(
            jws,
            self._holder_document(presentation_holder_did(jws)),
            subject_methods=self._policy.subject_methods,
        )
        vp = verify_presentation(
            jws,
            holder=holder,
            expected=PresentationExpectations(
                client_id=self._expected.client_id,
                nonce=self._expected.nonce,
                allowed_algs=self._policy.holder_algs,
                clock_skew=self._policy.clock_skew,
                max_age=self._policy.max_age,
                max_credentials=self._policy.max_credentials,
            ),
            now=self._now,
        )
        self._presentations[token] = vp
        self._holders[token] = holder
        for credential in vp.credentials:
            if credential not in self._vc_jwts:
                self._vc_jwts[credential] = decode_credential(
                    credential, max_length=self._policy.max_token_bytes
                )
                self._holders[credential] = holder

    def _issuer_tokens(self) -> list[tuple[str, Jws]]:
        issued = [(credential_issuer(jws), jws) for jws in self._vc_jwts.values()]
        issued.extend((sd.issuer, sd.jws) for sd in self._sd_jwts.values())
        return issued

    async def fetch_issuer_keys(self, keys: KeySources) -> None:
        """Fetch keys of trusted issuers only: an untrusted issuer causes no I/O at all."""
        for issuer, jws in self._issuer_tokens():
            entry = self._trust.lookup(issuer, narrowed_to=self._expected.trusted_issuers)
            if entry is None or "x5c" in jws.header or entry.pinned_keys is not None:
                continue
            if entry.jwks_uri is not None and keys.jwks is not None:
                if issuer not in self._jwks:
                    self._jwks[issuer] = await keys.jwks.keys(entry.jwks_uri)
            elif issuer.startswith("did:"):
                if issuer not in self._documents:
                    self._documents[issuer] = await keys.dids.resolve(issuer)
            elif entry.metadata and keys.metadata is not None and issuer not in self._metadata:
                self._metadata[issuer] = await keys.metadata.keys(issuer)

    def lookup(self, fmt: str, node: Any) -> Decoded:
        """Map a node the submission (or the DCQL query) points at to its verified object."""
        if not isinstance(node, str):
            raise SubmissionMismatch("submission.format_mismatch", "The mapped element is not a token")
        if self._expected.dcql is not None and fmt == FORMAT_JWT_VC_JSON:
            return self._dcql_vc(node)
        if fmt == FORMAT_JWT_VP_JSON and node in self._presentations:
            return self._presentations[node]
        if (fmt == FORMAT_JWT_VC_JSON and node in self._vc_jwts) or (
            fmt == FORMAT_DC_SD_JWT and node in self._sd_jwts
        ):
            if node not in self._verified:
                self._verified[node] = self._verify(fmt, node)
            return self._verified[node]
        raise SubmissionMismatch(
            "submission.format_mismatch", "The mapped element is not of the declared format"
        )

    def _dcql_vc(self, node: str) -> Decoded:
        """1.0 App. B.1: a ``jwt_vc_json`` presentation is a VP JWT carrying the one credential shown."""
        presentation = self._presentations.get(node)
        if presentation is None:
            raise SubmissionMismatch(
                "dcql.format_mismatch", "A jwt_vc_json presentation must be a VP JWT, not an SD-JWT"
            )
        if len(presentation.credentials) != 1:
            raise SubmissionMismatch(
                "dcql.presentation_not_single", "A jwt_vc_json presentation must carry exactly one credential"
            )
        credential = presentation.credentials[0]
        if credential not in self._verified:
            self._verified[credential] = self._verify(FORMAT_JWT_VC_JSON, credential)
        return self._verified[credential]

    def _verify(self, fmt: str, token: str) -> Decoded:
        with span("verifier.credential", format=fmt):
            if fmt == FORMAT_DC_SD_JWT:
                return self._verify_sd_jwt(self._sd_jwts[token], self._holders[token])
            return self._verify_vc_jwt(self._vc_jwts[token], self._holders[token])

    def _trusted(self, issuer: str) -> TrustedIssuer:
        entry = self._trust.lookup(issuer, narrowed_to=self._expected.trusted_issuers)
        if entry is None:
            raise _untrusted()
        return entry

    async def check_statuses(
        self,
        used: Sequence[tuple[str, Decoded]],
        source: StatusListSource | None,
        *,
        allow_unknown: bool,
    ) -> dict[str, StatusOutcome]:
        """Status of every credential used; revoked or suspended rejects (TSL §8.3, BSL §3.2)."""
        outcomes: dict[str, StatusOutcome] = {}
        policy = StatusPolicy(allow_unknown=allow_unknown)
        for key, credential in used:
            with span("verifier.status", descriptor_id=key):
                try:
                    outcome = await self._status_of(credential, source, policy)
                except CredentialInvalid as exc:
                    # With several credentials the verdict must say which one's status failed.
                    exc.descriptor_id = exc.descriptor_id or key.split("/")[0]
                    raise
                if outcome is None:
                    set_attribute("status", "no_status")
                    continue
                set_attribute("status", outcome.state)
                set_attribute("status_reason", outcome.reason)
                outcomes[key] = outcome
        return outcomes

    async def _status_of(
        self, credential: Decoded, source: StatusListSource | None, policy: StatusPolicy
    ) -> StatusOutcome | None:
        document = credential.documents[0]
        issuer = str(getattr(credential, "issuer", ""))
        token_reference = parse_status_reference(document) if isinstance(credential, VerifiedSdJwt) else None
        bitstring = (
            parse_credential_status(document.get("vc", {}))
            if isinstance(credential, VerifiedCredential)
            else []
        )
        if token_reference is None and not bitstring:
            return None
        set_attribute("status_list", "token_status_list" if token_reference is not None else "bitstring")
        if source is None:
            raise CredentialInvalid("status.unreachable", "Status lists cannot be fetched by this deployment")

        def key_for_list(jws: Jws) -> PublicJwk:
            return self._list_key(jws, issuer)

        if token_reference is not None:
            return await check_token_status(
                token_reference,
                source=source,
                key_for_list=key_for_list,
                allowed_algs=self._policy.issuer_algs,
                now=self._now,
                clock_skew=self._credential_skew,
                policy=policy,
            )
        return await check_bitstring_status(
            bitstring,
            source=source,
            key_for_list=key_for_list,
            allowed_algs=self._policy.issuer_algs,
            now=self._now,
            clock_skew=self._credential_skew,
            policy=policy,
        )

    def _list_key(self, jws: Jws, issuer: str) -> PublicJwk:
        """A status list must be signed by the credential's own issuer, by its trust entry's key source."""
        list_issuer = jws.payload.get("iss", issuer)
        if isinstance(list_issuer, dict):
            list_issuer = list_issuer.get("id")
        if list_issuer != issuer:
            raise CredentialInvalid(
                "status.untrusted_list", "The status list is not signed by the credential issuer"
            )
        key, _ = self._issuer_key(jws, self._trusted(issuer))
        return key

    def _decision(self, entry: TrustedIssuer, key_source: str) -> TrustDecision:
        set_attribute("trust_rule", entry.rule)
        set_attribute("key_source", key_source)
        return TrustDecision(
            rule=entry.rule,
            key_source=key_source,
            narrowed_by_definition=self._expected.trusted_issuers is not None,
        )

    def _verify_vc_jwt(self, jws: Jws, holder: Holder) -> VerifiedCredential:
        issuer = credential_issuer(jws)
        entry = self._trusted(issuer)
        key, source = self._issuer_key(jws, entry)
        credential = verify_credential(
            jws,
            issuer_key=key,
            holder=holder,
            allowed_algs=self._policy.issuer_algs,
            now=self._now,
            clock_skew=self._credential_skew,
        )
        if not entry.admits_types(credential.types):
            raise _untrusted()
        return replace(credential, trust=self._decision(entry, source))

    def _verify_sd_jwt(self, inspected: InspectedSdJwt, holder: Holder) -> VerifiedSdJwt:
        entry = self._trusted(inspected.issuer)
        key, source = self._issuer_key(inspected.jws, entry)
        credential = verify_sd_jwt_vc(
            inspected,
            issuer_key=key,
            holder=holder,
            expected=SdJwtExpectations(
                client_id=self._expected.client_id,
                nonce=self._expected.nonce,
                issuer_algs=self._policy.issuer_algs,
                holder_algs=self._policy.holder_algs,
                clock_skew=self._policy.clock_skew,
                credential_clock_skew=self._credential_skew,
                key_binding_max_age=self._policy.key_binding_max_age,
            ),
            now=self._now,
        )
        if not entry.admits_vct(credential.vct):
            raise _untrusted()
        return replace(credential, trust=self._decision(entry, source))

    def _issuer_key(self, jws: Jws, entry: TrustedIssuer) -> tuple[PublicJwk, str]:
        """The issuer's key, and its source, by the mechanism its trust entry permits (never the token's)."""
        if "x5c" in jws.header:
            return self._x5c_key(jws, entry), "x5c"
        if entry.pinned_keys is not None:
            return _by_kid(entry.pinned_keys, jws.kid), "jwks"
        if entry.id in self._documents:
            document = self._documents[entry.id]
            return select_verification_method(
                document, jws.kid, relationship="assertionMethod"
            ).public_key, "did"
        if entry.id in self._jwks:
            return _by_kid(self._jwks[entry.id], jws.kid), "jwks_uri"
        if entry.id in self._metadata:
            return _by_kid(self._metadata[entry.id], jws.kid), "metadata"
        raise CredentialInvalid("credential.no_key_source", "No permitted way to find the issuer's key")

    def _x5c_key(self, jws: Jws, entry: TrustedIssuer) -> PublicJwk:
        if not entry.x509_anchors:
            raise CredentialInvalid("credential.untrusted_chain", "The issuer is not trusted by certificate")
        chain = verify_x5c(
            jws.header["x5c"], anchors=entry.x509_anchors, now=datetime.fromtimestamp(self._now, UTC)
        )
        check_issuer_matches_leaf(entry.id, chain)
        return chain.key


def _untrusted() -> CredentialInvalid:
    return CredentialInvalid("credential.untrusted_issuer", "The credential issuer is not trusted")


def _by_kid(keys: IssuerKeys, kid: str | None) -> PublicJwk:
    """A pinned or published key by ``kid`` (a DID URL names it by fragment); without kid, the only one."""
    if kid is not None:
        names = {kid}
        if "#" in kid:
            fragment = kid.split("#", 1)[1]
            names |= {fragment, f"#{fragment}"}
        for candidate_kid, key in keys:
            if candidate_kid is not None and candidate_kid in names:
                return key
        raise CredentialInvalid("credential.unknown_key", "The issuer key named by kid is not known")
    if len(keys) == 1:
        return keys[0][1]
    raise CredentialInvalid(
        "credential.unknown_key", "The credential names no key and the issuer has several"
    )
