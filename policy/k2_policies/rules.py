"""The K2 topic rules, as pure functions over plain data (no Pulumi engine needed to test them).

A topic is the inputs of a `kafka:index/topic:Topic` as a plain mapping::

    {"name": "market.equities.trades.asx", "partitions": 30, "replicationFactor": 3,
     "config": {"min.insync.replicas": "2", "retention.ms": "604800000", ...}}

Numbers may arrive as integral floats (the engine passes properties through protobuf, where every
number is a double) and Kafka config values as strings (pulumi-kafka stores them as strings); both
are read as integers. A value not known during preview is `UNKNOWN`: the checks that need it are
skipped, the others still run, and the policy runs again on `pulumi up` once values are known.

Each resource rule returns the violations as messages naming the topic and the offending value;
an empty list means the topic complies. Decisions worth knowing:

- min.insync.replicas left unset counts as Kafka's default, 1 (the broker's own setting may differ,
  which is exactly why the rule wants it explicit whenever the minimum is above 1).
- min.insync.replicas must stay strictly below replicationFactor once replicationFactor > 1 (equal
  means one broker down stops every acks=all producer; above means no acks=all write ever
  succeeds). replicationFactor 1 with min.insync.replicas 1 is a single copy of the data: refused
  unless the policy config sets `allowSingleReplica` (the dev config does, for the one-broker
  local platform). With the default minimum replicationFactor of 3 it is refused by that minimum.
- cleanup.policy left unset counts as Kafka's default, delete. Retention bounds apply to topics
  whose cleanup.policy contains delete (compact-only topics keep the latest value per key by
  design); such a topic must set retention.ms explicitly, and -1 (unlimited) is refused unless
  `allowUnlimitedRetention` is set.
- A topic whose name does not follow the naming rule is reported by the naming rule only: the
  rules that derive something from the name (compaction by data type, schema subject) skip it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from k2infra.model.topology import KAFKA_TOPIC_MAX_LENGTH, NAME_PATTERN, TOPIC_PREFIX, subject_name

from .config import (
    CompactionSettings,
    NamingSettings,
    PartitionSettings,
    ReplicationSettings,
    RetentionSettings,
)

TOPIC_TYPE = "kafka:index/topic:Topic"
# k2infra.registry.resource.RESOURCE_TYPE (not imported: that module pulls in the provider code).
SUBJECT_TYPE = "pulumi-python:dynamic/k2infra:SchemaSubject"
NAME_SHAPE = f"{TOPIC_PREFIX}.{{asset_class}}.{{data_type}}.{{exchange}}"
PART_RULE = "lowercase letters, digits and underscores, starting with a letter, no dots"
KAFKA_DEFAULT_ISR = 1
KAFKA_DEFAULT_CLEANUP = "delete"


class _Unknown:
    """A value that is not known during preview."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Any = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


@dataclass(frozen=True)
class TopicName:
    asset_class: str
    data_type: str
    exchange: str

    @property
    def subject(self) -> str:
        return subject_name(self.asset_class, self.data_type)


@dataclass(frozen=True)
class Violation:
    """A stack-level violation: the message and the URN of the resource it is about."""

    message: str
    urn: str | None = None


# -- helpers ----------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a decimal string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
    return None


def duration(ms: int) -> str:
    """retention.ms in words: 604800000 -> '7 days'."""
    units = ((86_400_000, "day"), (3_600_000, "hour"), (60_000, "minute"), (1_000, "second"))
    if ms > 0:
        for size, unit in units:
            if ms % size == 0:
                count = ms // size
                return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{ms} ms"


def topic_label(topic: Mapping[str, Any], resource_name: str | None = None) -> str:
    """How messages name a topic: its Kafka name, and the resource name when it differs."""
    name = topic.get("name")
    if not isinstance(name, str):
        return f"topic resource {resource_name!r}" if resource_name else "topic"
    if resource_name and resource_name != name:
        return f"topic {name!r} (resource {resource_name!r})"
    return f"topic {name!r}"


def parse_topic_name(name: Any) -> TopicName | None:
    """The parts of a legal topic name; None for anything else (including unknown)."""
    if not isinstance(name, str) or naming_problems(name):
        return None
    _, asset_class, data_type, exchange = name.split(".")
    return TopicName(asset_class, data_type, exchange)


