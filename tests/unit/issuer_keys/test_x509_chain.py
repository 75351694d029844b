"""x5c chains validated to trust anchors: real certificates built here, every failure with its reason."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service.errors import ConfigurationError, CredentialInvalid
from service.issuer_keys.x509_chain import (
    VerifiedChain,
    check_issuer_matches_leaf,
    load_trust_anchors,
    verify_x5c,
)
from service.jose.jwk import public_jwk_from_key

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Issued:
    """A certificate and the private key of its subject."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def b64(self) -> str:
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode("ascii")

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_cert(
    cn: str,
    *,
    issuer: Issued | None = None,
    key: PrivateKey | None = None,
    ca: bool = False,
    path_length: int | None = None,
    basic_constraints: bool = True,
    key_usage: bool = True,
    key_cert_sign: bool | None = None,
    digital_signature: bool | None = None,
    dns: tuple[str, ...] = (),
    uris: tuple[str, ...] = (),
    eku: tuple[x509.ObjectIdentifier, ...] = (),
    not_before: datetime = NOW - DAY,
    not_after: datetime = NOW + 30 * DAY,
    extra: tuple[x509.ExtensionType, ...] = (),
) -> Issued:
    """One certificate; self-signed when ``issuer`` is None. Defaults give a well-formed CA or leaf."""
    key = key or p256()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    if key_usage:
        builder = builder.add_extension(
            _key_usage(
                cert_sign=ca if key_cert_sign is None else key_cert_sign,
                sign=(not ca) if digital_signature is None else digital_signature,
            ),
            critical=True,
        )
    if dns or uris:
        names = [x509.DNSName(d) for d in dns] + [x509.UniformResourceIdentifier(u) for u in uris]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    for extension in extra:
        builder = builder.add_extension(extension, critical=True)
    signer = issuer.key if issuer else key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer, algorithm), key)


