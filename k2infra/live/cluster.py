"""The live state of a stack's Kafka cluster and Schema Registry, read for `verify`.

Reading is kept apart from comparing: this module turns the cluster and the registry into a
`LiveState` snapshot (plain frozen data) and knows nothing of drift; `k2infra.live.verify` compares a
snapshot with the Plan.

Kafka is asked through `k2infra.live.admin.KafkaAdmin` with a fixed number of batched admin calls,
whatever the number of topics:
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

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from k2infra.live.admin import BrokerView, KafkaAdmin, LiveReadError, TopicLayout
from k2infra.model.connection import SECRET_KEYS, KafkaConnection, RegistryConnection
from k2infra.model.kafka_configs import parse_int
from k2infra.model.stack import Stack
from k2infra.model.topology import TOPIC_PREFIX
from k2infra.registry.client import (
    DEFAULT_CONNECT_TIMEOUT,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistryNotCompatibleError,
    RegistryUnavailableError,
    ca_bundle_file,
    sanitize_url,
)

PREFIX = f"{TOPIC_PREFIX}."


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
    # Schema ID of each version read: the latest, and the versions the stack state records.
    version_ids: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedVersion:
    """A subject's version and schema ID as the stack state records them (what `pulumi up` registered)."""

    version: int
    schema_id: int


@dataclass(frozen=True)
class LiveState:
    topics: Mapping[str, LiveTopic]
    subjects: Mapping[str, LiveSubject]
    brokers: BrokerView | None = None


def read_live_state(stack: Stack, *, timeout: float, versions: Mapping[str, int] | None = None) -> LiveState:
    """The cluster's `market.` topics and the registry's `market.` subjects, as the plan asks them
    (and the schema ID of `versions`: subject -> a version besides the latest)."""
    plan = stack.plan
    brokers: list[BrokerView] = []
    wanted = {t.name: tuple(t.config) for t in plan.managed_topics()}
    topics = read_topics(stack.connections.kafka, wanted, timeout=timeout, brokers=brokers)
    planned = [s.subject for s in plan.subjects] + list(plan.mirror.subjects if plan.mirror else ())
    subjects = read_subjects(stack.connections.registry, planned, timeout=timeout, versions=versions)
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
    with KafkaAdmin.of(connection) as admin:
        cluster = admin.cluster(timeout=timeout)
        if brokers is not None:
            brokers.append(cluster.brokers)
        layouts = {name: layout for name, layout in cluster.topics.items() if name.startswith(PREFIX)}
        configs = admin.topic_configs({n: k for n, k in wanted_configs.items() if n in layouts}, timeout=timeout)
        for name in (set(wanted_configs) & set(layouts)) - set(configs):
            del layouts[name]  # deleted since the metadata was read
        ends = _end_offsets(admin, layouts, timeout)
    return {
        name: LiveTopic(
            name=name,
            partitions=layout.partition_count,
            replication_factor=layout.replication_factor,
            under_replicated=layout.under_replicated,
            end_offsets=ends[name],
            config=configs.get(name, {}),
        )
        for name, layout in sorted(layouts.items())
    }


def _end_offsets(admin: KafkaAdmin, layouts: Mapping[str, TopicLayout], timeout: float) -> dict[str, int | None]:
    """Per topic, the sum of its partitions' high watermarks (one ListOffsets call for them all).

    A partition that cannot answer (no leader) makes its topic's sum unknown (None), not the run fail."""
    ends: dict[str, int | None] = dict.fromkeys(layouts, 0)
    wanted = [(n, p) for n, layout in layouts.items() for p in layout.partition_ids]
    for (name, _), offset in admin.offsets(wanted, "latest", timeout=timeout).items():
        current = ends[name]
        ends[name] = None if current is None or offset is None else current + offset
    return ends


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
    if isinstance(exc, RegistryNotCompatibleError):
        return (
            f"{url} answers, but is not a Confluent-compatible Schema Registry ({key('schemaRegistryUrl')}): "
            "Confluent, Karapace and Redpanda serve it at http://host:8081, Apicurio at http://host:8080/apis/ccompat/v7"
        )
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
    the registry refuses it, is not a Confluent-compatible registry, or its certificate is not trusted.

    A single registry that does not answer at all is not an error here: the subjects report it
    themselves, each naming its subject (and a schema change fails its preview), while topic changes
    go on; it may be a local registry this very deployment starts. A stack that lists several nodes
    runs its registry on its own: none of them answering stops the run here, in one line naming each."""
    client = registry_client(connection, timeout=timeout)
    try:
        client.list_subjects()
    except RegistryUnavailableError as exc:
        if "SSLError" in str(exc) or len(client.base_urls) > 1:
            raise LiveReadError(registry_failure(connection, exc, _where(client, exc), timeout)) from None
    except RegistryError as exc:
        secrets_from = f"{connection.key('schemaRegistryPassword')} or {connection.key('schemaRegistryToken')}"
        raise LiveReadError(registry_failure(connection, exc, _where(client, exc), timeout, secrets_from)) from None


def _where(client: RegistryClient, exc: RegistryError) -> str:
    """The registry node(s) a failure is about: every node when none answered, else the one that did."""
    if isinstance(exc, RegistryUnavailableError):
        return ", ".join(sanitize_url(url) for url in client.base_urls)
    return sanitize_url(client.base_url)


def read_subjects(
    connection: RegistryConnection,
    planned: Collection[str],
    *,
    timeout: float,
    versions: Mapping[str, int] | None = None,
) -> dict[str, LiveSubject]:
    """Every `market.` subject of the registry; the latest version and level of the planned ones,
    and the schema ID of `versions` (subject -> version) where that is not the latest."""
    client = registry_client(connection, timeout=timeout)
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
            version = parse_int(latest.get("version"), text=False)
            schema_id = parse_int(latest.get("id"), text=False)
            ids = {version: schema_id} if isinstance(version, int) and isinstance(schema_id, int) else {}
            asked = (versions or {}).get(name)
            if asked is not None and asked not in ids:
                body = client.get_version(name, asked)  # None: the version is gone
                found = parse_int(body.get("id"), text=False) if body is not None else None
                if found is not None:
                    ids[asked] = found
            subjects[name] = LiveSubject(
                name=name,
                version=version,
                schema_id=schema_id,
                schema=latest.get("schema") if isinstance(latest.get("schema"), str) else None,
                schema_type=str(latest.get("schemaType") or "AVRO").upper(),
                compatibility=client.get_compatibility(name),
                version_ids=ids,
            )
        return subjects
    except RegistryError as exc:
        raise LiveReadError(registry_failure(connection, exc, _where(client, exc), timeout)) from None


def _after_colon(message: str) -> str:
    """The registry client's reason, without its 'for subject ... at GET url' preamble."""
    return message.split(": ", 1)[1] if ": " in message else message
