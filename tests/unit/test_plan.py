"""The plan per stack: partitions, replication, configs, subjects, enabled exchanges."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from k2infra.client.naming import load_plan
from k2infra.model.errors import InputError
from k2infra.model.stack import load_stack_file
from tests.conftest import PROD_TOPICS

SUBJECTS = {f"market.{ac}.{dt}-value" for ac in ("equities", "crypto") for dt in ("trades", "quotes", "reference_data")}


def plan_of(project_dir: Path, stack: str | None):
    return load_plan(project_dir / "config", stack, project_dir)


def test_prod_has_the_six_topics_of_today(project_dir: Path) -> None:
    plan = plan_of(project_dir, "prod")
    assert {t.name: t.partitions for t in plan.topics} == PROD_TOPICS
    assert {t.replication_factor for t in plan.topics} == {3}
    assert {t.config["min.insync.replicas"] for t in plan.topics} == {"2"}
    assert {s.subject for s in plan.subjects} == SUBJECTS


def test_reference_data_is_compacted_and_others_are_not(project_dir: Path) -> None:
    plan = plan_of(project_dir, "prod")
    for topic in plan.topics:
        expected = "compact" if topic.data_type == "reference_data" else None
        assert topic.config.get("cleanup.policy") == expected, topic.name


def test_config_values_are_strings(project_dir: Path) -> None:
    for stack in ("dev", "staging", "prod"):
        for topic in plan_of(project_dir, stack).topics:
            assert all(isinstance(v, str) for v in topic.config.values())
    topic = plan_of(project_dir, "prod").topic("market.crypto.trades.binance")
    assert topic is not None
    assert topic.config["unclean.leader.election.enable"] == "false"


def test_dev_overrides_replication_isr_retention_and_partitions(project_dir: Path) -> None:
    plan = plan_of(project_dir, "dev")
    by_name = {t.name: t for t in plan.topics}
    assert by_name["market.equities.trades.asx"].partitions == 3
    assert by_name["market.crypto.quotes.binance"].partitions == 4
    assert by_name["market.crypto.reference_data.binance"].partitions == 1  # the data type's fixed count wins
    assert {t.replication_factor for t in plan.topics} == {1}
    assert {t.config["min.insync.replicas"] for t in plan.topics} == {"1"}
    # The stack's retention applies to delete-policy topics; compacted ones keep theirs.
    assert by_name["market.equities.quotes.asx"].config["retention.ms"] == "86400000"
    assert by_name["market.equities.reference_data.asx"].config.get("retention.ms") == "604800000"


def test_data_type_config_overrides_defaults(project_dir: Path) -> None:
    plan = plan_of(project_dir, None)
    assert plan.topic("market.equities.quotes.asx").config["retention.ms"] == "259200000"
    assert plan.topic("market.equities.trades.asx").config["retention.ms"] == "604800000"


def test_exchange_config_overrides_data_type_config(project_dir: Path, edit_topology: Callable) -> None:
    edit_topology(
        lambda t: t["asset_classes"]["crypto"]["exchanges"]["binance"].update(config={"retention.ms": 3600000})
    )
    plan = plan_of(project_dir, None)
    assert plan.topic("market.crypto.quotes.binance").config["retention.ms"] == "3600000"
    assert plan.topic("market.equities.quotes.asx").config["retention.ms"] == "259200000"


def test_subjects_are_per_asset_class_and_list_their_topics(project_dir: Path, edit_topology: Callable) -> None:
    edit_topology(
        lambda t: t["asset_classes"]["equities"]["exchanges"].update(
            nyse={"name": "New York Stock Exchange", "partitions": 100, "country": "US", "timezone": "America/New_York"}
        )
    )
    plan = plan_of(project_dir, "prod")
    subject = next(s for s in plan.subjects if s.subject == "market.equities.trades-value")
    assert subject.topics == ("market.equities.trades.asx", "market.equities.trades.nyse")
    assert subject.schema_name == "trade"
    assert subject.compatibility == "FULL_TRANSITIVE"
    assert len(plan.topics) == 9
    assert plan.topic("market.equities.trades.nyse").partitions == 100


def test_exchange_carrying_a_subset_of_data_types(project_dir: Path, edit_topology: Callable) -> None:
    edit_topology(lambda t: t["asset_classes"]["crypto"]["exchanges"]["binance"].update(data_types=["trades"]))
    names = [t.name for t in plan_of(project_dir, None).topics]
    assert [n for n in names if "binance" in n] == ["market.crypto.trades.binance"]
    subjects = {s.subject for s in plan_of(project_dir, None).subjects}
    assert "market.crypto.quotes-value" not in subjects


def set_stack(project_dir: Path, stack: str, lines: str) -> None:
    (project_dir / f"Pulumi.{stack}.yaml").write_text("config:\n" + lines)


def test_enabled_exchanges_limit_topics_and_subjects(project_dir: Path) -> None:
    set_stack(project_dir, "only", "  k2infra:exchanges: [crypto.binance]\n")
    plan = plan_of(project_dir, "only")
    assert {t.exchange for t in plan.topics} == {"binance"}
    assert {s.asset_class for s in plan.subjects} == {"crypto"}


def stack_problems(project_dir: Path, stack: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        plan_of(project_dir, stack)
    return [str(p) for p in caught.value.problems]


def test_min_insync_replicas_cannot_exceed_replication_after_overrides(project_dir: Path) -> None:
    set_stack(project_dir, "bad", "  k2infra:replicationFactor: 1\n")
    [message] = stack_problems(project_dir, "bad")
    assert message.startswith(
        f"{project_dir}/Pulumi.bad.yaml:2: k2infra:replicationFactor: min.insync.replicas 2 exceeds the replication factor 1, "
        "so no acks=all write could succeed (topics: market.crypto.quotes.binance, "
        "market.crypto.reference_data.binance, "
        "market.crypto.trades.binance, market.equities.quotes.asx, market.equities.reference_data.asx, "
        "market.equities.trades.asx): conflicts with min.insync.replicas 2 at "
    )
    assert message.endswith(
        "config/kafka/topics.yaml:14: defaults.config[min.insync.replicas]; "
        "set k2infra:minInsyncReplicas to at most 1 in this stack"
    )


def test_a_stack_isr_above_the_topologys_replication_factor_names_where_that_factor_is_written(
    project_dir: Path,
) -> None:
    set_stack(project_dir, "bad", "  k2infra:minInsyncReplicas: 4\n")
    [message] = stack_problems(project_dir, "bad")
    assert (
        "Pulumi.bad.yaml:2: k2infra:minInsyncReplicas: min.insync.replicas 4 exceeds the replication factor 3"
        in message
    )
    assert message.endswith("config/kafka/topics.yaml:12: defaults.replication_factor)")
    assert "conflicts with the topology's replication factor (" in message


def test_an_exchange_level_isr_is_located_at_the_exchange(project_dir: Path, edit_topology: Callable) -> None:
    def raise_binance_isr(topology: dict) -> None:
        topology["asset_classes"]["crypto"]["exchanges"]["binance"].setdefault("config", {})["min.insync.replicas"] = 3

    edit_topology(raise_binance_isr)
    set_stack(project_dir, "bad", "  k2infra:replicationFactor: 2\n")
    [message] = stack_problems(project_dir, "bad")
    assert (
        "Pulumi.bad.yaml:2: k2infra:replicationFactor: min.insync.replicas 3 exceeds the replication factor 2"
        in message
    )
    assert (
        "(topics: market.crypto.quotes.binance, market.crypto.reference_data.binance, market.crypto.trades.binance)"
        in message
    )
    assert "config/kafka/topics.yaml:" in message
    assert message.endswith(
        ": asset_classes.crypto.exchanges.binance.config[min.insync.replicas]; "
        "set k2infra:minInsyncReplicas to at most 2 in this stack"
    )


def test_unknown_exchange_in_stack_overrides(project_dir: Path) -> None:
    set_stack(
        project_dir, "bad", "  k2infra:partitions:\n    equities.nyse: 10\n  k2infra:exchanges: [crypto.binanse]\n"
    )
    found = stack_problems(project_dir, "bad")
    assert any("k2infra:partitions.equities.nyse: unknown exchange 'equities.nyse'" in m for m in found), found
    assert any(
        "k2infra:exchanges.0: unknown exchange 'crypto.binanse'" in m and "did you mean 'crypto.binance'?" in m
        for m in found
    ), found


def test_stack_partition_override_range(project_dir: Path) -> None:
    set_stack(project_dir, "bad", "  k2infra:partitions:\n    equities.asx: 0\n")
    [message] = stack_problems(project_dir, "bad")
    assert "k2infra:partitions.equities.asx: must be an integer between 1 and 10000, got 0" in message


def test_unknown_stack_setting_suggests(project_dir: Path) -> None:
    set_stack(project_dir, "bad", "  k2infra:replicationFactr: 3\n")
    [message] = stack_problems(project_dir, "bad")
    assert message.endswith("k2infra:replicationFactr: unknown stack setting (did you mean 'replicationFactor'?)")
    assert ":2:" in message


def test_plaintext_credentials_are_refused(project_dir: Path) -> None:
    set_stack(project_dir, "bad", "  k2infra:saslPassword: hunter2\n")
    [message] = stack_problems(project_dir, "bad")
    assert "k2infra:saslPassword: holds a credential and must be a secret" in message
    assert "hunter2" not in message


def test_numbers_written_as_strings_by_pulumi_config_set_are_read(project_dir: Path) -> None:
    set_stack(
        project_dir,
        "quoted",
        '  k2infra:replicationFactor: "2"\n  k2infra:minInsyncReplicas: "1"\n  k2infra:protect: "true"\n',
    )
    stack = load_stack_file(project_dir / "config", "quoted", project_dir)
    assert {t.replication_factor for t in stack.plan.topics} == {2}
    assert stack.safety.protect is True


def test_hard_delete_is_refused_on_protected_stacks(project_dir: Path) -> None:
    set_stack(project_dir, "bad", "  k2infra:protect: true\n  k2infra:hardDeleteSubjects: true\n")
    [message] = stack_problems(project_dir, "bad")
    assert "k2infra:hardDeleteSubjects: cannot be true on a protected stack" in message


def test_missing_stack_file_lists_the_stacks(project_dir: Path) -> None:
    [message] = stack_problems(project_dir, "qa")
    assert "no such stack file (stacks here: dev, prod, staging)" in message


def test_stack_retention_caps_but_never_lengthens(project_dir: Path) -> None:
    prod = plan_of(project_dir, "prod")  # retentionMs 7 days
    assert prod.topic("market.equities.trades.asx").config["retention.ms"] == "604800000"
    assert prod.topic("market.equities.quotes.asx").config["retention.ms"] == "259200000"  # keeps its 3 days
    dev = plan_of(project_dir, "dev")  # retentionMs 1 day
    assert dev.topic("market.equities.quotes.asx").config["retention.ms"] == "86400000"


@pytest.mark.parametrize(
    ("topic_ms", "stack_ms", "expected"),
    [(None, 5, 5), (-1, 5, 5), (10, 5, 5), (3, 5, 3), ("3", 5, 3), (10, -1, 10), (-1, -1, -1)],
)
def test_capped_retention(topic_ms: object, stack_ms: int, expected: int) -> None:
    from k2infra.model.plan import capped_retention

    assert capped_retention(topic_ms, stack_ms) == expected
