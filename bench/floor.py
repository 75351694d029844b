"""The floor: CPU time of exactly the signature operations one verification needs, done directly.

Per response, with the very tokens the benchmark posts: the ID Token and the VP signature checks (holder
key: Ed25519 or P-256), one check per credential (the Ed25519 issuers), and two ES256 signatures with a
P-256 key — the request object (its real signing input) and the verdict (a stand-in input of similar
size: the ID Token's signing input). Keys are loaded and ECDSA signatures converted to DER beforehand, so
only ``verify``/``sign`` calls are timed. CPU time is this thread's (``time.thread_time``); each category
runs over all responses ``repeats`` times and the fastest pass counts (the least disturbed one, which
makes the floor lower and the ratio service/floor less flattering to the service, never more).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

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

    @property
    def total_s(self) -> float:
        """The floor of one full flow (request object + verification + verdict)."""
        return self.holder_verify_s + self.issuer_verify_s + self.sign_s

    @property
    def operations(self) -> int:
        """How many signature operations one flow needs."""
        return self.holder_verifies + self.issuer_verifies + self.signs


def _verify(check: Signed) -> None:
    if isinstance(check.key, ed25519.Ed25519PublicKey):
        check.key.verify(check.signature, check.signing_input)
    else:
        check.key.verify(check.signature, check.signing_input, _ECDSA)


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

    def verify_holder() -> None:
        for check in holder:
            _verify(check)

    def verify_issuer() -> None:
        for check in issuer:
            _verify(check)

    def sign() -> None:
        for data in inputs:
            signer.sign(data, _ECDSA)

    count = len(items)
    return Floor(
        holder_verifies=len(holder) // count,
        issuer_verifies=len(issuer) // count,
        signs=len(inputs) // count,
        holder_verify_s=_cpu_per_item(verify_holder, count, repeats),
        issuer_verify_s=_cpu_per_item(verify_issuer, count, repeats),
        sign_s=_cpu_per_item(sign, count, repeats),
    )
