"""The one Kafka admin: every Kafka read and admin call outside the Pulumi provider goes through here.

`KafkaAdmin.of(connection)` holds one confluent-kafka AdminClient over a `KafkaConnection`'s
librdkafka settings (`KafkaAdmin(config)` over a bare mapping, for bench and devkit). It reads
topics with their layout (partitions, replica lists, in-sync replicas) and the live brokers from
one Metadata request; topic configs; offsets (earliest, latest, at a time); ACLs; SCRAM users;
consumer groups and their committed offsets; the Cluster operations its own principal may do; and the timestamp of the record at an offset. verify,
recover, destroy-check, the program's preflight, the access checks and bench's floor use it, and
tests/unit/test_layering.py forbids `AdminClient(` anywhere else in the product, bench and devkit.

Failures have one wording: a connection that fails ends in `LiveReadError` with `kafka_failure`'s
line (the cause, where, and the setting to fix); librdkafka's own log lines are captured, never
printed.

Where librdkafka cannot do what the protocol allows: DescribeConfigs takes a list of keys per
resource in the Kafka protocol, but librdkafka's ConfigResource has no such field (it always asks
for every key), so `topic_configs` keeps the asked keys from the full answer. The Python client has
no DescribeClientQuotas (see k2infra.live.access).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ConfigSource,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
    ScramMechanism,
)

from k2infra.model.connection import CLIENT_ID, SASL_MECHANISMS, SECRET_KEYS, KafkaConnection
from k2infra.model.errors import ConnectionFailed
from k2infra.model.settings import NAMESPACE

DESCRIBE_REQUESTS = 4  # DescribeConfigs requests in flight for a large topology
DESCRIBE_MIN_TOPICS = 250  # ... but no request for fewer topics than this
PROBE_STEP = 1.0  # seconds per Metadata attempt while waiting for an answer or a decisive failure
PEEK_GROUP = "k2infra-admin-peek"  # the short-lived consumer's group id: it never joins nor commits

Partition = tuple[str, int]  # (topic, partition)
OffsetQuery = Literal["earliest", "latest"] | int  # an int is a time: milliseconds since the epoch


# The live state could not be read; ``str(err)`` is a complete one-line message. The model's
# ConnectionFailed under the name live's callers know (one class: the connection raises it too).
LiveReadError = ConnectionFailed


# -- what is read --------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class PartitionLayout:
    id: int
    leader: int  # -1 without a leader
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class TopicLayout:
    name: str
    partitions: tuple[PartitionLayout, ...]  # by id

    @property
    def partition_ids(self) -> tuple[int, ...]:
        return tuple(p.id for p in self.partitions)

    @property
    def partition_count(self) -> int:
        return len(self.partitions)

    @property
    def replication_factor(self) -> int:
        """Replicas of the lowest-numbered partition, as kafka-topics shows it."""
        return len(self.partitions[0].replicas) if self.partitions else 0

    @property
    def under_replicated(self) -> int:
        """Partitions whose in-sync replicas are fewer than their replicas, or without a leader."""
        return sum(1 for p in self.partitions if len(p.isr) < len(p.replicas) or p.leader < 0)


@dataclass(frozen=True)
class ClusterLayout:
    """One Metadata answer: every topic's layout and the brokers."""

    topics: Mapping[str, TopicLayout]
    brokers: BrokerView


@dataclass(frozen=True)
class GroupListing:
    group_id: str
    state: str  # STABLE, EMPTY, PREPARING_REBALANCE, ... (confluent-kafka's ConsumerGroupState names)
    simple: bool  # a group that only commits offsets, without the group protocol


@dataclass(frozen=True)
class GroupMember:
    member_id: str
    client_id: str
    host: str
    assignment: tuple[Partition, ...]


@dataclass(frozen=True)
class GroupDescription:
    group_id: str
    state: str
    coordinator: int | None
    members: tuple[GroupMember, ...]


@dataclass(frozen=True)
class RecordAt:
    """The first record at or after an asked offset: where it is and when it was written."""

    offset: int  # above the asked one where compaction or retention removed the asked record
    timestamp_ms: int  # the record's timestamp (CreateTime or LogAppendTime, as the topic keeps it)
    # Key + value + header bytes as the consumer sees them (uncompressed): a sample of the topic's
    # record size, for estimating bytes per second (confluent-kafka has no DescribeLogDirs).
    size: int | None = field(default=None, compare=False)


