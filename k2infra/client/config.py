"""Ready configurations for the stock confluent-kafka clients, from the platform + the app's credentials.

Plain dicts (no client is created here, so this module needs no Kafka library):

    settings = producer_settings(platform, AppCredentials.from_env())
    registry = SchemaRegistryClient(settings.schema_registry)
    serializer = AvroSerializer(registry, conf=settings.serializer)   # subject from the topic's asset class
    producer = Producer(settings.kafka)                               # murmur2_random: Java's partitions

What the settings fix, and why:
* `subject.name.strategy`: K2 registers one subject per asset class and data type; the default
  (TopicNameStrategy, or 2.16's ASSOCIATED falling back to it) asks for `<topic>-value`, which
  does not exist (404).
* `auto.register.schemas: False`: schemas are the platform's (config/schemas, deployed by
  Pulumi); an app never registers one, and a record of another shape is refused at the producer.
* `use.latest.version: True`: write and read with the subject's latest registered version, so the
  app needs no .avsc file and follows schema evolution (on restart, or after the registry client's
  `cache.latest.ttl.sec`).
* several registry nodes (`schema_registry_url` lists them comma-separated, which
  SchemaRegistryClient takes as it is): it tries them in order on every lookup, after retrying the
  one that does not answer `max.retries` times with a backoff of up to 2^n x `retries.wait.ms`
  (3 and 1 s by default: up to 7 s per lookup with the first node down); one quick retry instead.
* `timeout`: SchemaRegistryClient waits for an answer without limit by default, so a node that
  accepts the connection but does not answer (a JVM stalled in GC or replaying its journal, a
  half-open connection) hangs the producer or consumer forever and the other nodes are never tried.
  10 s per request: a timeout is retried like a refused connection (up to 4 x 10 s on one node,
  2 x 10 s before going to the next).
* `partitioner: murmur2_random`: librdkafka's default (consistent_random, CRC32) puts a symbol in
  another partition than Java producers do; murmur2_random is the Java default partitioner's hash.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from k2infra.client.errors import CredentialsError, PlatformLoadError
from k2infra.client.platform import Platform
from k2infra.client.subjects import SubjectNameStrategy
from k2infra.model.connection import PEM_MARKER, oidc_settings

__all__ = [
    "PRODUCER_DEFAULTS",
    "AppCredentials",
    "ConsumerSettings",
    "ProducerSettings",
    "consumer_settings",
    "deserializer_config",
    "kafka_client_config",
    "producer_settings",
    "schema_registry_config",
    "serializer_config",
]

# librdkafka's name of the Java producer's partitioner for keyed records (murmur2, positive, modulo
# partitions); records without a key go to a random partition.
JAVA_COMPATIBLE_PARTITIONER = "murmur2_random"
PRODUCER_DEFAULTS: dict[str, Any] = {
    "partitioner": JAVA_COMPATIBLE_PARTITIONER,
    "acks": "all",
    "enable.idempotence": True,
}
ENV_PREFIX = "K2_APP_"


@dataclass(frozen=True)
class AppCredentials:
    """The application's own credentials (never the infrastructure's). Secrets stay out of repr.

    Which ones a platform needs, its `kafka_security` output says: SASL PLAIN/SCRAM a user name and
    password; `client_auth: mtls` the app's certificate and key (PEM text or file paths, whose CN is
    the app's principal); `client_auth: oauthbearer` its OAuth client id (the principal) and secret."""

    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_certificate: str | None = None  # mutual TLS: PEM text, or the path of a PEM file
    ssl_key: str | None = field(default=None, repr=False)  # its private key, PEM text or a path
    ssl_key_password: str | None = field(default=None, repr=False)  # where the key is encrypted
    oauth_client_id: str | None = None  # OAUTHBEARER: the app's client (client-credentials grant)
    oauth_client_secret: str | None = field(default=None, repr=False)
    oauth_scope: str | None = None  # space-separated, where the identity provider wants one
    schema_registry_username: str | None = None
    schema_registry_password: str | None = field(default=None, repr=False)
    schema_registry_token: str | None = field(default=None, repr=False)
    # confluent-kafka's STATIC_TOKEN bearer auth sends it as target-sr-cluster and requires it.
    schema_registry_logical_cluster: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, prefix: str = ENV_PREFIX) -> AppCredentials:
        """From K2_APP_<FIELD> for every field: K2_APP_SASL_USERNAME, K2_APP_SASL_PASSWORD, K2_APP_SSL_CERTIFICATE,
        K2_APP_SSL_KEY, K2_APP_SSL_KEY_PASSWORD, K2_APP_OAUTH_CLIENT_ID, K2_APP_OAUTH_CLIENT_SECRET,
        K2_APP_OAUTH_SCOPE, K2_APP_SCHEMA_REGISTRY_USERNAME, K2_APP_SCHEMA_REGISTRY_PASSWORD,
        K2_APP_SCHEMA_REGISTRY_TOKEN, K2_APP_SCHEMA_REGISTRY_LOGICAL_CLUSTER."""
        env = os.environ if environ is None else environ
        values = {name: env.get(prefix + name.upper()) or None for name in cls.__dataclass_fields__}
        return cls(**values)