def _key_usage(*, cert_sign: bool, sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=not sign,  # keep at least one bit set when neither is wanted
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


@pytest.fixture(scope="module")
def root() -> Issued:
    return make_cert("Test Root", ca=True)


@pytest.fixture(scope="module")
def intermediate(root: Issued) -> Issued:
    return make_cert("Test Issuing CA", issuer=root, ca=True, path_length=0)


def verify(x5c: object, *anchors: Issued, **kwargs: object) -> VerifiedChain:
    return verify_x5c(x5c, anchors=[a.cert for a in anchors], now=NOW, **kwargs)  # type: ignore[arg-type]


def reason_of(x5c: object, *anchors: Issued) -> str:
    with pytest.raises(CredentialInvalid) as caught:
        verify(x5c, *anchors)
    return caught.value.reason


# --- Chains that validate --- #


class TestValidChains:
    def test_root_intermediate_leaf(self, root: Issued, intermediate: Issued):
        """A leaf under an intermediate under a configured root yields the leaf key and SANs."""
        leaf = make_cert(
            "Issuer", issuer=intermediate, dns=("issuer.example",), uris=("https://issuer.example",)
        )
        chain = verify([leaf.b64, intermediate.b64], root)
        assert chain.leaf == leaf.cert
        assert chain.key == public_jwk_from_key(leaf.key.public_key())  # type: ignore[arg-type]
        assert chain.dns_names == ("issuer.example",)
        assert chain.uris == ("https://issuer.example",)
        assert chain.anchor_subject == "CN=Test Root"

    def test_root_may_be_sent_as_the_last_certificate(self, root: Issued, intermediate: Issued):
        """x5c may carry the anchor itself at the end (RFC 7515 §4.1.6 allows either)."""
        leaf = make_cert("Issuer", issuer=intermediate)
        assert verify([leaf.b64, intermediate.b64, root.b64], root).anchor_subject == "CN=Test Root"

    def test_leaf_directly_under_the_root(self, root: Issued):
        """A single-certificate x5c issued by the anchor validates."""
        leaf = make_cert("Issuer", issuer=root)
        assert verify([leaf.b64], root).leaf == leaf.cert

    def test_pinned_self_signed_leaf(self):
        """A self-signed leaf configured as an anchor itself is trusted directly."""
        pinned = make_cert("Pinned Issuer")
        assert verify([pinned.b64], pinned).anchor_subject == "CN=Pinned Issuer"

    def test_two_intermediates(self, root: Issued):
        """Without a path length limit, two intermediates are fine."""
        upper = make_cert("Upper CA", issuer=root, ca=True)
        lower = make_cert("Lower CA", issuer=upper, ca=True)
        leaf = make_cert("Issuer", issuer=lower)
        assert verify([leaf.b64, lower.b64, upper.b64], root).leaf == leaf.cert

    def test_one_of_several_anchors(self, root: Issued, intermediate: Issued):
        """The anchor that issued the chain is found among others."""
        leaf = make_cert("Issuer", issuer=intermediate)
        others = [make_cert(f"Other Root {i}", ca=True) for i in range(3)]
        assert verify([leaf.b64, intermediate.b64], *others, root).anchor_subject == "CN=Test Root"

    def test_ed25519_leaf(self, root: Issued, intermediate: Issued):
        """An Ed25519 leaf key under an ECDSA chain comes back as an OKP JWK."""
        leaf = make_cert("Issuer", issuer=intermediate, key=ed25519.Ed25519PrivateKey.generate())
        chain = verify([leaf.b64, intermediate.b64], root)
        assert (chain.key.kty, chain.key.crv) == ("OKP", "Ed25519")

    def test_p384_leaf(self, root: Issued, intermediate: Issued):
        """A P-384 leaf key comes back as an EC P-384 JWK."""
        leaf = make_cert("Issuer", issuer=intermediate, key=ec.generate_private_key(ec.SECP384R1()))
        chain = verify([leaf.b64, intermediate.b64], root)
        assert (chain.key.kty, chain.key.crv) == ("EC", "P-384")

    def test_rsa_2048_leaf(self, root: Issued):
        """An RSA leaf of 2048 bits is accepted."""
        leaf = make_cert("Issuer", issuer=root, key=rsa.generate_private_key(65537, 2048))
        assert verify([leaf.b64], root).key.kty == "RSA"

    def test_any_extended_key_usage(self, root: Issued):
        """The leaf may state any EKU (serverAuth here) or none: credential signing has no EKU of its own."""
        ca = make_cert("EKU CA", issuer=root, ca=True, eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
        leaf = make_cert("Issuer", issuer=ca, eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
        assert verify([leaf.b64, ca.b64], root).leaf == leaf.cert

    def test_leaf_without_extensions(self, root: Issued):
        """A leaf with no basicConstraints, key usage or SAN is acceptable."""
        leaf = make_cert("Issuer", issuer=root, basic_constraints=False, key_usage=False)
        chain = verify([leaf.b64], root)
        assert (chain.dns_names, chain.uris) == ((), ())


# --- Chains that do not --- #


class TestUntrusted:
    def test_self_signed_leaf_not_an_anchor(self, root: Issued):
        """A self-signed certificate that is not configured is untrusted."""
        assert reason_of([make_cert("Self").b64], root) == "credential.untrusted_chain"

    def test_leaf_signed_by_another_root(self, root: Issued):
        """Another root with the very same name but another key is not the anchor."""
        impostor = make_cert("Test Root", ca=True)
        leaf = make_cert("Issuer", issuer=impostor)
        assert reason_of([leaf.b64], root) == "credential.untrusted_chain"
        assert reason_of([leaf.b64, impostor.b64], root) == "credential.untrusted_chain"

    def test_no_anchor_configured(self, root: Issued):
        """With no anchors nothing is trusted."""
        assert reason_of([make_cert("Issuer", issuer=root).b64]) == "credential.untrusted_chain"

    def test_intermediate_without_ca_flag(self, root: Issued):
        """An issuer whose basicConstraints says cA=false cannot issue."""
        not_ca = make_cert("Not A CA", issuer=root, ca=False, key_cert_sign=True)
        leaf = make_cert("Issuer", issuer=not_ca)
        assert reason_of([leaf.b64, not_ca.b64], root) == "credential.untrusted_chain"

    def test_intermediate_without_basic_constraints(self, root: Issued):
        """An issuer with no basicConstraints at all cannot issue (RFC 5280 §4.2.1.9)."""
        bare = make_cert("Bare CA", issuer=root, ca=True, basic_constraints=False)
        leaf = make_cert("Issuer", issuer=bare)
        assert reason_of([leaf.b64, bare.b64], root) == "credential.untrusted_chain"

    def test_intermediate_without_key_cert_sign(self, root: Issued):
        """An issuer whose key usage lacks keyCertSign cannot issue (RFC 5280 §4.2.1.3)."""
        no_sign = make_cert("No Sign CA", issuer=root, ca=True, key_cert_sign=False)
        leaf = make_cert("Issuer", issuer=no_sign)
        assert reason_of([leaf.b64, no_sign.b64], root) == "credential.untrusted_chain"

    def test_path_length_zero_violated(self, root: Issued, intermediate: Issued):
        """pathLen 0 on the intermediate forbids another CA below it."""
        sub_ca = make_cert("Sub CA", issuer=intermediate, ca=True)
        leaf = make_cert("Issuer", issuer=sub_ca)
        assert reason_of([leaf.b64, sub_ca.b64, intermediate.b64], root) == "credential.untrusted_chain"

    def test_root_path_length_zero_violated(self):
        """pathLen 0 on the anchor itself forbids any intermediate."""
        strict_root = make_cert("Strict Root", ca=True, path_length=0)
        ca = make_cert("CA", issuer=strict_root, ca=True)
        leaf = make_cert("Issuer", issuer=ca)
        assert reason_of([leaf.b64, ca.b64], strict_root) == "credential.untrusted_chain"

    def test_leaf_that_is_a_ca(self, root: Issued):
        """A CA certificate is not an end entity: it may not sign credentials itself."""
        ca_leaf = make_cert("CA Leaf", issuer=root, ca=True)
        assert reason_of([ca_leaf.b64], root) == "credential.untrusted_chain"

    def test_leaf_key_usage_without_digital_signature(self, root: Issued):
        """A leaf whose key usage forbids signatures cannot have signed a credential."""
        leaf = make_cert("Issuer", issuer=root, digital_signature=False)
        assert reason_of([leaf.b64], root) == "credential.untrusted_chain"

    def test_unknown_critical_extension(self, root: Issued):
        """A critical extension we do not understand fails the chain (RFC 5280 §4.2)."""
        odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
        leaf = make_cert("Issuer", issuer=root, extra=(odd,))
        assert reason_of([leaf.b64], root) == "credential.untrusted_chain"

    def test_out_of_order(self, root: Issued):
        """The intermediates must follow the leaf in issuing order, as RFC 7515 §4.1.6 says."""
        upper = make_cert("Upper CA", issuer=root, ca=True)
        lower = make_cert("Lower CA", issuer=upper, ca=True)
        leaf = make_cert("Issuer", issuer=lower)
        assert reason_of([leaf.b64, upper.b64, lower.b64], root) == "credential.untrusted_chain"

    def test_unrelated_extra_certificate(self, root: Issued, intermediate: Issued):
        """A certificate that is not part of the path is not tolerated in x5c."""
        leaf = make_cert("Issuer", issuer=intermediate)
        stray = make_cert("Stray", issuer=root)
        assert reason_of([leaf.b64, intermediate.b64, stray.b64], root) == "credential.untrusted_chain"

    def test_ed25519_signed_chain_is_not_supported(self):
        """Chain signatures are limited to RSA and ECDSA (the path builder's profile); Ed25519 CAs fail."""
        ed_root = make_cert("Ed Root", key=ed25519.Ed25519PrivateKey.generate(), ca=True)
        leaf = make_cert("Issuer", issuer=ed_root)
        assert reason_of([leaf.b64], ed_root) == "credential.untrusted_chain"


class TestValidity:
    def test_expired_leaf(self, root: Issued, intermediate: Issued):
        """A leaf past notAfter is expired."""
        leaf = make_cert("Issuer", issuer=intermediate, not_before=NOW - 9 * DAY, not_after=NOW - DAY)
        assert reason_of([leaf.b64, intermediate.b64], root) == "credential.certificate_expired"

    def test_not_yet_valid_leaf(self, root: Issued):
        """A leaf before notBefore is refused with the same reason."""
        leaf = make_cert("Issuer", issuer=root, not_before=NOW + DAY, not_after=NOW + 9 * DAY)
        assert reason_of([leaf.b64], root) == "credential.certificate_expired"

    def test_expired_intermediate(self, root: Issued):
        """An intermediate past notAfter expires the chain."""
        old_ca = make_cert("Old CA", issuer=root, ca=True, not_before=NOW - 9 * DAY, not_after=NOW - DAY)
        leaf = make_cert("Issuer", issuer=old_ca)
        assert reason_of([leaf.b64, old_ca.b64], root) == "credential.certificate_expired"

    def test_expired_anchor_not_sent(self):
        """An anchor outside its window expires the chain even when x5c leaves it out."""
        old_root = make_cert("Old Root", ca=True, not_before=NOW - 9 * DAY, not_after=NOW - DAY)
        leaf = make_cert("Issuer", issuer=old_root)
        assert reason_of([leaf.b64], old_root) == "credential.certificate_expired"

    def test_validity_edges_are_inclusive(self, root: Issued):
        """notBefore and notAfter are both inside the window (RFC 5280 §4.1.2.5)."""
        leaf = make_cert("Issuer", issuer=root, not_before=NOW, not_after=NOW + DAY)
        assert verify([leaf.b64], root).leaf == leaf.cert


class TestMalformed:
    def test_base64url_is_refused(self, root: Issued):
        """x5c is standard base64 (RFC 7515 §4.1.6); the base64url alphabet is refused."""
        # Generate until the DER needs "+" or "/", so the url-safe form really differs.
        leaf = make_cert("Issuer", issuer=root)
        while "+" not in leaf.b64 and "/" not in leaf.b64:
            leaf = make_cert("Issuer", issuer=root)
        url_safe = leaf.b64.replace("+", "-").replace("/", "_")
        assert reason_of([url_safe], root) == "credential.x5c_malformed"

    def test_missing_padding_is_refused(self, root: Issued):
        """Unpadded base64 is refused."""
        leaf = make_cert("Issuer", issuer=root)
        while not leaf.b64.endswith("="):
            leaf = make_cert("Issuer", issuer=root)
        assert reason_of([leaf.b64.rstrip("=")], root) == "credential.x5c_malformed"

    def test_non_canonical_padding_bits_are_refused(self, root: Issued):
        """Two texts for one DER would be two meanings; only the canonical one is accepted."""
        leaf = make_cert("Issuer", issuer=root)
        while not leaf.b64.endswith("=") or leaf.b64.endswith("=="):
            leaf = make_cert("Issuer", issuer=root)
        # With one "=", the last character carries 2 unused bits; setting one keeps the bytes the same.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        last = leaf.b64[-2]
        altered = leaf.b64[:-2] + alphabet[alphabet.index(last) | 1] + "="
        assert base64.b64decode(altered) == base64.b64decode(leaf.b64)
        assert reason_of([altered], root) == "credential.x5c_malformed"

    @pytest.mark.parametrize(
        "x5c",
        [
            None,
            "MIIB",
            {"0": "MIIB"},
            [],
            [1],
            [""],
            ["not base64!"],
            [" MIIB"],
            [base64.b64encode(b"not a certificate").decode()],
        ],
        ids=["none", "string", "object", "empty", "number", "empty-string", "bad-chars", "space", "not-der"],
    )
    def test_junk(self, root: Issued, x5c: object):
        """Anything but a list of base64 DER certificates is malformed."""
        assert reason_of(x5c, root) == "credential.x5c_malformed"

    def test_too_long(self, root: Issued):
        """Six certificates exceed the default cap of five, before any is parsed."""
        leaf = make_cert("Issuer", issuer=root)
        assert reason_of([leaf.b64] * 6, root) == "credential.x5c_malformed"

    def test_cap_is_configurable(self, root: Issued, intermediate: Issued):
        """max_chain lowers the cap."""
        leaf = make_cert("Issuer", issuer=intermediate)
        with pytest.raises(CredentialInvalid) as caught:
            verify([leaf.b64, intermediate.b64], root, max_chain=1)
        assert caught.value.reason == "credential.x5c_malformed"


class TestLeafKey:
    def test_secp256k1_leaf(self, root: Issued):
        """secp256k1 is not an X.509 issuer curve we accept."""
        leaf = make_cert("Issuer", issuer=root, key=ec.generate_private_key(ec.SECP256K1()))
        assert reason_of([leaf.b64], root) == "credential.unsupported_key"

    def test_small_rsa_leaf(self, root: Issued):
        """An RSA leaf below 2048 bits is refused even though its chain is fine."""
        leaf = make_cert("Issuer", issuer=root, key=rsa.generate_private_key(65537, 1024))
        assert reason_of([leaf.b64], root) == "credential.unsupported_key"


# --- iss and the leaf --- #


def chain_with(*, dns: tuple[str, ...] = (), uris: tuple[str, ...] = ()) -> VerifiedChain:
    leaf = make_cert("Issuer", dns=dns, uris=uris)
    return VerifiedChain(
        leaf=leaf.cert,
        key=public_jwk_from_key(leaf.key.public_key()),  # type: ignore[arg-type]
        dns_names=dns,
        uris=uris,
        anchor_subject="CN=Issuer",
    )


class TestCheckIssuerMatchesLeaf:
    def test_no_iss(self):
        """Without iss the certificate subject is the issuer (SD-JWT VC -18 §2.5): nothing to compare."""
        check_issuer_matches_leaf(None, chain_with())

    def test_uri_san(self):
        """iss equal to a URI SAN matches."""
        check_issuer_matches_leaf(
            "https://issuer.example/tenant/7", chain_with(uris=("https://issuer.example/tenant/7",))
        )

    def test_dns_san(self):
        """An https iss whose host is a dNSName SAN matches, whatever its path, port or letter case."""
        chain = chain_with(dns=("other.example", "Issuer.Example"))
        check_issuer_matches_leaf("https://issuer.example/tenant/7", chain)
        check_issuer_matches_leaf("https://ISSUER.example:8443", chain)

    @pytest.mark.parametrize(
        "iss",
        [
            "https://evil.example",
            "https://sub.issuer.example",
            "https://issuer.example.evil.example",
            "http://issuer.example",
            "https://user@issuer.example",
            "did:web:issuer.example",
            "issuer.example",
            "https://[::1",
        ],
    )
    def test_mismatch(self, iss: str):
        """Anything the certificate does not name is refused: other hosts, http, userinfo, DIDs."""
        chain = chain_with(dns=("issuer.example",), uris=("https://issuer.example/tenant/7",))
        with pytest.raises(CredentialInvalid) as caught:
            check_issuer_matches_leaf(iss, chain)
        assert caught.value.reason == "credential.issuer_mismatch"

    def test_uri_san_is_compared_exactly(self):
        """Without a dNSName SAN, a URI SAN must equal iss: a prefix or another path is not enough."""
        chain = chain_with(uris=("https://issuer.example/tenant/7",))
        for iss in (
            "https://issuer.example",
            "https://issuer.example/tenant",
            "https://issuer.example/tenant/7/",
        ):
            with pytest.raises(CredentialInvalid):
                check_issuer_matches_leaf(iss, chain)

    def test_wildcard_san_does_not_match(self):
        """A wildcard dNSName is not an issuer name."""
        with pytest.raises(CredentialInvalid):
            check_issuer_matches_leaf("https://issuer.example", chain_with(dns=("*.example",)))

    def test_leaf_without_san(self):
        """A leaf with no SAN names no issuer."""
        with pytest.raises(CredentialInvalid):
            check_issuer_matches_leaf("https://issuer.example", chain_with())


# --- Trust anchors --- #


class TestLoadTrustAnchors:
    def test_several_anchors(self, root: Issued):
        """Every certificate in the PEM bundle becomes an anchor, in order."""
        other = make_cert("Other Root", ca=True)
        assert load_trust_anchors(root.pem + b"\n" + other.pem) == (root.cert, other.cert)

    @pytest.mark.parametrize(
        "pem",
        [b"", b"not pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
        ids=["empty", "text", "bad-der"],
    )
    def test_bad_input(self, pem: bytes):
        """An empty or broken bundle stops start-up."""
        with pytest.raises(ConfigurationError) as caught:
            load_trust_anchors(pem)
        assert caught.value.reason == "config.trust_anchors"
