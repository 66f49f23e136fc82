"""k2infra.live.admin.KafkaAdmin: what it makes of confluent-kafka's answers, and how it words failures.

confluent-kafka's AdminClient is replaced by a fake that answers from memory with the library's
own result types (the real broker answers the same reads in tests/integration/test_admin_live.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaError, KafkaException, Node
from confluent_kafka import TopicPartition as TP
from confluent_kafka.admin import (
    ConsumerGroupDescription,
    ConsumerGroupListing,
    ListConsumerGroupsResult,
    ListOffsetsResultInfo,
    MemberAssignment,
    MemberDescription,
)

from k2infra.live import admin as kafka_admin
from k2infra.live.admin import GroupDescription, GroupListing, GroupMember, KafkaAdmin, LiveReadError

SERVERS = "k1:9092"


def done(value: Any) -> Future:
    future: Future = Future()
    if isinstance(value, KafkaError):
        future.set_exception(KafkaException(value))
    else:
        future.set_result(value)
    return future


class FakeClient:
    """The calls KafkaAdmin makes, answered from `answers`; the requests are kept in `asked`."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.asked: list[tuple[str, Any]] = []

    def __call__(self, config: dict[str, Any]) -> FakeClient:
        return self

    def poll(self, timeout: float) -> int:
        return 0

    def list_consumer_groups(self, **kwargs: Any) -> Future:
        return done(self.answers["groups"])

    def describe_consumer_groups(self, group_ids: list[str], **kwargs: Any) -> dict[str, Future]:
        return {g: done(self.answers["descriptions"][g]) for g in group_ids}

    def list_consumer_group_offsets(self, requests: list[ConsumerGroupTopicPartitions], **kwargs: Any) -> dict:
        [request] = requests  # confluent-kafka takes one group per request
        self.asked.append(("offsets", request.group_id))
        return {request.group_id: done(self.answers["committed"][request.group_id])}

    def list_offsets(self, wanted: dict[TP, Any], **kwargs: Any) -> dict[TP, Future]:
        self.asked.append(("list_offsets", sorted((tp.topic, tp.partition) for tp in wanted)))
        answers = self.answers["offsets"]
        return {tp: done(answers[(tp.topic, tp.partition)]) for tp in wanted}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClient]:
    client = FakeClient()
    monkeypatch.setattr(kafka_admin, "AdminClient", client)
    yield client


def admin() -> KafkaAdmin:
    return KafkaAdmin({"bootstrap.servers": SERVERS})


def offset(value: int) -> ListOffsetsResultInfo:
    return ListOffsetsResultInfo(value, -1, -1)


def test_groups_are_listed_by_id_with_their_state(fake: FakeClient) -> None:
    fake.answers["groups"] = ListConsumerGroupsResult(
        valid=[
            ConsumerGroupListing("b-app", False, ConsumerGroupState.EMPTY),
            ConsumerGroupListing("a-app", False, ConsumerGroupState.STABLE),
            ConsumerGroupListing("offsets-only", True, None),
        ]
    )
    with admin() as kafka:
        assert kafka.consumer_groups(timeout=1) == [
            GroupListing("a-app", "STABLE", False),
            GroupListing("b-app", "EMPTY", False),
            GroupListing("offsets-only", "UNKNOWN", True),
        ]


def test_a_group_s_members_and_their_assigned_partitions(fake: FakeClient) -> None:
    member = MemberDescription("m-1", "client-1", "/10.0.0.5", MemberAssignment([TP("t", 1), TP("t", 0)]))
    fake.answers["descriptions"] = {
        "g": ConsumerGroupDescription("g", False, [member], "range", ConsumerGroupState.STABLE, Node(2, "k2", 9092))
    }
    with admin() as kafka:
        assert kafka.describe_groups(["g"], timeout=1) == {
            "g": GroupDescription(
                "g", "STABLE", 2, (GroupMember("m-1", "client-1", "/10.0.0.5", (("t", 0), ("t", 1))),)
            )
        }


def test_committed_offsets_per_group_leave_out_partitions_without_a_commit(fake: FakeClient) -> None:
    # confluent-kafka's TopicPartition.error is read-only: a stand-in carries the partition's error.
    failed = SimpleNamespace(topic="t", partition=2, offset=5, error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
    fake.answers["committed"] = {
        "g1": ConsumerGroupTopicPartitions("g1", [TP("t", 0, 42), TP("t", 1, -1001), failed]),
        "g2": ConsumerGroupTopicPartitions("g2", []),
    }
    with admin() as kafka:
        assert kafka.committed_offsets(["g1", "g2"], timeout=1) == {"g1": {("t", 0): 42}, "g2": {}}
    assert fake.asked == [("offsets", "g1"), ("offsets", "g2")]


def test_a_group_read_that_fails_names_the_group_and_the_cluster(fake: FakeClient) -> None:
    fake.answers["committed"] = {"g": KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED, "Group authorization failed")}
    with admin() as kafka, pytest.raises(LiveReadError) as caught:
        kafka.committed_offsets(["g"], timeout=1)
    assert str(caught.value) == (
        "Kafka at k1:9092 could not read the offsets of consumer group g: Group authorization failed"
    )


def test_offsets_say_unknown_for_a_partition_that_cannot_answer_and_none_after_a_time(fake: FakeClient) -> None:
    no_leader = KafkaError(KafkaError.LEADER_NOT_AVAILABLE)
    fake.answers["offsets"] = {("t", 0): offset(7), ("t", 1): offset(-1), ("t", 2): no_leader}
    wanted = [("t", 0), ("t", 1), ("t", 2)]
    with admin() as kafka:
        assert kafka.offsets(wanted, 1_700_000_000_000, timeout=1) == {("t", 0): 7, ("t", 1): -1, ("t", 2): None}
        assert kafka.offsets(wanted, "latest", timeout=1) == {("t", 0): 7, ("t", 1): None, ("t", 2): None}


def test_a_record_count_is_unknown_when_a_partition_cannot_answer(fake: FakeClient) -> None:
    fake.answers["offsets"] = {("a", 0): offset(3), ("b", 0): KafkaError(KafkaError.LEADER_NOT_AVAILABLE)}
    with admin() as kafka:
        assert kafka.record_counts({"a": (0,), "b": (0,), "empty": ()}, timeout=1) == {"a": 0, "b": None, "empty": 0}


def test_no_record_is_peeked_where_the_partition_ends_at_the_offset(fake: FakeClient) -> None:
    fake.answers["offsets"] = {("t", 0): offset(10)}
    with admin() as kafka:
        assert kafka.record_timestamps({("t", 0): 10}, timeout=1) == {("t", 0): None}
    assert fake.asked == [("list_offsets", [("t", 0)])]  # the end only: no consumer was started
