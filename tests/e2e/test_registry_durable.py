"""The registry keeps its schemas in Kafka (Apicurio's kafkasql storage): a registry restart, or a
restart of the broker that holds its journal, keeps every subject, version, ID and compatibility
level, and records written before are still read. The secured cluster runs two registry nodes on
that journal: with one killed, the library's producers and `pulumi up` go on through the other;
with both, a preview stops at once naming both.

The plain platform is this module's own (its registry and broker are restarted, which the
session's shared platform must not see); the secured cluster is the session's, with the shipped
prod stack deployed on it (the `prod` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from devkit.local_platform import LocalPlatform, SecurePlatform, parse_env_file, run_platform_sh, start_platform_sh
from devkit.pulumi_project import PulumiProject
from examples.producer.records import RecordFactory, instruments
from k2infra.client import AppCredentials, Platform, Topic, producer_settings
from k2infra.client.config import REGISTRY_REQUEST_TIMEOUT
from tests.conftest import REPO
from tests.e2e.conftest import _projects
from tests.e2e.prod_support import POLICY, run_k2infra, secret_env
from tests.e2e.registry_support import registry_state, wait_for_state

pytestmark = pytest.mark.e2e

CONSUME = 90.0  # seconds a consumer may take to read back what was written
TOPIC = "market.equities.trades.asx"
SUBJECT = "market.equities.trades-value"  # k2infra's subject of the topic's values


def produce_avro(kafka: dict[str, Any], registry: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Writes records with the schema k2infra registered (never registering one, as the library's producers)."""
    serialize = AvroSerializer(
        SchemaRegistryClient({"timeout": REGISTRY_REQUEST_TIMEOUT} | registry),
        conf={
            "auto.register.schemas": False,
            "use.latest.version": True,
            "subject.name.strategy": lambda _ctx, _name: SUBJECT,
        },
    )
    producer = Producer(kafka)
    errors: list[str] = []
    for record in records:
        value = serialize(record, SerializationContext(TOPIC, MessageField.VALUE))
        producer.produce(
            TOPIC, key=record["symbol"], value=value, on_delivery=lambda err, _m: err and errors.append(str(err))
        )
    assert producer.flush(60) == 0 and not errors, errors


def read_avro(kafka: dict[str, Any], registry: dict[str, Any], sequence_numbers: set[int]) -> set[int]:
    """Reads TOPIC from the start with a new consumer and a registry client with an empty cache, until
    every sequence number is seen or CONSUME seconds pass; returns the sequence numbers seen."""
    consumer = Consumer({**kafka, "group.id": f"e2e-durable-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest"})
    # bounded as the library's settings bound it: a registry that stalls after its restart is
    # asked again (SchemaRegistryClient retries a timeout) instead of hanging past the deadline
    deserialize = AvroDeserializer(SchemaRegistryClient({"timeout": REGISTRY_REQUEST_TIMEOUT} | registry))
    consumer.subscribe([TOPIC])
    seen: set[int] = set()
    deadline = time.monotonic() + CONSUME
    try:
        while not sequence_numbers <= seen and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            value = deserialize(msg.value(), SerializationContext(TOPIC, MessageField.VALUE))
            seen.add(value["sequence_number"])
    finally:
        consumer.close()
    return seen & sequence_numbers


def trades(count: int) -> list[dict[str, Any]]:
    """Trade records of the shipped schema, with sequence numbers unique to this run."""
    topic = Topic(
        name=TOPIC,
        asset_class="equities",
        data_type="trades",
        exchange="asx",
        partitions=1,
        replication_factor=1,
        config={},
        schema_subject=SUBJECT,
        schema_name="trade",
        partition_key="symbol",
    )
    factory = RecordFactory(seed=7)
    base = time.time_ns()
    instrument = instruments(topic.asset_class, topic.exchange)[0]
    return [{**factory.record(topic, instrument), "sequence_number": base + i} for i in range(count)]


