"""How to reach a Kafka cluster and a Schema Registry, normalised once when a stack is loaded.

A stack file says it one way (`caCert` as PEM text or a path, `saslMechanism: scram-sha512`,
`tls: true`); each consumer needs it another: librdkafka's settings, pulumi-kafka's Provider inputs,
the `kafka_security` output, the registry client. The rules between the two are written here once,
so that a second cluster (a mirror source, a region) is one more `KafkaConnection`, not one more
copy of them; `setting_prefix` lets its messages name its own keys.

Passwords are handed in by whoever resolved them (the command line from the environment, the
program from its stack secrets, inside an Output's apply); nothing here reads the environment, and
they never appear in a repr.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from k2infra.model.certificates import parse_certificate
from k2infra.model.errors import ConnectionFailed

SaslMechanism = Literal["plain", "scram-sha256", "scram-sha512", "oauthbearer"]
# The stack's mechanism names -> Kafka's (librdkafka, Java, pulumi-kafka's SCRAM credentials).
SASL_MECHANISMS: dict[str, str] = {
    "plain": "PLAIN",
    "scram-sha256": "SCRAM-SHA-256",
    "scram-sha512": "SCRAM-SHA-512",
    "oauthbearer": "OAUTHBEARER",
}
# Config keys holding a credential -> the environment variable the command line reads it from
# (the stack file holds them encrypted, which only the Pulumi engine can read).
SECRET_KEYS = {
    "saslPassword": "K2_SASL_PASSWORD",  # with oauthbearer: the OAuth client's secret
    "clientKey": "K2_CLIENT_KEY",  # the private key of clientCert (PEM text or a path)
    "schemaRegistryPassword": "K2_SCHEMA_REGISTRY_PASSWORD",
    "schemaRegistryToken": "K2_SCHEMA_REGISTRY_TOKEN",
}
DEFAULT_PREFIX = "k2infra:"
CLIENT_ID = "k2infra-verify"
PEM_MARKER = "-----BEGIN"  # what tells PEM text from a path  # the client id brokers log for the project's own reads


def kafka_mechanism(name: str) -> str:
    """'scram-sha512' (as stacks and apps.yaml write it) -> 'SCRAM-SHA-512' (as Kafka names it)."""
    return SASL_MECHANISMS[name]


def oidc_settings(client_id: str, client_secret: str, token_url: str, scopes: Iterable[str] = ()) -> dict[str, str]:
    """librdkafka's SASL/OAUTHBEARER settings of an OAuth client (k2infra's own, or an app's: the client library):
    librdkafka fetches and refreshes the token itself (client-credentials grant, KIP-768)."""
    config = {
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": client_id,
        "sasl.oauthbearer.client.secret": client_secret,
        "sasl.oauthbearer.token.endpoint.url": token_url,
    }
    if scope := " ".join(scopes):
        config["sasl.oauthbearer.scope"] = scope
    return config


def read_ca(value: str, what: str = "the CA certificate") -> str:
    """The one rule for a CA setting: PEM text as it is, or the text of the PEM file it names.

    ValueError when it is neither (a path that names no file on this machine)."""
    if PEM_MARKER in value:
        return value
    if not Path(value).is_file():
        raise ValueError(f"{what} is neither PEM text nor a file: {value!r}")
    return Path(value).read_text()


def registry_urls(text: str | None) -> tuple[str, ...]:
    """The nodes of a registry URL setting: one URL, or several comma-separated (as Confluent's
    clients take `schema.registry.url`), each without a trailing slash. Empty entries are kept, so
    that `url_problems` can name them."""
    if not text:
        return ()
    return tuple(part.strip().rstrip("/") for part in text.split(","))


def checked_registry_urls(value: str) -> str:
    """A registry URL setting normalised (`registry_urls`, comma-joined); ValueError naming every bad entry."""
    urls = registry_urls(value)
    if problems := url_problems(urls):
        raise ValueError("; ".join(problems))
    return ",".join(urls)


def url_problems(urls: tuple[str, ...]) -> list[str]:
    """What is wrong with each entry of a registry URL list (empty: nothing)."""
    problems = []
    for i, url in enumerate(urls, 1):
        where = f"entry {i} of {len(urls)} " if len(urls) > 1 else ""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
        except ValueError:
            problems.append(f"{where}has a port that is not a number: {url!r}")
            continue
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"{where}must be an http:// or https:// URL, got {url!r}")
        elif parts.username is not None or parts.password is not None:
            problems.append(f"{where}contains credentials: set schemaRegistryUsername and the password secret")
    return problems


def _pem_or_as_written(value: str | None) -> str | None:
    """Read at load; a path this machine does not have stays as written (a client reports it when it connects)."""
    if not value:
        return value
    try:
        return read_ca(value)
    except ValueError:
        return value


@dataclass(frozen=True, kw_only=True)
class _Endpoint:
    """What a Kafka cluster and a registry share: a CA as the stack writes it, read once, and the
    prefix of the stack settings that configure it."""

    ca_cert: str | None = None  # as the stack writes it: PEM text or a path (the provider's/subjects' input)
    setting_prefix: str = DEFAULT_PREFIX
    ca_pem: str | None = field(init=False, repr=False)  # the CA as PEM text, read once

    def __post_init__(self) -> None:
        object.__setattr__(self, "ca_pem", _pem_or_as_written(self.ca_cert))

    def key(self, name: str) -> str:
        """The stack setting `name` of this endpoint, as messages name it: 'k2infra:caCert'."""
        return f"{self.setting_prefix}{name}"


@dataclass(frozen=True, kw_only=True)
class KafkaConnection(_Endpoint):
    """One Kafka cluster as the stack reaches it."""

    bootstrap_servers: tuple[str, ...] = ()
    tls: bool = False
    tls_skip_verify: bool = False
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None  # with oauthbearer: the OAuth client id (as pulumi-kafka takes it)
    sasl_password: str | None = field(default=None, repr=False)  # with oauthbearer: the client's secret
    sasl_token_url: str | None = None  # oauthbearer: the identity provider's token endpoint
    sasl_oauth_scopes: tuple[str, ...] = ()
    client_cert: str | None = None  # mutual TLS: as the stack writes it, PEM text or a path
    client_key: str | None = field(default=None, repr=False)  # its private key (a secret), PEM text or a path
    kafka_version: str | None = None
    timeout_seconds: int = 120
    # Where the command line took the password from, for the failure's "check ..." (None: K2_SASL_PASSWORD).
    password_from: str | None = None
    # Where the user name came from, for the same line (None: the stack's saslUsername).
    username_from: str | None = None

    @property
    def servers(self) -> str:
        return ",".join(self.bootstrap_servers)

    @property
    def security_protocol(self) -> str:
        """`security.protocol`, same name and values in librdkafka and Java."""
        return ("SASL_" if self.sasl_mechanism else "") + ("SSL" if self.tls else "PLAINTEXT")

    @property
    def mechanism(self) -> str | None:
        """`sasl.mechanism` as Kafka names it, or None without SASL."""
        return kafka_mechanism(self.sasl_mechanism) if self.sasl_mechanism else None

    @property
    def principal(self) -> str | None:
        """The principal the brokers see this connection as, where the settings say it: `User:<saslUsername>`
        (with oauthbearer the client id, which the brokers take from the token's client-id claim), else with
        a client certificate `User:<its CN>` (the usual `ssl.principal.mapping.rules`)."""
        if self.sasl_mechanism and self.sasl_username:
            return f"User:{self.sasl_username}"
        if self.client_cert:
            try:
                return parse_certificate(read_ca(self.client_cert, "the client certificate")).principal
            except ValueError:
                return None
        return None

    def with_client_key(self, key: str | None) -> KafkaConnection:
        return replace(self, client_key=key)

    def with_password(self, password: str | None) -> KafkaConnection:
        return replace(self, sasl_password=password)

    def as_scram_user(
        self, mechanism: SaslMechanism, username: str, password: str, password_from: str, username_from: str
    ) -> KafkaConnection:
        """The same brokers (addresses, TLS, CA) logged in as another SCRAM user: an app's own principal.
        `password_from` and `username_from` say where each came from, for a refused login's line."""
        return replace(
            self,
            sasl_mechanism=mechanism,
            sasl_username=username,
            sasl_password=password,
            sasl_token_url=None,
            sasl_oauth_scopes=(),
            client_cert=None,
            client_key=None,
            password_from=password_from,
            username_from=username_from,
        )

    def as_oauth_client(self, client_id: str, secret: str, password_from: str, username_from: str) -> KafkaConnection:
        """The same brokers and identity provider (token endpoint, scopes) logged in as another OAuth client:
        an app's own, whose client id is its principal's user name."""
        return replace(
            self,
            sasl_username=client_id,
            sasl_password=secret,
            client_cert=None,
            client_key=None,
            password_from=password_from,
            username_from=username_from,
        )

    def as_client_certificate(self, cert: str, key: str) -> KafkaConnection:
        """The same brokers (addresses, CA) presenting another client certificate (PEM text or paths): an
        app's own, whose CN is its principal's user name."""
        return replace(self, client_cert=cert, client_key=key)

    def librdkafka(self, client_id: str = CLIENT_ID) -> dict[str, Any]:
        """confluent-kafka's settings; ConnectionFailed naming the setting when one is missing.

        The CA goes in as `ssl.ca.pem` (librdkafka >= 1.6), so no file is written for it."""
        if not self.bootstrap_servers:
            raise ConnectionFailed(f"no Kafka address: set {self.key('bootstrapServers')} in the stack")
        config: dict[str, Any] = {
            "bootstrap.servers": self.servers,
            "client.id": client_id,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism is not None:
            if self.sasl_password is None:
                raise ConnectionFailed(
                    f"{self.key('saslMechanism')} is {self.sasl_mechanism}: set {SECRET_KEYS['saslPassword']} "
                    f"to the password of {self.key('saslUsername')} ({self.sasl_username})"
                )
            config["sasl.mechanism"] = self.mechanism
            if self.sasl_mechanism == "oauthbearer":
                config.update(
                    oidc_settings(
                        self.sasl_username or "", self.sasl_password, self.sasl_token_url or "", self.sasl_oauth_scopes
                    )
                )
            else:
                config["sasl.username"] = self.sasl_username or ""
                config["sasl.password"] = self.sasl_password
        if self.tls:
            if self.ca_cert:
                try:
                    config["ssl.ca.pem"] = read_ca(self.ca_pem or self.ca_cert, "the brokers' CA certificate")
                except ValueError as exc:
                    raise ConnectionFailed(f"{exc} ({self.key('caCert')})") from None
            if self.tls_skip_verify:
                config["enable.ssl.certificate.verification"] = False
                config["ssl.endpoint.identification.algorithm"] = "none"
            if self.client_cert:
                if self.client_key is None:
                    raise ConnectionFailed(
                        f"{self.key('clientCert')} is set: set {SECRET_KEYS['clientKey']} to its private key "
                        "(PEM text or a path)"
                    )
                try:
                    config["ssl.certificate.pem"] = read_ca(self.client_cert, "the client certificate")
                    config["ssl.key.pem"] = read_ca(self.client_key, "the client key")
                except ValueError as exc:
                    raise ConnectionFailed(f"{exc} ({self.key('clientCert')} / {self.key('clientKey')})") from None
        return config

    def provider_args(self) -> dict[str, Any]:
        """pulumi-kafka's Provider inputs but the secrets (the password or OAuth client secret, the client
        key: secret Outputs, which the program adds).

        `ca_cert` goes in as the stack writes it: the provider takes PEM text or a path, and the
        state keeps the input, so reading a path here would show as a change of every stack that
        names a file."""
        args = {
            "bootstrap_servers": list(self.bootstrap_servers),
            # Explicit, always: the provider's own TLS default is on, which fails on a plaintext broker.
            "tls_enabled": self.tls,
            "skip_tls_verify": self.tls_skip_verify,
            "ca_cert": self.ca_cert,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_username": self.sasl_username,
            "kafka_version": self.kafka_version,
            "timeout": self.timeout_seconds,
        }
        # pulumi-kafka 3.13.3's names (the OAuth client id and secret are sasl_username / sasl_password);
        # only when set, so that the provider inputs of the password modes stay as they were.
        if self.sasl_mechanism == "oauthbearer":
            args["sasl_token_url"] = self.sasl_token_url
            if self.sasl_oauth_scopes:
                args["sasl_oauth_scopes"] = list(self.sasl_oauth_scopes)
        if self.client_cert:
            args["client_cert"] = self.client_cert  # as written, as ca_cert (the state keeps the input)
        return args

    def security_output(self) -> dict[str, Any]:
        """The `kafka_security` stack output: how apps connect (their credentials are their own)."""
        out: dict[str, Any] = {
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.mechanism,
            "ca_cert": self.ca_pem if self.tls else None,
            "tls_skip_verify": bool(self.tls and self.tls_skip_verify),
        }
        # How an app authenticates in the other two modes (its certificate or token are its own); only
        # there, so that the outputs of the password modes stay as they were.
        if self.client_cert:
            out["client_auth"] = "mtls"
        if self.sasl_mechanism == "oauthbearer":
            out["client_auth"] = "oauthbearer"
            out["oauth_token_url"] = self.sasl_token_url
        return out


@dataclass(frozen=True, kw_only=True)
class RegistryConnection(_Endpoint):
    """One Schema Registry as the stack reaches it (basic auth, a bearer token, or neither).

    `url` may list several nodes of one registry, comma-separated: clients fail over between them."""

    url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def urls(self) -> tuple[str, ...]:
        """Every node of the registry, in the order the stack lists them (`url` is that list as written)."""
        return registry_urls(self.url)

    def with_secrets(self, password: str | None, token: str | None) -> RegistryConnection:
        return replace(self, password=password, token=token)


@dataclass(frozen=True)
class Connections:
    """Every cluster and registry a stack reaches; one of each today."""

    kafka: KafkaConnection
    registry: RegistryConnection

    def with_secrets(
        self, sasl_password: str | None, registry_password: str | None, registry_token: str | None
    ) -> Connections:
        """The same connections with the credentials' values (the program's, resolved inside an apply)."""
        return Connections(
            self.kafka.with_password(sasl_password), self.registry.with_secrets(registry_password, registry_token)
        )