def layout_of(name: str, partitions: Iterable[Any]) -> TopicLayout:
    """A TopicLayout from confluent-kafka's PartitionMetadata objects."""
    return TopicLayout(
        name,
        tuple(
            PartitionLayout(p.id, p.leader, tuple(p.replicas), tuple(p.isrs))
            for p in sorted(partitions, key=lambda p: p.id)
        ),
    )


def broker_view(metadata: Any) -> BrokerView:
    """The live brokers and the replica-holding nodes of a confluent-kafka ClusterMetadata."""
    assigned = {
        replica for topic in metadata.topics.values() for p in topic.partitions.values() for replica in p.replicas
    }
    return BrokerView(tuple(sorted(metadata.brokers)), tuple(sorted(assigned)))


# -- the admin -----------------------------------------------------------------------------------


class KafkaAdmin:
    """One AdminClient over one connection; use as a context manager (it releases the log capture).

    `connection` words the failures (which setting to fix); `password_from` names where the SASL
    password came from (the program's stack secret; by default the command line's environment)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        connection: KafkaConnection | None = None,
        *,
        password_from: str | None = None,
    ) -> None:
        self.config = dict(config)
        self.connection = connection
        self.password_from = password_from
        self.servers = str(self.config.get("bootstrap.servers", ""))
        self.log = _LibrdkafkaLog().__enter__()
        self.client = AdminClient({**self.config, **self.log.callbacks()})

    @classmethod
    def of(
        cls, connection: KafkaConnection, *, client_id: str = CLIENT_ID, password_from: str | None = None
    ) -> KafkaAdmin:
        """The admin of a stack's cluster (ConnectionFailed naming the setting when one is missing)."""
        return cls(
            connection.librdkafka(client_id), connection, password_from=password_from or connection.password_from
        )

    def __enter__(self) -> KafkaAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.poll(0)  # delivers what librdkafka still holds to the log, not to stderr
        self.log.__exit__()

    # -- failures --

    def failure(self, texts: Sequence[str], timeout: float) -> str:
        """The one line for a connection that failed (`kafka_failure`)."""
        if self.connection is None:
            return f"cannot reach Kafka at {self.servers} within {timeout:g}s: {_last(texts)}"
        return kafka_failure(self.connection, self.servers, timeout, texts, self.password_from)

    # -- topics and brokers --

    def metadata(self, *, timeout: float) -> Any:
        """One Metadata answer for every topic, or LiveReadError with `kafka_failure`'s line.

        Asked in steps of PROBE_STEP so that a failure that waiting cannot cure ends the read early
        (`_LibrdkafkaLog.decisive`), while a slow or partly-down cluster still gets the whole timeout."""
        deadline = time.monotonic() + timeout
        servers = [s.strip() for s in self.servers.split(",") if s.strip()]
        while True:
            step = max(min(PROBE_STEP, deadline - time.monotonic()), 0.1)
            try:
                return self.client.list_topics(timeout=step)
            except KafkaException as exc:
                self.client.poll(0)  # delivers librdkafka's log lines and errors to `log`
                if time.monotonic() >= deadline or self.log.decisive(servers):
                    raise LiveReadError(self.failure([*self.log.failure_texts(), exc.args[0].str()], timeout)) from None

    def cluster(self, *, timeout: float) -> ClusterLayout:
        """Every topic's layout and the brokers, from one Metadata request."""
        metadata = self.metadata(timeout=timeout)
        topics = {
            name: layout_of(name, topic.partitions.values())
            for name, topic in metadata.topics.items()
            if not (topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART)
        }
        return ClusterLayout(topics, broker_view(metadata))

    def _describe_topics(self, names: Sequence[str], timeout: float) -> Iterable[tuple[str, dict[str, Any]]]:
        """(topic, its ConfigEntry objects by key) for each of `names`; a topic deleted meanwhile is left out."""
        if not names:
            return
        # A few requests in flight rather than one: the broker answers them on several threads. At 3000
        # topics one request took 3-4.5 s, four took 2.5 s; more did not help.
        per_request = max(DESCRIBE_MIN_TOPICS, -(-len(names) // DESCRIBE_REQUESTS))
        futures: dict[Any, Any] = {}
        for start in range(0, len(names), per_request):
            resources = [ConfigResource(ResourceType.TOPIC, name) for name in names[start : start + per_request]]
            futures.update(self.client.describe_configs(resources, request_timeout=timeout))
        for resource, future in futures.items():
            try:
                entries = future.result()
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    continue
                raise LiveReadError(
                    f"Kafka at {self.servers} could not describe the configs of {resource.name}: {error.str()}"
                ) from None
            yield resource.name, entries

    def topic_configs(
        self, wanted: Mapping[str, Collection[str]], *, timeout: float
    ) -> dict[str, dict[str, str | None]]:
        """The effective value of each wanted key (topic -> keys); None for a key the broker does not hold.

        librdkafka asks for every key (see the module docstring); the others are dropped here."""
        return {
            name: {key: entries[key].value if key in entries else None for key in wanted[name]}
            for name, entries in self._describe_topics(list(wanted), timeout)
        }

    def own_topic_configs(self, names: Sequence[str], *, timeout: float) -> dict[str, dict[str, str]]:
        """The configs set on each topic itself (DYNAMIC_TOPIC_CONFIG), not the broker's defaults."""
        return {
            name: {
                key: entry.value
                for key, entry in entries.items()
                if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and entry.value is not None
            }
            for name, entries in self._describe_topics(list(names), timeout)
        }

    # -- offsets --

    def offsets(
        self, partitions: Iterable[Partition], at: OffsetQuery, *, timeout: float
    ) -> dict[Partition, int | None]:
        """One ListOffsets call (librdkafka sends one request per partition leader).

        `at` is "earliest", "latest" or a time in ms: then the offset of the first record written at
        or after it, or -1 when there is none. None for a partition that could not answer (no leader)."""
        spec = (
            OffsetSpec.earliest()
            if at == "earliest"
            else OffsetSpec.latest()
            if at == "latest"
            else OffsetSpec.for_timestamp(int(at))
        )
        return self._list_offsets(
            {TopicPartition(topic, partition): spec for topic, partition in partitions},
            timed=at not in ("earliest", "latest"),
            timeout=timeout,
        )

    def offsets_at(self, times: Mapping[Partition, int], *, timeout: float) -> dict[Partition, int | None]:
        """`offsets` with a time (ms) of its own per partition: the offset of the first record written
        at or after it, -1 when there is none, None for a partition that could not answer."""
        return self._list_offsets(
            {TopicPartition(t, p): OffsetSpec.for_timestamp(int(ms)) for (t, p), ms in times.items()},
            timed=True,
            timeout=timeout,
        )

    def newest_records(
        self, partitions: Iterable[Partition], *, timeout: float
    ) -> tuple[dict[Partition, RecordAt], set[Partition]]:
        """Per partition, the offset and timestamp of its record with the largest timestamp (KIP-734's
        ListOffsets max_timestamp), and the partitions that could not answer. Describe is enough: no
        record is read, so a least-privilege principal may ask. An empty partition is in neither."""
        return self._list_records({TopicPartition(t, p): OffsetSpec.max_timestamp() for t, p in partitions}, timeout)

    def first_records_at(
        self, times: Mapping[Partition, int], *, timeout: float
    ) -> tuple[dict[Partition, RecordAt], set[Partition]]:
        """Per partition, the offset and timestamp of the first record written at or after its time (ms),
        and the partitions that could not answer; ListOffsets alone (Describe, never Read). A partition
        with no record that late is in neither."""
        specs = {TopicPartition(t, p): OffsetSpec.for_timestamp(int(ms)) for (t, p), ms in times.items()}
        return self._list_records(specs, timeout)

    def _list_records(
        self, wanted: Mapping[Any, OffsetSpec], timeout: float
    ) -> tuple[dict[Partition, RecordAt], set[Partition]]:
        found: dict[Partition, RecordAt] = {}
        unanswered: set[Partition] = set()
        for partition, info in self._ask_offsets(wanted, timeout):
            if info is None:
                unanswered.add(partition)
            elif info.offset >= 0 and info.timestamp >= 0:
                found[partition] = RecordAt(int(info.offset), int(info.timestamp))
        return found, unanswered

    def _list_offsets(
        self, wanted: Mapping[Any, OffsetSpec], *, timed: bool, timeout: float
    ) -> dict[Partition, int | None]:
        out: dict[Partition, int | None] = {}
        for partition, info in self._ask_offsets(wanted, timeout):
            offset = None if info is None else int(info.offset)
            if offset is not None and offset < 0:
                offset = -1 if timed else None
            out[partition] = offset
        return out

    def _ask_offsets(self, wanted: Mapping[Any, OffsetSpec], timeout: float) -> Iterator[tuple[Partition, Any]]:
        """One ListOffsets call: each partition with its answer, or None where it could not answer."""
        if not wanted:
            return
        for tp, future in self.client.list_offsets(dict(wanted), request_timeout=timeout).items():
            try:
                info = future.result()
            except KafkaException:
                info = None
            yield (tp.topic, tp.partition), info

    def record_counts(self, partitions: Mapping[str, Sequence[int]], *, timeout: float) -> dict[str, int | None]:
        """Per topic, the sum over its partitions of (latest - earliest): the records it retains now
        (for a compacted topic, an upper bound). None when a partition could not answer."""
        wanted = [(name, p) for name, ids in partitions.items() for p in ids]
        counts: dict[str, int | None] = dict.fromkeys(partitions, 0)
        if not wanted:
            return counts
        low = self.offsets(wanted, "earliest", timeout=timeout)
        high = self.offsets(wanted, "latest", timeout=timeout)
        for key in wanted:
            first, end, current = low.get(key), high.get(key), counts[key[0]]
            counts[key[0]] = None if current is None or first is None or end is None else current + max(end - first, 0)
        return counts

    def record_timestamps(
        self, positions: Mapping[Partition, int], *, timeout: float
    ) -> dict[Partition, RecordAt | None]:
        """The first record at or after each asked offset, read by one short-lived consumer.

        None where the partition holds no record at or after the offset (the offset is its end). The
        consumer is assigned the partitions (no group membership, no commit) and stops at the first
        record of each, or at the deadline (LiveReadError naming the partitions not read)."""
        if not positions:
            return {}
        ends = self.offsets(positions, "latest", timeout=timeout)
        out: dict[Partition, RecordAt | None] = {
            p: None for p, offset in positions.items() if (end := ends.get(p)) is not None and end <= offset
        }
        wanted = {p: offset for p, offset in positions.items() if p not in out}
        if not wanted:
            return out
        consumer = Consumer(
            {
                **self.config,
                **self.log.callbacks(),
                "group.id": PEEK_GROUP,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",  # an offset below the log start: the first record kept
            }
        )
        try:
            consumer.assign([TopicPartition(t, p, offset) for (t, p), offset in wanted.items()])
            deadline = time.monotonic() + timeout
            while wanted and time.monotonic() < deadline:
                message = consumer.poll(min(1.0, max(deadline - time.monotonic(), 0.01)))
                if message is None or message.error() is not None:
                    continue
                key = (message.topic(), message.partition())
                if key not in wanted or message.offset() < wanted[key]:
                    continue
                out[key] = RecordAt(message.offset(), message.timestamp()[1], _size(message))
                del wanted[key]
                consumer.pause([TopicPartition(*key)])
        finally:
            consumer.close()
        if wanted:
            names = ", ".join(f"{t}[{p}]@{o}" for (t, p), o in sorted(wanted.items()))
            raise LiveReadError(f"Kafka at {self.servers} did not return a record within {timeout:g}s for {names}")
        return out

    # -- consumer groups --

    def consumer_groups(self, *, timeout: float) -> list[GroupListing]:
        """Every consumer group the brokers know, by id."""
        try:
            result = self.client.list_consumer_groups(request_timeout=timeout).result()
        except KafkaException as exc:
            raise LiveReadError(
                f"Kafka at {self.servers} could not list its consumer groups: {exc.args[0].str()}"
            ) from None
        return sorted(
            (GroupListing(g.group_id, _state(g), bool(g.is_simple_consumer_group)) for g in result.valid),
            key=lambda g: g.group_id,
        )

    def describe_groups(self, group_ids: Sequence[str], *, timeout: float) -> dict[str, GroupDescription]:
        """State, coordinator and members (with their assigned partitions) of each group."""
        if not group_ids:
            return {}
        out: dict[str, GroupDescription] = {}
        for group_id, future in self.client.describe_consumer_groups(list(group_ids), request_timeout=timeout).items():
            try:
                group = future.result()
            except KafkaException as exc:
                raise LiveReadError(
                    f"Kafka at {self.servers} could not describe consumer group {group_id}: {exc.args[0].str()}"
                ) from None
            members = tuple(
                GroupMember(
                    m.member_id,
                    m.client_id,
                    m.host,
                    tuple(
                        sorted(
                            (tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])
                        )
                    ),
                )
                for m in group.members
            )
            coordinator = group.coordinator.id if group.coordinator is not None else None
            out[group_id] = GroupDescription(group_id, _state(group), coordinator, members)
        return out

    def committed_offsets(self, group_ids: Sequence[str], *, timeout: float) -> dict[str, dict[Partition, int]]:
        """Per group, the committed offset of each partition it has committed (OffsetFetch).

        confluent-kafka takes one group per request: the requests are sent together and awaited after."""
        futures = {
            group_id: self.client.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group_id)], request_timeout=timeout
            )[group_id]
            for group_id in group_ids
        }
        out: dict[str, dict[Partition, int]] = {}
        for group_id, future in futures.items():
            try:
                answer = future.result()
            except KafkaException as exc:
                raise LiveReadError(
                    f"Kafka at {self.servers} could not read the offsets of consumer group {group_id}: "
                    f"{exc.args[0].str()}"
                ) from None
            out[group_id] = {
                (tp.topic, tp.partition): tp.offset
                for tp in answer.topic_partitions or []
                if tp.error is None and tp.offset >= 0
            }
        return out

    # -- access --

    def acls(self, *, timeout: float) -> list[Any]:
        """Every ACL binding of the cluster (confluent-kafka AclBinding objects)."""
        everything = AclBindingFilter(
            ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
        )
        try:
            return list(self.client.describe_acls(everything, request_timeout=timeout).result())
        except KafkaException as exc:
            raise LiveReadError(_acl_failure(self.servers, exc.args[0])) from None

    def cluster_operations(self, *, timeout: float) -> frozenset[str]:
        """The Cluster operations the broker lets this client's principal do (DescribeCluster with its
        authorized operations), spelt as ACLs spell them ('AlterConfigs'); empty when refused even that."""
        try:
            described = self.client.describe_cluster(include_authorized_operations=True, request_timeout=timeout)
            operations = described.result().authorized_operations or []
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED:
                return frozenset()
            raise LiveReadError(f"Kafka at {self.servers} could not describe the cluster: {error.str()}") from None
        return frozenset("".join(part.capitalize() for part in op.name.split("_")) for op in operations)

    def scram_users(self, users: Sequence[str], *, timeout: float) -> dict[str, dict[str, int]]:
        """user -> SCRAM mechanism (SCRAM-SHA-512) -> iterations, for the users that have a credential."""
        if not users:
            return {}
        out: dict[str, dict[str, int]] = {}
        for user, future in self.client.describe_user_scram_credentials(list(users), request_timeout=timeout).items():
            try:
                description = future.result()
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() == KafkaError.RESOURCE_NOT_FOUND:
                    continue  # no credential at all
                raise LiveReadError(
                    f"Kafka at {self.servers} could not describe the SCRAM users: {error.str()}"
                ) from None
            out[user] = {_scram_name(i.mechanism): int(i.iterations) for i in description.scram_credential_infos}
        return out