# -- the plain platform -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    platform = LocalPlatform.start(tmp_path_factory.mktemp("durable-platform"))
    yield platform
    platform.stop()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str, own_platform: LocalPlatform) -> Iterator:
    projects = _projects(tmp_path_factory, own_platform)
    make = next(projects)
    project = make("durable", {"partitions": {"equities.asx": 1, "crypto.binance": 1}})
    project.up()
    # a compatibility level of its own, which the restart must keep too
    requests.put(
        f"{own_platform.schema_registry_url}/config/{SUBJECT}", json={"compatibility": "FULL_TRANSITIVE"}, timeout=30
    ).raise_for_status()
    yield project
    next(projects, None)


def plain_clients(platform: LocalPlatform) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"bootstrap.servers": platform.bootstrap_servers}, {"url": platform.schema_registry_url}


def test_a_registry_restart_keeps_subjects_versions_ids_and_compatibility(
    deployed: PulumiProject, own_platform: LocalPlatform
) -> None:
    kafka, registry = plain_clients(own_platform)
    records = trades(5)
    produce_avro(kafka, registry, records)
    before = registry_state(own_platform.schema_registry_url)
    assert SUBJECT in before["subjects"] and before["subjects"][SUBJECT]["compatibility"] == "FULL_TRANSITIVE"

    own_platform.restart_registry()

    assert registry_state(own_platform.schema_registry_url) == before
    deployed.run("preview", "--expect-no-changes")
    wanted = {r["sequence_number"] for r in records}
    assert read_avro(kafka, registry, wanted) == wanted


def test_a_restart_of_the_broker_holding_the_journal_brings_the_registry_back_with_its_data(
    deployed: PulumiProject, own_platform: LocalPlatform
) -> None:
    kafka, registry = plain_clients(own_platform)
    records = trades(3)
    produce_avro(kafka, registry, records)
    before = registry_state(own_platform.schema_registry_url)

    own_platform.stop_broker()
    own_platform.start_broker()
    # the running registry reconnects to its journal ...
    wait_for_state(own_platform.schema_registry_url, before)
    # ... and a registry started afresh finds everything on the restarted broker's disk
    own_platform.restart_registry()
    assert registry_state(own_platform.schema_registry_url) == before
    deployed.run("preview", "--expect-no-changes")
    wanted = {r["sequence_number"] for r in records}
    assert read_avro(kafka, registry, wanted) == wanted


JOURNAL = REPO / "tools" / "registry" / "journal.py"


def journal(action: str, backup: Path, platform_env: dict[str, str], *options: str) -> None:
    """tools/registry/journal.py ACTION [OPTIONS] FILE against the platform `platform_env` describes
    (its K2_* variables), as the runbook runs it after `eval "$(tools/platform.sh env)"`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("K2_")} | platform_env
    done = subprocess.run(
        [sys.executable, str(JOURNAL), action, *options, str(backup)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout.strip())


def test_a_journal_backup_restored_into_a_fresh_platform_keeps_every_id(
    deployed: PulumiProject, own_platform: LocalPlatform, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The runbook's journal backup (§14: tools/registry/journal.py) restored into a new platform
    before its registry first starts, which then replays it: every subject, version and ID as
    before, and the records written before are read through it."""
    kafka, registry = plain_clients(own_platform)
    records = trades(3)
    produce_avro(kafka, registry, records)
    before = registry_state(own_platform.schema_registry_url)
    backup = tmp_path_factory.mktemp("journal-backup") / "journal.backup"
    journal("backup", backup, {"K2_BOOTSTRAP_SERVERS": own_platform.bootstrap_servers})

    # as the runbook does it: a new platform's Kafka, the journal restored into it, then its registry
    state, env, _ = start_platform_sh(["kafka"], tmp_path_factory.mktemp("restored-platform"), 900, None)
    fresh = LocalPlatform(
        bootstrap_servers=parse_env_file(state / "platform.env")["K2_BOOTSTRAP_SERVERS"],
        schema_registry_url="",
        state_dir=state,
        owned=True,
        script_env=env,
    )
    try:
        journal("restore", backup, {"K2_BOOTSTRAP_SERVERS": fresh.bootstrap_servers})
        started = run_platform_sh(["start", "--state-dir", str(state), "registry"], env=env, timeout=900)
        assert started.returncode == 0, started.stdout + started.stderr
        url = parse_env_file(state / "platform.env")["K2_SCHEMA_REGISTRY_URL"]
        assert registry_state(url) == before  # every subject, version, ID, schema and compatibility level
        wanted = {r["sequence_number"] for r in records}
        assert read_avro(kafka, {"url": url}, wanted) == wanted
    finally:
        fresh.stop()


