"""SD-JWT VC issuer and holder presentation (RFC 9901, SD-JWT VC draft 18), independent of service/."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.actors.keys import (
    KeyPair,
    b64url,
    b64url_decode,
    encode_jwt_unsigned,
    merge,
    sign_hmac_jwt,
)

ClaimPath = tuple[str | int, ...]
PathLike = ClaimPath | str
SD_JWT_TYP = "dc+sd-jwt"
LEGACY_SD_JWT_TYP = "vc+sd-jwt"
KB_JWT_TYP = "kb+jwt"
ONE_YEAR = 365 * 24 * 3600
HASHES = {"sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512", "sha3-256": "sha3_256"}


def _wall_clock() -> int:
    """Current Unix time in seconds."""
    return int(time.time())


def _path(path: PathLike) -> ClaimPath:
    """A claim path as a tuple; a bare string is a top-level claim name."""
    return (path,) if isinstance(path, str) else tuple(path)


def new_salt() -> str:
    """Random 128-bit salt, base64url."""
    return b64url(secrets.token_bytes(16))


def make_disclosure(name: str | None, value: Any, *, salt: str | None = None) -> str:
    """Disclosure string: `[salt, name, value]` for an object member, `[salt, value]` when name is None."""
    array = [salt or new_salt(), value] if name is None else [salt or new_salt(), name, value]
    return b64url(json.dumps(array, ensure_ascii=False).encode())


def decode_disclosure(disclosure: str) -> list[Any]:
    """The JSON array inside a Disclosure."""
    array = json.loads(b64url_decode(disclosure))
    if not isinstance(array, list):
        raise ValueError("a Disclosure must encode a JSON array")
    return array


def sd_hash(text: str, sd_alg: str = "sha-256") -> str:
    """base64url(HASH(ASCII text)): a Disclosure digest or the KB-JWT sd_hash."""
    return b64url(hashlib.new(HASHES[sd_alg], text.encode("ascii")).digest())


def decoy_digest(sd_alg: str = "sha-256") -> str:
    """A digest no Disclosure will ever match."""
    return sd_hash(b64url(secrets.token_bytes(32)), sd_alg)


def tamper(disclosure: str) -> str:
    """Change one character of the salt inside the Disclosure JSON, keeping every other byte."""
    text = b64url_decode(disclosure).decode()
    salt = decode_disclosure(disclosure)[0]
    start = text.index(json.dumps(salt)) + len(json.dumps(salt)) - 2
    replacement = "A" if text[start] != "A" else "B"
    return b64url((text[:start] + replacement + text[start + 1 :]).encode())


@dataclass(frozen=True)
class IssuedSdJwt:
    """An issued SD-JWT: issuer-signed JWT, Disclosures by claim path (parents first), plain claims."""

    jwt: str
    disclosures: dict[ClaimPath, str]
    header: dict[str, Any]
    payload: dict[str, Any]
    plain: dict[str, Any] = field(repr=False)
    sd_alg: str = "sha-256"

    def all(self) -> str:
        """The issued SD-JWT with every Disclosure: `jwt~d1~...~dn~`."""
        return serialize(self.jwt, self.disclosures.values())

    def digest(self, path: PathLike) -> str:
        """Digest embedded in the payload for the Disclosure at `path`."""
        return sd_hash(self.disclosures[_path(path)], self.sd_alg)

    def parents(self, path: PathLike) -> list[ClaimPath]:
        """Disclosable ancestors of `path`, outermost first (they must be presented with it)."""
        full = _path(path)
        return [full[:n] for n in range(1, len(full)) if full[:n] in self.disclosures]


def serialize(jwt: str, disclosures: Iterable[str], kb_jwt: str = "") -> str:
    """`jwt~d1~...~dn~[kb_jwt]`."""
    return jwt + "~" + "".join(f"{d}~" for d in disclosures) + kb_jwt


class SdJwtIssuer:
    """Issues SD-JWT VCs signed by `key`; every field can be bent for negative tests."""

    def __init__(
        self,
        key: KeyPair,
        iss: str,
        *,
        typ: str = SD_JWT_TYP,
        x5c: list[str] | None = None,
        kid: str | None = None,
        sd_alg: str = "sha-256",
        now: Callable[[], int] = _wall_clock,
    ) -> None:
        self.key = key
        self.iss = iss
        self.typ = typ
        self.x5c = x5c
        self.kid = kid
        self.sd_alg = sd_alg
        self.now = now

    def issue(
        self,
        claims: Mapping[str, Any],
        *,
        vct: str,
        holder_jwk: Mapping[str, Any] | None = None,
        holder_kid: str | None = None,
        sd: Iterable[PathLike] = (),
        decoys: int = 0,
        exp: int | None = None,
        nbf: int | None = None,
        iat: int | None = None,
        status: Mapping[str, Any] | None = None,
        header_overrides: Mapping[str, Any] | None = None,
        payload_overrides: Mapping[str, Any] | None = None,
        sign_with: KeyPair | None = None,
        alg_none: bool = False,
        hmac_secret: bytes | None = None,
    ) -> IssuedSdJwt:
        """Conceal the `sd` paths of iss/iat/exp/vct/cnf/status + `claims`, sign; overrides apply last."""
        now = self.now()
        signer = sign_with or self.key
        plain: dict[str, Any] = {"iss": self.iss, "iat": now if iat is None else iat}
        if nbf is not None:
            plain["nbf"] = nbf
        plain |= {"exp": now + ONE_YEAR if exp is None else exp, "vct": vct}
        cnf: dict[str, Any] = {}
        if holder_jwk is not None:
            cnf["jwk"] = dict(holder_jwk)
        if holder_kid is not None:
            cnf["kid"] = holder_kid
        if cnf:
            plain["cnf"] = cnf
        if status is not None:
            plain["status"] = dict(status)
        plain |= json.loads(json.dumps(dict(claims)))
        wanted = {_path(p) for p in sd}
        disclosures: dict[ClaimPath, str] = {}
        concealed = self._conceal(plain, (), wanted, disclosures)
        if missing := wanted - disclosures.keys():
            raise ValueError(f"sd paths not found in the claims: {sorted(map(str, missing))}")
        disclosures = dict(sorted(disclosures.items(), key=lambda item: len(item[0])))
        if decoys:
            fakes = [decoy_digest(self.sd_alg) for _ in range(decoys)]
            concealed["_sd"] = sorted([*concealed.get("_sd", []), *fakes])
        payload = merge({**concealed, "_sd_alg": self.sd_alg}, payload_overrides)
        header: dict[str, Any] = {"alg": signer.alg, "typ": self.typ}
        if self.kid is not None:
            header["kid"] = self.kid
        if self.x5c is not None:
            header["x5c"] = list(self.x5c)
        header = merge(header, header_overrides)
        if alg_none:
            jwt = encode_jwt_unsigned(header, payload)
        elif hmac_secret is not None:
            jwt = sign_hmac_jwt(header, payload, hmac_secret)
        else:
            jwt = signer.sign_jws(header, payload)
        return IssuedSdJwt(jwt, disclosures, header, payload, plain, self.sd_alg)

    def _conceal(self, value: Any, at: ClaimPath, wanted: set[ClaimPath], out: dict[ClaimPath, str]) -> Any:
        """Replace wanted members/elements by digests, innermost first (so Disclosures nest)."""
        if isinstance(value, dict):
            kept: dict[str, Any] = {}
            digests: list[str] = []
            for name, member in value.items():
                inner = self._conceal(member, (*at, name), wanted, out)
                if (*at, name) in wanted:
                    out[(*at, name)] = make_disclosure(name, inner)
                    digests.append(sd_hash(out[(*at, name)], self.sd_alg))
                else:
                    kept[name] = inner
            return kept | ({"_sd": sorted(digests)} if digests else {})
        if isinstance(value, list):
            elements: list[Any] = []
            for index, element in enumerate(value):
                inner = self._conceal(element, (*at, index), wanted, out)
                if (*at, index) in wanted:
                    out[(*at, index)] = make_disclosure(None, inner)
                    elements.append({"...": sd_hash(out[(*at, index)], self.sd_alg)})
                else:
                    elements.append(inner)
            return elements
        return value


def present(
    issued: IssuedSdJwt,
    *,
    disclose: Iterable[PathLike] | None = None,
    aud: str | None = None,
    nonce: str | None = None,
    holder_key: KeyPair | None = None,
    kb: bool = True,
    kb_header_overrides: Mapping[str, Any] | None = None,
    kb_payload_overrides: Mapping[str, Any] | None = None,
    extra_disclosures: Iterable[str] = (),
    duplicate_disclosure: bool = False,
    tamper_disclosure: bool | PathLike = False,
    now: int | None = None,
) -> str:
    """SD-JWT+KB `jwt~d…~kb` (kb=False: `jwt~d…~`) disclosing `disclose` plus their parents."""
    if disclose is None:
        chosen = set(issued.disclosures)
    else:
        chosen = set()
        for path in map(_path, disclose):
            if path not in issued.disclosures:
                raise KeyError(f"{path} is not a selectively disclosable path of this SD-JWT")
            chosen |= {path, *issued.parents(path)}
    order = [path for path in issued.disclosures if path in chosen]
    presented = [issued.disclosures[p] for p in order]
    if tamper_disclosure is not False:
        if tamper_disclosure is True:
            if not presented:
                raise ValueError("tamper_disclosure needs at least one presented Disclosure")
            target = 0
        else:
            target = order.index(_path(tamper_disclosure))
        presented[target] = tamper(presented[target])
    presented += list(extra_disclosures)
    if duplicate_disclosure:
        if not presented:
            raise ValueError("duplicate_disclosure needs at least one presented Disclosure")
        presented.append(presented[0])
    sd_jwt = serialize(issued.jwt, presented)
    if not kb:
        return sd_jwt
    if holder_key is None or aud is None or nonce is None:
        raise ValueError("a KB-JWT needs holder_key, aud and nonce (or pass kb=False)")
    header = merge({"alg": holder_key.alg, "typ": KB_JWT_TYP}, kb_header_overrides)
    claims = {"iat": _wall_clock() if now is None else now, "aud": aud, "nonce": nonce}
    claims["sd_hash"] = sd_hash(sd_jwt, issued.sd_alg)
    return sd_jwt + holder_key.sign_jws(header, merge(claims, kb_payload_overrides))


def split_presentation(text: str) -> tuple[str, list[str], str]:
    """(issuer JWT, Disclosures, KB-JWT or '') of an SD-JWT[+KB] string."""
    jwt, *rest = text.split("~")
    if not rest:
        raise ValueError("an SD-JWT has at least one '~'")
    return jwt, rest[:-1], rest[-1]