def _size(message: Any) -> int:
    """A record's key, value and header bytes (names and values), as the consumer sees them."""
    headers = message.headers() or []
    return (
        len(message.key() or b"")
        + len(message.value() or b"")
        + sum(len(name.encode()) + len(value or b"") for name, value in headers)
    )


def _state(group: Any) -> str:
    """A group's state name; confluent-kafka leaves the attribute out when the broker did not say."""
    state = getattr(group, "state", None)
    return state.name if state is not None else "UNKNOWN"


def _scram_name(mechanism: ScramMechanism) -> str:
    return mechanism.name.replace("_", "-")  # SCRAM_SHA_512 -> SCRAM-SHA-512


def _acl_failure(servers: str, error: Any) -> str:
    code = error.code()
    if code == KafkaError.SECURITY_DISABLED:
        return (
            f"Kafka at {servers} has no authorizer, so it holds no ACLs, but {NAMESPACE}:accessControl is true: "
            f"configure the brokers' authorizer or turn accessControl off for this stack"
        )
    if code == KafkaError.CLUSTER_AUTHORIZATION_FAILED:
        return (
            f"Kafka at {servers} refused to list ACLs to {NAMESPACE}:saslUsername (it needs Describe on the "
            f"Cluster, or to be a super user): {error.str()}"
        )
    return f"Kafka at {servers} could not list its ACLs: {error.str()}"


