"""Holder binding without an ID Token: which key each 1.0 presentation proves (service.holders)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.did import did_key_from_jwk, resolve_did_key
from service.errors import HolderBindingFailed, VerifierError
from service.holders import presentation_holder, presentation_holder_did, sd_jwt_holder, sd_jwt_holder_did
from service.jose.jwk import jwk_thumbprint_uri, public_jwk_from_key
from service.jose.jws import Jws

ALL = frozenset({"key", "jwk", "web"})


def _jws(header: dict[str, Any], payload: dict[str, Any] | None = None) -> Jws:
    return Jws(
        header={"alg": "EdDSA", **header}, payload=payload or {}, signing_input=b"", signature=b"", raw=""
    )


def _did_key() -> tuple[str, Any, str]:
    public = public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
    did = did_key_from_jwk(public)
    return did, public, resolve_did_key(did).verification_methods[0].id


def test_a_vp_signed_by_a_did_url_is_held_by_that_did() -> None:
    did, public, kid = _did_key()
    jws = _jws({"kid": kid})
    assert presentation_holder_did(jws) == did
    holder = presentation_holder(jws, resolve_did_key(did), subject_methods=ALL)
    assert (holder.id, holder.method, holder.key) == (did, "did", public)


def test_a_vp_with_a_jwk_header_is_held_by_its_thumbprint() -> None:
    public = public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
    jws = _jws({"jwk": public.to_dict()})
    assert presentation_holder_did(jws) is None
    holder = presentation_holder(jws, None, subject_methods=ALL)
    assert (holder.id, holder.method) == (jwk_thumbprint_uri(public), "jwk_thumbprint")


@pytest.mark.parametrize(
    "header",
    [{}, {"kid": "key-1"}, {"jwk": {"kty": "oct", "k": "c2VjcmV0"}}, {"jwk": "not an object"}],
)
def test_a_vp_naming_no_usable_key_is_refused(header: dict[str, Any]) -> None:
    with pytest.raises(HolderBindingFailed) as caught:
        presentation_holder(_jws(header), None, subject_methods=ALL)
    assert caught.value.reason == "holder_binding.no_holder_key"


def test_a_vp_whose_did_was_not_resolved_or_is_not_allowed_is_refused() -> None:
    did, _, kid = _did_key()
    other, _, _ = _did_key()
    with pytest.raises(HolderBindingFailed):
        presentation_holder(_jws({"kid": kid}), resolve_did_key(other), subject_methods=ALL)
    with pytest.raises(HolderBindingFailed) as caught:
        presentation_holder(_jws({"kid": kid}), resolve_did_key(did), subject_methods=frozenset({"web"}))
    assert caught.value.reason == "holder_binding.method_not_allowed"


def test_an_sd_jwt_is_held_by_its_cnf_key() -> None:
    public = public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
    payload = {"cnf": {"jwk": public.to_dict()}}
    assert sd_jwt_holder_did(payload) is None
    assert sd_jwt_holder(payload, None, subject_methods=ALL).id == jwk_thumbprint_uri(public)
    did, _, kid = _did_key()
    by_did = {"cnf": {"kid": kid}}
    assert sd_jwt_holder_did(by_did) == did
    assert sd_jwt_holder(by_did, resolve_did_key(did), subject_methods=ALL).id == did
    with pytest.raises(HolderBindingFailed):
        sd_jwt_holder(by_did, None, subject_methods=ALL)


def test_an_sd_jwt_without_cnf_has_no_holder() -> None:
    with pytest.raises(VerifierError) as caught:
        sd_jwt_holder({}, None, subject_methods=ALL)
    assert caught.value.reason.endswith("cnf_missing")