def _missing(credentials: AppCredentials, names: tuple[str, ...], needs: str) -> None:
    """CredentialsError naming the fields (and their variables) a mode needs that the app did not pass."""
    missing = [name for name in names if not getattr(credentials, name)]
    if missing:
        passed = ", ".join(f"{name}=..." for name in names)
        variables = " and ".join(ENV_PREFIX + name.upper() for name in names)
        raise CredentialsError(
            f"the platform requires {needs}: pass AppCredentials({passed}) (or set {variables}); "
            f"missing: {', '.join(ENV_PREFIX + name.upper() for name in missing)}"
        )


def _pem_or_file(value: str, name: str, pem_key: str, location_key: str) -> dict[str, str]:
    """PEM text as `<pem_key>`, a path as `<location_key>` (librdkafka reads the file); a path that names
    no file is refused here, naming the variable, rather than by librdkafka when the client starts."""
    if PEM_MARKER in value:
        return {pem_key: value}
    if not os.path.isfile(value):
        raise CredentialsError(f"{name} ({ENV_PREFIX}{name.upper()}) is neither PEM text nor a file: {value!r}")
    return {location_key: value}


def _client_authentication(security: Any, credentials: AppCredentials) -> dict[str, Any]:
    """The app's own authentication in the platform's mode: SASL user, client certificate, OAuth client."""
    config: dict[str, Any] = {}
    if security.sasl_mechanism == "OAUTHBEARER":
        _missing(credentials, ("oauth_client_id", "oauth_client_secret"), "SASL OAUTHBEARER (an OAuth client)")
        if not security.oauth_token_url:
            raise PlatformLoadError("the platform's kafka_security names no oauth_token_url for OAUTHBEARER")
        config["sasl.mechanism"] = security.sasl_mechanism
        scopes = (credentials.oauth_scope or "").split()
        config.update(
            oidc_settings(
                credentials.oauth_client_id or "",
                credentials.oauth_client_secret or "",
                security.oauth_token_url,
                scopes,
            )
        )
    elif security.sasl_mechanism is not None:
        if not credentials.sasl_username or not credentials.sasl_password:
            raise CredentialsError(
                f"the platform requires SASL {security.sasl_mechanism}: pass AppCredentials(sasl_username=..., "
                f"sasl_password=...) (or set {ENV_PREFIX}SASL_USERNAME and {ENV_PREFIX}SASL_PASSWORD)"
            )
        config["sasl.mechanism"] = security.sasl_mechanism
        config["sasl.username"] = credentials.sasl_username
        config["sasl.password"] = credentials.sasl_password
    if security.client_auth == "mtls":
        _missing(credentials, ("ssl_certificate", "ssl_key"), "a client certificate (mutual TLS)")
        certificate, key = credentials.ssl_certificate or "", credentials.ssl_key or ""
        config.update(_pem_or_file(certificate, "ssl_certificate", "ssl.certificate.pem", "ssl.certificate.location"))
        config.update(_pem_or_file(key, "ssl_key", "ssl.key.pem", "ssl.key.location"))
        if credentials.ssl_key_password:
            config["ssl.key.password"] = credentials.ssl_key_password
    return config


def kafka_client_config(platform: Platform, credentials: AppCredentials | None = None) -> dict[str, Any]:
    """bootstrap.servers, security.protocol, the app's authentication and TLS settings (librdkafka names)."""
    credentials = credentials or AppCredentials()
    security = platform.kafka_security
    if not platform.bootstrap_servers:
        raise PlatformLoadError(f"{platform.source} name no Kafka bootstrap servers")
    config: dict[str, Any] = {
        "bootstrap.servers": platform.bootstrap_servers,
        "security.protocol": security.security_protocol,
        **_client_authentication(security, credentials),
    }
    if security.security_protocol.endswith("SSL"):
        if security.ca_cert:
            config["ssl.ca.pem"] = security.ca_cert
        if security.tls_skip_verify:
            config["enable.ssl.certificate.verification"] = False
            config["ssl.endpoint.identification.algorithm"] = "none"
    return config


# With another registry node to go to, a node that does not answer is retried once, briefly.
REGISTRY_FAILOVER = {"max.retries": 1, "retries.wait.ms": 250}
# Seconds a registry request may wait for its answer (the client's default is no limit).
REGISTRY_REQUEST_TIMEOUT = 10


