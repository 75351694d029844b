"""The floor: CPU time of exactly the signature operations one verification needs, done directly.

Per response, with the very tokens the benchmark posts: the holder's signature checks (ID Token, and the
VP or the SD-JWT Key Binding JWT; Ed25519 or P-256), one check per credential (the Ed25519 issuers), and
two ES256 signatures with a P-256 key — the request object (its real signing input) and the verdict (a
stand-in input of similar size: the ID Token's signing input). Keys are loaded and ECDSA signatures
converted to DER beforehand, so only ``verify``/``sign`` calls are timed. CPU time is this thread's
(``time.thread_time``); each category runs over all responses ``repeats`` times and the fastest pass
counts (the least disturbed one, which makes the floor lower and the ratio service/floor less flattering
to the service, never more).

It is timed on the service's core (the service idle meanwhile), twice: right before and right after the
saturation run, and the two are averaged, so that a drift of the machine's speed between the floor and
the service's run does not enter the ratio (both measurements are in the JSON).

Two floors are measured. The headline one does everything with ``cryptography`` (OpenSSL), the definition
of issue #7. The other, the fastest floor, uses the fastest library for each operation, the ones the
service uses: libsodium (PyNaCl) for Ed25519 checks, OpenSSL for ECDSA; the report gives the ratio to both.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from nacl.bindings import crypto_sign_open

from bench.workload import Prepared, Signed

_ECDSA = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True)
class Floor:
    """Per-verification CPU seconds of each kind of signature operation, and their sum."""

    holder_verifies: int
    issuer_verifies: int
    signs: int
    holder_verify_s: float
    issuer_verify_s: float
    sign_s: float
    holder_verify_openssl_s: float
    issuer_verify_openssl_s: float

    @property
    def total_s(self) -> float:
        """The floor of one full flow (request object + verification + verdict)."""
        return self.holder_verify_s + self.issuer_verify_s + self.sign_s

    @property
    def total_openssl_s(self) -> float:
        """The same with every operation done by OpenSSL (``cryptography``)."""
        return self.holder_verify_openssl_s + self.issuer_verify_openssl_s + self.sign_s

    @property
    def operations(self) -> int:
        """How many signature operations one flow needs."""
        return self.holder_verifies + self.issuer_verifies + self.signs

    @classmethod
    def mean(cls, first: Floor, second: Floor) -> Floor:
        """The two measurements averaged (same operations): a floor centred on the phase between them."""
        values = {}
        for item in fields(cls):
            a, b = getattr(first, item.name), getattr(second, item.name)
            values[item.name] = a if isinstance(a, int) else (a + b) / 2
        return cls(**values)


@contextmanager
def on_core(core: int | None) -> Iterator[None]:
    """Run the block pinned to ``core`` (the service's, while it is idle), then restore the affinity.

    On a virtual machine each core can run at its own speed at any moment (other tenants): the floor is
    timed where the service runs, not on the load generator's core.
    """
    if core is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _verify_openssl(check: Signed) -> None:
    if isinstance(check.key, ed25519.Ed25519PublicKey):
        check.key.verify(check.signature, check.signing_input)
    else:
        check.key.verify(check.signature, check.signing_input, _ECDSA)


def _fastest(checks: Sequence[Signed]) -> Callable[[], None]:
    """Verify ``checks`` with the fastest library per key type; Ed25519 inputs are prepared beforehand."""
    ed = [
        (check.signature + check.signing_input, check.key.public_bytes_raw())
        for check in checks
        if isinstance(check.key, ed25519.Ed25519PublicKey)
    ]
    others = [check for check in checks if not isinstance(check.key, ed25519.Ed25519PublicKey)]

    def run() -> None:
        for signed, public in ed:
            crypto_sign_open(signed, public)
        for check in others:
            _verify_openssl(check)

    return run


def _openssl(checks: Sequence[Signed]) -> Callable[[], None]:
    def run() -> None:
        for check in checks:
            _verify_openssl(check)

    return run


def _cpu_per_item(work: Callable[[], None], items: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.thread_time()
        work()
        best = min(best, time.thread_time() - started)
    return best / items


def measure_floor(items: Sequence[Prepared], repeats: int = 3) -> Floor:
    """Time the signature work of ``items`` and return it per verification."""
    signer = ec.generate_private_key(ec.SECP256R1())
    holder = [check for item in items for check in item.holder_checks]
    issuer = [check for item in items for check in item.issuer_checks]
    inputs = [
        data for item in items for data in (item.request_object_input, item.holder_checks[0].signing_input)
    ]

    def sign() -> None:
        for data in inputs:
            signer.sign(data, _ECDSA)

    count = len(items)
    return Floor(
        holder_verifies=len(holder) // count,
        issuer_verifies=len(issuer) // count,
        signs=len(inputs) // count,
        holder_verify_s=_cpu_per_item(_fastest(holder), count, repeats),
        issuer_verify_s=_cpu_per_item(_fastest(issuer), count, repeats),
        sign_s=_cpu_per_item(sign, count, repeats),
        holder_verify_openssl_s=_cpu_per_item(_openssl(holder), count, repeats),
        issuer_verify_openssl_s=_cpu_per_item(_openssl(issuer), count, repeats),
    )