# -- the one wording of a failed connection ------------------------------------------------------

_BROKER_PREFIX = re.compile(r"^(?:[a-z_]+://)?[^\s/]+/\S+?: ")  # "sasl_ssl://h:p/1: ", plaintext "h:p/bootstrap: "
# librdkafka's line when its OIDC client-credentials fetch fails: the endpoint, its answer, the HTTP status
_OIDC_FAILURE = re.compile(
    r'Failed to retrieve OIDC token from "(?P<url>[^"]*)": (?P<answer>.*?)(?: \((?P<status>-?\d+)\))?$'
)
_OAUTH_ERROR = re.compile(r'"error"\s*:\s*"(?P<error>[^"]+)"')
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
    username = connection.username_from or key("saslUsername")
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
    if connection.sasl_mechanism == "oauthbearer":
        line = _oauth_failure(connection, servers, texts, password, username)
        if line:
            return line
    authentication = "sasl authentication error" in lower or "invalid credentials" in lower
    if connection.sasl_mechanism and (authentication or "authentication failed" in lower):
        return (
            f"SASL authentication failed for user {connection.sasl_username} ({mechanism}) at {servers}: "
            f"wrong password? (check {password} and {username})"
        )
    if connection.client_cert and ("alert bad certificate" in lower or "alert unknown ca" in lower):
        return (
            f"the brokers at {servers} refused the client certificate of {key('clientCert')} (TLS alert bad "
            f"certificate): they do not trust the CA that signed it, or it expired or was revoked; use one signed "
            f"by the CA their mTLS listener trusts"
        )
    if not connection.client_cert and "alert certificate required" in lower:
        return (
            f"the brokers at {servers} require a client certificate (TLS alert certificate required): "
            f"set {key('clientCert')} and {key('clientKey')}"
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
            f"Kafka at {servers} refused the credentials ({key('saslMechanism')}, {username}, "
            f"{password}): {_last(texts)}"
        )
    keys = [key("bootstrapServers")]
    if "ssl" in lower or "certificate" in lower or connection.tls:
        keys += [key("tls"), key("caCert"), key("tlsSkipVerify")]
    return f"cannot reach Kafka at {servers} within {timeout:g}s ({', '.join(keys)}): {_last(texts)}"


