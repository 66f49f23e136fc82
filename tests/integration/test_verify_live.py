"""`verify` against the real local broker and registry.

Each test starts from a platform holding exactly the plan of a dev-shaped stack (topics created with
the AdminClient, subjects registered with the project's registry client, as `pulumi up` would leave
them), changes something behind the plan's back and checks that verify reports it, with exit 1.
Under-replicated partitions cannot happen on a single broker: that case is proven in the unit tests.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from devkit.local_platform import LocalPlatform
from k2infra.cli.main import exit_code
from k2infra.live.cluster import PREFIX, registry_client
from k2infra.live.verify import run_verify
from k2infra.model.plan import Plan, TopicSpec
from k2infra.model.stack import Stack, load_stack_file
from k2infra.registry.client import RegistryClient
from tests.conftest import REPO

pytestmark = pytest.mark.integration

STACK = "verifylive"
TRADES = "market.equities.trades.asx"
REFERENCE = "market.equities.reference_data.asx"
TRADES_SUBJECT = "market.equities.trades-value"
WAIT = 60.0  # seconds for the broker to settle a create or delete


# -- the stack, the clients, and the platform holding the plan ----------------------------------


def write_stack(project: Path, name: str, **overrides: str) -> None:
    """Pulumi.<name>.yaml: the repository's dev stack, with the given `k2infra:` keys replaced."""
    stack = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    stack["config"].update({f"k2infra:{key}": value for key, value in overrides.items()})
    (project / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, platform: LocalPlatform) -> Path:
    root = tmp_path_factory.mktemp("verify-project")
    shutil.copytree(REPO / "config", root / "config")
    write_stack(
        root, STACK, bootstrapServers=platform.bootstrap_servers, schemaRegistryUrl=platform.schema_registry_url
    )
    return root


LOADED: dict[str | None, Stack] = {}  # the stacks the fixtures loaded, by name: verify_json connects as they do


@pytest.fixture(scope="module")
def stack(project: Path) -> Stack:
    LOADED[STACK] = load_stack_file(project / "config", STACK, project)
    return LOADED[STACK]


@pytest.fixture(scope="module")
def plan(stack: Stack) -> Plan:
    return stack.plan


@pytest.fixture(scope="module")
def admin(platform: LocalPlatform) -> AdminClient:
    return AdminClient({"bootstrap.servers": platform.bootstrap_servers})


@pytest.fixture(scope="module")
def registry(stack: Stack) -> RegistryClient:
    return registry_client(stack.connections.registry, timeout=30)


@pytest.fixture(scope="module")
def clean_slate(platform: LocalPlatform, admin: AdminClient, registry: RegistryClient) -> None:
    """These tests own the `market.` namespace: never take it over on a platform someone else uses."""
    topics = market_topics(admin)
    subjects = [s for s in registry.list_subjects() if s.startswith(PREFIX)]
    if not platform.owned and (topics or subjects):
        pytest.fail(
            f"the platform at {platform.bootstrap_servers} / {platform.schema_registry_url} (from the environment) "
            f"already holds market.* topics or subjects ({', '.join([*topics, *subjects][:4])}, ...): these tests "
            "create and delete them; unset K2_BOOTSTRAP_SERVERS and K2_SCHEMA_REGISTRY_URL to let them start "
            "their own platform"
        )


@pytest.fixture
def deployed(clean_slate: None, plan: Plan, admin: AdminClient, registry: RegistryClient) -> Iterator[Plan]:
    """The platform holding exactly the plan; emptied of `market.` topics and subjects afterwards."""
    remove_market(admin, registry)
    create_topics(admin, plan.topics)
    for spec in plan.subjects:
        registry.register(spec.subject, spec.schema)
        registry.set_compatibility(spec.subject, spec.compatibility)
    yield plan
    remove_market(admin, registry)


def market_topics(admin: AdminClient) -> list[str]:
    return sorted(name for name in admin.list_topics(timeout=30).topics if name.startswith(PREFIX))


