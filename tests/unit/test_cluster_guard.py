"""k2infra.deploy.guards (placement) and the preflight: connections checked and placement judged before any change.

Pure checks first, then the real program under Pulumi mocks (devkit.pulumi_mocks), where the
mocks answer the guard's cluster and registry reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from devkit.pulumi_mocks import RecordingMocks, run_program
from k2infra.deploy.guards import placement_refusals as refusals
from k2infra.deploy.guards import placements
from k2infra.live.admin import BrokerView
from k2infra.model.plan import TopicSpec
from tests.conftest import PROD_TOPICS
from tests.unit.test_program import DYNAMIC, PROD_SECRETS, TOPIC

NODE_3_DOWN = BrokerView(live=(1, 2), assigned=(1, 2, 3))
ALL_UP = BrokerView(live=(1, 2, 3), assigned=(1, 2, 3))


def spec(name: str, partitions: int = 3, replication_factor: int = 3) -> TopicSpec:
    parts = name.split(".")
    return TopicSpec(
        name=name,
        asset_class=parts[1],
        data_type=parts[2],
        exchange=parts[3],
        partitions=partitions,
        replication_factor=replication_factor,
        config={},
        schema_subject=f"market.{parts[1]}.{parts[2]}-value",
        schema_name=parts[2],
        partition_key="symbol",
    )


def test_new_topics_and_raised_partitions_need_placing_unchanged_ones_do_not() -> None:
    topics = [spec("market.e.trades.a"), spec("market.e.trades.b", partitions=6), spec("market.e.trades.c")]
    live = {"market.e.trades.b": 3, "market.e.trades.c": 3}
    assert placements(topics, live) == [
        ("market.e.trades.a", "new topic, replication factor 3"),
        ("market.e.trades.b", "3 -> 6 partitions, replication factor 3"),
    ]


def test_replication_factor_above_the_registered_brokers_is_refused_naming_the_missing_node() -> None:
    topics = [spec("market.e.trades.nyse"), spec("market.e.trades.asx")]
    assert refusals(topics, {"market.e.trades.asx": 3}, NODE_3_DOWN) == [
        "refusing to create topics or partitions while brokers are down: replication factor 3 needs 3 live brokers; "
        "2 brokers are live (1, 2); node 3 holds replicas but is down or fenced. Kafka would still place replicas "
        "on node 3, and the new partitions would start under-replicated. Start node 3 or wait until it rejoins, "
        "then run again; nothing was changed:\n"
        "  market.e.trades.nyse: new topic, replication factor 3"
    ]


def test_nothing_new_to_place_passes_with_a_broker_down() -> None:
    assert refusals([spec("market.e.trades.asx")], {"market.e.trades.asx": 3}, NODE_3_DOWN) == []


def test_a_factor_within_the_live_brokers_passes() -> None:
    assert refusals([spec("market.e.trades.nyse", replication_factor=2)], {}, NODE_3_DOWN) == []
    assert refusals([spec("market.e.trades.nyse")], {}, ALL_UP) == []


def test_a_cluster_smaller_than_the_factor_with_no_broker_missing_is_left_to_kafka() -> None:
    # A prod-shaped preview against the one-broker dev platform: Kafka refuses such a create itself.
    assert refusals([spec("market.e.trades.nyse")], {}, BrokerView((1,), (1,))) == []


# -- the program ----------------------------------------------------------------------------------


def add_nyse(edit_topology: Callable) -> None:
    edit_topology(
        lambda t: t["asset_classes"]["equities"]["exchanges"].update(
            nyse={"name": "New York Stock Exchange", "partitions": 10, "country": "US", "timezone": "America/New_York"}
        )
    )


@pytest.mark.parametrize("preview", [True, False])
def test_a_new_exchange_with_a_broker_down_fails_before_any_topic(
    project_dir: Path, edit_topology: Callable, preview: bool
) -> None:
    add_nyse(edit_topology)
    mocks = RecordingMocks(live_brokers=(1, 2), live_replication_factor=3)
    with pytest.raises(pulumi.RunError) as refused:
        run_program(project_dir, "prod", PROD_SECRETS, live_partitions=PROD_TOPICS, mocks=mocks, preview=preview)
    message = str(refused.value)
    assert "replication factor 3 needs 3 live brokers; 2 brokers are live (1, 2); node 3 holds replicas" in message
    assert sorted(line.split(":")[0].strip() for line in message.splitlines()[1:]) == [
        "market.equities.quotes.nyse",
        "market.equities.reference_data.nyse",
        "market.equities.trades.nyse",
    ]
    assert not mocks.of_type(TOPIC)


def test_the_deployed_topics_with_a_broker_down_pass(project_dir: Path) -> None:
    mocks = RecordingMocks(live_brokers=(1, 2), live_replication_factor=3)
    run = run_program(project_dir, "prod", PROD_SECRETS, live_partitions=PROD_TOPICS, mocks=mocks)
    assert len(run.mocks.of_type(TOPIC)) == len(PROD_TOPICS)


def test_refused_kafka_credentials_fail_the_run_with_the_one_line(project_dir: Path) -> None:
    line = "SASL authentication failed for user k2infra-prod (SCRAM-SHA-512) at k:9093: wrong password? (...)"
    mocks = RecordingMocks(connection_failure=line, live_replication_factor=3)
    with pytest.raises(pulumi.RunError) as refused:
        run_program(project_dir, "prod", PROD_SECRETS, live_partitions=PROD_TOPICS, mocks=mocks, preview=True)
    assert str(refused.value) == line
    assert not mocks.of_type(TOPIC)
    assert "kafka:index:getTopics" not in mocks.calls  # the provider's own wording never shows


def test_refused_registry_credentials_fail_the_run_before_the_subjects(project_dir: Path) -> None:
    line = "Schema Registry at https://r/apis/ccompat/v7 refused the credentials of user k2infra-prod (HTTP 401): ..."
    mocks = RecordingMocks(registry_failure=line, live_replication_factor=3)
    with pytest.raises(pulumi.RunError) as refused:
        run_program(project_dir, "prod", PROD_SECRETS, live_partitions=PROD_TOPICS, mocks=mocks)
    assert str(refused.value) == line
    # The subjects' connection waits for the check: none is registered with the refused credentials.
    assert not mocks.of_type(DYNAMIC) and not mocks.of_type(TOPIC)


def test_a_stack_without_a_registry_is_not_asked_about_one(project_dir: Path) -> None:
    import yaml

    stack_file = project_dir / "Pulumi.dev.yaml"
    data = yaml.safe_load(stack_file.read_text())
    del data["config"]["k2infra:schemaRegistryUrl"]
    stack_file.write_text(yaml.safe_dump(data))
    run = run_program(project_dir, "dev")
    assert "preflight.read_cluster" in run.mocks.calls
    assert "preflight.check_registry_access" not in run.mocks.calls
