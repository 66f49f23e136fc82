"""A client certificate and its key, checked before anything connects (mutual TLS, `k2infra:clientCert`).

The checks a broker would otherwise make one TLS handshake later, with a less clear message: the
certificate parses, it is valid now, and the key is the one it was issued for. The principal a
broker derives from it with the usual `ssl.principal.mapping.rules` (`RULE:^CN=([^,]+).*$/$1/`) is
`User:<CN>`.

`cryptography` is imported when a certificate is checked, not with the module: the client library's
base install (an app naming topics, a stack without clientCert) does not need it (the `mtls` extra
brings it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class ClientCertificate:
    common_name: str | None
    not_before: datetime
    not_after: datetime
    public_key_der: bytes

    @property
    def principal(self) -> str | None:
        return f"User:{self.common_name}" if self.common_name else None


def parse_certificate(pem: str) -> ClientCertificate:
    """The first certificate of PEM text; ValueError naming what is wrong."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ValueError(f"is not a PEM certificate ({exc})") from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else None
    public = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ClientCertificate(common_name, cert.not_valid_before_utc, cert.not_valid_after_utc, public)


def certificate_problems(pem: str, now: datetime | None = None) -> list[str]:
    """What is wrong with a client certificate on its own (empty when nothing)."""
    try:
        cert = parse_certificate(pem)
    except ValueError as exc:
        return [str(exc)]
    now = now or datetime.now(UTC)
    if cert.not_after < now:
        return [f"expired on {cert.not_after:%Y-%m-%d %H:%M} UTC: the brokers refuse it; renew the certificate"]
    if cert.not_before > now:
        return [f"is not valid before {cert.not_before:%Y-%m-%d %H:%M} UTC"]
    return []


def key_problems(cert_pem: str, key_pem: str, passphrase: str | None = None) -> list[str]:
    """What is wrong with a private key for this certificate (empty when it is the one)."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(key_pem.encode(), passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as exc:
        return [f"is not a PEM private key ({exc})"]
    try:
        cert = parse_certificate(cert_pem)
    except ValueError:
        return []  # the certificate's own problem is reported at clientCert
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if public != cert.public_key_der:
        return ["does not match clientCert: it is not the key the certificate was issued for"]
    return []


def token_url_problem(url: str) -> str | None:
    """A token endpoint must be https, but on this machine (a local identity provider)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        return None
    if parts.scheme == "http":
        return f"must be an https:// URL outside localhost (the client secret travels in it), got {url!r}"
    return f"must be an https:// URL (http:// only on localhost), got {url!r}"
