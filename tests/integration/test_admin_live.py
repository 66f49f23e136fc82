"""KafkaAdmin against the real local broker: every read it offers, checked against what was written.

Topics are created, written and consumed here with confluent-kafka's own clients (the witnesses),
then read back through k2infra.live.admin.KafkaAdmin: layout and brokers, configs, offsets (earliest,
latest, at a time), record counts, consumer groups, their committed offsets, the timestamp of the
record at an offset, and the retirement read built on offsets-for-times. The topics live under a
namespace of their own (not `market.`), so the module shares a platform with the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from devkit.local_platform import LocalPlatform
from k2infra.live import retirement
from k2infra.live.admin import KafkaAdmin, LiveReadError, RecordAt
from k2infra.model.plan import LegacyAction, LegacyTopic
from tests.waiting import wait_for as shared_wait_for

pytestmark = pytest.mark.integration

WAIT = 60.0  # seconds for the broker to settle a create, a delete or a group join
BASE_MS = 1_700_000_000_000  # the records' timestamps: BASE_MS + offset * 1000 (CreateTime, set by the producer)


def wait_for(what: str, check: Any, timeout: float = WAIT) -> Any:
    return shared_wait_for(what, check, timeout)


@pytest.fixture(scope="module")
def witness(platform: LocalPlatform) -> AdminClient:
    return AdminClient({"bootstrap.servers": platform.bootstrap_servers})


@pytest.fixture(scope="module")
def topic(platform: LocalPlatform, witness: AdminClient) -> Iterator[str]:
    """A 3-partition topic holding 10 records in partition 0 and 4 in partition 1 (none in 2)."""
    name = f"k2admin.test.{uuid.uuid4().hex[:8]}"
    witness.create_topics([NewTopic(name, 3, 1, config={"retention.ms": "3600000000000"})])[name].result(WAIT)
    wait_for(f"{name} with leaders", lambda: _has_leaders(witness, name))
    producer = Producer({"bootstrap.servers": platform.bootstrap_servers})
    for partition, count in ((0, 10), (1, 4)):
        for offset in range(count):
            producer.produce(name, value=b"x", partition=partition, timestamp=BASE_MS + offset * 1000)
    assert producer.flush(WAIT) == 0
    yield name
    witness.delete_topics([name])[name].result(WAIT)


def _has_leaders(admin: AdminClient, name: str) -> bool:
    topic = admin.list_topics(name, timeout=10).topics.get(name)
    return topic is not None and topic.error is None and all(p.leader >= 0 for p in topic.partitions.values())


@pytest.fixture
def admin(platform: LocalPlatform) -> Iterator[KafkaAdmin]:
    with KafkaAdmin({"bootstrap.servers": platform.bootstrap_servers}) as kafka:
        yield kafka


def test_the_layout_and_the_brokers_come_from_one_metadata_answer(topic: str, admin: KafkaAdmin) -> None:
    cluster = admin.cluster(timeout=WAIT)
    layout = cluster.topics[topic]
    assert layout.partition_ids == (0, 1, 2)
    assert (layout.replication_factor, layout.under_replicated) == (1, 0)
    assert all(p.replicas == p.isr == (p.leader,) for p in layout.partitions)
    assert cluster.brokers.live and not cluster.brokers.missing


def test_configs_are_the_asked_keys_or_the_topic_s_own(topic: str, admin: KafkaAdmin) -> None:
    asked = admin.topic_configs({topic: ("retention.ms", "cleanup.policy", "no.such.key")}, timeout=WAIT)
    assert asked == {topic: {"retention.ms": "3600000000000", "cleanup.policy": "delete", "no.such.key": None}}
    assert admin.own_topic_configs([topic], timeout=WAIT) == {topic: {"retention.ms": "3600000000000"}}


def test_offsets_earliest_latest_and_at_a_time(topic: str, admin: KafkaAdmin) -> None:
    partitions = [(topic, 0), (topic, 1), (topic, 2)]
    assert admin.offsets(partitions, "earliest", timeout=WAIT) == {(topic, 0): 0, (topic, 1): 0, (topic, 2): 0}
    assert admin.offsets(partitions, "latest", timeout=WAIT) == {(topic, 0): 10, (topic, 1): 4, (topic, 2): 0}
    # The first record at or after BASE_MS + 6.5 s is offset 7 of partition 0; partition 1 has none (-1).
    at = admin.offsets(partitions, BASE_MS + 6500, timeout=WAIT)
    assert at == {(topic, 0): 7, (topic, 1): -1, (topic, 2): -1}
    assert admin.record_counts({topic: (0, 1, 2)}, timeout=WAIT) == {topic: 14}


def test_the_timestamp_of_the_record_at_an_offset(topic: str, admin: KafkaAdmin) -> None:
    read = admin.record_timestamps({(topic, 0): 3, (topic, 1): 4, (topic, 2): 0}, timeout=WAIT)
    # Partition 1 ends at offset 4 and partition 2 is empty: no record there, no wait for one.
    assert read == {(topic, 0): RecordAt(3, BASE_MS + 3000), (topic, 1): None, (topic, 2): None}


def test_the_newest_record_and_the_first_at_a_time_come_from_list_offsets_alone(topic: str, admin: KafkaAdmin) -> None:
    partitions = [(topic, 0), (topic, 1), (topic, 2)]
    newest, unanswered = admin.newest_records(partitions, timeout=WAIT)
    # The largest timestamp of each partition that holds one; the empty partition is in neither.
    assert newest == {(topic, 0): RecordAt(9, BASE_MS + 9000), (topic, 1): RecordAt(3, BASE_MS + 3000)}
    assert unanswered == set()
    first, unanswered = admin.first_records_at({(topic, 0): BASE_MS + 6500, (topic, 1): 0, (topic, 2): 0}, timeout=WAIT)
    assert first == {(topic, 0): RecordAt(7, BASE_MS + 7000), (topic, 1): RecordAt(0, BASE_MS)}
    assert unanswered == set()


def test_consumer_groups_their_members_and_committed_offsets(
    platform: LocalPlatform, topic: str, admin: KafkaAdmin
) -> None:
    group = f"k2admin-test-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {
            "bootstrap.servers": platform.bootstrap_servers,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([topic])
        seen: set[int] = set()

        def consumed_six() -> bool:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None and message.partition() == 0:
                seen.add(message.offset())
            return set(range(6)) <= seen

        wait_for("6 records of partition 0 consumed", consumed_six)
        consumer.commit(offsets=[TopicPartition(topic, 0, 6)], asynchronous=False)  # the next record to read: offset 6

        listed = wait_for(
            f"group {group} listed", lambda: [g for g in admin.consumer_groups(timeout=WAIT) if g.group_id == group]
        )
        assert listed[0].state == "STABLE" and not listed[0].simple
        described = admin.describe_groups([group], timeout=WAIT)[group]
        assert described.state == "STABLE" and described.coordinator is not None
        [member] = described.members
        assert member.assignment == ((topic, 0), (topic, 1), (topic, 2))
        assert admin.committed_offsets([group], timeout=WAIT) == {group: {(topic, 0): 6}}
        # The lag read of the next issue in one line: the first record not yet consumed, and when it was written.
        committed = admin.committed_offsets([group], timeout=WAIT)[group]
        assert admin.record_timestamps(committed, timeout=WAIT) == {(topic, 0): RecordAt(6, BASE_MS + 6000)}
    finally:
        consumer.close()
    assert admin.describe_groups([group], timeout=WAIT)[group].state == "EMPTY"  # closed: it left the group


def test_a_group_that_never_committed_has_no_offsets(admin: KafkaAdmin) -> None:
    group = f"k2admin-none-{uuid.uuid4().hex[:8]}"
    assert admin.committed_offsets([group], timeout=WAIT) == {group: {}}


def test_retirement_counts_the_records_written_since_quiet_since(topic: str, admin: KafkaAdmin) -> None:
    since = datetime.fromtimestamp((BASE_MS + 8000) / 1000, UTC)  # offsets 8 and 9 of partition 0 are later
    legacy = LegacyTopic(topic, LegacyAction.RETIRE, 3, 1, {}, since)
    gone = LegacyTopic("k2admin.test.absent", LegacyAction.RETIRE, 1, 1, {}, since)
    live = admin.cluster(timeout=WAIT).topics
    assert retirement.records_since(admin, [legacy, gone], live, timeout=WAIT) == {topic: 2}
    quiet = LegacyTopic(topic, LegacyAction.RETIRE, 3, 1, {}, datetime.fromtimestamp(BASE_MS / 1000 + 60, UTC))
    assert retirement.records_since(admin, [quiet], live, timeout=WAIT) == {topic: 0}


def test_an_address_nothing_listens_on_fails_with_the_one_line(admin: KafkaAdmin) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with KafkaAdmin({"bootstrap.servers": f"127.0.0.1:{port}"}) as nowhere, pytest.raises(LiveReadError) as caught:
        nowhere.cluster(timeout=5)
    assert str(caught.value).startswith(f"cannot reach Kafka at 127.0.0.1:{port} within 5s: ")
    assert "\n" not in str(caught.value)
