"""Credential status: is a verified credential revoked or suspended?

- :mod:`.token_status_list`: IETF Token Status List (draft 20) for SD-JWT VC ``status`` claims;
- :mod:`.bitstring`: W3C Bitstring Status List v1.0 and StatusList2021 for ``jwt_vc_json``;
- :mod:`.check`: the pipeline's entry points, with fetching injected as a :class:`StatusListSource`.

Every failure is ``CredentialInvalid`` with a ``status.*`` reason.
"""

from service.status.bitstring import (
    BitstringReference,
    StatusListCredential,
    bit_at,
    decode_encoded_list,
    parse_credential_status,
    read_status,
    verify_status_list_credential,
)
from service.status.check import (
    KeyForList,
    StatusListSource,
    StatusOutcome,
    StatusPolicy,
    check_bitstring_status,
    check_token_status,
)
from service.status.token_status_list import (
    StatusList,
    StatusReference,
    decode_status_list,
    parse_status_reference,
    status_at,
    verify_status_list_token,
)

__all__ = [
    "BitstringReference",
    "KeyForList",
    "StatusList",
    "StatusListCredential",
    "StatusListSource",
    "StatusOutcome",
    "StatusPolicy",
    "StatusReference",
    "bit_at",
    "check_bitstring_status",
    "check_token_status",
    "decode_encoded_list",
    "decode_status_list",
    "parse_credential_status",
    "parse_status_reference",
    "read_status",
    "status_at",
    "verify_status_list_credential",
    "verify_status_list_token",
]
