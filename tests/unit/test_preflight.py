"""k2infra.deploy.preflight: one read, pure guards, one refusal.

The guards are judged without an engine (plain data in, refusals out), then the program under
Pulumi mocks shows that a run reads the cluster once and reports every refusal in one error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from devkit.pulumi_mocks import RecordingMocks, run_program
from k2infra.deploy import guards, preflight
from k2infra.live.admin import BrokerView, PartitionLayout, TopicLayout
from k2infra.model.plan import load_plan
from k2infra.model.stack import load_stack_file
from tests.conftest import PROD_TOPICS
from tests.unit.test_cluster_guard import add_nyse
from tests.unit.test_program import PROD_SECRETS, TOPIC


def layout(name: str, partitions: int, replicas: tuple[int, ...] = (1, 2, 3)) -> TopicLayout:
    return TopicLayout(name, tuple(PartitionLayout(i, replicas[0], replicas, replicas) for i in range(partitions)))


def test_the_guards_judge_plain_data_without_an_engine(project_dir: Path) -> None:
    stack = load_stack_file(project_dir / "config", "prod", project_dir)
    live = {name: layout(name, count) for name, count in PROD_TOPICS.items()}
    assert guards.judge(stack, guards.LiveRead(live, BrokerView((1, 2, 3), (1, 2, 3)))) == ([], [])

    live["market.equities.trades.asx"] = layout("market.equities.trades.asx", 31)
    del live["market.crypto.trades.binance"]  # to be created while node 3 is down
    refused, warnings = guards.judge(stack, guards.LiveRead(live, BrokerView((1, 2), (1, 2, 3))))
    assert [r.split(":")[0] for r in refused] == [
        "refusing to lower partition counts",
        "refusing to create topics or partitions while brokers are down",
    ]
    assert "market.equities.trades.asx: planned 30 partitions, the cluster has 31" in refused[0]
    assert "  market.crypto.trades.binance: new topic, replication factor 3" in refused[1]
    assert warnings == []


def test_every_refusal_of_a_run_is_reported_in_one_error(project_dir: Path, edit_topology: Callable) -> None:
    add_nyse(edit_topology)
    live = {**PROD_TOPICS, "market.equities.trades.asx": 31}
    mocks = RecordingMocks(live_brokers=(1, 2), live_replication_factor=3)
    with pytest.raises(pulumi.RunError) as refused:
        run_program(project_dir, "prod", PROD_SECRETS, live_partitions=live, mocks=mocks)
    first, second = str(refused.value).split("\n\n")
    assert first.startswith("refusing to lower partition counts")
    assert second.startswith("refusing to create topics or partitions while brokers are down")
    assert not mocks.of_type(TOPIC)


def test_a_run_reads_the_cluster_once_whatever_the_number_of_topics(project_dir: Path) -> None:
    mocks = RecordingMocks(live_replication_factor=3)
    run = run_program(project_dir, "prod", PROD_SECRETS, live_partitions=PROD_TOPICS, mocks=mocks)
    assert run.mocks.calls.count("preflight.read_cluster") == 1
    assert "kafka:index:getTopics" not in run.mocks.calls  # the provider plugin is not asked


def test_the_topics_wait_on_the_gate_through_one_output_per_distinct_partition_count(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    callbacks: list[object] = []
    real_gate = preflight.gate

    def counted_gate(*args: object, **kwargs: object) -> pulumi.Output[None]:
        gate = real_gate(*args, **kwargs)  # type: ignore[arg-type]
        real_apply = gate.apply
        gate.apply = lambda f, *a, **k: (callbacks.append(f), real_apply(f, *a, **k))[1]  # type: ignore[method-assign]
        return gate

    monkeypatch.setattr(preflight, "gate", counted_gate)
    run = run_program(project_dir, "dev")  # no access control: the topics and the subjects only
    counts = {topic.partitions for topic in load_plan(project_dir / "config", "dev", project_dir).topics}
    assert len(run.platform.topics) == 6 and counts == {1, 3, 4}
    assert len(callbacks) == len(counts) + 1  # one per distinct count, and the registry connection's


def test_a_read_that_fails_midway_ends_the_run_with_its_one_line(project_dir: Path, monkeypatch) -> None:
    from k2infra.live.admin import LiveReadError

    def unreadable(*args: object) -> dict[str, int | None]:
        raise LiveReadError("Kafka at 127.0.0.1:19092 did not answer ListOffsets")

    monkeypatch.setattr(preflight, "count_records", unreadable)
    mocks = RecordingMocks(live_replication_factor=3)  # the dev plan wants 1: replacing would lose records
    with pytest.raises(pulumi.RunError) as caught:
        run_program(project_dir, "dev", live_partitions={"market.equities.trades.asx": 3}, mocks=mocks)
    assert str(caught.value) == (
        "cannot count the records of the topics this run would delete or replace: "
        "Kafka at 127.0.0.1:19092 did not answer ListOffsets"
    )
    assert not mocks.of_type(TOPIC)
