"""Retiring legacy flat topics without silent data loss.

A retiring topic is no longer declared, so `pulumi up` deletes it. Before that may happen, the
program proves that producers have moved away: no record was written to the topic at or after its
`quiet_since` instant (Kafka's offsets-for-times lookup answers exactly that). A stack can skip
the proof with k2infra:forceRetire, and no topic is retired at all without k2infra:allowRetire.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from k2infra.model.errors import Refused
from k2infra.model.plan import LegacyTopic


class RetirementRefused(Refused):
    pass


def records_since(
    client_config: dict[str, Any], topics: Iterable[LegacyTopic], timeout: float = 15.0
) -> dict[str, int]:
    """Per topic that exists: how many records were written at or after its quiet_since."""
    from confluent_kafka import Consumer, TopicPartition  # the program needs Kafka only when retiring

    wanted = [t for t in topics if t.quiet_since is not None]
    if not wanted:
        return {}
    consumer = Consumer({**client_config, "group.id": "k2infra-retirement-check", "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(timeout=timeout)
        lookups: list[Any] = []
        for topic in wanted:
            partitions = metadata.topics.get(topic.name)
            if partitions is None or partitions.error is not None:
                continue  # already gone: nothing to retire
            since_ms = int(topic.quiet_since.timestamp() * 1000)  # type: ignore[union-attr]
            lookups += [TopicPartition(topic.name, p, since_ms) for p in partitions.partitions]
        counts: dict[str, int] = {}
        for found in consumer.offsets_for_times(lookups, timeout=timeout) if lookups else []:
            counts.setdefault(found.topic, 0)
            if found.offset >= 0:  # a record at or after the instant exists; -1 means none
                _, high = consumer.get_watermark_offsets(TopicPartition(found.topic, found.partition), timeout=timeout)
                counts[found.topic] += max(high - found.offset, 0)
        return counts
    finally:
        consumer.close()


def check_retirement(retiring: Iterable[LegacyTopic], written: dict[str, int]) -> None:
    lines = [
        f"{t.name}: {written[t.name]} records written since {t.quiet_since.isoformat()}"  # type: ignore[union-attr]
        for t in retiring
        if written.get(t.name, 0) > 0
    ]
    if lines:
        raise RetirementRefused(
            "refusing to retire topics that still receive data (move their producers first, or set "
            "k2infra:forceRetire to delete them anyway):\n" + "\n".join(f"  {line}" for line in lines)
        )
