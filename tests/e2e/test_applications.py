"""Applications on a deployed stack: the stock confluent-kafka clients configured by k2infra.client,
against the real broker and Schema Registry, after `pulumi up` with the real CLI.

One stack serves the module (12 and 16 partitions, so that a partition is a real choice); its last
test adds an exchange. Records carry sequence numbers unique to the run, so each test finds its own
among what earlier tests wrote.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import string
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from devkit.pulumi_project import PulumiProject
from examples.producer.records import RecordFactory, instruments
from k2infra.client import Platform, PlatformLoadError, TopicConfig, consumer_settings, producer_settings
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

PARTITIONS = {"equities.asx": 12, "crypto.binance": 16}
STACK = "apps"
WAIT = 60.0  # seconds any one consume may take
_unique = itertools.count(int(time.time() * 1000) * 1000)


@dataclass
class Deployed:
    project: PulumiProject
    platform: Platform
    outputs_file: Path


@dataclass
class Received:
    topic: str
    partition: int
    key: str
    raw: bytes
    value: dict[str, Any]


def read_outputs(project: PulumiProject) -> dict[str, Any]:
    return json.loads(project.run("stack", "output", "--json", "--show-secrets").stdout)


@pytest.fixture(scope="module")
def stack(new_module_project) -> Deployed:
    # Hard delete on destroy: the registry is left as found (a soft-deleted subject would make the
    # next stack registering it start at version 2, which test_lifecycle does not expect).
    project = new_module_project(STACK, {"partitions": PARTITIONS, "hardDeleteSubjects": True})
    project.up()
    outputs_file = project.dir / "outputs.json"
    outputs_file.write_text(json.dumps(read_outputs(project)))
    return Deployed(project, Platform.from_outputs_file(outputs_file), outputs_file)


@pytest.fixture(scope="module")
def registry(stack: Deployed) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": stack.platform.schema_registry_url})


# -- helpers: the library's producer and consumer, as an application writes them ----------------


def records_for(topic: TopicConfig, per_instrument: int = 1) -> list[dict[str, Any]]:
    """Realistic records (the example producer's), with a sequence number unique to this run."""
    factory = RecordFactory(seed=next(_unique) % 1000)
    out = []
    for instrument in instruments(topic.asset_class, topic.exchange):
        for _ in range(per_instrument):
            out.append({**factory.record(topic, instrument), "sequence_number": next(_unique)})
    return out


def produce(
    platform: Platform, batch: Iterable[tuple[str, dict[str, Any]]], overrides: dict[str, Any] | None = None
) -> list[tuple[str, int, str]]:
    """Sends (topic, record) with the library's settings; returns (topic, partition, key) as delivered."""
    settings = producer_settings(platform, overrides=overrides)
    serialize = AvroSerializer(SchemaRegistryClient(settings.schema_registry), conf=settings.serializer)
    producer = Producer(settings.kafka)
    delivered: list[tuple[str, int, str]] = []
    errors: list[str] = []

    def report(err, msg) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            delivered.append((msg.topic(), msg.partition(), msg.key().decode()))

    for topic, record in batch:
        value = serialize(record, SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=settings.key_of(topic, record), value=value, on_delivery=report)
    assert producer.flush(30) == 0 and not errors, errors
    return delivered


def new_consumer(
    platform: Platform, subscription: list[str] | str, **overrides: Any
) -> tuple[Consumer, AvroDeserializer]:
    settings = consumer_settings(platform, f"e2e-{uuid.uuid4().hex[:10]}", overrides=overrides)
    consumer = Consumer(settings.kafka)
    consumer.subscribe(subscription if isinstance(subscription, list) else [subscription])
    return consumer, AvroDeserializer(SchemaRegistryClient(settings.schema_registry), conf=settings.deserializer)


def consume(
    consumer: Consumer,
    deserialize: AvroDeserializer,
    done: Callable[[list[Received]], bool],
    timeout: float = WAIT,
    received: list[Received] | None = None,
) -> list[Received]:
    """Polls until done(records so far) or the timeout; deserializes every record."""
    received = [] if received is None else received
    deadline = time.monotonic() + timeout
    while not done(received) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        value = deserialize(msg.value(), SerializationContext(msg.topic(), MessageField.VALUE))
        received.append(Received(msg.topic(), msg.partition(), msg.key().decode(), msg.value(), value))
    return received


def seen(wanted: Iterable[tuple[str, int]]) -> Callable[[list[Received]], bool]:
    """done() once every (topic, sequence number) has been received."""
    missing = set(wanted)
    return lambda got: missing <= {(r.topic, r.value["sequence_number"]) for r in got}


def ours(received: list[Received], sent: Iterable[tuple[str, dict[str, Any]]]) -> dict[tuple[str, int], Received]:
    keys = {(topic, record["sequence_number"]) for topic, record in sent}
    return {(r.topic, r.value["sequence_number"]): r for r in received if (r.topic, r.value["sequence_number"]) in keys}


def high_watermarks(platform: Platform, topic: str) -> int:
    probe = Consumer({"bootstrap.servers": platform.bootstrap_servers, "group.id": "e2e-watermarks"})
    try:
        partitions = platform.topic(topic).partitions
        return sum(probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions))
    finally:
        probe.close()


