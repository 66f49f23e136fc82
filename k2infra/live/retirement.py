"""How many records a retiring legacy topic received since its `quiet_since` instant.

Kafka's offsets-for-times lookup answers exactly that: the offset of the first record written at or
after the instant, subtracted from the end offset. The guard that judges the counts is
k2infra.deploy.guards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from k2infra.live.admin import KafkaAdmin, LiveReadError, TopicLayout
from k2infra.model.plan import LegacyTopic


def records_since(
    admin: KafkaAdmin, topics: Iterable[LegacyTopic], live: Mapping[str, TopicLayout], timeout: float = 15.0
) -> dict[str, int]:
    """Per topic that exists (in `live`, the layouts already read): how many records were written at
    or after its quiet_since.

    ListOffsets calls: the first record at or after each instant (one call per distinct instant), then the ends."""
    wanted = [t for t in topics if t.quiet_since is not None]
    if not wanted:
        return {}
    since: dict[tuple[str, int], int] = {}
    for topic in wanted:
        if topic.name not in live:
            continue  # already gone: nothing to retire
        since_ms = int(topic.quiet_since.timestamp() * 1000)  # type: ignore[union-attr]
        since.update({(topic.name, p): since_ms for p in live[topic.name].partition_ids})
    counts = {name: 0 for name, _ in since}
    found: dict[tuple[str, int], int | None] = {}
    for instant in set(since.values()):  # one call per distinct quiet_since
        found.update(admin.offsets([k for k, ms in since.items() if ms == instant], instant, timeout=timeout))
    ends = admin.offsets(list(found), "latest", timeout=timeout)
    for (name, partition), first in found.items():
        end = ends.get((name, partition))
        if first is None or end is None:
            raise LiveReadError(
                f"Kafka at {admin.servers} could not read the offsets of {name} partition {partition}, "
                "which retiring it checks"
            )
        if first >= 0:  # a record at or after the instant exists; -1 means none
            counts[name] += max(end - first, 0)
    return counts
