"""Property fuzzing of what OpenID4VP 1.0 added to the wallet and backend faces: only typed errors come out.

Targets: the request-URI POST (``wallet_metadata`` / ``wallet_nonce``), the ``direct_post.jwt`` JWE (mutated
real encryptions to a real transaction key, and arbitrary compact strings), the decrypted response payload,
DCQL queries from the backend, and the translation of presentation definitions into DCQL.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from service.dcql import check_supported, definition_to_dcql, parse_dcql_query
from service.jose.jwe import decrypt_response, derive_response_key
from service.presentation_exchange import parse_definition
from service.response import parse_response
from service.wallet_metadata import narrow_enc_values, narrow_vp_formats, parse_wallet_post
from tests.e2e.actors.jwe import encrypt_response

from .test_parsers import (
    DEFINITIONS,
    JSON_VALUES,
    LIMITS,
    mutated_bytes,
    mutated_json,
    mutated_text,
    only_typed_errors,
)

KEY = derive_response_key(b"\x01" * 32, b"\x02" * 16)
ENCRYPTED = [
    encrypt_response(
        {"vp_token": {"age": ["eyJhbGciOiJFZERTQSJ9.e30.c2ln"]}, "state": "s"}, KEY.public_jwk()
    ),
    encrypt_response({"error": "access_denied"}, KEY.public_jwk(), enc="A256GCM", compress=True),
]
METADATA = {
    "vp_formats_supported": {
        "jwt_vc_json": {"alg_values": ["ES256"]},
        "dc+sd-jwt": {"kb-jwt_alg_values": []},
    },
    "request_object_signing_alg_values_supported": ["ES256"],
    "authorization_encryption_alg_values_supported": ["ECDH-ES"],
    "authorization_encryption_enc_values_supported": ["A128GCM"],
}
QUERIES: list[Any] = [
    {
        "credentials": [
            {
                "id": "age",
                "format": "jwt_vc_json",
                "meta": {"type_values": [["AgeCredential"]]},
                "claims": [{"id": "a", "path": ["credentialSubject", "ageOver18"], "values": [True]}],
            },
            {
                "id": "pid",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": ["urn:eudi:pid:1"]},
                "claims": [
                    {"id": "b", "path": ["age_equal_or_over", "18"]},
                    {"id": "c", "path": ["x", None, 0]},
                ],
                "claim_sets": [["b"], ["c"]],
            },
        ],
        "credential_sets": [{"options": [["age"], ["pid"]], "required": True}],
    }
]
OURS = {"jwt_vc_json": {"alg_values": ["ES256"]}, "dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"]}}


@given(
    st.one_of(
        mutated_bytes([urlencode({"wallet_metadata": json.dumps(METADATA), "wallet_nonce": "n"}).encode()]),
        st.binary(max_size=300),
        st.builds(
            lambda metadata, nonce: urlencode({"wallet_metadata": metadata, "wallet_nonce": nonce}).encode(),
            mutated_json([METADATA]).map(json.dumps) | JSON_VALUES.map(json.dumps),
            st.text(max_size=20),
        ),
    )
)
def test_request_uri_post(body: bytes) -> None:
    """service.wallet_metadata: parsing and fitting never raise anything but typed errors."""

    def run() -> None:
        wallet = parse_wallet_post(body)
        narrow_enc_values(("A128GCM", "A256GCM"), wallet)
        narrow_vp_formats(OURS, ["jwt_vc_json"], wallet)

    only_typed_errors(run)


@given(st.one_of(mutated_text(ENCRYPTED), st.text(alphabet="abcXYZ019-_.", max_size=200)))
def test_encrypted_response(compact: str) -> None:
    """service.jose.jwe.decrypt_response on mutated real JWEs and arbitrary compact strings."""
    only_typed_errors(lambda: decrypt_response(compact, KEY, max_length=64 * 1024, max_plaintext=64 * 1024))


@given(st.one_of(JSON_VALUES.map(lambda value: json.dumps(value).encode()), st.binary(max_size=200)))
def test_decrypted_payload(plaintext: bytes) -> None:
    """service.response.parse_response with direct_post.jwt: any plaintext is a response or a typed error."""
    only_typed_errors(lambda: parse_response(b"response=x", limits=LIMITS, decrypt=lambda _: plaintext))


@given(st.one_of(mutated_json(QUERIES), JSON_VALUES))
def test_dcql_query(raw: Any) -> None:
    """service.dcql.parse_dcql_query + check_supported on hostile backend queries."""
    only_typed_errors(lambda: check_supported(parse_dcql_query(raw)))


@given(mutated_json(DEFINITIONS))
def test_definition_translation(raw: Any) -> None:
    """service.dcql.definition_to_dcql on hostile (but parseable) presentation definitions."""
    only_typed_errors(lambda: definition_to_dcql(parse_definition(raw)))