def remove_market(admin: AdminClient, registry: RegistryClient) -> None:
    delete_topics(admin, market_topics(admin))
    for subject in registry.list_subjects(include_deleted=True):
        if subject.startswith(PREFIX):
            registry.delete_subject(subject, permanent=True)


def delete_topics(admin: AdminClient, names: list[str]) -> None:
    if not names:
        return
    for future in admin.delete_topics(names, operation_timeout=WAIT).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:  # gone already
                raise
    wait_for(lambda: not set(names) & set(admin.list_topics(timeout=30).topics), f"deletion of {names}")


def create_topics(admin: AdminClient, specs: Iterable[TopicSpec]) -> None:
    create(admin, [NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.config)) for s in specs])


def create(admin: AdminClient, new_topics: list[NewTopic]) -> None:
    """Create topics, retrying while a just-deleted namesake is still going; then wait for leaders."""
    pending = list(new_topics)
    deadline = time.monotonic() + WAIT
    while pending:
        retry = []
        for topic in pending:
            try:
                admin.create_topics([topic], operation_timeout=WAIT)[topic.topic].result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS or time.monotonic() > deadline:
                    raise
                retry.append(topic)
        pending = retry
        if pending:
            time.sleep(0.5)
    names = {t.topic for t in new_topics}

    def led() -> bool:
        topics = admin.list_topics(timeout=30).topics
        return all(n in topics and all(p.leader >= 0 for p in topics[n].partitions.values()) for n in names)

    wait_for(led, f"leaders of {sorted(names)}")


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def verify_json(plan: Plan, timeout: float = 15) -> tuple[int, dict[str, Any]]:
    """verify of the plan, connected as its stack file says."""
    stack = LOADED[plan.stack]
    assert stack.plan is plan
    out, err = io.StringIO(), io.StringIO()
    code = exit_code(run_verify(stack, json_output=True, timeout=timeout, out=out, err=err))
    assert err.getvalue() == ""
    return code, json.loads(out.getvalue())


