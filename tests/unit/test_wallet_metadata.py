"""request_uri_method=post: parsing what the wallet posts, and fitting our metadata to it (1.0 §5.10)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from service.errors import LimitExceeded, MalformedResponse
from service.wallet_metadata import (
    VpFormatsUnsupported,
    WalletMetadata,
    WalletMetadataUnsupported,
    narrow_enc_values,
    narrow_vp_formats,
    parse_wallet_post,
)

OURS = {
    "jwt_vc_json": {"alg_values": ["EdDSA", "ES256"]},
    "dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["EdDSA", "ES256"]},
}


def _post(**params: str) -> bytes:
    return urlencode(params).encode()


def test_nonce_and_metadata_are_read_and_unknown_parameters_ignored() -> None:
    metadata = {
        "vp_formats_supported": {"jwt_vc_json": {"alg_values": ["ES256"]}},
        "request_object_signing_alg_values_supported": ["ES256"],
        "authorization_encryption_alg_values_supported": ["ECDH-ES"],
        "authorization_encryption_enc_values_supported": ["A128GCM"],
        "something_new": True,
    }
    parsed = parse_wallet_post(_post(wallet_nonce="abc", wallet_metadata=json.dumps(metadata), other="x"))
    assert parsed == WalletMetadata(
        nonce="abc",
        vp_formats={"jwt_vc_json": {"alg_values": ["ES256"]}},
        signing_algs=("ES256",),
        encryption_algs=("ECDH-ES",),
        enc_values=("A128GCM",),
    )
    assert parse_wallet_post(b"") == WalletMetadata(nonce=None)


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        (b"wallet_nonce=a&wallet_nonce=b", MalformedResponse, "wallet_metadata.duplicate_parameter"),
        (_post(wallet_nonce="x" * 300), LimitExceeded, "limits.wallet_nonce"),
        (_post(wallet_nonce=""), LimitExceeded, "limits.wallet_nonce"),
        (_post(wallet_metadata="{"), MalformedResponse, "wallet_metadata.malformed"),
        (_post(wallet_metadata="[]"), MalformedResponse, "wallet_metadata.malformed"),
        (
            _post(wallet_metadata='{"vp_formats_supported": []}'),
            MalformedResponse,
            "wallet_metadata.malformed",
        ),
        (
            _post(wallet_metadata='{"authorization_encryption_enc_values_supported": [1]}'),
            MalformedResponse,
            "wallet_metadata.malformed",
        ),
        (_post(wallet_metadata="[" * 20 + "]" * 20), LimitExceeded, "limits.json_depth"),
        (_post(wallet_metadata=json.dumps({"x": "y" * 20000})), LimitExceeded, "limits.wallet_metadata"),
        (b"\xff=1", MalformedResponse, "wallet_metadata.malformed"),
    ],
)
def test_bad_posts_are_refused(body: bytes, error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as caught:
        parse_wallet_post(body)
    assert getattr(caught.value, "reason", None) == reason


def test_enc_values_are_narrowed_to_the_common_ones() -> None:
    offered = ("A128GCM", "A256GCM")
    assert narrow_enc_values(offered, WalletMetadata(nonce=None)) == offered
    assert narrow_enc_values(offered, WalletMetadata(nonce=None, enc_values=("A256GCM",))) == ("A256GCM",)
    with pytest.raises(WalletMetadataUnsupported):
        narrow_enc_values(offered, WalletMetadata(nonce=None, enc_values=("A192GCM",)))
    with pytest.raises(WalletMetadataUnsupported):
        narrow_enc_values(offered, WalletMetadata(nonce=None, encryption_algs=("RSA-OAEP",)))


def test_formats_are_narrowed_and_a_needed_one_must_exist() -> None:
    wallet = WalletMetadata(nonce=None, vp_formats={"jwt_vc_json": {"alg_values": ["ES256", "RS256"]}})
    assert narrow_vp_formats(OURS, ["jwt_vc_json"], wallet) == {"jwt_vc_json": {"alg_values": ["ES256"]}}
    with pytest.raises(VpFormatsUnsupported) as caught:
        narrow_vp_formats(OURS, ["dc+sd-jwt"], wallet)
    assert caught.value.error == "vp_formats_not_supported"
    no_common = WalletMetadata(nonce=None, vp_formats={"jwt_vc_json": {"alg_values": ["RS256"]}})
    with pytest.raises(VpFormatsUnsupported):
        narrow_vp_formats(OURS, ["jwt_vc_json"], no_common)
    silent = WalletMetadata(nonce=None, vp_formats={"dc+sd-jwt": {}})
    assert narrow_vp_formats(OURS, ["dc+sd-jwt"], silent) == {"dc+sd-jwt": OURS["dc+sd-jwt"]}
    assert narrow_vp_formats(OURS, [], WalletMetadata(nonce=None)) == OURS