# -- the secured cluster ----------------------------------------------------------------------------


def secure_clients(secure: SecurePlatform) -> tuple[dict[str, Any], dict[str, Any]]:
    user, password = secure.registry_auth
    registry = {"url": secure.schema_registry_url, "basic.auth.user.info": f"{user}:{password}"}
    registry["ssl.ca.location"] = str(secure.ca_path)
    return secure.admin_config(), registry


def test_a_secured_registry_restart_keeps_subjects_versions_ids_and_compatibility(
    prod: PulumiProject, secure: SecurePlatform
) -> None:
    kafka, registry = secure_clients(secure)
    request = {"auth": secure.registry_auth, "verify": str(secure.ca_path)}
    records = trades(5)
    produce_avro(kafka, registry, records)
    before = registry_state(secure.schema_registry_url, **request)
    assert SUBJECT in before["subjects"]

    secure.restart_registry()

    # Once seen in CI: the restarted node listed a version it then could not serve (no `id`), on the
    # session's registry that earlier modules left soft-deleted subjects in. It must come back whole.
    wait_for_state(secure.schema_registry_url, before, **request)
    prod.run("preview", "--expect-no-changes", *POLICY)
    wanted = {r["sequence_number"] for r in records}
    assert read_avro(kafka, registry, wanted) == wanted


# -- two secured registry nodes ---------------------------------------------------------------------


@pytest.fixture
def killed(secure: SecurePlatform) -> Iterator[list[int]]:
    """The registry nodes a test kills; started again after it (the secured cluster is the session's)."""
    nodes: list[int] = []
    yield nodes
    for node in nodes:
        secure.restart_registry(node=node)


def node_refuses_connections(url: str, ca: str) -> bool:
    try:
        requests.get(f"{url}/subjects", timeout=10, verify=ca)
    except requests.ConnectionError:
        return True
    return False


