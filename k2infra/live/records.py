"""What a topic holds, read from the cluster: its layout, its own configs and its record count.

Used where data could be lost: the program's data-loss guard (records of the topics a run would
delete or replace) and `recover` (is a topic left by an interrupted run exactly as planned, and
empty?). A fixed number of batched admin calls, whatever the number of topics: one Metadata
request, one DescribeConfigs batch (only when configs are asked for), and one ListOffsets call
each for the earliest and the latest offsets of every partition.

The record count of a topic is the sum over its partitions of (latest - earliest) offset: the
records it retains now (for a compacted topic, an upper bound).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, OffsetSpec, ResourceType

from k2infra.live.cluster import LiveReadError, _layout, _LibrdkafkaLog, fetch_metadata
from k2infra.model.connection import KafkaConnection


@dataclass(frozen=True)
class TopicHolding:
    name: str
    partitions: int
    replication_factor: int
    records: int | None  # None when a partition could not answer
    own_config: Mapping[str, str] = field(default_factory=dict)  # DYNAMIC_TOPIC_CONFIG entries only


def read_holdings(
    client_config: Mapping[str, Any],
    names: Collection[str],
    *,
    connection: KafkaConnection,
    with_config: bool = False,
    timeout: float = 15.0,
) -> dict[str, TopicHolding]:
    """The topics of `names` that exist, with their record counts (and own configs if asked)."""
    if not names:
        return {}
    servers = str(client_config.get("bootstrap.servers", ""))
    with _LibrdkafkaLog() as log:
        admin = AdminClient({**client_config, **log.callbacks()})
        metadata = fetch_metadata(admin, log, connection, timeout=timeout)
        layouts = {
            name: _layout(metadata.topics[name].partitions.values())
            for name in names
            if name in metadata.topics
            and not (
                metadata.topics[name].error is not None
                and metadata.topics[name].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            )
        }
        configs = _own_configs(admin, servers, list(layouts), timeout) if with_config else {}
        counts = _record_counts(admin, {n: layout.partition_ids for n, layout in layouts.items()}, timeout)
        admin.poll(0)
    return {
        name: TopicHolding(
            name=name,
            partitions=layout.partitions,
            replication_factor=layout.replication_factor,
            records=counts.get(name),
            own_config=configs.get(name, {}),
        )
        for name, layout in sorted(layouts.items())
        if not with_config or name in configs
    }


def _own_configs(admin: AdminClient, servers: str, names: list[str], timeout: float) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in names], request_timeout=timeout)
    out: dict[str, dict[str, str]] = {}
    for resource, future in futures.items():
        try:
            entries = future.result()
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue  # deleted since the metadata was read
            raise LiveReadError(
                f"Kafka at {servers} could not describe the configs of {resource.name}: {exc.args[0].str()}"
            ) from None
        out[resource.name] = {
            key: entry.value
            for key, entry in entries.items()
            if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and entry.value is not None
        }
    return out


def _record_counts(
    admin: AdminClient, partitions: Mapping[str, tuple[int, ...]], timeout: float
) -> dict[str, int | None]:
    wanted = [TopicPartition(name, p) for name, ids in partitions.items() for p in ids]
    counts: dict[str, int | None] = dict.fromkeys(partitions, 0)
    if not wanted:
        return counts
    offsets: dict[str, dict[tuple[str, int], int | None]] = {}
    for which, spec in (("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest())):
        answer: dict[tuple[str, int], int | None] = {}
        for tp, future in admin.list_offsets({tp: spec for tp in wanted}, request_timeout=timeout).items():
            try:
                offset = future.result().offset
            except KafkaException:
                offset = None
            answer[(tp.topic, tp.partition)] = offset if offset is not None and offset >= 0 else None
        offsets[which] = answer
    for tp in wanted:
        key = (tp.topic, tp.partition)
        low, high = offsets["earliest"].get(key), offsets["latest"].get(key)
        current = counts[tp.topic]
        counts[tp.topic] = None if current is None or low is None or high is None else current + max(high - low, 0)
    return counts
