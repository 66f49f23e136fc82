"""The registry keeps its schemas in Kafka (Apicurio's kafkasql storage): a registry restart, or a
restart of the broker that holds its journal, keeps every subject, version, ID and compatibility
level, and records written before are still read.

The plain platform is this module's own (its registry and broker are restarted, which the
session's shared platform must not see); the secured cluster is the session's, with the shipped
prod stack deployed on it (the `prod` fixture).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from devkit.local_platform import LocalPlatform, SecurePlatform
from devkit.pulumi_project import PulumiProject
from examples.producer.records import RecordFactory, instruments
from k2infra.client import Topic
from tests.e2e.conftest import _projects
from tests.e2e.prod_support import POLICY
from tests.e2e.registry_support import registry_state, wait_for_state

pytestmark = pytest.mark.e2e

CONSUME = 90.0  # seconds a consumer may take to read back what was written
TOPIC = "market.equities.trades.asx"
SUBJECT = "market.equities.trades-value"  # k2infra's subject of the topic's values


def produce_avro(kafka: dict[str, Any], registry: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Writes records with the schema k2infra registered (never registering one, as the library's producers)."""
    serialize = AvroSerializer(
        SchemaRegistryClient(registry),
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
    deserialize = AvroDeserializer(SchemaRegistryClient(registry))
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

    assert registry_state(secure.schema_registry_url, **request) == before
    prod.run("preview", "--expect-no-changes", *POLICY)
    wanted = {r["sequence_number"] for r in records}
    assert read_avro(kafka, registry, wanted) == wanted
