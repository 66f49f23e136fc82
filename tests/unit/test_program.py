"""The Pulumi program under mocks: resources, options and outputs per stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from devkit.pulumi_mocks import RecordingMocks, run_program
from tests.conftest import REPO, SHIPPED_APPS, set_stack_config

TOPIC = "kafka:index/topic:Topic"
PROVIDER = "pulumi:providers:kafka"
DYNAMIC = "pulumi-python:dynamic/k2infra:SchemaSubject"
COMPONENT = "k2infra:index:TopicPlatform"
APP_PASSWORDS = {app: f"{app}-s3cret" for app in SHIPPED_APPS}
PROD_SECRETS = {
    "saslPassword": "kafka-s3cret",
    "schemaRegistryPassword": "registry-s3cret",
    "appPasswords": json.dumps(APP_PASSWORDS),
}
EXPECTED_PARTITIONS = {
    "dev": {"asx": 3, "binance": 4},
    "staging": {"asx": 12, "binance": 16},
    "prod": {"asx": 30, "binance": 40},
}


def secrets_for(stack: str) -> dict[str, str]:
    return PROD_SECRETS if stack in ("staging", "prod") else {}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_topic_with_partitions_replication_and_config(project_dir: Path, stack: str) -> None:
    run = run_program(project_dir, stack, secrets_for(stack))
    topics = {r.name: r.inputs for r in run.mocks.of_type(TOPIC)}
    assert sorted(topics) == sorted(
        f"market.{ac}.{dt}.{ex}"
        for ac, ex in (("equities", "asx"), ("crypto", "binance"))
        for dt in ("trades", "quotes", "reference_data")
    )
    rf, isr = (1, "1") if stack == "dev" else (3, "2")
    for name, inputs in topics.items():
        exchange = name.rsplit(".", 1)[1]
        expected = 1 if ".reference_data." in name else EXPECTED_PARTITIONS[stack][exchange]
        assert inputs["name"] == name
        assert inputs["partitions"] == expected, name
        assert inputs["replicationFactor"] == rf
        assert inputs["config"]["min.insync.replicas"] == isr
        assert all(isinstance(v, str) for v in inputs["config"].values())
        assert (inputs["config"].get("cleanup.policy") == "compact") == (".reference_data." in name)


def test_topics_belong_to_the_component_and_use_the_explicit_provider(project_dir: Path) -> None:
    run = run_program(project_dir, "dev")
    [component] = run.mocks.of_type(COMPONENT)
    assert component.name == "k2"
    children = run.platform._childResources  # mocks do not report parents
    assert set(run.platform.topics.values()) <= children
    assert set(run.platform.subjects.values()) <= children
    for args in run.mocks.of_type(TOPIC):
        assert args.provider and "pulumi:providers:kafka::kafka::" in args.provider


def test_prod_topics_and_subjects_are_protected_and_dev_ones_are_not(project_dir: Path) -> None:
    # MockResourceArgs carries no options, so the resource objects are asked directly.
    prod = run_program(project_dir, "prod", PROD_SECRETS)
    assert all(t._protect for t in prod.platform.topics.values())
    assert all(s._protect for s in prod.platform.subjects.values())
    dev = run_program(project_dir, "dev")
    assert not any(t._protect for t in dev.platform.topics.values())


def test_dev_provider_is_plaintext_and_explicit(project_dir: Path) -> None:
    run = run_program(project_dir, "dev")
    [provider] = run.mocks.of_type(PROVIDER)
    inputs = provider.inputs
    assert inputs["bootstrapServers"] in (["127.0.0.1:19092"], '["127.0.0.1:19092"]')
    assert inputs["tlsEnabled"] in (False, "false")
    assert "saslUsername" not in inputs and "saslPassword" not in inputs


def test_prod_provider_uses_tls_and_sasl_with_a_secret_password(project_dir: Path) -> None:
    run = run_program(project_dir, "prod", PROD_SECRETS)
    [provider] = run.mocks.of_type(PROVIDER)
    inputs = provider.inputs
    assert inputs["tlsEnabled"] in (True, "true")
    assert inputs["saslMechanism"] == "scram-sha512"
    assert inputs["saslUsername"] == "k2infra-prod"
    assert "kafka-s3cret" in str(inputs["saslPassword"])
    assert run.platform.provider is not None


def test_prod_without_its_sasl_password_fails_before_any_resource(project_dir: Path) -> None:
    with pytest.raises(pulumi.RunError, match="k2infra:saslPassword: is required with saslMechanism scram-sha512"):
        run_program(project_dir, "prod")


def test_six_subjects_with_their_schemas(project_dir: Path) -> None:
    run = run_program(project_dir, "prod", PROD_SECRETS)
    subjects = {r.name: r.inputs for r in run.mocks.of_type(DYNAMIC)}
    assert sorted(subjects) == sorted(
        f"market.{ac}.{dt}-value" for ac in ("equities", "crypto") for dt in ("trades", "quotes", "reference_data")
    )
    trades = subjects["market.equities.trades-value"]
    assert trades["subject"] == "market.equities.trades-value"
    assert trades["schema"] == (project_dir / "config/schemas/equities/trades.avsc").read_text()
    assert trades["compatibility"] == "FULL_TRANSITIVE"
    assert "topics" not in trades  # the plan lists them in the `schemas` output: a new exchange leaves subjects alone


def test_outputs_for_app_deploys(project_dir: Path) -> None:
    run = run_program(project_dir, "dev")
    out = run.outputs
    assert set(out) == {
        "topics",
        "subscriptions",
        "schemas",
        "bootstrap_servers",
        "schema_registry_url",
        "patterns",
        "exchanges",
        "kafka_security",
        "apps",
        "monitoring",
    }
    assert out["bootstrap_servers"] == "127.0.0.1:19092"
    assert out["schema_registry_url"] == "http://127.0.0.1:18081/apis/ccompat/v7"
    asx = out["topics"]["market.equities.trades.asx"]
    assert asx == {
        "asset_class": "equities",
        "data_type": "trades",
        "exchange": "asx",
        "partitions": 3,
        "replication_factor": 1,
        "config": asx["config"],
        "schema_subject": "market.equities.trades-value",
        "schema_name": "trade",
        "partition_key": "symbol",
    }
    assert asx["config"]["retention.ms"] == "86400000"
    assert out["subscriptions"]["by_exchange"]["equities.asx"] == [
        "market.equities.quotes.asx",
        "market.equities.reference_data.asx",
        "market.equities.trades.asx",
    ]
    schema = out["schemas"]["market.crypto.quotes-value"]
    assert schema["version"] == 1
    assert isinstance(schema["id"], int)
    assert schema["compatibility"] == "BACKWARD"
    assert schema["topics"] == ["market.crypto.quotes.binance"]


def test_adding_an_exchange_by_config_alone(project_dir: Path, edit_topology: Callable) -> None:
    edit_topology(
        lambda t: t["asset_classes"]["equities"]["exchanges"].update(
            nyse={"name": "New York Stock Exchange", "partitions": 100, "country": "US", "timezone": "America/New_York"}
        )
    )
    run = run_program(project_dir, "prod", PROD_SECRETS)
    topics = {r.name: r.inputs for r in run.mocks.of_type(TOPIC)}
    assert len(topics) == 9
    assert topics["market.equities.trades.nyse"]["partitions"] == 100
    assert topics["market.equities.reference_data.nyse"]["partitions"] == 1
    assert len(run.mocks.of_type(DYNAMIC)) == 6  # subjects are per asset class, shared with asx
    assert run.outputs["subscriptions"]["by_exchange"]["equities.nyse"] == [
        "market.equities.quotes.nyse",
        "market.equities.reference_data.nyse",
        "market.equities.trades.nyse",
    ]


def test_bad_topology_fails_before_registering_any_resource(project_dir: Path, edit_topology: Callable) -> None:
    edit_topology(lambda t: t["asset_classes"]["crypto"]["exchanges"]["binance"].update(partitions=0))
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as caught:
        run_program(project_dir, "dev", mocks=mocks)
    assert "asset_classes.crypto.exchanges.binance.partitions: must be an integer between 1 and 10000, got 0" in str(
        caught.value
    )
    # Nothing reached the engine.
    assert mocks.resources == []


def test_typo_in_stack_config_fails_the_program(project_dir: Path) -> None:
    stack = project_dir / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("k2infra:minInsyncReplicas", "k2infra:minInsyncReplica"))
    with pytest.raises(
        pulumi.RunError,
        match="k2infra:minInsyncReplica: unknown stack setting \\(did you mean 'minInsyncReplicas'\\?\\)",
    ):
        run_program(project_dir, "dev")


@pytest.mark.parametrize(("stack", "partitions"), [("dev", 3), ("staging", 12), ("prod", 100)])
def test_an_exchange_added_to_the_topology_only_is_sized_by_each_stacks_rule(
    project_dir: Path, edit_topology: Callable, stack: str, partitions: int
) -> None:
    """No stack file lists the new exchange: dev and staging cap it (k2infra:maxPartitions), prod takes
    the topology's count; the counts of the exchanges already deployed do not move."""
    edit_topology(
        lambda t: t["asset_classes"]["equities"]["exchanges"].update(
            nyse={"name": "New York Stock Exchange", "partitions": 100, "country": "US", "timezone": "America/New_York"}
        )
    )
    run = run_program(project_dir, stack, secrets_for(stack), preview=True)
    topics = {r.name: r.inputs["partitions"] for r in run.mocks.of_type(TOPIC)}
    assert {n: c for n, c in topics.items() if n.endswith(".nyse")} == {
        "market.equities.trades.nyse": partitions,
        "market.equities.quotes.nyse": partitions,
        "market.equities.reference_data.nyse": 1,
    }
    for name, count in topics.items():
        if not name.endswith(".nyse") and "reference_data" not in name:
            assert count == EXPECTED_PARTITIONS[stack][name.rsplit(".", 1)[1]], name


