"""The floor: what the same broker needs for the same topics, asked directly and in batches.

Kafka's KRaft controller refuses an operation of more than 10000 metadata records ("Unable to
perform excessively large batch operation"); a topic costs one, plus one per partition and per
config. So topics go in batches of at most BATCH topics and MAX_RECORDS records, sent together,
then awaited.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic, ResourceType

from k2infra.live.admin import KafkaAdmin

BATCH = 1000
MAX_RECORDS = 9000
POLL = 0.05


class FloorError(RuntimeError):
    pass


@dataclass(frozen=True)
class TopicWanted:
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


def records(topic: TopicWanted) -> int:
    """The controller's metadata records for one new topic: topic, partitions, configs."""
    return 1 + topic.partitions + len(topic.config)


def batches(items: Sequence[TopicWanted] | Sequence[str], size: int = BATCH) -> Iterator[list]:
    """Consecutive batches of at most `size` items and (for topics) MAX_RECORDS records."""
    batch: list = []
    weight = 0
    for item in items:
        cost = records(item) if isinstance(item, TopicWanted) else 1
        if batch and (len(batch) >= size or weight + cost > MAX_RECORDS):
            yield batch
            batch, weight = [], 0
        batch.append(item)
        weight += cost
    if batch:
        yield batch


def admin_client(bootstrap_servers: str) -> AdminClient:
    """The benchmark's one Kafka admin client (the floor's requests, checks and clean-up)."""
    return KafkaAdmin({"bootstrap.servers": bootstrap_servers, "client.id": "k2infra-bench"}).client


def create(admin: AdminClient, topics: Sequence[TopicWanted], timeout: float) -> float:
    """Seconds from the first CreateTopics to every topic visible with leaders."""
    start = time.perf_counter()
    futures = {}
    for batch in batches(topics):
        new = [NewTopic(t.name, t.partitions, t.replication_factor, config=dict(t.config)) for t in batch]
        futures.update(admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout))
    _settle(futures, "create")
    wait_until(admin, {t.name: t.partitions for t in topics}, present=True, deadline=start + timeout)
    return time.perf_counter() - start


def describe(admin: AdminClient, names: Iterable[str], timeout: float) -> float:
    """Seconds for one Metadata request and one DescribeConfigs of every topic."""
    names = list(names)
    start = time.perf_counter()
    present = admin.list_topics(timeout=timeout).topics  # one Metadata request, not one per name
    missing = [n for n in names if n not in present]
    if missing:
        raise FloorError(f"describe: {len(missing)} topics missing, e.g. {missing[0]}")
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    _settle(admin.describe_configs(resources, request_timeout=timeout), "describe_configs")
    return time.perf_counter() - start


def delete(admin: AdminClient, names: Sequence[str], timeout: float) -> float:
    """Seconds from the first DeleteTopics to none of the topics in the metadata."""
    start = time.perf_counter()
    futures = {}
    for batch in batches(names):
        futures.update(admin.delete_topics(batch, operation_timeout=timeout, request_timeout=timeout))
    _settle(futures, "delete")
    wait_until(admin, dict.fromkeys(names, 0), present=False, deadline=start + timeout)
    return time.perf_counter() - start


def raise_partitions(admin: AdminClient, wanted: Mapping[str, int], timeout: float) -> float:
    """Seconds for one CreatePartitions (topic -> new total) until every partition has a leader."""
    start = time.perf_counter()
    new = [NewPartitions(name, count) for name, count in wanted.items()]
    _settle(admin.create_partitions(new, operation_timeout=timeout, request_timeout=timeout), "create_partitions")
    wait_until(admin, wanted, present=True, deadline=start + timeout)
    return time.perf_counter() - start


def existing(admin: AdminClient, names: Iterable[str], timeout: float = 30) -> list[str]:
    return sorted(set(names) & set(admin.list_topics(timeout=timeout).topics))


def remove(admin: AdminClient, names: Iterable[str], timeout: float) -> None:
    """Clean-up: delete whichever of `names` are on the cluster."""
    left = existing(admin, names)
    if left:
        delete(admin, left, timeout)


def wait_until(admin: AdminClient, wanted: Mapping[str, int], *, present: bool, deadline: float) -> None:
    """Poll the metadata until every topic is there with a leader per partition (or gone)."""
    while True:
        topics = admin.list_topics(timeout=max(1.0, deadline - time.perf_counter())).topics
        if present:
            pending = [
                name
                for name, partitions in wanted.items()
                if name not in topics
                or topics[name].error is not None
                or len(topics[name].partitions) != partitions
                or any(p.leader < 0 for p in topics[name].partitions.values())
            ]
        else:
            pending = [name for name in wanted if name in topics]
        if not pending:
            return
        if time.perf_counter() > deadline:
            raise FloorError(f"{len(pending)} topics not {'visible' if present else 'gone'} in time, e.g. {pending[0]}")
        time.sleep(POLL)


def _settle(futures: Mapping[object, object], what: str) -> None:
    errors = []
    for key, future in futures.items():
        try:
            future.result()  # type: ignore[attr-defined]
        except KafkaException as exc:
            errors.append(f"{getattr(key, 'name', key)}: {exc.args[0].str()}")
    if errors:
        raise FloorError(f"{what}: {len(errors)} failed, e.g. {errors[0]}")
