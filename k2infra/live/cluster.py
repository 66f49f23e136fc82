"""The live state of a stack's Kafka cluster and Schema Registry, read for `verify`.

Reading is kept apart from comparing: this module turns the cluster and the registry into a
`LiveState` snapshot (plain frozen data) and knows nothing of drift; `k2infra.live.verify` compares a
snapshot with the Plan.

Kafka is asked with a fixed number of batched admin calls, whatever the number of topics:
- one Metadata request for every topic (partitions, replicas, in-sync replicas);
- DescribeConfigs for every planned topic that exists (only the keys the plan sets are kept):
  one request up to 250 topics, then up to four in flight together;
- one ListOffsets call for every partition of every `market.` topic (librdkafka sends one request
  per partition leader).
The registry is asked per subject (there are few), over one HTTP session and through the
project's registry client (timeouts, retries, specific errors).

Anything that stops the reading (no address, a cluster or registry that does not answer, refused
credentials) raises `LiveReadError` with a one-line message naming the address and the setting to
check; librdkafka's own log lines are captured, never printed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, OffsetSpec, ResourceType

from k2infra.model.connection import SASL_MECHANISMS, SECRET_KEYS, KafkaConnection, RegistryConnection
from k2infra.model.errors import ConnectionFailed, parse_int
from k2infra.model.stack import Stack
from k2infra.model.topology import TOPIC_PREFIX
from k2infra.registry.client import (
    DEFAULT_CONNECT_TIMEOUT,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistryUnavailableError,
    ca_bundle_file,
    sanitize_url,
)

PREFIX = f"{TOPIC_PREFIX}."
DESCRIBE_REQUESTS = 4  # DescribeConfigs requests in flight for a large topology
DESCRIBE_MIN_TOPICS = 250  # ... but no request for fewer topics than this

# The live state could not be read; ``str(err)`` is a complete one-line message. The model's
# ConnectionFailed under the name live's callers know (one class: the connection raises it too).
LiveReadError = ConnectionFailed


@dataclass(frozen=True)
class LiveTopic:
    name: str
    partitions: int
    replication_factor: int  # replicas of the lowest-numbered partition, as kafka-topics shows it
    under_replicated: int  # partitions whose in-sync replicas are fewer than their replicas, or without a leader
    end_offsets: int | None  # sum of the partitions' high watermarks; None if one could not be read
    config: Mapping[str, str | None] = field(default_factory=dict)  # effective values of the asked keys


@dataclass(frozen=True)
class LiveSubject:
    name: str
    version: int | None = None  # of the latest version
    schema_id: int | None = None
    schema: str | None = None  # text of the latest version
    schema_type: str = "AVRO"
    compatibility: str | None = None  # effective level: the subject's own, else the registry's global


@dataclass(frozen=True)
class BrokerView:
    """Which brokers are live, and which nodes hold replicas.

    A KRaft Metadata answer lists only unfenced brokers: a broker that shut down is fenced at once,
    one that died when its session times out (broker.session.timeout.ms, 9 s by default). A fenced
    broker stays registered with the controller, and its node id stays in the replica lists of the
    partitions it holds, so a node that holds replicas but is not listed is down (or fenced)."""

    live: tuple[int, ...]  # unfenced brokers, as the Metadata answer lists them
    assigned: tuple[int, ...] = ()  # node ids in any partition's replica list

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.assigned) - set(self.live)))

    def describe(self) -> str:
        """'2 brokers are live (1, 2); node 3 holds replicas but is down or fenced'."""
        count = len(self.live)
        text = f"{count} broker{' is' if count == 1 else 's are'} live ({', '.join(map(str, self.live))})"
        if self.missing:
            nodes = ", ".join(map(str, self.missing))
            plural = len(self.missing) > 1
            text += f"; node{'s' if plural else ''} {nodes} hold{'' if plural else 's'} replicas but {'are' if plural else 'is'} down or fenced"
        return text


def broker_view(metadata: Any) -> BrokerView:
    """The live brokers and the replica-holding nodes of a confluent-kafka ClusterMetadata."""
    assigned = {
        replica for topic in metadata.topics.values() for p in topic.partitions.values() for replica in p.replicas
    }
    return BrokerView(tuple(sorted(metadata.brokers)), tuple(sorted(assigned)))


@dataclass(frozen=True)
class LiveState:
    topics: Mapping[str, LiveTopic]
    subjects: Mapping[str, LiveSubject]
    brokers: BrokerView | None = None


def read_live_state(stack: Stack, *, timeout: float) -> LiveState:
    """The cluster's `market.` topics and the registry's `market.` subjects, as the plan asks them."""
    plan = stack.plan
    brokers: list[BrokerView] = []
    wanted = {t.name: tuple(t.config) for t in plan.managed_topics()}
    topics = read_topics(stack.connections.kafka, wanted, timeout=timeout, brokers=brokers)
    subjects = read_subjects(stack.connections.registry, [s.subject for s in plan.subjects], timeout=timeout)
    return LiveState(topics, subjects, brokers[0] if brokers else None)


# -- Kafka ---------------------------------------------------------------------------------------


def read_topics(
    connection: KafkaConnection,
    wanted_configs: Mapping[str, Collection[str]],
    *,
    timeout: float,
    brokers: list[BrokerView] | None = None,
) -> dict[str, LiveTopic]:
    """Every `market.` topic of the cluster; the configs of `wanted_configs` (topic -> keys) read too.

    `brokers`, when given, receives the cluster's BrokerView (from the same Metadata answer)."""
    servers = connection.servers
    with _LibrdkafkaLog() as log:
        admin = AdminClient({**connection.librdkafka(), **log.callbacks()})
        metadata = fetch_metadata(admin, log, connection, timeout=timeout)
        if brokers is not None:
            brokers.append(broker_view(metadata))
        layouts = {
            name: _layout(topic.partitions.values())
            for name, topic in metadata.topics.items()
            if name.startswith(PREFIX)
            and not (topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART)
        }
        configs = _describe_configs(admin, servers, {n: k for n, k in wanted_configs.items() if n in layouts}, timeout)
        for name in (set(wanted_configs) & set(layouts)) - set(configs):
            del layouts[name]  # deleted since the metadata was read
        ends = _end_offsets(admin, layouts, timeout)
        admin.poll(0)
    return {
        name: LiveTopic(
            name=name,
            partitions=layout.partitions,
            replication_factor=layout.replication_factor,
            under_replicated=layout.under_replicated,
            end_offsets=ends[name],
            config=configs.get(name, {}),
        )
        for name, layout in sorted(layouts.items())
    }