def test_max_partitions_must_be_a_partition_count(project_dir: Path) -> None:
    set_stack_config(project_dir, "dev", {"maxPartitions": 0})
    with pytest.raises(pulumi.RunError) as caught:
        run_program(project_dir, "dev")
    assert "Pulumi.dev.yaml" in str(caught.value) and "k2infra:maxPartitions: must be >= 1, got 0" in str(caught.value)


def test_raising_partitions_is_planned_as_a_plain_input(project_dir: Path) -> None:
    run = run_program(project_dir, "dev", live_partitions={"market.equities.trades.asx": 2})
    assert run.resource("market.equities.trades.asx").inputs["partitions"] == 3
    assert "preflight.read_cluster" in run.mocks.calls  # the live counts were read


def test_lowering_partitions_is_refused_before_any_topic_is_registered(project_dir: Path) -> None:
    live = {"market.equities.trades.asx": 30, "market.crypto.quotes.binance": 4}
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as caught:
        run_program(project_dir, "dev", live_partitions=live, mocks=mocks)
    message = str(caught.value)
    assert message.startswith("refusing to lower partition counts")
    assert "market.equities.trades.asx: planned 3 partitions, the cluster has 30" in message
    assert "market.crypto.quotes.binance" not in message  # equal counts are fine
    assert not mocks.of_type(TOPIC)