def test_one_secured_registry_node_killed_during_a_producers_run_is_failed_over(
    prod: PulumiProject, secure: SecurePlatform, app_passwords: dict[str, str], killed: list[int]
) -> None:
    nodes = secure.schema_registry_urls.split(",")
    assert len(nodes) == 2, secure.schema_registry_urls
    platform = Platform.from_outputs(prod.outputs())
    assert platform.schema_registry_url == ",".join(nodes)  # the stack hands both nodes to its apps
    user, password = secure.registry_auth
    credentials = AppCredentials(
        sasl_username="k2-market-data-normaliser-prod",
        sasl_password=app_passwords["market-data-normaliser"],
        schema_registry_username=user,
        schema_registry_password=password,
    )
    settings = producer_settings(platform, credentials)
    # the library's settings; the platform's registry certificate is signed by its own CA
    registry = SchemaRegistryClient({**settings.schema_registry, "ssl.ca.location": str(secure.ca_path)})
    serialize = AvroSerializer(registry, conf=settings.serializer)
    producer = Producer(settings.kafka)
    factory = RecordFactory(seed=11)
    errors: list[str] = []

    def write(topic_name: str, count: int) -> None:
        topic = platform.topics[topic_name]
        instrument = instruments(topic.asset_class, topic.exchange)[0]
        for _ in range(count):
            record = factory.record(topic, instrument)
            value = serialize(record, SerializationContext(topic_name, MessageField.VALUE))
            producer.produce(
                topic_name, key=record["symbol"], value=value, on_delivery=lambda e, _m: e and errors.append(str(e))
            )

    write(TOPIC, 3)  # the trades subject is looked up on node 1
    secure.kill_registry(1)
    killed.append(1)
    assert node_refuses_connections(nodes[0], str(secure.ca_path))
    write("market.equities.quotes.asx", 3)  # a subject not looked up yet: the lookup fails over to node 2
    write(TOPIC, 3)
    assert producer.flush(60) == 0 and not errors, errors

    # a new schema version, registered through node 2
    schema_file = prod.schema_path("equities", "trades")
    schema = json.loads(schema_file.read_text())
    schema["fields"].append({"name": "failover_note", "type": ["null", "string"], "default": None})
    schema_file.write_text(json.dumps(schema, indent=2) + "\n")
    prod.up(*POLICY)
    request = {"auth": secure.registry_auth, "verify": str(secure.ca_path)}
    versions = registry_state(nodes[1], **request)["subjects"][SUBJECT]["versions"]
    assert "failover_note" in versions[max(versions)][1]
    verified = run_k2infra(prod, "verify", env=secret_env(secure))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.rstrip().endswith("no drift"), verified.stdout


def test_both_secured_registry_nodes_down_fail_a_preview_naming_both_and_change_nothing(
    prod: PulumiProject, secure: SecurePlatform, killed: list[int]
) -> None:
    nodes = secure.schema_registry_urls.split(",")
    before = json.loads(prod.export())["deployment"]["resources"]
    for node in (1, 2):
        secure.kill_registry(node)
        killed.append(node)
    started = time.monotonic()
    result = prod.run("preview", *POLICY, check=False)
    print(f"preview with both registry nodes down: exit {result.returncode} after {time.monotonic() - started:.1f}s")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    wanted = f"cannot reach the Schema Registry at {nodes[0]}, {nodes[1]} within "
    lines = [line for line in output.splitlines() if wanted in line]
    assert lines, output
    assert "(k2infra:schemaRegistryUrl): " in lines[0]
    assert f"{nodes[0]}: connection failed" in lines[0] and f"{nodes[1]}: connection failed" in lines[0]
    assert json.loads(prod.export())["deployment"]["resources"] == before


# -- the secured cluster's journal restored ---------------------------------------------------------


def test_a_secured_journal_backup_restored_over_a_lost_journal_keeps_every_id(
    prod: PulumiProject, secure: SecurePlatform, tmp_path: Path
) -> None:
    """The runbook's secured restore (§14), on the session's cluster, as if its journal were lost:
    both registry nodes stopped, the journal backed up and replaced by the backup (as the super
    user, over SASL_SSL with the platform's CA), the nodes started again. Both replay it to every
    subject, version, ID, schema and compatibility level as before; the stack sees no change and
    the records written before are read through them."""
    kafka, registry = secure_clients(secure)
    request = {"auth": secure.registry_auth, "verify": str(secure.ca_path)}
    nodes = secure.schema_registry_urls.split(",")
    records = trades(3)
    produce_avro(kafka, registry, records)
    before = registry_state(nodes[0], **request)
    assert SUBJECT in before["subjects"]

    backup = tmp_path / "journal.backup"
    for node in (1, 2):  # nothing appends to the journal after the backup
        secure.stop_registry(node)
    try:
        journal("backup", backup, secure.as_env())
        journal("restore", backup, secure.as_env(), "--replace")
    finally:
        for node in (1, 2):
            secure.restart_registry(node=node)

    for url in nodes:
        wait_for_state(url, before, **request)
    prod.run("preview", "--expect-no-changes", *POLICY)
    wanted = {r["sequence_number"] for r in records}
    assert read_avro(kafka, registry, wanted) == wanted
