"""Partitions can grow and never shrink.

The Kafka provider answers a lower partition count by deleting and re-creating the topic, which
loses its data. The preflight (k2infra.deploy.preflight) therefore reads the live partition counts
(one Metadata request, made at preview too) and this guard refuses, before any change, a plan that
would lower one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from k2infra.model.plan import LegacyTopic, TopicSpec

# How its refusal opens (the change summary names the guard by it).
REFUSAL = "refusing to lower partition counts"


def shrinking(
    topics: Iterable[TopicSpec | LegacyTopic],
    live_partitions: Mapping[str, int],
    origins: Mapping[str, str] | None = None,
) -> list[str]:
    """One line per planned topic whose partition count is below the live one, naming the setting
    the planned count comes from where `origins` (the plan's partition_origins) knows it."""
    return [
        f"{t.name}: planned {t.partitions} partitions, the cluster has {live_partitions[t.name]}"
        + (f" (the count comes from {origins[t.name]})" if origins and t.name in origins else "")
        for t in topics
        if t.name in live_partitions and t.partitions < live_partitions[t.name]
    ]


def refusals(
    topics: Iterable[TopicSpec | LegacyTopic],
    live_partitions: Mapping[str, int],
    origins: Mapping[str, str] | None = None,
) -> list[str]:
    """The refusal of a plan that lowers partition counts (none if it lowers none)."""
    lines = shrinking(topics, live_partitions, origins)
    if not lines:
        return []
    return [
        f"{REFUSAL}: Kafka cannot remove partitions, and the provider would "
        "delete and re-create the topic, losing its data. Keep (or raise) these counts where each "
        "line says they come from (config/kafka/topics.yaml, or the stack's k2infra:partitions or "
        "k2infra:maxPartitions):\n" + "\n".join(f"  {line}" for line in lines)
    ]
