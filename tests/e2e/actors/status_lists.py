"""Status list issuer and host for end-to-end tests, independent of service/ (zlib, gzip, base64url).

- IETF Token Status List (draft 20): a ``statuslist+jwt`` token whose ``status_list.lst`` is
  base64url(ZLIB(bytes)), entries packed from the least significant bit of each byte (TSL §4.1, §5.1).
- W3C Bitstring Status List v1.0: a VCDM 1.1 JWT credential whose ``encodedList`` is "u" +
  base64url(GZIP(bitstring)), entry 0 in the most significant bit of byte 0, at least 131,072 entries.
- :class:`StatusListHost`: a local HTTP server publishing bodies by path with a chosen status code, media
  type, ``Cache-Control: max-age`` and delay, counting requests per path.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.e2e.actors.keys import KeyPair, b64url, merge

TSL_TYP = "statuslist+jwt"
TSL_MEDIA_TYPE = "application/statuslist+jwt"
VC_JWT_MEDIA_TYPE = "application/vc+jwt"
BSL_MIN_ENTRIES = 131_072
VC_CONTEXT_V1 = "https://www.w3.org/2018/credentials/v1"
BSL_CONTEXT = "https://www.w3.org/ns/credentials/status/v1"
DAY = 24 * 3600


# --- Encodings --- #


def pack_lsb(statuses: Mapping[int, int], *, bits: int = 1, entries: int = 16) -> bytes:
    """TSL §4.1: entry i at bit offset i*bits, counted from the least significant bit of each byte."""
    raw = bytearray(-(-entries * bits // 8))
    for index, value in statuses.items():
        if not 0 <= value < 1 << bits:
            raise ValueError(f"status {value} does not fit in {bits} bits")
        position = index * bits
        raw[position // 8] |= value << (position % 8)
    return bytes(raw)


def pack_msb(statuses: Mapping[int, int], *, size: int = 1, entries: int = BSL_MIN_ENTRIES) -> bytes:
    """BSL §3.1: entry i is bits [i*size, (i+1)*size), bit 0 being the left-most bit of byte 0."""
    raw = bytearray(-(-entries * size // 8))
    for index, value in statuses.items():
        for offset in range(size):
            if value >> (size - 1 - offset) & 1:
                position = index * size + offset
                raw[position // 8] |= 0x80 >> (position % 8)
    return bytes(raw)


def token_status_list(statuses: Mapping[int, int], *, bits: int = 1, entries: int = 1024) -> dict[str, Any]:
    """The ``status_list`` claim: {bits, lst = base64url(ZLIB(packed bytes))}."""
    return {"bits": bits, "lst": b64url(zlib.compress(pack_lsb(statuses, bits=bits, entries=entries), 9))}


def encoded_list(statuses: Mapping[int, int], *, size: int = 1, entries: int = BSL_MIN_ENTRIES) -> str:
    """BSL ``encodedList``: multibase "u" + base64url(GZIP(bitstring))."""
    return "u" + b64url(gzip.compress(pack_msb(statuses, size=size, entries=entries), mtime=0))


# --- Signed lists --- #


def status_list_token(
    key: KeyPair,
    uri: str,
    statuses: Mapping[int, int],
    *,
    kid: str | None,
    bits: int = 1,
    entries: int = 1024,
    iat: int | None = None,
    exp: int | None = None,
    ttl: int | None = 300,
    header_overrides: Mapping[str, Any] | None = None,
    claim_overrides: Mapping[str, Any] | None = None,
) -> str:
    """A Token Status List Token (TSL §5.1) for ``uri`` signed by ``key``; valid for a day by default."""
    now = int(time.time()) if iat is None else iat
    header: dict[str, Any] = {"alg": key.alg, "typ": TSL_TYP}
    if kid is not None:
        header["kid"] = kid
    claims: dict[str, Any] = {"sub": uri, "iat": now, "exp": now + DAY if exp is None else exp}
    if ttl is not None:
        claims["ttl"] = ttl
    claims["status_list"] = token_status_list(statuses, bits=bits, entries=entries)
    return key.sign_jws(merge(header, header_overrides), merge(claims, claim_overrides))


def bitstring_list_credential(
    key: KeyPair,
    issuer: str,
    url: str,
    statuses: Mapping[int, int],
    *,
    kid: str | None,
    purpose: str = "revocation",
    size: int = 1,
    entries: int = BSL_MIN_ENTRIES,
    iat: int | None = None,
    exp: int | None = None,
    claim_overrides: Mapping[str, Any] | None = None,
) -> str:
    """A BitstringStatusListCredential as a VCDM 1.1 JWT (``vc`` claim, ``vc.id`` = ``url``)."""
    now = int(time.time()) if iat is None else iat
    header: dict[str, Any] = {"alg": key.alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    vc = {
        "@context": [VC_CONTEXT_V1, BSL_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded_list(statuses, size=size, entries=entries),
        },
    }
    claims = {"iss": issuer, "iat": now, "nbf": now, "exp": now + DAY if exp is None else exp, "vc": vc}
    return key.sign_jws(header, merge(claims, claim_overrides))


def bitstring_entry(url: str, index: int, purpose: str = "revocation") -> dict[str, Any]:
    """A ``credentialStatus`` BitstringStatusListEntry pointing at entry ``index`` of the list at ``url``."""
    return {
        "id": f"{url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": url,
    }


def token_status_reference(uri: str, idx: int) -> dict[str, Any]:
    """An SD-JWT VC ``status`` claim (TSL §6.2)."""
    return {"status_list": {"idx": idx, "uri": uri}}


# --- The host --- #


@dataclass
class Published:
    """What one path answers."""

    body: bytes
    content_type: str
    status: int = 200
    max_age: int | None = None
    delay: float = 0.0


class StatusListHost:
    """A ThreadingHTTPServer on 127.0.0.1 publishing bodies by path; ``hits[path]`` counts GETs, ``accept``
    keeps the last Accept header and ``hit_times`` the arrival times (monotonic) per path."""

    def __init__(self) -> None:
        self.published: dict[str, Published] = {}
        self.hits: Counter[str] = Counter()
        self.accept: dict[str, str] = {}
        self.hit_times: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with host._lock:
                    host.hits[self.path] += 1
                    host.accept[self.path] = self.headers.get("accept", "")
                    host.hit_times.setdefault(self.path, []).append(time.monotonic())
                    entry = host.published.get(self.path)
                if entry is None:
                    entry = Published(b"not found", "text/plain", 404)
                if entry.delay:
                    time.sleep(entry.delay)
                self.send_response(entry.status)
                self.send_header("Content-Type", entry.content_type)
                self.send_header("Content-Length", str(len(entry.body)))
                if entry.max_age is not None:
                    self.send_header("Cache-Control", f"max-age={entry.max_age}")
                self.end_headers()
                self.wfile.write(entry.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """The URL of ``path`` on this server, naming ``host`` (e.g. "localhost")."""
        return f"http://{host}:{self.port}{path}"

    def publish(
        self,
        path: str,
        body: str | bytes,
        *,
        content_type: str = TSL_MEDIA_TYPE,
        status: int = 200,
        max_age: int | None = None,
        delay: float = 0.0,
    ) -> None:
        """Serve ``body`` at ``path`` from now on (replacing what was there)."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self.published[path] = Published(data, content_type, status, max_age, delay)

    def fail(self, path: str, status: int = 503) -> None:
        """Answer ``status`` with an empty body at ``path`` from now on."""
        self.publish(path, b"", content_type="text/plain", status=status)

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StatusListHost:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
