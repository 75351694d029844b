"""Test-side actors (wallet, issuer, webhook receiver); they import nothing from service/."""

from tests.e2e.actors.holder import AuthorizationRequest, Holder, Wallet, WalletRefused, build_submission
from tests.e2e.actors.issuer import Issuer
from tests.e2e.actors.keys import (
    DELETE,
    KeyPair,
    b64url,
    decode_did_jwk_public,
    decode_did_key_public,
    encode_jwt_unsigned,
    sign_hmac_jwt,
)
from tests.e2e.actors.receiver import (
    Attempt,
    VerificationError,
    WebhookReceiver,
    verify_standard_webhook,
    verify_verdict,
)
from tests.e2e.actors.sd_jwt import IssuedSdJwt, SdJwtIssuer, make_disclosure, present
from tests.e2e.actors.wallet_v1 import AuthorizationRequestV1, WalletV1
from tests.e2e.actors.x509_ca import TestCa, x5c

__all__ = [
    "DELETE",
    "Attempt",
    "AuthorizationRequest",
    "AuthorizationRequestV1",
    "Holder",
    "IssuedSdJwt",
    "Issuer",
    "KeyPair",
    "SdJwtIssuer",
    "TestCa",
    "VerificationError",
    "Wallet",
    "WalletRefused",
    "WalletV1",
    "WebhookReceiver",
    "b64url",
    "build_submission",
    "decode_did_jwk_public",
    "decode_did_key_public",
    "encode_jwt_unsigned",
    "make_disclosure",
    "present",
    "sign_hmac_jwt",
    "verify_standard_webhook",
    "verify_verdict",
    "x5c",
]