# -- the tests ------------------------------------------------------------------------------------


def test_every_topic_round_trips_a_record_through_the_stock_serializers(stack: Deployed) -> None:
    platform = stack.platform
    assert len(platform.topics) == 6
    sent = [(name, record) for name, topic in platform.topics.items() for record in records_for(topic)]
    produce(platform, sent)
    consumer, deserialize = new_consumer(platform, sorted(platform.topics))
    try:
        got = ours(consume(consumer, deserialize, seen((t, r["sequence_number"]) for t, r in sent)), sent)
    finally:
        consumer.close()
    assert len(got) == len(sent)
    for topic, record in sent:
        back = got[(topic, record["sequence_number"])]
        assert back.value == record, topic
        assert back.key == record["symbol"]
        subject = platform.topic(topic).schema_subject
        assert back.raw[0] == 0 and int.from_bytes(back.raw[1:5], "big") == platform.schemas[subject].id


def test_the_platform_loads_from_pulumi_stack_output(stack: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"):  # where an app's shell is logged in
        monkeypatch.setenv(name, stack.project.env[name])
    assert Platform.from_stack(STACK, cwd=stack.project.dir).topics == stack.platform.topics
    with pytest.raises(PlatformLoadError, match=r"cannot read the outputs of stack nosuch: .*no stack named 'nosuch'"):
        Platform.from_stack("nosuch", cwd=stack.project.dir)


def test_the_default_topic_name_strategy_asks_for_a_subject_k2_never_registers(
    stack: Deployed, registry: SchemaRegistryClient
) -> None:
    platform = stack.platform
    for name, topic in platform.topics.items():
        schema = registry.get_latest_version(topic.schema_subject).schema.schema_str
        record = records_for(topic)[0]
        ctx = SerializationContext(name, MessageField.VALUE)
        for conf in ({"auto.register.schemas": False}, {"auto.register.schemas": False, "use.latest.version": True}):
            stock = AvroSerializer(registry, schema, conf=conf)  # the stock subject strategy: the default
            with pytest.raises(SchemaRegistryError) as refused:
                stock(record, ctx)
            assert refused.value.http_status_code == 404
            assert f"Subject '{name}-value' not found" in str(refused.value)
        library = AvroSerializer(registry, schema, conf=producer_settings(platform).serializer)
        assert library(record, ctx)[1:5] == platform.schemas[topic.schema_subject].id.to_bytes(4, "big")
    subjects = registry.get_subjects()
    assert [s for s in subjects if s.removesuffix("-value") in platform.topics] == []
    assert set(platform.subjects) <= set(subjects)


def test_with_every_default_the_stock_serializer_registers_a_stray_per_topic_subject(
    stack: Deployed, registry: SchemaRegistryClient
) -> None:
    # What the library's auto.register.schemas False prevents: an app creating subjects of its own.
    topic = stack.platform.topic("market.crypto.quotes.binance")
    schema = registry.get_latest_version(topic.schema_subject).schema.schema_str
    stray = f"{topic.name}-value"
    try:
        AvroSerializer(registry, schema)(records_for(topic)[0], SerializationContext(topic.name, MessageField.VALUE))
        assert stray in registry.get_subjects()
    finally:
        if stray in registry.get_subjects():
            registry.delete_subject(stray)
            registry.delete_subject(stray, permanent=True)
    assert stray not in registry.get_subjects()


def test_an_exchange_consumer_receives_nothing_of_another_and_a_data_type_consumer_every_exchange(
    stack: Deployed,
) -> None:
    platform = stack.platform
    sent = [(name, record) for name, topic in platform.topics.items() for record in records_for(topic)]
    produce(platform, sent)
    asx_topics = platform.subscriptions.by_exchange["equities.asx"]
    trades_topics = platform.subscriptions.by_data_type["trades"]
    by_list = new_consumer(platform, asx_topics)
    by_pattern = new_consumer(platform, platform.patterns.by_exchange["crypto.binance"])
    by_type = new_consumer(platform, platform.patterns.by_data_type["trades"])
    try:
        asx = consume(*by_list, seen((t, r["sequence_number"]) for t, r in sent if t in asx_topics))
        asx_assigned = {tp.topic for tp in by_list[0].assignment()}
        binance = consume(*by_pattern, seen((t, r["sequence_number"]) for t, r in sent if t.endswith(".binance")))
        binance_assigned = {tp.topic for tp in by_pattern[0].assignment()}
        trades = consume(*by_type, seen((t, r["sequence_number"]) for t, r in sent if t in trades_topics))
    finally:
        for consumer, _ in (by_list, by_pattern, by_type):
            consumer.close()
    assert len(ours(asx, sent)) == 3 * len(instruments("equities", "asx"))
    assert asx_assigned == set(asx_topics)
    assert {r.topic for r in asx} <= set(asx_topics) and {r.value["exchange"] for r in asx} == {"asx"}
    assert len(ours(binance, sent)) == 3 * len(instruments("crypto", "binance"))
    assert binance_assigned == set(platform.subscriptions.by_exchange["crypto.binance"])
    assert {r.value["exchange"] for r in binance} == {"binance"}
    assert {r.topic for r in ours(trades, sent).values()} == set(trades_topics)  # both exchanges
    assert {r.topic for r in trades} <= set(trades_topics)


def test_a_record_that_does_not_match_the_registered_schema_is_refused_at_the_producer(stack: Deployed) -> None:
    platform = stack.platform
    topic = platform.topic("market.equities.trades.asx")
    settings = producer_settings(platform)
    serialize = AvroSerializer(SchemaRegistryClient(settings.schema_registry), conf=settings.serializer)
    producer = Producer(settings.kafka)
    ctx = SerializationContext(topic.name, MessageField.VALUE)
    good = records_for(topic)[0]
    missing_field = {k: v for k, v in good.items() if k != "trade_id"}
    wrong_type = {**good, "quantity": "one hundred"}
    before = high_watermarks(platform, topic.name)
    with pytest.raises(ValueError, match="no value and no default for trade_id"):
        producer.produce(topic.name, key=good["symbol"], value=serialize(missing_field, ctx))
    with pytest.raises(TypeError, match="on field quantity"):
        producer.produce(topic.name, key=good["symbol"], value=serialize(wrong_type, ctx))
    assert producer.flush(30) == 0
    assert high_watermarks(platform, topic.name) == before
    producer.produce(topic.name, key=good["symbol"], value=serialize(good, ctx))  # the check can see a record
    assert producer.flush(30) == 0
    assert high_watermarks(platform, topic.name) == before + 1


def murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2 (org.apache.kafka.common.utils), in 32-bit two's complement."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = length & ~3
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: str, partitions: int) -> int:
    """The Java producer's partition of a keyed record: toPositive(murmur2(key bytes)) % partitions."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


JAVA_MURMUR2 = """
import java.util.HexFormat;
import org.apache.kafka.common.utils.Utils;

