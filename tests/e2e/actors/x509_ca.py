"""A tiny test PKI: P-256 root, optional intermediates, leaf certificates with DNS/URI SANs."""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from tests.e2e.actors.keys import KeyPair

HOUR = dt.timedelta(hours=1)
YEAR = dt.timedelta(days=365)


def _wall_clock() -> int:
    """Current Unix time in seconds."""
    return int(time.time())


def _name(common_name: str) -> x509.Name:
    """A subject/issuer name with a CN and a fixed test organisation."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "e2e test PKI"),
        ]
    )


def der_b64(cert: x509.Certificate) -> str:
    """Standard (padded, not url-safe) base64 of the DER certificate, as x5c wants."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def x5c(leaf: x509.Certificate, *chain: x509.Certificate) -> list[str]:
    """An x5c header value: leaf first, then the given chain certificates in order."""
    return [der_b64(cert) for cert in (leaf, *chain)]


def pem(cert: x509.Certificate) -> str:
    """PEM text of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class TestCa:
    """A CA certificate with its key; `parent` is None for the root."""

    __test__ = False  # not a pytest test class

    name: str
    key: KeyPair
    cert: x509.Certificate
    parent: TestCa | None = None
    now: Callable[[], int] = _wall_clock

    @classmethod
    def create(
        cls,
        name: str = "e2e Test Root CA",
        *,
        key: KeyPair | None = None,
        now: Callable[[], int] = _wall_clock,
    ) -> TestCa:
        """A self-signed root: CA:TRUE, keyCertSign + cRLSign, P-256 unless `key` says otherwise."""
        key = key or KeyPair.generate("p256")
        subject = _name(name)
        builder = _builder(subject, subject, key, now, None, None)
        cert = _ca_extensions(builder, key, key, path_length=None).sign(key.private_key, _digest(key))
        return cls(name, key, cert, None, now)

    @property
    def root(self) -> TestCa:
        """The root CA at the top of this CA's chain."""
        return self if self.parent is None else self.parent.root

    def chain(self) -> list[x509.Certificate]:
        """This CA's certificate followed by its ancestors' (root last)."""
        return [self.cert] if self.parent is None else [self.cert, *self.parent.chain()]

    def intermediate(self, name: str | None = None, *, key: KeyPair | None = None) -> TestCa:
        """A CA:TRUE (pathlen 0) intermediate issued by this CA."""
        key = key or KeyPair.generate("p256")
        name = name or f"{self.name} Intermediate"
        builder = _builder(_name(name), self.cert.subject, key, self.now, None, None)
        builder = _ca_extensions(builder, key, self.key, path_length=0)
        cert = builder.sign(self.key.private_key, _digest(self.key))
        return TestCa(name, key, cert, self, self.now)

    def leaf(
        self,
        dns_names: Sequence[str] = (),
        uris: Sequence[str] = (),
        key: KeyPair | None = None,
        *,
        common_name: str | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        critical_san: bool = False,
    ) -> tuple[x509.Certificate, KeyPair]:
        """An end-entity certificate (digitalSignature, CA:FALSE) with dNSName/URI SANs, and its key."""
        key = key or KeyPair.generate("p256")
        cn = common_name or (dns_names[0] if dns_names else uris[0] if uris else "e2e leaf")
        builder = _builder(_name(cn), self.cert.subject, key, self.now, not_before, not_after)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
        builder = _key_ids(builder, key, self.key)
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        names += [x509.UniformResourceIdentifier(u) for u in uris]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=critical_san)
        return builder.sign(self.key.private_key, _digest(self.key)), key

    def x5c(self, leaf: x509.Certificate, *, include_root: bool = False) -> list[str]:
        """x5c for a leaf issued by this CA: leaf, intermediates, and the root only if asked."""
        chain = self.chain()
        return x5c(leaf, *(chain if include_root else chain[:-1]))

    def root_pem(self) -> str:
        """PEM of the root certificate (trust-anchor configuration)."""
        return pem(self.root.cert)


def _digest(key: KeyPair) -> hashes.SHA256 | hashes.SHA384 | None:
    """Signature hash for certificates signed by `key` (None for Ed25519)."""
    if isinstance(key.private_key, ed25519.Ed25519PrivateKey):
        return None
    return hashes.SHA384() if key.kind == "p384" else hashes.SHA256()


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: KeyPair,
    now: Callable[[], int],
    not_before: dt.datetime | None,
    not_after: dt.datetime | None,
) -> x509.CertificateBuilder:
    """Names, key, serial and validity (now-1h … now+1y unless given)."""
    moment = dt.datetime.fromtimestamp(now(), dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or moment - HOUR)
        .not_valid_after(not_after or moment + YEAR)
    )


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    """KeyUsage with only the named bits set."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_ids(builder: x509.CertificateBuilder, key: KeyPair, issuer_key: KeyPair) -> x509.CertificateBuilder:
    """Subject and authority key identifiers."""
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = builder.add_extension(ski, critical=False)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    return builder.add_extension(aki, critical=False)


def _ca_extensions(
    builder: x509.CertificateBuilder, key: KeyPair, issuer_key: KeyPair, *, path_length: int | None
) -> x509.CertificateBuilder:
    """CA:TRUE, keyCertSign + cRLSign, key identifiers."""
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
    builder = builder.add_extension(_key_usage(cert_sign=True), critical=True)
    return _key_ids(builder, key, issuer_key)