def _describe_configs(
    admin: AdminClient, servers: str, wanted: Mapping[str, Collection[str]], timeout: float
) -> dict[str, dict[str, str | None]]:
    """One DescribeConfigs for every topic of `wanted`: the effective value of each wanted key.

    A topic deleted since the metadata was read is left out of the answer."""
    if not wanted:
        return {}
    names = list(wanted)
    # A few requests in flight rather than one: the broker answers them on several threads. At 3000
    # topics one request took 3-4.5 s, four took 2.5 s; more did not help.
    per_request = max(DESCRIBE_MIN_TOPICS, -(-len(names) // DESCRIBE_REQUESTS))
    futures: dict[Any, Any] = {}
    for start in range(0, len(names), per_request):
        resources = [ConfigResource(ResourceType.TOPIC, name) for name in names[start : start + per_request]]
        futures.update(admin.describe_configs(resources, request_timeout=timeout))
    configs: dict[str, dict[str, str | None]] = {}
    for resource, future in futures.items():
        try:
            entries = future.result()
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            raise LiveReadError(
                f"Kafka at {servers} could not describe the configs of {resource.name}: {error.str()}"
            ) from None
        configs[resource.name] = {key: entries[key].value if key in entries else None for key in wanted[resource.name]}
    return configs


def _end_offsets(admin: AdminClient, layouts: Mapping[str, _Layout], timeout: float) -> dict[str, int | None]:
    """One ListOffsets call for every partition: per topic, the sum of the high watermarks.

    A partition that cannot answer (no leader) makes its topic's sum unknown (None), not the run fail."""
    ends: dict[str, int | None] = dict.fromkeys(layouts, 0)
    partitions = {
        TopicPartition(name, partition): OffsetSpec.latest()
        for name, layout in layouts.items()
        for partition in layout.partition_ids
    }
    if not partitions:
        return ends
    for tp, future in admin.list_offsets(partitions, request_timeout=timeout).items():
        try:
            offset = future.result().offset
        except KafkaException:
            offset = None
        current = ends[tp.topic]
        ends[tp.topic] = None if current is None or offset is None or offset < 0 else current + offset
    return ends


@dataclass(frozen=True)
class _Layout:
    partition_ids: tuple[int, ...]
    replication_factor: int
    under_replicated: int

    @property
    def partitions(self) -> int:
        return len(self.partition_ids)


def _layout(partitions: Iterable[Any]) -> _Layout:
    """Partition count, replication factor and under-replicated count of one topic's metadata."""
    ordered = sorted(partitions, key=lambda p: p.id)
    return _Layout(
        partition_ids=tuple(p.id for p in ordered),
        replication_factor=len(ordered[0].replicas) if ordered else 0,
        under_replicated=sum(1 for p in ordered if len(p.isrs) < len(p.replicas) or p.leader < 0),
    )


PROBE_STEP = 1.0  # seconds per Metadata attempt while waiting for an answer or a decisive failure


def fetch_metadata(
    admin: AdminClient,
    log: _LibrdkafkaLog,
    connection: KafkaConnection,
    *,
    timeout: float,
    password_from: str | None = None,
) -> Any:
    """One Metadata answer for every topic, or LiveReadError with `kafka_failure`'s line.

    Asked in steps of PROBE_STEP so that a failure that waiting cannot cure ends the read early
    (`_LibrdkafkaLog.decisive`), while a slow or partly-down cluster still gets the whole timeout."""
    servers = connection.servers
    deadline = time.monotonic() + timeout
    while True:
        step = max(min(PROBE_STEP, deadline - time.monotonic()), 0.1)
        try:
            return admin.list_topics(timeout=step)
        except KafkaException as exc:
            admin.poll(0)  # delivers librdkafka's log lines and errors to `log`
            if time.monotonic() >= deadline or log.decisive(connection.bootstrap_servers):
                texts = [*log.failure_texts(), exc.args[0].str()]
                raise LiveReadError(kafka_failure(connection, servers, timeout, texts, password_from)) from None


def read_brokers(connection: KafkaConnection, *, timeout: float) -> BrokerView:
    """The cluster's BrokerView, as the program connects (its connection holds the stack's secret)."""
    with _LibrdkafkaLog() as log:
        admin = AdminClient({**connection.librdkafka(), **log.callbacks()})
        metadata = fetch_metadata(admin, log, connection, timeout=timeout, password_from=connection.key("saslPassword"))
        return broker_view(metadata)


_BROKER_PREFIX = re.compile(r"^(?:[a-z_]+://)?[^\s/]+/\S+?: ")  # "sasl_ssl://h:p/1: ", plaintext "h:p/bootstrap: "
_MECHANISMS_OFFERED = re.compile(r"supported mechanisms: ([A-Z0-9_,\- ]+?)(?: \(after|$|\))")


def kafka_failure(
    connection: KafkaConnection,
    servers: str,
    timeout: float,
    texts: Sequence[str],
    password_from: str | None = None,
) -> str:
    """The one line for a Kafka connection that failed: the cause, where, and the setting to fix.

    `texts` are librdkafka's reasons (errors and log lines, oldest first); `password_from` names
    where the SASL password came from (the stack secret in the program, the environment for the
    command line). Every caller that connects to Kafka goes through here."""
    # Without librdkafka's "sasl_ssl://host:port/id: " prefix: the addresses are in the line already,
    # and the protocol name must not read as a SASL failure.
    texts = [_BROKER_PREFIX.sub("", text) for text in texts]
    joined = " | ".join(texts)
    lower = joined.lower()
    key = connection.key
    password = password_from or SECRET_KEYS["saslPassword"]  # the command line reads it from there
    mechanism = connection.mechanism or ""
    if "unsupported sasl mechanism" in lower:
        offered = _MECHANISMS_OFFERED.search(joined)
        offers = offered.group(1).strip() if offered else "other mechanisms"
        values = [v for v, name in SASL_MECHANISMS.items() if name in offers]
        fix = f": set {key('saslMechanism')} to {values[0]}" if values else ""
        return (
            f"the brokers at {servers} do not offer SASL mechanism {mechanism} ({key('saslMechanism')} "
            f"{connection.sasl_mechanism}); they offer {offers}{fix}"
        )
    authentication = "sasl authentication error" in lower or "invalid credentials" in lower
    if connection.sasl_mechanism and (authentication or "authentication failed" in lower):
        return (
            f"SASL authentication failed for user {connection.sasl_username} ({mechanism}) at {servers}: "
            f"wrong password? (check {password} and {key('saslUsername')})"
        )
    if "certificate verify failed" in lower:
        trusted = key("caCert") if connection.ca_cert else f"the system CAs ({key('caCert')} is not set)"
        return (
            f"TLS certificate of the brokers at {servers} could not be verified (certificate verify failed): "
            f"{trusted} did not sign it; set {key('caCert')} to the CA of the brokers' certificates"
        )
    if connection.tls and ("ssl connection closed by peer" in lower or "plaintext broker listener" in lower):
        return (
            f"TLS handshake with the brokers at {servers} failed: connecting to a PLAINTEXT listener? "
            f"({key('tls')} is true: set it to false for a plaintext listener)"
        )
    if not connection.tls and "closed by peer" in lower and "apiversion_query" in lower:
        return (
            f"the brokers at {servers} closed the connection at its first request: the listener expects TLS? "
            f"({key('tls')} is false: set {key('tls')} to true and {key('caCert')} to the brokers' CA)"
        )
    if "sasl" in lower or "authenticat" in lower:
        return (
            f"Kafka at {servers} refused the credentials ({key('saslMechanism')}, {key('saslUsername')}, "
            f"{password}): {_last(texts)}"
        )
    keys = [key("bootstrapServers")]
    if "ssl" in lower or "certificate" in lower or connection.tls:
        keys += [key("tls"), key("caCert"), key("tlsSkipVerify")]
    return f"cannot reach Kafka at {servers} within {timeout:g}s ({', '.join(keys)}): {_last(texts)}"


def _last(texts: Sequence[str]) -> str:
    """The most telling reason: the last one that is not librdkafka's generic summary."""
    generic = ("brokers are down", "failed to get metadata", "broker transport failure", "timed out")
    for text in reversed(texts):
        if text and not any(g in text.lower() for g in generic):
            return text
    return texts[-1] if texts else "no answer"


class _LibrdkafkaLog(logging.Handler):
    """Keeps librdkafka's log lines (which it would otherwise print to stderr) for the messages."""

    _PREFIX = re.compile(r"^\S+ \[[^\]]*\] \[[^\]]*\]: ")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str]] = []
        self.errors: list[tuple[int, str]] = []  # (KafkaError code, text) from error_cb
        self.logger = logging.getLogger(f"{__name__}.librdkafka.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)

    def __enter__(self) -> _LibrdkafkaLog:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        logging.Logger.manager.loggerDict.pop(self.logger.name, None)

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) < 1000:
            self.lines.append((record.levelno, record.getMessage()))

    def callbacks(self) -> dict[str, Any]:
        """The client settings that route librdkafka's log lines and errors here."""
        return {"logger": self.logger, "error_cb": self.on_error}

    def on_error(self, error: Any) -> None:
        if len(self.errors) < 1000:
            self.errors.append((error.code(), error.str()))

    def decisive(self, servers: Sequence[str]) -> bool:
        """Has a failure been seen that waiting will not cure? Refused credentials or a failed TLS
        handshake, or every bootstrap server failing (refused, reset or closed at once). One broker
        of three down is not decisive: the others answer."""
        codes = {code for code, _ in self.errors}
        if codes & {KafkaError._AUTHENTICATION, KafkaError._SSL}:
            return True
        failing = " ".join(text for _, text in self.errors) + " ".join(
            line for _, line in self.lines if line.startswith("FAIL ")
        )
        # librdkafka names a broker "sasl_ssl://host:port/id", or "host:port/id" on plaintext.
        return bool(servers) and all(re.search(rf"(?<![\w.-]){re.escape(server)}/", failing) for server in servers)

    def failure_texts(self) -> list[str]:
        """The reasons librdkafka gave, oldest first: its errors and its failure log lines."""
        texts = [text for _, text in self.errors]
        for level, line in self.lines:
            if level >= logging.WARNING or line.startswith("FAIL "):
                texts.append(self._PREFIX.sub("", line))  # keeps librdkafka's "(after Nms in state S)"
        return texts