def naming_problems(name: str) -> list[str]:
    """What is wrong with a topic name (empty when it is legal)."""
    problems: list[str] = []
    if len(name) > KAFKA_TOPIC_MAX_LENGTH:
        problems.append(f"is {len(name)} characters long; Kafka allows at most {KAFKA_TOPIC_MAX_LENGTH}")
    parts = name.split(".")
    if parts[0] != TOPIC_PREFIX:
        problems.append(f"does not follow {NAME_SHAPE}: it starts with {parts[0]!r}, not {TOPIC_PREFIX!r}")
    elif len(parts) != 4:
        problems.append(
            f"does not follow {NAME_SHAPE}: it has {len(parts)} dot-separated parts, not 4 (parts may not contain dots)"
        )
    else:
        for role, part in zip(("asset_class", "data_type", "exchange"), parts[1:], strict=True):
            if not NAME_PATTERN.match(part):
                problems.append(f"has an illegal {role} {part!r} ({PART_RULE})")
    return problems


def _config(topic: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The topic's Kafka config, {} when absent, None when unknown during preview."""
    config = topic.get("config")
    if is_unknown(config):
        return None
    return config if isinstance(config, Mapping) else {}


def _cleanup_policies(value: Any) -> set[str]:
    text = KAFKA_DEFAULT_CLEANUP if value is None else str(value)
    return {part.strip().lower() for part in text.split(",") if part.strip()}


# -- resource rules ---------------------------------------------------------------------------


def naming_violations(
    topic: Mapping[str, Any], settings: NamingSettings | None = None, resource_name: str | None = None
) -> list[str]:
    """k2-topic-naming: market.{asset_class}.{data_type}.{exchange}, legal parts, <= 249 characters."""
    name = topic.get("name", resource_name)
    if is_unknown(name):
        return []
    if not isinstance(name, str):
        return [f"{topic_label(topic, resource_name)}: the topic name must be a string, got {_shown(name)}"]
    return [f"topic name {name!r} {problem}" for problem in naming_problems(name)]


def replication_violations(
    topic: Mapping[str, Any], settings: ReplicationSettings, resource_name: str | None = None
) -> list[str]:
    """k2-topic-replication: replicationFactor and min.insync.replicas minimums, ISR below RF."""
    label = topic_label(topic, resource_name)
    out: list[str] = []

    raw_rf = topic.get("replicationFactor")
    rf: int | None = None
    if raw_rf is None:
        out.append(f"{label}: replicationFactor is not set")
    elif not is_unknown(raw_rf):
        rf = _as_int(raw_rf)
        if rf is None:
            out.append(f"{label}: replicationFactor must be an integer, got {_shown(raw_rf)}")
        elif rf < settings.min_replication_factor:
            out.append(f"{label}: replicationFactor {rf} is below the minimum {settings.min_replication_factor}")

    config = _config(topic)
    raw_isr = None if config is None else config.get("min.insync.replicas")
    isr: int | None = None
    if config is None or is_unknown(raw_isr):
        pass
    elif raw_isr is None:
        isr = KAFKA_DEFAULT_ISR
        if isr < settings.min_insync_replicas:
            out.append(
                f"{label}: min.insync.replicas is not set, so the broker default applies (Kafka's is "
                f"{KAFKA_DEFAULT_ISR}); set it to at least {settings.min_insync_replicas}"
            )
    else:
        isr = _as_int(raw_isr)
        if isr is None:
            out.append(f"{label}: min.insync.replicas must be an integer, got {_shown(raw_isr)}")
        elif isr < settings.min_insync_replicas:
            out.append(f"{label}: min.insync.replicas {isr} is below the minimum {settings.min_insync_replicas}")

    if rf is not None and isr is not None and rf >= 1:
        if isr > rf:
            out.append(
                f"{label}: min.insync.replicas {isr} exceeds replicationFactor {rf}, "
                f"so no acks=all write could ever succeed"
            )
        elif rf > 1 and isr == rf:
            out.append(
                f"{label}: min.insync.replicas {isr} equals replicationFactor {rf}, so one broker down "
                f"stops every acks=all write; it must be below {rf}"
            )
        elif rf == 1 and not settings.allow_single_replica and settings.min_replication_factor <= 1:
            out.append(
                f"{label}: replicationFactor 1 with min.insync.replicas {isr} keeps a single copy of the data; "
                f"allowed only where the policy config sets allowSingleReplica (single-broker dev)"
            )
    return out


def compaction_violations(
    topic: Mapping[str, Any], settings: CompactionSettings, resource_name: str | None = None
) -> list[str]:
    """k2-reference-data-compacted: topics of the listed data types have cleanup.policy containing compact."""
    parsed = parse_topic_name(topic.get("name", resource_name))
    config = _config(topic)
    if parsed is None or parsed.data_type not in settings.compacted_data_types or config is None:
        return []
    value = config.get("cleanup.policy")
    if is_unknown(value) or "compact" in _cleanup_policies(value):
        return []
    label = topic_label(topic, resource_name)
    shown = f"not set (Kafka's default is {KAFKA_DEFAULT_CLEANUP!r})" if value is None else _shown(value)
    return [
        f"{label} carries {parsed.data_type} but its cleanup.policy is {shown}; "
        f"it must contain 'compact' so the latest value per key is kept"
    ]


def retention_violations(
    topic: Mapping[str, Any], settings: RetentionSettings, resource_name: str | None = None
) -> list[str]:
    """k2-topic-retention: retention.ms of delete-policy topics within [min, max], -1 only if allowed."""
    config = _config(topic)
    if config is None:
        return []
    policy = config.get("cleanup.policy")
    if is_unknown(policy) or "delete" not in _cleanup_policies(policy):
        return []  # compact-only: the latest value per key is kept by design
    raw = config.get("retention.ms")
    if is_unknown(raw):
        return []
    label = topic_label(topic, resource_name)
    bounds = (
        f"between {settings.min_retention_ms} ({duration(settings.min_retention_ms)}) "
        f"and {settings.max_retention_ms} ({duration(settings.max_retention_ms)})"
    )
    if raw is None:
        return [
            f"{label}: retention.ms is not set on a delete-policy topic, so the broker default applies; set it {bounds}"
        ]
    ms = _as_int(raw)
    if ms is None:
        return [f"{label}: retention.ms must be an integer, got {_shown(raw)}"]
    if ms == -1:
        if settings.allow_unlimited_retention:
            return []
        return [
            f"{label}: retention.ms -1 (unlimited) is not allowed on a delete-policy topic "
            f"(allowUnlimitedRetention is off); set it {bounds}"
        ]
    if ms < settings.min_retention_ms:
        return [
            f"{label}: retention.ms {ms} ({duration(ms)}) is below the minimum "
            f"{settings.min_retention_ms} ({duration(settings.min_retention_ms)})"
        ]
    if ms > settings.max_retention_ms:
        return [
            f"{label}: retention.ms {ms} ({duration(ms)}) exceeds the maximum "
            f"{settings.max_retention_ms} ({duration(settings.max_retention_ms)})"
        ]
    return []


def partition_violations(
    topic: Mapping[str, Any], settings: PartitionSettings, resource_name: str | None = None
) -> list[str]:
    """k2-topic-partitions: 1 <= partitions <= maxPartitions."""
    raw = topic.get("partitions")
    if is_unknown(raw):
        return []
    label = topic_label(topic, resource_name)
    if raw is None:
        return [f"{label}: partitions is not set"]
    count = _as_int(raw)
    if count is None:
        return [f"{label}: partitions must be an integer, got {_shown(raw)}"]
    if count < 1:
        return [f"{label}: partitions {count} must be at least 1"]
    if count > settings.max_partitions:
        return [f"{label}: partitions {count} exceeds the maximum {settings.max_partitions} per topic"]
    return []


# -- stack rule -------------------------------------------------------------------------------


def schema_subject_violations(resources: Iterable[Mapping[str, Any]]) -> list[Violation]:
    """k2-topic-has-schema-subject: topic market.X.Y.Z needs a SchemaSubject whose subject is market.X.Y-value.

    `resources` are plain mappings with "type", "urn", "name" and "props" (the resource's
    properties). If a subject's name is unknown during preview, nothing is reported: a missing
    subject cannot be told apart from that one, and the policy runs again on `pulumi up`.
    """
    resources = list(resources)
    subjects: set[str] = set()
    for resource in resources:
        if resource.get("type") != SUBJECT_TYPE:
            continue
        subject = (resource.get("props") or {}).get("subject")
        if is_unknown(subject):
            return []
        if isinstance(subject, str):
            subjects.add(subject)
    out: list[Violation] = []
    for resource in resources:
        if resource.get("type") != TOPIC_TYPE:
            continue
        props = resource.get("props") or {}
        name = props.get("name", resource.get("name"))
        parsed = parse_topic_name(name)
        if parsed is None or parsed.subject in subjects:
            continue
        out.append(
            Violation(
                f"topic {name!r} has no schema subject {parsed.subject!r} in this stack; "
                f"declare a SchemaSubject ({SUBJECT_TYPE}) with subject {parsed.subject!r}",
                resource.get("urn"),
            )
        )
    return out
