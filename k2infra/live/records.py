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

from k2infra.live.admin import KafkaAdmin
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
    password_from: str | None = None,
) -> dict[str, TopicHolding]:
    """The topics of `names` that exist, with their record counts (and own configs if asked)."""
    if not names:
        return {}
    with KafkaAdmin(client_config, connection, password_from=password_from) as admin:
        cluster = admin.cluster(timeout=timeout)
        layouts = {name: cluster.topics[name] for name in names if name in cluster.topics}
        configs = admin.own_topic_configs(list(layouts), timeout=timeout) if with_config else {}
        counts = admin.record_counts({n: layout.partition_ids for n, layout in layouts.items()}, timeout=timeout)
    return {
        name: TopicHolding(
            name=name,
            partitions=layout.partition_count,
            replication_factor=layout.replication_factor,
            records=counts.get(name),
            own_config=configs.get(name, {}),
        )
        for name, layout in sorted(layouts.items())
        if not with_config or name in configs
    }
