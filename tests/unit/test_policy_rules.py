"""The policy pack's rules (policy/k2_policies), without the Pulumi engine.

Every rule passes on the topics the real stacks declare, and reports the exact violation on bad
input; the per-policy settings have production defaults, a schema the CLI can validate and fill
in, and refuse what the engine would otherwise silently ignore.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import EnforcementLevel, ResourceValidationArgs, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from k2infra.client.naming import load_plan
from k2infra.model.plan import TopicSpec
from k2infra.model.topology import MAX_PARTITIONS
from policy.k2_policies import pack, rules
from policy.k2_policies.config import (
    ALL_SETTINGS,
    SETTINGS_BY_POLICY,
    CompactionSettings,
    NamingSettings,
    PartitionSettings,
    PolicyConfigError,
    ReplicationSettings,
    RetentionSettings,
    SchemaSubjectSettings,
)

REPO = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO / "policy"
DEV_CONFIG = POLICY_DIR / "config" / "dev.json"

PROD = {
    "replication": ReplicationSettings(),
    "compaction": CompactionSettings(),
    "retention": RetentionSettings(),
    "partitions": PartitionSettings(),
}


def topic(name: str = "market.equities.trades.asx", **overrides: Any) -> dict[str, Any]:
    """A production-grade topic as the engine hands it over (numbers as doubles)."""
    base: dict[str, Any] = {
        "name": name,
        "partitions": 30.0,
        "replicationFactor": 3.0,
        "config": {"min.insync.replicas": "2", "retention.ms": "604800000"},
    }
    config = overrides.pop("config", None)
    base.update(overrides)
    if config is not None:
        base["config"] = {k: v for k, v in {**base["config"], **config}.items() if v is not None}
    return base


def as_engine_input(spec: TopicSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "partitions": float(spec.partitions),
        "replicationFactor": float(spec.replication_factor),
        "config": dict(spec.config),
    }


def all_violations(t: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    return (
        rules.naming_violations(t, NamingSettings(), t.get("name"))
        + rules.replication_violations(t, settings["replication"], t.get("name"))
        + rules.compaction_violations(t, settings["compaction"], t.get("name"))
        + rules.retention_violations(t, settings["retention"], t.get("name"))
        + rules.partition_violations(t, settings["partitions"], t.get("name"))
    )


def dev_settings() -> dict[str, Any]:
    config = json.loads(DEV_CONFIG.read_text())
    return {
        "replication": ReplicationSettings.from_config(config.get(ReplicationSettings.policy)),
        "compaction": CompactionSettings.from_config(config.get(CompactionSettings.policy)),
        "retention": RetentionSettings.from_config(config.get(RetentionSettings.policy)),
        "partitions": PartitionSettings.from_config(config.get(PartitionSettings.policy)),
    }


# -- the real stacks comply ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_prod_and_staging_topics_pass_the_production_defaults(project_dir: Path, stack: str) -> None:
    plan = load_plan(project_dir / "config", stack, project_dir)
    for spec in plan.topics:
        assert all_violations(as_engine_input(spec), PROD) == [], spec.name


def test_dev_topics_fail_the_production_defaults_but_pass_the_dev_config(project_dir: Path) -> None:
    plan = load_plan(project_dir / "config", "dev", project_dir)
    spec = plan.topic("market.equities.trades.asx")
    assert spec is not None
    assert all_violations(as_engine_input(spec), PROD) == [
        "topic 'market.equities.trades.asx': replicationFactor 1 is below the minimum 3",
        "topic 'market.equities.trades.asx': min.insync.replicas 1 is below the minimum 2",
    ]
    for spec in plan.topics:
        assert all_violations(as_engine_input(spec), dev_settings()) == [], spec.name


def test_every_real_topic_has_its_subject(project_dir: Path) -> None:
    for stack in ("dev", "staging", "prod"):
        plan = load_plan(project_dir / "config", stack, project_dir)
        resources = [
            {"type": rules.TOPIC_TYPE, "urn": f"urn:{t.name}", "name": t.name, "props": {"name": t.name}}
            for t in plan.topics
        ] + [
            {"type": rules.SUBJECT_TYPE, "urn": f"urn:{s.subject}", "name": s.subject, "props": {"subject": s.subject}}
            for s in plan.subjects
        ]
        assert rules.schema_subject_violations(resources) == [], stack


# -- k2-topic-naming ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["market.equities.trades.asx", "market.crypto.reference_data.binance", "market.fx2.l2_book.lmax"],
)
def test_naming_accepts_legal_names(name: str) -> None:
    assert rules.naming_violations({"name": name}) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "mkt.equities.trades.asx",
            "topic name 'mkt.equities.trades.asx' does not follow market.{asset_class}.{data_type}.{exchange}: "
            "it starts with 'mkt', not 'market'",
        ),
        (
            "market.equities.trades",
            "topic name 'market.equities.trades' does not follow market.{asset_class}.{data_type}.{exchange}: "
            "it has 3 dot-separated parts, not 4 (parts may not contain dots)",
        ),
        (
            "market.equities.trades.asx.au",
            "topic name 'market.equities.trades.asx.au' does not follow market.{asset_class}.{data_type}.{exchange}: "
            "it has 5 dot-separated parts, not 4 (parts may not contain dots)",
        ),
        (
            "market.Equities.trades.asx",
            "topic name 'market.Equities.trades.asx' has an illegal asset_class 'Equities' "
            "(lowercase letters, digits and underscores, starting with a letter, no dots)",
        ),
        (
            "market.equities.2trades.asx",
            "topic name 'market.equities.2trades.asx' has an illegal data_type '2trades' "
            "(lowercase letters, digits and underscores, starting with a letter, no dots)",
        ),
        (
            "market.equities.trades.asx-au",
            "topic name 'market.equities.trades.asx-au' has an illegal exchange 'asx-au' "
            "(lowercase letters, digits and underscores, starting with a letter, no dots)",
        ),
        (
            "market..trades.asx",
            "topic name 'market..trades.asx' has an illegal asset_class '' "
            "(lowercase letters, digits and underscores, starting with a letter, no dots)",
        ),
    ],
)
def test_naming_reports_the_exact_problem(name: str, message: str) -> None:
    assert rules.naming_violations({"name": name}) == [message]


def test_naming_refuses_names_longer_than_kafka_allows() -> None:
    name = "market.equities.trades." + "x" * 230  # 253 characters, every part legal
    assert rules.naming_violations({"name": name}) == [
        f"topic name {name!r} is 253 characters long; Kafka allows at most 249"
    ]
    assert rules.naming_violations({"name": "market.equities.trades." + "x" * 226}) == []  # 249


def test_naming_uses_the_resource_name_when_the_input_is_absent_and_skips_unknown() -> None:
    assert rules.naming_violations({}, None, "market.Bad.trades.asx") == [
        "topic name 'market.Bad.trades.asx' has an illegal asset_class 'Bad' "
        "(lowercase letters, digits and underscores, starting with a letter, no dots)"
    ]
    assert rules.naming_violations({"name": rules.UNKNOWN}) == []
    assert rules.naming_violations({"name": 42}, None, "r") == [
        "topic resource 'r': the topic name must be a string, got 42"
    ]


# -- k2-topic-replication -------------------------------------------------------------------------


def test_replication_passes_production_topics() -> None:
    assert rules.replication_violations(topic(), ReplicationSettings()) == []
    assert (
        rules.replication_violations(
            topic(replicationFactor=5, config={"min.insync.replicas": "4"}), ReplicationSettings()
        )
        == []
    )


@pytest.mark.parametrize(
    ("overrides", "messages"),
    [
        (
            {"replicationFactor": 1.0, "config": {"min.insync.replicas": "1"}},
            [
                "topic 'market.equities.trades.asx': replicationFactor 1 is below the minimum 3",
                "topic 'market.equities.trades.asx': min.insync.replicas 1 is below the minimum 2",
            ],
        ),
        (
            {"replicationFactor": 2, "config": {"min.insync.replicas": "1"}},
            [
                "topic 'market.equities.trades.asx': replicationFactor 2 is below the minimum 3",
                "topic 'market.equities.trades.asx': min.insync.replicas 1 is below the minimum 2",
            ],
        ),
        (
            {"config": {"min.insync.replicas": None}},
            [
                "topic 'market.equities.trades.asx': min.insync.replicas is not set, so the broker default "
                "applies (Kafka's is 1); set it to at least 2"
            ],
        ),
        (
            {"config": {"min.insync.replicas": "3"}},
            [
                "topic 'market.equities.trades.asx': min.insync.replicas 3 equals replicationFactor 3, so one "
                "broker down stops every acks=all write; it must be below 3"
            ],
        ),
        (
            {"config": {"min.insync.replicas": "4"}},
            [
                "topic 'market.equities.trades.asx': min.insync.replicas 4 exceeds replicationFactor 3, "
                "so no acks=all write could ever succeed"
            ],
        ),
        (
            {"replicationFactor": "three"},
            ["topic 'market.equities.trades.asx': replicationFactor must be an integer, got 'three'"],
        ),
        (
            {"config": {"min.insync.replicas": "two"}},
            ["topic 'market.equities.trades.asx': min.insync.replicas must be an integer, got 'two'"],
        ),
        (
            {"replicationFactor": None},
            ["topic 'market.equities.trades.asx': replicationFactor is not set"],
        ),
    ],
)
def test_replication_reports_the_exact_violation(overrides: dict[str, Any], messages: list[str]) -> None:
    assert rules.replication_violations(topic(**overrides), ReplicationSettings()) == messages


def test_a_single_replica_is_allowed_only_where_the_config_says_so() -> None:
    single = topic(replicationFactor=1, config={"min.insync.replicas": "1"})
    low = ReplicationSettings.from_config({"minReplicationFactor": 1, "minInsyncReplicas": 1})
    assert rules.replication_violations(single, low) == [
        "topic 'market.equities.trades.asx': replicationFactor 1 with min.insync.replicas 1 keeps a single copy "
        "of the data; allowed only where the policy config sets allowSingleReplica (single-broker dev)"
    ]
    dev = ReplicationSettings.from_config(
        {"minReplicationFactor": 1, "minInsyncReplicas": 1, "allowSingleReplica": True}
    )
    assert rules.replication_violations(single, dev) == []
    # Even in dev, ISR must not exceed RF, and equal is refused once there is more than one replica.
    assert rules.replication_violations(topic(replicationFactor=1, config={"min.insync.replicas": "2"}), dev) == [
        "topic 'market.equities.trades.asx': min.insync.replicas 2 exceeds replicationFactor 1, "
        "so no acks=all write could ever succeed"
    ]
    assert rules.replication_violations(topic(replicationFactor=2, config={"min.insync.replicas": "2"}), dev) == [
        "topic 'market.equities.trades.asx': min.insync.replicas 2 equals replicationFactor 2, so one broker "
        "down stops every acks=all write; it must be below 2"
    ]


def test_replication_skips_what_is_unknown_during_preview() -> None:
    settings = ReplicationSettings()
    assert rules.replication_violations(topic(replicationFactor=rules.UNKNOWN), settings) == []
    assert rules.replication_violations(topic(config={"min.insync.replicas": rules.UNKNOWN}), settings) == []
    # What is known is still checked.
    assert rules.replication_violations({"name": "t", "replicationFactor": 1, "config": rules.UNKNOWN}, settings) == [
        "topic 't': replicationFactor 1 is below the minimum 3"
    ]


def test_the_resource_name_is_named_when_it_differs_from_the_topic_name() -> None:
    assert rules.replication_violations(topic(replicationFactor=2), ReplicationSettings(), "trades-asx")[0] == (
        "topic 'market.equities.trades.asx' (resource 'trades-asx'): replicationFactor 2 is below the minimum 3"
    )


# -- k2-reference-data-compacted ------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["compact", "compact,delete", "delete, compact", "COMPACT"])
def test_reference_data_compacted_passes(policy: str) -> None:
    t = topic("market.equities.reference_data.asx", config={"cleanup.policy": policy})
    assert rules.compaction_violations(t, CompactionSettings()) == []


@pytest.mark.parametrize(
    ("policy", "shown"),
    [("delete", "'delete'"), (None, "not set (Kafka's default is 'delete')"), ("", "''")],
)
def test_reference_data_not_compacted_is_reported(policy: str | None, shown: str) -> None:
    t = topic("market.crypto.reference_data.binance", config={"cleanup.policy": policy})
    assert rules.compaction_violations(t, CompactionSettings()) == [
        f"topic 'market.crypto.reference_data.binance' carries reference_data but its cleanup.policy is {shown}; "
        "it must contain 'compact' so the latest value per key is kept"
    ]


def test_compaction_applies_only_to_the_configured_data_types() -> None:
    assert rules.compaction_violations(topic("market.equities.trades.asx"), CompactionSettings()) == []
    settings = CompactionSettings.from_config({"compactedDataTypes": ["reference_data", "instruments"]})
    assert len(rules.compaction_violations(topic("market.equities.instruments.asx"), settings)) == 1
    # Illegal names are the naming policy's to report; unknown configs are skipped.
    assert rules.compaction_violations(topic("market.equities.reference_data.ASX"), CompactionSettings()) == []
    unknown = topic("market.equities.reference_data.asx", config={"cleanup.policy": rules.UNKNOWN})
    assert rules.compaction_violations(unknown, CompactionSettings()) == []


# -- k2-topic-retention ---------------------------------------------------------------------------


@pytest.mark.parametrize("ms", ["3600000", "604800000", "2592000000", 86400000.0])
def test_retention_within_bounds_passes(ms: Any) -> None:
    assert rules.retention_violations(topic(config={"retention.ms": ms}), RetentionSettings()) == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"retention.ms": "-1"},
            "topic 'market.equities.trades.asx': retention.ms -1 (unlimited) is not allowed on a delete-policy "
            "topic (allowUnlimitedRetention is off); set it between 3600000 (1 hour) and 2592000000 (30 days)",
        ),
        (
            {"retention.ms": "60000"},
            "topic 'market.equities.trades.asx': retention.ms 60000 (1 minute) is below the minimum 3600000 (1 hour)",
        ),
        (
            {"retention.ms": "5184000000"},
            "topic 'market.equities.trades.asx': retention.ms 5184000000 (60 days) exceeds the maximum "
            "2592000000 (30 days)",
        ),
        (
            {"retention.ms": None},
            "topic 'market.equities.trades.asx': retention.ms is not set on a delete-policy topic, so the broker "
            "default applies; set it between 3600000 (1 hour) and 2592000000 (30 days)",
        ),
        (
            {"retention.ms": "7d"},
            "topic 'market.equities.trades.asx': retention.ms must be an integer, got '7d'",
        ),
        (
            {"cleanup.policy": "compact,delete", "retention.ms": "-1"},
            "topic 'market.equities.trades.asx': retention.ms -1 (unlimited) is not allowed on a delete-policy "
            "topic (allowUnlimitedRetention is off); set it between 3600000 (1 hour) and 2592000000 (30 days)",
        ),
    ],
)
def test_retention_reports_the_exact_violation(config: dict[str, Any], message: str) -> None:
    assert rules.retention_violations(topic(config=config), RetentionSettings()) == [message]


def test_retention_leaves_compact_only_topics_alone_and_allows_unlimited_where_configured() -> None:
    compacted = topic("market.equities.reference_data.asx", config={"cleanup.policy": "compact", "retention.ms": "-1"})
    assert rules.retention_violations(compacted, RetentionSettings()) == []
    unlimited = topic(config={"retention.ms": "-1"})
    assert rules.retention_violations(unlimited, RetentionSettings.from_config({"allowUnlimitedRetention": True})) == []
    assert rules.retention_violations(topic(config={"retention.ms": rules.UNKNOWN}), RetentionSettings()) == []


def test_durations_read_naturally() -> None:
    assert [rules.duration(ms) for ms in (604800000, 3600000, 90000, 1500, 0, -1)] == [
        "7 days",
        "1 hour",
        "90 seconds",
        "1500 ms",
        "0 ms",
        "-1 ms",
    ]


# -- k2-topic-partitions --------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 30.0, 1000])
def test_partitions_within_the_maximum_pass(count: Any) -> None:
    assert rules.partition_violations(topic(partitions=count), PartitionSettings()) == []


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (1001, "topic 'market.equities.trades.asx': partitions 1001 exceeds the maximum 1000 per topic"),
        (0, "topic 'market.equities.trades.asx': partitions 0 must be at least 1"),
        (2.5, "topic 'market.equities.trades.asx': partitions must be an integer, got 2.5"),
        (None, "topic 'market.equities.trades.asx': partitions is not set"),
    ],
)
def test_partitions_report_the_exact_violation(count: Any, message: str) -> None:
    assert rules.partition_violations(topic(partitions=count), PartitionSettings()) == [message]


def test_partition_maximum_is_configurable_up_to_the_topology_ceiling() -> None:
    settings = PartitionSettings.from_config({"maxPartitions": 2000})
    assert rules.partition_violations(topic(partitions=1500), settings) == []
    with pytest.raises(PolicyConfigError, match=f"must be at most {MAX_PARTITIONS}, got 10001"):
        PartitionSettings.from_config({"maxPartitions": MAX_PARTITIONS + 1})
    assert rules.partition_violations(topic(partitions=rules.UNKNOWN), PartitionSettings()) == []


# -- k2-topic-has-schema-subject (stack) ----------------------------------------------------------


def _topic_resource(name: str) -> dict[str, Any]:
    return {
        "type": rules.TOPIC_TYPE,
        "urn": f"urn:pulumi:prod::k2infra::t::{name}",
        "name": name,
        "props": {"name": name},
    }


def _subject_resource(subject: Any) -> dict[str, Any]:
    return {"type": rules.SUBJECT_TYPE, "urn": f"urn:s:{subject}", "name": str(subject), "props": {"subject": subject}}


def test_a_topic_without_its_subject_is_reported_against_the_topic() -> None:
    resources = [
        _topic_resource("market.equities.trades.asx"),
        _topic_resource("market.equities.quotes.asx"),
        _topic_resource("market.crypto.trades.binance"),
        _subject_resource("market.equities.trades-value"),
        _subject_resource("market.crypto.quotes-value"),  # another data type: does not count
        {"type": "pulumi:providers:kafka", "urn": "urn:p", "name": "kafka", "props": {}},
    ]
    assert rules.schema_subject_violations(resources) == [
        rules.Violation(
            "topic 'market.equities.quotes.asx' has no schema subject 'market.equities.quotes-value' in this stack; "
            "declare a SchemaSubject (pulumi-python:dynamic/k2infra:SchemaSubject) with subject "
            "'market.equities.quotes-value'",
            "urn:pulumi:prod::k2infra::t::market.equities.quotes.asx",
        ),
        rules.Violation(
            "topic 'market.crypto.trades.binance' has no schema subject 'market.crypto.trades-value' in this stack; "
            "declare a SchemaSubject (pulumi-python:dynamic/k2infra:SchemaSubject) with subject "
            "'market.crypto.trades-value'",
            "urn:pulumi:prod::k2infra::t::market.crypto.trades.binance",
        ),
    ]


def test_one_subject_serves_every_exchange_of_its_asset_class_and_data_type() -> None:
    resources = [
        _topic_resource("market.crypto.trades.binance"),
        _topic_resource("market.crypto.trades.coinbase"),
        _subject_resource("market.crypto.trades-value"),
    ]
    assert rules.schema_subject_violations(resources) == []


def test_the_stack_rule_skips_illegal_names_and_unknown_subjects() -> None:
    assert rules.schema_subject_violations([_topic_resource("orders")]) == []
    resources = [_topic_resource("market.equities.trades.asx"), _subject_resource(rules.UNKNOWN)]
    assert rules.schema_subject_violations(resources) == []
    # The topic name falls back to the resource name.
    named = {"type": rules.TOPIC_TYPE, "urn": "u", "name": "market.fx.trades.lmax", "props": {}}
    assert [v.urn for v in rules.schema_subject_violations([named])] == ["u"]


# -- settings and their schema --------------------------------------------------------------------


def test_defaults_are_production_grade() -> None:
    assert ReplicationSettings() == ReplicationSettings.from_config(None)
    assert (ReplicationSettings().min_replication_factor, ReplicationSettings().min_insync_replicas) == (3, 2)
    assert ReplicationSettings().allow_single_replica is False
    assert CompactionSettings().compacted_data_types == ("reference_data",)
    retention = RetentionSettings()
    assert (retention.min_retention_ms, retention.max_retention_ms) == (3_600_000, 30 * 86_400_000)
    assert retention.allow_unlimited_retention is False
    assert PartitionSettings().max_partitions == 1000


def test_schemas_carry_the_defaults_the_cli_fills_in() -> None:
    assert ReplicationSettings.schema() == {
        "minReplicationFactor": {
            "type": "integer",
            "description": "Lowest replicationFactor a topic may have.",
            "default": 3,
            "minimum": 1,
            "maximum": 32767,
        },
        "minInsyncReplicas": {
            "type": "integer",
            "description": "Lowest min.insync.replicas a topic may have (unset counts as Kafka's default, 1).",
            "default": 2,
            "minimum": 1,
            "maximum": 32767,
        },
        "allowSingleReplica": {
            "type": "boolean",
            "description": ReplicationSettings.schema()["allowSingleReplica"]["description"],
            "default": False,
        },
    }
    assert CompactionSettings.schema()["compactedDataTypes"]["default"] == ["reference_data"]
    assert CompactionSettings.schema()["compactedDataTypes"]["items"] == {"type": "string"}
    for settings in ALL_SETTINGS:
        schema = settings.schema()
        # What the CLI would fill in from the schema defaults reads back as the dataclass defaults.
        assert settings.from_config({k: v["default"] for k, v in schema.items()}) == settings()
        json.dumps(schema)  # the schema travels as JSON
    assert NamingSettings.schema() == {} and SchemaSubjectSettings.schema() == {}


def test_numbers_arrive_as_doubles_and_are_read_as_integers() -> None:
    settings = ReplicationSettings.from_config({"minReplicationFactor": 1.0, "minInsyncReplicas": 1.0})
    assert (settings.min_replication_factor, settings.min_insync_replicas) == (1, 1)
    assert isinstance(settings.min_replication_factor, int)


@pytest.mark.parametrize(
    ("settings", "raw", "message"),
    [
        (
            ReplicationSettings,
            {"minReplicatonFactor": 1},
            "k2-topic-replication: unknown config key(s) 'minReplicatonFactor' "
            "(known: minReplicationFactor, minInsyncReplicas, allowSingleReplica)",
        ),
        (
            SchemaSubjectSettings,
            {"foo": 1},
            "k2-topic-has-schema-subject: unknown config key(s) 'foo' (this policy takes none)",
        ),
        (
            ReplicationSettings,
            {"minReplicationFactor": 1.5},
            "k2-topic-replication: config 'minReplicationFactor' must be an integer, got 1.5",
        ),
        (
            ReplicationSettings,
            {"minInsyncReplicas": True},
            "k2-topic-replication: config 'minInsyncReplicas' must be an integer, got True",
        ),
        (
            ReplicationSettings,
            {"minReplicationFactor": 0},
            "k2-topic-replication: config 'minReplicationFactor' must be at least 1, got 0",
        ),
        (
            ReplicationSettings,
            {"allowSingleReplica": "yes"},
            "k2-topic-replication: config 'allowSingleReplica' must be true or false, got 'yes'",
        ),
        (
            CompactionSettings,
            {"compactedDataTypes": "reference_data"},
            "k2-reference-data-compacted: config 'compactedDataTypes' must be a list of strings, got 'reference_data'",
        ),
        (
            RetentionSettings,
            {"minRetentionMs": 7200000, "maxRetentionMs": 3600000},
            "k2-topic-retention: minRetentionMs 7200000 exceeds maxRetentionMs 3600000",
        ),
    ],
)
def test_bad_settings_are_refused_with_the_key_and_value(settings: Any, raw: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyConfigError) as caught:
        settings.from_config(raw)
    assert str(caught.value) == message


def test_the_enforcement_level_is_not_a_setting() -> None:
    assert ReplicationSettings.from_config({"enforcementLevel": "advisory"}) == ReplicationSettings()


def test_dev_config_relaxes_to_advisory_and_lowers_the_thresholds() -> None:
    config = json.loads(DEV_CONFIG.read_text())
    assert config["all"] == "advisory"
    for key, value in config.items():
        if key == "all":
            continue
        assert key in SETTINGS_BY_POLICY, f"{key} is not a policy of the pack"
        if isinstance(value, str):
            assert value in {level.value for level in EnforcementLevel}
        else:
            SETTINGS_BY_POLICY[key].from_config(value)  # known keys, legal values
    settings = dev_settings()
    assert (settings["replication"].min_replication_factor, settings["replication"].min_insync_replicas) == (1, 1)
    assert settings["replication"].allow_single_replica is True
    assert settings["retention"].allow_unlimited_retention is True


# -- the pulumi_policy wiring ---------------------------------------------------------------------


def test_the_pack_declares_one_policy_per_settings_class_mandatory_by_default() -> None:
    policies = pack.policies()
    assert [p.name for p in policies] == [s.policy for s in ALL_SETTINGS]
    assert pack.DEFAULT_ENFORCEMENT is EnforcementLevel.MANDATORY
    # No policy overrides the pack's level, so `all` and per-policy config levels decide alone.
    assert all(p.enforcement_level is None for p in policies)
    assert isinstance(policies[-1], StackValidationPolicy)
    for policy in policies:
        schema = SETTINGS_BY_POLICY[policy.name].schema()
        assert (policy.config_schema.properties if policy.config_schema else {}) == schema


def test_resource_type_tokens_match_the_program() -> None:
    import pulumi_kafka.topic

    from k2infra.registry.resource import RESOURCE_TYPE

    assert rules.SUBJECT_TYPE == RESOURCE_TYPE
    assert f'"{rules.TOPIC_TYPE}"' in Path(pulumi_kafka.topic.__file__).read_text()


def _run(
    policy_name: str, props: dict[str, Any], config: dict[str, Any] | None = None, resource_type: str = rules.TOPIC_TYPE
) -> list[str]:
    policy = next(p for p in pack.policies() if p.name == policy_name)
    reported: list[str] = []
    args = ResourceValidationArgs(
        resource_type, unknown_checking_proxy(props), "urn:t", str(props.get("name")), None, None, config
    )
    policy.validate(args, lambda message, urn=None: reported.append(message))
    return reported


def test_the_wiring_reads_engine_proxies_unknowns_and_config() -> None:
    props = topic(partitions=UNKNOWN_NUMBER_VALUE, config={"min.insync.replicas": UNKNOWN_STRING_VALUE})
    props["replicationFactor"] = 1.0
    assert _run("k2-topic-replication", props) == [
        "topic 'market.equities.trades.asx': replicationFactor 1 is below the minimum 3"
    ]
    assert _run("k2-topic-replication", props, {"minReplicationFactor": 1.0}) == []
    assert _run("k2-topic-partitions", props) == []
    assert _run("k2-topic-partitions", topic(partitions=4000.0)) == [
        "topic 'market.equities.trades.asx': partitions 4000 exceeds the maximum 1000 per topic"
    ]
    # Other resource types are not the topic policies' business.
    assert _run("k2-topic-replication", {"replicationFactor": 1}, resource_type=rules.SUBJECT_TYPE) == []


def test_policy_pack_project_uses_the_repository_virtualenv() -> None:
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    # The analyzer resolves it against the policy pack directory.
    assert (POLICY_DIR / project["runtime"]["options"]["virtualenv"]).resolve() == REPO / ".venv"