def schema_registry_config(platform: Platform, credentials: AppCredentials | None = None) -> dict[str, Any]:
    """The conf of confluent_kafka.schema_registry.SchemaRegistryClient."""
    credentials = credentials or AppCredentials()
    if not platform.schema_registry_url:
        raise PlatformLoadError(f"{platform.source} name no Schema Registry URL")
    config: dict[str, Any] = {"url": platform.schema_registry_url, "timeout": REGISTRY_REQUEST_TIMEOUT}
    if "," in platform.schema_registry_url:
        config.update(REGISTRY_FAILOVER)
    if credentials.schema_registry_username or credentials.schema_registry_password:
        if not (credentials.schema_registry_username and credentials.schema_registry_password):
            raise CredentialsError("Schema Registry basic auth needs both a username and a password")
        config["basic.auth.user.info"] = (
            f"{credentials.schema_registry_username}:{credentials.schema_registry_password}"
        )
    elif credentials.schema_registry_token:
        if not credentials.schema_registry_logical_cluster:
            raise CredentialsError(
                "confluent-kafka's bearer auth (STATIC_TOKEN) requires schema_registry_logical_cluster too"
            )
        config["bearer.auth.credentials.source"] = "STATIC_TOKEN"
        config["bearer.auth.token"] = credentials.schema_registry_token
        config["bearer.auth.logical.cluster"] = credentials.schema_registry_logical_cluster
    return config


def serializer_config(platform: Platform) -> dict[str, Any]:
    """The conf of AvroSerializer: the asset-class subject, the registered schema, never a registration."""
    return {
        "subject.name.strategy": SubjectNameStrategy(platform),
        "auto.register.schemas": False,
        "use.latest.version": True,
    }


def deserializer_config(platform: Platform) -> dict[str, Any]:
    """The conf of AvroDeserializer: read with the subject's latest version; topics of exchanges
    added after the app started (a pattern subscription) map to their asset class's subject."""
    return {
        "subject.name.strategy": SubjectNameStrategy(platform, accept_new_exchanges=True),
        "use.latest.version": True,
    }


@dataclass(frozen=True)
class ProducerSettings:
    """Producer(kafka), SchemaRegistryClient(schema_registry), AvroSerializer(client, conf=serializer)."""

    platform: Platform
    kafka: dict[str, Any]
    schema_registry: dict[str, Any] = field(repr=False)
    serializer: dict[str, Any]

    def partition_key_field(self, topic: str) -> str:
        return self.platform.topic(topic).partition_key

    def key_of(self, topic: str, record: Mapping[str, Any]) -> str:
        """The record's partition key for `topic` (its symbol, for every K2 data type today)."""
        return self.platform.topic(topic).key_of(record)


@dataclass(frozen=True)
class ConsumerSettings:
    """Consumer(kafka), SchemaRegistryClient(schema_registry), AvroDeserializer(client, conf=deserializer)."""

    platform: Platform
    kafka: dict[str, Any]
    schema_registry: dict[str, Any] = field(repr=False)
    deserializer: dict[str, Any]


def producer_settings(
    platform: Platform, credentials: AppCredentials | None = None, overrides: Mapping[str, Any] | None = None
) -> ProducerSettings:
    """Everything a producer needs. `overrides` are librdkafka properties (linger.ms, client.id, ...);
    the partitioner is not one of them: another one breaks the partition contract with Java."""
    overrides = dict(overrides or {})
    if overrides.get("partitioner", JAVA_COMPATIBLE_PARTITIONER) != JAVA_COMPATIBLE_PARTITIONER:
        raise ValueError(
            f"partitioner {overrides['partitioner']!r} would put a symbol in another partition than Java "
            f"producers do; K2 producers use {JAVA_COMPATIBLE_PARTITIONER}"
        )
    kafka = {**kafka_client_config(platform, credentials), **PRODUCER_DEFAULTS, **overrides}
    return ProducerSettings(platform, kafka, schema_registry_config(platform, credentials), serializer_config(platform))


def consumer_settings(
    platform: Platform,
    group_id: str,
    credentials: AppCredentials | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    auto_offset_reset: str = "earliest",
) -> ConsumerSettings:
    """Everything a consumer needs. For a pattern subscription, `topic.metadata.refresh.interval.ms`
    (librdkafka default 5 min) bounds how long a new exchange's topics take to be picked up."""
    kafka = {
        **kafka_client_config(platform, credentials),
        "group.id": group_id,
        "auto.offset.reset": auto_offset_reset,
        **dict(overrides or {}),
    }
    return ConsumerSettings(
        platform, kafka, schema_registry_config(platform, credentials), deserializer_config(platform)
    )