def test_a_partition_refusal_names_the_file_line_and_setting_the_planned_count_comes_from(project_dir: Path) -> None:
    """The operator must know what to edit: the stack's cap, the stack's per-exchange entry or the topology."""
    set_stack_config(project_dir, "dev", {"maxPartitions": 3})
    stack_file = (project_dir / "Pulumi.dev.yaml").read_text().splitlines()
    cap = next(i for i, line in enumerate(stack_file, 1) if "k2infra:maxPartitions" in line)
    binance = next(i for i, line in enumerate(stack_file, 1) if "crypto.binance:" in line)
    live = {"market.equities.trades.asx": 30, "market.crypto.trades.binance": 40}
    with pytest.raises(pulumi.RunError) as caught:
        run_program(project_dir, "dev", live_partitions=live)
    message = str(caught.value)
    assert (
        "market.equities.trades.asx: planned 3 partitions, the cluster has 30 "
        f"(the count comes from Pulumi.dev.yaml:{cap}: k2infra:maxPartitions)"
    ) in message, message
    assert (
        "market.crypto.trades.binance: planned 4 partitions, the cluster has 40 "
        f"(the count comes from Pulumi.dev.yaml:{binance}: k2infra:partitions[crypto.binance])"
    ) in message, message


def test_docker_local_cluster_is_provisioned_before_topics(project_dir: Path) -> None:
    set_stack_config(project_dir, "dev", {"localCluster": "docker"})
    run = run_program(project_dir, "dev")
    containers = run.mocks.of_type("docker:index/container:Container")
    assert sorted(c.name for c in containers) == ["local-kafka", "local-registry"]
    assert run.platform.local_cluster and all(r in run.platform._childResources for r in run.platform.local_cluster)


def test_docker_local_cluster_refuses_remote_brokers_before_any_resource(project_dir: Path) -> None:
    set_stack_config(project_dir, "staging", {"localCluster": "docker"})
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError, match="k2infra:bootstrapServers"):
        run_program(project_dir, "staging", PROD_SECRETS, mocks=mocks)
    assert mocks.resources == []


def test_an_unreachable_cluster_ends_the_run_with_one_clear_error(project_dir: Path) -> None:
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as caught:
        run_program(project_dir, "dev", cluster_unreachable=True, mocks=mocks)
    message = str(caught.value)
    # The program's own connection check speaks; the provider's getTopics is not asked at all.
    assert message.startswith("cannot reach Kafka at 127.0.0.1:19092 within 30s (k2infra:bootstrapServers)")
    assert "Connection refused" in message and "\n" not in message
    assert "kafka:index:getTopics" not in mocks.calls
    assert not mocks.of_type(TOPIC)


def test_the_program_imports_pulumi_docker_only_for_a_local_cluster() -> None:
    # pulumi_docker costs most of a second to import; stacks without localCluster never pay it.
    import subprocess
    import sys

    code = "import sys, k2infra.deploy.program; sys.exit(1 if 'pulumi_docker' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_the_entry_point_shows_bad_input_once_and_tells_the_language_host_it_was_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Exit status 32 is the SDK's "error already shown": the engine adds no "Program exited with
    non-zero exit code: 1" below the report, which the program logged as one error."""
    import runpy

    import k2infra.deploy.program as program

    def bad_input() -> None:
        raise pulumi.RunError("1 problem in Pulumi.dev.yaml:\n  Pulumi.dev.yaml:5: k2infra:retentionMS: ...")

    logged: list[str] = []
    monkeypatch.setattr(program, "run", bad_input)
    monkeypatch.setattr(pulumi.log, "error", logged.append)
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")
    assert exited.value.code == 32
    assert logged == ["1 problem in Pulumi.dev.yaml:\n  Pulumi.dev.yaml:5: k2infra:retentionMS: ..."]