def _oauth_failure(
    connection: KafkaConnection, servers: str, texts: Sequence[str], secret: str, client_from: str
) -> str | None:
    """The OAUTHBEARER failures: the token endpoint refusing the client, or the brokers refusing its token.

    The brokers answer a refused token with `invalid_token` only (the reason stays in their log), so the
    line lists what a token is checked for. `secret` and `client_from` name where the secret and the
    client id came from, as for a SCRAM login (a stack's settings, or the monitor app's)."""
    key = connection.key
    client = f"OAuth client {connection.sasl_username} ({client_from})"
    for text in reversed(texts):
        found = _OIDC_FAILURE.search(text)
        if not found:
            continue
        url, answer, status = found.group("url"), found.group("answer").strip(), found.group("status") or ""
        http = f" (HTTP {status})" if status and not status.startswith("-") else ""
        error = _OAUTH_ERROR.search(answer)
        if error and error.group("error") in ("invalid_client", "unauthorized_client"):
            return (
                f"the token endpoint {url} refused {client}: {error.group('error')}{http}: a wrong or "
                f"rotated secret, or a disabled client (check {secret} and {client_from})"
            )
        return f"no OAuth token for {client} from {url} ({key('saslTokenUrl')}): {answer}{http}"
    if any("invalid_token" in text for text in texts):
        return (
            f"the brokers at {servers} refused the OAuth token of {client} (invalid_token): its audience, issuer "
            f"or signature is not what they expect (their sasl.oauthbearer.expected.audience / expected.issuer / "
            f"jwks.endpoint.url); have the identity provider add the brokers' audience to the client's tokens, "
            f"and check that {key('saslTokenUrl')} is the brokers' issuer"
        )
    return None


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
        # an identity provider that answered with a refusal (4xx): retrying the same client will not help
        for _, line in self.lines:
            found = _OIDC_FAILURE.search(line)
            if found and (found.group("status") or "").startswith("4"):
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
