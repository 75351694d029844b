"""Format and ``meta`` of a verified credential against its Credential Query (OpenID4VP 1.0 §6.1, App. B).

``type_values`` holds fully expanded IRIs (App. B.1.1). We do no JSON-LD processing: a credential type
matches when it is literally the requested value (the App. B examples use unexpanded, context-free names
such as ``IDCredential``), or when it is a VCDM base term and the request spells its expansion. A type that
some other ``@context`` would expand is therefore compared as written (dcql.md §9.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from service.dcql.model import CredentialQuery
from service.errors import SubmissionMismatch
from service.presentation_exchange.evaluation import Decoded
from service.vocabulary import FORMAT_DC_SD_JWT, FORMAT_JWT_VC_JSON, VC_TYPE, VP_TYPE

__all__ = ["check_format", "check_meta"]

# Both VCDM 1.1 and 2.0 contexts map the base types into the 2018 credentials vocabulary.
_VC_VOCABULARY: Final = "https://www.w3.org/2018/credentials#"
_BASE_TERMS: Final = {f"{_VC_VOCABULARY}{term}": term for term in (VC_TYPE, VP_TYPE)}


def check_format(query: CredentialQuery, credential: Decoded) -> None:
    """The verified object is in the query's format (§6.1 ``format``)."""
    if credential.format != query.format:
        raise SubmissionMismatch(
            "dcql.format_mismatch",
            f"a presentation is not in the format {query.format} the query asks for",
            descriptor_id=query.id,
        )


def check_meta(query: CredentialQuery, credential: Decoded) -> None:
    """``vct_values`` / ``type_values`` hold for the credential (App. B.1.1, B.3.5)."""
    meta = query.meta
    if query.format == FORMAT_DC_SD_JWT and meta.vct_values is not None:
        if _vct_of(credential) not in meta.vct_values:
            raise SubmissionMismatch(
                "dcql.meta_mismatch", "the credential's vct is not one of vct_values", descriptor_id=query.id
            )
    elif query.format == FORMAT_JWT_VC_JSON and meta.type_values is not None:
        types = _types_of(credential)
        if not any(all(_has_type(types, want) for want in option) for option in meta.type_values):
            raise SubmissionMismatch(
                "dcql.meta_mismatch",
                "the credential's types match no alternative of type_values",
                descriptor_id=query.id,
            )


def _vct_of(credential: Decoded) -> str | None:
    vct = getattr(credential, "vct", None)
    if vct is None and credential.documents:
        vct = credential.documents[0].get("vct")  # the processed SD-JWT payload carries it (SD-JWT VC §3.2.2)
    return vct if isinstance(vct, str) else None


def _types_of(credential: Decoded) -> frozenset[str]:
    types = getattr(credential, "types", None)
    if types is None:
        types = next((found for doc in credential.documents if (found := _document_types(doc))), ())
    return frozenset(item for item in types if isinstance(item, str))


def _document_types(document: Mapping[str, Any]) -> tuple[Any, ...]:
    value = document.get("type")
    if value is None and isinstance(document.get("vc"), Mapping):
        value = document["vc"].get("type")  # a JWT claims set keeps the VC under `vc` (VCDM 1.1 §6.3.1)
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, list) else ()


def _has_type(types: frozenset[str], wanted: str) -> bool:
    return wanted in types or _BASE_TERMS.get(wanted) in types
