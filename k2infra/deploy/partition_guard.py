"""Partitions can grow and never shrink.

The Kafka provider answers a lower partition count by deleting and re-creating the topic, which
loses its data. The program therefore reads the live partition counts (one `getTopics` call, made
at preview too) and refuses, before any change, a plan that would lower one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from k2infra.model.errors import Refused
from k2infra.model.plan import LegacyTopic, TopicSpec


class PartitionShrinkError(Refused):
    pass


def shrinking(topics: Iterable[TopicSpec | LegacyTopic], live_partitions: Mapping[str, int]) -> list[str]:
    """One line per planned topic whose partition count is below the live one."""
    return [
        f"{t.name}: planned {t.partitions} partitions, the cluster has {live_partitions[t.name]}"
        for t in topics
        if t.name in live_partitions and t.partitions < live_partitions[t.name]
    ]


def check_no_shrink(topics: Iterable[TopicSpec | LegacyTopic], live_partitions: Mapping[str, int]) -> None:
    lines = shrinking(topics, live_partitions)
    if lines:
        raise PartitionShrinkError(
            "refusing to lower partition counts: Kafka cannot remove partitions, and the provider would "
            "delete and re-create the topic, losing its data. Keep (or raise) these counts in "
            "config/kafka/topics.yaml or the stack's k2infra:partitions:\n" + "\n".join(f"  {line}" for line in lines)
        )