# -- Schema Registry -----------------------------------------------------------------------------


def registry_client(connection: RegistryConnection, *, timeout: float) -> RegistryClient:
    """The registry client of a connection (the command line's carries the environment's credentials,
    the program's its stack secrets)."""
    if not connection.url:
        raise LiveReadError(f"no Schema Registry address: set {connection.key('schemaRegistryUrl')} in the stack")
    return RegistryClient(
        connection.url,
        username=connection.username,
        password=connection.password,
        token=connection.token,
        connect_timeout=min(DEFAULT_CONNECT_TIMEOUT, timeout / 2),
        read_timeout=timeout,
        max_retries=1,  # one retry after a lost answer; an absent registry fails fast
        backoff=0.2,
        verify=_registry_ca_file(connection),
    )


def _registry_ca_file(connection: RegistryConnection) -> str | None:
    try:
        return ca_bundle_file(connection.ca_pem)
    except ValueError as exc:
        raise LiveReadError(f"{exc} ({connection.key('schemaRegistryCaCert')})") from None


def registry_failure(
    connection: RegistryConnection, exc: RegistryError, url: str, timeout: float, secrets_from: str | None = None
) -> str:
    """The one line for a registry request that failed: the cause, where, and the setting to fix.

    `secrets_from` names where the credentials came from (the program's stack secrets, or by default
    the command line's environment variables)."""
    key = connection.key
    if secrets_from is None:
        secrets_from = f"{SECRET_KEYS['schemaRegistryPassword']} or {SECRET_KEYS['schemaRegistryToken']}"
    if isinstance(exc, RegistryAuthError) and exc.status == 401:
        who = f"user {connection.username}" if connection.username else "the token"
        return (
            f"Schema Registry at {url} refused the credentials of {who} (HTTP 401): wrong password? "
            f"(check {secrets_from} and {key('schemaRegistryUsername')})"
        )
    if isinstance(exc, RegistryAuthError):
        return f"{exc} ({key('schemaRegistryUsername')}, {secrets_from})"
    if isinstance(exc, RegistryUnavailableError):
        if "SSLError" in str(exc):
            trusted = key("schemaRegistryCaCert") if connection.ca_cert else "the system CAs"
            return (
                f"TLS certificate of the Schema Registry at {url} could not be verified by {trusted}: "
                f"set {key('schemaRegistryCaCert')} to the CA of its certificate"
            )
        return (
            f"cannot reach the Schema Registry at {url} within {timeout:g}s ({key('schemaRegistryUrl')}): "
            f"{_after_colon(str(exc))}"
        )
    return f"{exc} ({key('schemaRegistryUrl')})"