/** Prints Utils.murmur2 of each argument's bytes (given in hex): the Java producer's key hash. */
public class Murmur2 {
    public static void main(String[] args) {
        for (String arg : args) {
            System.out.println(Utils.murmur2(HexFormat.of().parseHex(arg)));
        }
    }
}
"""


@pytest.fixture(scope="module")
def java(platform, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """Runs a class of the Java programs above, compiled once against the platform's kafka-clients."""
    jars = kafka_client_jars(platform)
    work = tmp_path_factory.mktemp("java")
    for name, source in (("Murmur2", JAVA_MURMUR2), ("KeyedJavaProducer", JAVA_PRODUCER)):
        (work / f"{name}.java").write_text(source)
    compiled = subprocess.run(
        ["javac", "-cp", jars, "-d", str(work), *map(str, work.glob("*.java"))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert compiled.returncode == 0, compiled.stderr[-3000:]

    def run(main_class: str, *args: str) -> str:
        result = subprocess.run(
            ["java", "-cp", f"{work}{os.pathsep}{jars}", main_class, *args], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    return run


def test_the_murmur2_reference_is_kafkas_utils_murmur2(java: Callable[..., str]) -> None:
    rng = random.Random(2026)
    inputs = ["21", "foobar", "a-little-bit-long-string", "abc", "BHP", "BTCUSDT", "Société", "株式"]
    inputs += ["".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n)) for n in range(1, 40)]
    from_java = java("Murmur2", *(text.encode().hex() for text in inputs)).split()
    assert [murmur2(text.encode()) for text in inputs] == [int(line) for line in from_java]


JAVA_PRODUCER = """
import java.util.HexFormat;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Sends key:hex-value pairs to a topic with the Java producer's default partitioner; prints key partition. */
public class KeyedJavaProducer {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("acks", "all");
        try (KafkaProducer<String, byte[]> producer =
                new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
            for (int i = 2; i < args.length; i++) {
                String[] kv = args[i].split(":", 2);
                int partition = producer.send(new ProducerRecord<>(args[1], kv[0], HexFormat.of().parseHex(kv[1])))
                    .get().partition();
                System.out.println(kv[0] + " " + partition);
            }
        }
    }
}
"""


def kafka_client_jars(platform) -> str:
    tools = Path(os.environ.get("K2_TOOLS_DIR", Path.home() / ".cache" / "k2infra" / "tools"))
    version = platform.env.get("K2_KAFKA_VERSION", "3.9.2")
    libs = tools / f"kafka-{version}" / "libs"
    if not list(libs.glob("kafka-clients-*.jar")):
        pytest.fail(f"no kafka-clients jar in {libs}: run tools/platform.sh start once to resolve Kafka")
    return f"{libs}/*"


def test_a_symbol_lands_in_the_same_partition_as_from_a_java_producer(
    stack: Deployed, java: Callable[..., str]
) -> None:
    app = stack.platform
    symbols = [
        *(i.symbol for i in instruments("equities", "asx")),
        *(["ANZ", "NAB", "WES", "WOW", "TLS", "RIO", "FMG", "MQG", "TCL", "GMG", "WDS", "STO", "QBE", "SUN", "ORG"]),
    ]
    topic = app.topic("market.equities.trades.asx")
    assert topic.partitions == 12
    factory = RecordFactory()
    template = instruments("equities", "asx")[0]
    batch = []
    for symbol in symbols:
        record = {**factory.record(topic, template), "symbol": symbol, "sequence_number": next(_unique)}
        batch.append((topic.name, record))
    expected = {s: java_partition(s, topic.partitions) for s in symbols}

    # Two of the library's producer configurations (defaults; batching, compression and another client id).
    first = {key: part for _, part, key in produce(app, batch)}
    second = {
        key: part
        for _, part, key in produce(
            app, batch, {"linger.ms": 20, "compression.type": "zstd", "batch.num.messages": 5, "client.id": "other"}
        )
    }
    assert first == expected and second == expected

    # A real Java producer (kafka-clients of the platform's Kafka) sending the same keys and Avro values.
    settings = producer_settings(app)
    serialize = AvroSerializer(SchemaRegistryClient(settings.schema_registry), conf=settings.serializer)
    ctx = SerializationContext(topic.name, MessageField.VALUE)
    pairs = [f"{record['symbol']}:{serialize(record, ctx).hex()}" for _, record in batch]
    from_java = dict(
        line.split() for line in java("KeyedJavaProducer", app.bootstrap_servers, topic.name, *pairs).splitlines()
    )
    assert {key: int(part) for key, part in from_java.items()} == expected

    # Sensitivity: librdkafka's own default partitioner would have put some of them elsewhere.
    default = Producer({"bootstrap.servers": app.bootstrap_servers})
    placed: dict[str, int] = {}
    for _, record in batch[:10]:
        default.produce(
            topic.name,
            key=record["symbol"],
            value=serialize(record, ctx),
            on_delivery=lambda err, msg: placed.__setitem__(msg.key().decode(), msg.partition()),
        )
    assert default.flush(30) == 0
    assert any(placed[s] != expected[s] for s in placed)


def test_the_example_producer_and_consumer_run_in_one_command_each(stack: Deployed) -> None:
    python = [sys.executable, "-m"]
    produced = subprocess.run(
        [
            *python,
            "examples.producer",
            "--outputs",
            str(stack.outputs_file),
            "--exchange",
            "equities.asx",
            "--trades",
            "2",
            "--quotes",
            "2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert produced.returncode == 0, produced.stderr
    assert "produced 20 records to 3 topics" in produced.stdout  # 4 instruments x (1 reference + 2 trades + 2 quotes)
    consumed = subprocess.run(
        [
            *python,
            "examples.consumer",
            "--outputs",
            str(stack.outputs_file),
            "--exchange",
            "equities.asx",
            "--max-records",
            "20",
            "--timeout",
            "60",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert consumed.returncode == 0, consumed.stderr
    rows = [json.loads(line) for line in consumed.stdout.splitlines()]
    assert len(rows) == 20
    assert {row["topic"] for row in rows} <= set(stack.platform.subscriptions.by_exchange["equities.asx"])
    assert all(row["key"] == row["value"]["symbol"] for row in rows)
    by_pattern = subprocess.run(
        [
            *python,
            "examples.consumer",
            "--outputs",
            str(stack.outputs_file),
            "--asset-class",
            "crypto",
            "--pattern",
            "--max-records",
            "5",
            "--timeout",
            "60",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert by_pattern.returncode == 0, by_pattern.stderr
    assert r"subscribed to ^market\.crypto\." in by_pattern.stderr
    lines = by_pattern.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("market.crypto.") for line in lines)


def test_an_app_stack_feeds_its_consumer_configuration_from_the_stack_reference(
    stack: Deployed, tmp_path: Path
) -> None:
    app = PulumiProject(tmp_path / "app", "app", stack.project.env)
    app.dir.mkdir()
    example = REPO / "examples" / "app-deploy"
    (app.dir / "Pulumi.yaml").write_text(
        (example / "Pulumi.yaml").read_text().replace("../../.venv", str(REPO / ".venv"))
    )
    (app.dir / "__main__.py").write_text((example / "__main__.py").read_text())
    app.run("stack", "init", "app")
    app.configure(
        {
            "k2-app-deploy:infraStack": f"organization/k2infra/{STACK}",
            "k2-app-deploy:subscription": "by_data_type:trades",
            "k2-app-deploy:groupId": "trade-analytics",
            "k2-app-deploy:saslUsername": "trade-analytics",
        }
    )
    app.set_secret("k2-app-deploy:saslPassword", "app-pa55")
    app.up()
    out = read_outputs(app)
    platform = stack.platform
    assert out["topics"] == platform.subscriptions.by_data_type["trades"]
    assert out["pattern"] == platform.patterns.by_data_type["trades"]
    assert out["schema_subjects"] == ["market.crypto.trades-value", "market.equities.trades-value"]
    assert out["partition_key_fields"] == ["symbol"]
    # PLAINTEXT platform: no SASL, so the app's credentials are not used; the rest is the library's.
    assert out["consumer_config"] == consumer_settings(platform, "trade-analytics").kafka
    assert "app-pa55" not in app.run("stack", "output", "--json").stdout
    app.destroy()


def test_the_guides_producing_and_consuming_block_runs_as_written(
    stack: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guide = REPO / "docs" / "applications.md"
    blocks = re.findall(r"<!-- doctest: e2e -->\n```python\n(.*?)```", guide.read_text(), re.S)
    assert blocks
    (tmp_path / "outputs.json").write_text(stack.outputs_file.read_text())  # as the guide says to save it
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, str(guide), "exec"), {})


def test_a_pattern_consumer_receives_a_new_exchange_without_a_restart(stack: Deployed) -> None:
    old = stack.platform
    nyse = "market.equities.trades.nyse"
    assert nyse not in old.topics
    consumer, deserialize = new_consumer(
        old, old.patterns.by_data_type["trades"], **{"topic.metadata.refresh.interval.ms": 1000}
    )
    received: list[Received] = []
    try:
        consume(consumer, deserialize, lambda _: bool(consumer.assignment()), received=received)
        assert {tp.topic for tp in consumer.assignment()} == set(old.subscriptions.by_data_type["trades"])

        stack.project.edit_topology(
            lambda t: t["asset_classes"]["equities"]["exchanges"].update(
                nyse={
                    "name": "New York Stock Exchange",
                    "partitions": 6,
                    "country": "US",
                    "timezone": "America/New_York",
                }
            )
        )
        deploy = threading.Thread(target=stack.project.up)
        deploy.start()
        while deploy.is_alive():  # the consumer keeps polling, as a running app does
            consume(consumer, deserialize, lambda _: False, timeout=1, received=received)
        deploy.join()
        new = Platform.from_outputs(read_outputs(stack.project))
        assert nyse in new.topics

        sent = [(nyse, record) for record in records_for(new.topic(nyse))]
        produce(new, sent)  # a producer deployed with the new outputs
        consume(consumer, deserialize, seen((t, r["sequence_number"]) for t, r in sent), received=received)
        assigned = {tp.topic for tp in consumer.assignment()}
    finally:
        consumer.close()
    got = ours(received, sent)
    assert len(got) == len(sent)
    assert all(got[(t, r["sequence_number"])].value == r for t, r in sent)
    assert nyse in assigned