def differences(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(d["kind"], d["name"], d["key"], d["expected"], d["actual"]) for d in document["differences"]]


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K2_")}
    command = [sys.executable, "-m", "k2infra", "verify", "--config-dir", str(project / "config")]
    return subprocess.run(
        [*command, "--project-dir", str(project), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- the tests -----------------------------------------------------------------------------------


def test_a_platform_holding_the_plan_verifies_clean(deployed: Plan, project: Path) -> None:
    code, document = verify_json(deployed)
    assert code == 0
    assert document["ok"] is True and document["error"] is None
    assert document["differences"] == []
    assert [t["name"] for t in document["topics"]] == [t.name for t in deployed.topics]
    for row, spec in zip(document["topics"], deployed.topics, strict=True):
        assert (row["status"], row["partitions"], row["replication_factor"]) == (
            "ok",
            spec.partitions,
            spec.replication_factor,
        )
        assert (row["under_replicated"], row["end_offsets"]) == (0, 0)
    assert {(s["name"], s["status"], s["version"], s["compatibility"]) for s in document["subjects"]} == {
        (s.subject, "ok", 1, "BACKWARD") for s in deployed.subjects
    }

    run = cli(project, "--stack", STACK)
    assert (run.returncode, run.stderr) == (0, "")
    lines = run.stdout.splitlines()
    assert lines[0].split()[:2] == ["TOPIC", "STATUS"]
    assert lines[-1] == "verify: 6 topics, 6 subjects: no drift"


def test_configs_read_in_several_requests_are_the_same_as_in_one(
    deployed: Plan, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large topology's DescribeConfigs is split into requests in flight together; the answer
    # must not depend on the split (here 6 topics in requests of 2).
    from k2infra.live import admin as kafka_admin

    wanted = {t.name: tuple(t.config) for t in deployed.topics}
    with kafka_admin.KafkaAdmin({"bootstrap.servers": platform.bootstrap_servers}) as admin:
        whole = admin.topic_configs(wanted, timeout=WAIT)
        monkeypatch.setattr(kafka_admin, "DESCRIBE_MIN_TOPICS", 1)
        monkeypatch.setattr(kafka_admin, "DESCRIBE_REQUESTS", 3)
        calls: list[int] = []
        describe = admin.client.describe_configs

        def counting(resources: list[ConfigResource], **kwargs: Any) -> dict[Any, Any]:
            calls.append(len(resources))
            return describe(resources, **kwargs)

        monkeypatch.setattr(admin.client, "describe_configs", counting)
        assert admin.topic_configs(wanted, timeout=WAIT) == whole
    assert calls == [2, 2, 2]
    assert set(whole) == set(wanted) and all(whole[name] for name in wanted)


def test_end_offsets_sum_the_high_watermarks_of_every_partition(deployed: Plan, platform: LocalPlatform) -> None:
    producer = Producer({"bootstrap.servers": platform.bootstrap_servers, "linger.ms": 5})
    for i in range(25):
        producer.produce(TRADES, key=f"SYM{i % 7}".encode(), value=b"trade")
    for i in range(3):
        producer.produce(REFERENCE, key=f"SYM{i}".encode(), value=b"listing")
    assert producer.flush(30) == 0

    code, document = verify_json(deployed)
    assert code == 0  # data is no drift
    ends = {t["name"]: t["end_offsets"] for t in document["topics"]}
    assert ends == {name: {TRADES: 25, REFERENCE: 3}.get(name, 0) for name in ends}


def test_a_deleted_topic_is_missing(deployed: Plan, admin: AdminClient) -> None:
    delete_topics(admin, [TRADES])
    code, document = verify_json(deployed)
    assert code == 1
    assert differences(document) == [("topic_missing", TRADES, None, "present", "absent")]


def test_added_partitions_are_a_partition_difference(deployed: Plan, admin: AdminClient) -> None:
    admin.create_partitions([NewPartitions(TRADES, 5)], operation_timeout=WAIT)[TRADES].result()
    wait_for(lambda: len(admin.list_topics(TRADES, timeout=30).topics[TRADES].partitions) == 5, "5 partitions")
    code, document = verify_json(deployed)
    assert code == 1
    assert differences(document) == [("partitions", TRADES, None, 3, 5)]
    row = next(t for t in document["topics"] if t["name"] == TRADES)
    assert (row["status"], row["partitions"], row["planned_partitions"], row["end_offsets"]) == ("drift", 5, 3, 0)


def test_altered_configs_are_reported_by_their_effective_value(deployed: Plan, admin: AdminClient) -> None:
    resource = ConfigResource(
        ResourceType.TOPIC,
        TRADES,
        incremental_configs=[
            ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET),
            # Removing the override: the topic falls back to the broker's default, 'producer'.
            ConfigEntry("compression.type", None, incremental_operation=AlterConfigOpType.DELETE),
            ConfigEntry("segment.ms", "3600000", incremental_operation=AlterConfigOpType.SET),  # not managed
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result()
    code, document = verify_json(deployed)
    assert code == 1
    assert differences(document) == [
        ("config", TRADES, "compression.type", "lz4", "producer"),
        ("config", TRADES, "retention.ms", "86400000", "1000"),
    ]


def test_an_extra_market_topic_is_reported_and_other_topics_are_not(deployed: Plan, admin: AdminClient) -> None:
    extra, other = "market.equities.trades.nyse", "k2infra.live.verify.elsewhere"
    create(admin, [NewTopic(extra, 2, 1), NewTopic(other, 1, 1)])
    try:
        code, document = verify_json(deployed)
    finally:
        delete_topics(admin, [other])
    assert code == 1
    assert differences(document) == [("topic_extra", extra, None, "absent", "present")]
    row = next(t for t in document["topics"] if t["name"] == extra)
    assert (row["status"], row["partitions"], row["planned_partitions"]) == ("extra", 2, None)
    assert other not in {t["name"] for t in document["topics"]}


def test_a_new_schema_version_behind_the_plans_back(deployed: Plan, registry: RegistryClient) -> None:
    spec = next(s for s in deployed.subjects if s.subject == TRADES_SUBJECT)
    newer = json.loads(spec.schema)
    newer["fields"].append({"name": "trade_note", "type": ["null", "string"], "default": None})
    assert registry.register(TRADES_SUBJECT, json.dumps(newer))  # BACKWARD-compatible, so allowed
    code, document = verify_json(deployed)
    assert code == 1
    [difference] = document["differences"]
    assert (difference["kind"], difference["name"]) == ("schema", TRADES_SUBJECT)
    assert difference["detail"] == (
        "version 2 differs from the file (the file against it: field 'trade_note' removed (it had a default))"
    )
    row = next(s for s in document["subjects"] if s["name"] == TRADES_SUBJECT)
    assert (row["status"], row["version"]) == ("drift", 2)


def test_a_lowered_compatibility_level_and_the_incompatible_version_it_let_in(
    deployed: Plan, registry: RegistryClient
) -> None:
    registry.set_compatibility(TRADES_SUBJECT, "NONE")
    code, document = verify_json(deployed)
    assert code == 1
    assert differences(document) == [("compatibility", TRADES_SUBJECT, None, "BACKWARD", "NONE")]

    incompatible = {"type": "record", "name": "trade", "namespace": "k2.market.equities", "fields": []}
    assert registry.register(TRADES_SUBJECT, json.dumps(incompatible))  # every field gone: only NONE allows it
    code, document = verify_json(deployed)
    assert code == 1
    assert [d[:2] for d in differences(document)] == [("schema", TRADES_SUBJECT), ("compatibility", TRADES_SUBJECT)]


def test_deleted_subjects_are_missing(deployed: Plan, registry: RegistryClient) -> None:
    soft, hard = TRADES_SUBJECT, "market.crypto.quotes-value"
    assert registry.delete_subject(soft)
    assert registry.delete_subject(hard, permanent=True)
    code, document = verify_json(deployed)
    assert code == 1
    assert differences(document) == [
        ("subject_missing", hard, None, "present", "absent"),
        ("subject_missing", soft, None, "present", "absent"),
    ]


def test_an_extra_market_subject_is_reported(deployed: Plan, registry: RegistryClient) -> None:
    registry.register("market.equities.trades-key", '"string"')
    code, document = verify_json(deployed)
    assert code == 1
    assert differences(document) == [("subject_extra", "market.equities.trades-key", None, "absent", "present")]


def test_an_unreachable_cluster_exits_2_with_one_line(project: Path, platform: LocalPlatform) -> None:
    port = closed_port()
    write_stack(
        project, "nokafka", bootstrapServers=f"127.0.0.1:{port}", schemaRegistryUrl=platform.schema_registry_url
    )
    run = cli(project, "--stack", "nokafka", "--timeout", "2")
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.startswith(f"error: cannot reach Kafka at 127.0.0.1:{port} within 2s (k2infra:bootstrapServers)")
    assert "Connection refused" in run.stderr  # librdkafka's own reason, not its log lines
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_an_unreachable_registry_exits_2_with_one_line(project: Path, platform: LocalPlatform) -> None:
    url = f"http://127.0.0.1:{closed_port()}/apis/ccompat/v7"
    write_stack(project, "noregistry", bootstrapServers=platform.bootstrap_servers, schemaRegistryUrl=url)
    run = cli(project, "--stack", "noregistry", "--timeout", "2", "--json")
    assert run.returncode == 2
    assert run.stderr.startswith(
        f"error: cannot reach the Schema Registry at {url} within 2s (k2infra:schemaRegistryUrl)"
    )
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    document = json.loads(run.stdout)
    assert (document["ok"], document["error"]) == (False, run.stderr.removeprefix("error: ").strip())