def check_registry(connection: RegistryConnection, *, timeout: float) -> None:
    """One authenticated request (the subject list): LiveReadError with `registry_failure`'s line if
    the registry refuses it, or its certificate is not trusted.

    A registry that does not answer at all is not an error here: the subjects report it themselves,
    each naming its subject (and a schema change fails its preview), while topic changes go on."""
    client = registry_client(connection, timeout=timeout)
    try:
        client.list_subjects()
    except RegistryUnavailableError as exc:
        if "SSLError" in str(exc):
            raise LiveReadError(registry_failure(connection, exc, sanitize_url(client.base_url), timeout)) from None
    except RegistryError as exc:
        secrets_from = f"{connection.key('schemaRegistryPassword')} or {connection.key('schemaRegistryToken')}"
        raise LiveReadError(
            registry_failure(connection, exc, sanitize_url(client.base_url), timeout, secrets_from)
        ) from None


def read_subjects(
    connection: RegistryConnection, planned: Collection[str], *, timeout: float
) -> dict[str, LiveSubject]:
    """Every `market.` subject of the registry; the latest version and level of the planned ones."""
    client = registry_client(connection, timeout=timeout)
    url = sanitize_url(client.base_url)
    try:
        names = [name for name in client.list_subjects() if name.startswith(PREFIX)]
        subjects: dict[str, LiveSubject] = {}
        for name in names:
            if name not in planned:
                subjects[name] = LiveSubject(name)
                continue
            latest = client.get_latest(name)
            if latest is None:
                continue  # deleted since the listing
            subjects[name] = LiveSubject(
                name=name,
                version=parse_int(latest.get("version"), text=False),
                schema_id=parse_int(latest.get("id"), text=False),
                schema=latest.get("schema") if isinstance(latest.get("schema"), str) else None,
                schema_type=str(latest.get("schemaType") or "AVRO").upper(),
                compatibility=client.get_compatibility(name),
            )
        return subjects
    except RegistryError as exc:
        raise LiveReadError(registry_failure(connection, exc, url, timeout)) from None


def _after_colon(message: str) -> str:
    """The registry client's reason, without its 'for subject ... at GET url' preamble."""
    return message.split(": ", 1)[1] if ": " in message else message
