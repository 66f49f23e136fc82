"""The application library without a cluster: loading the platform, names, subjects, client configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from confluent_kafka.serialization import MessageField, SerializationContext

from k2infra.client import (
    AppCredentials,
    CredentialsError,
    DataType,
    Platform,
    PlatformLoadError,
    SubjectNameStrategy,
    SubscriptionBuilder,
    Topic,
    TopicConfig,
    TopicNameBuilder,
    UnknownTopicError,
    consumer_settings,
    producer_settings,
    schema_registry_config,
)
from k2infra.model.outputs import plan_outputs
from k2infra.model.plan import load_plan
from k2infra.model.stack import Stack, load_stack_file
from tests.conftest import REPO


def _plan_and_connections(stack: Stack) -> tuple:
    return stack.plan, stack.connections


def outputs_of(stack: str, **security: object) -> dict:
    """A stack's outputs as `pulumi stack output --json --show-secrets` prints them."""
    outputs = plan_outputs(*_plan_and_connections(load_stack_file(REPO / "config", stack, REPO)))
    outputs["schemas"] = {
        t["schema_subject"]: {"id": 1, "version": 1, "compatibility": "BACKWARD", "topics": []}
        for t in outputs["topics"].values()
    }
    outputs["kafka_security"].update(security)
    return json.loads(json.dumps(outputs))


@pytest.fixture(scope="module")
def platform() -> Platform:
    return Platform.from_outputs(outputs_of("prod"))


# -- loading ----------------------------------------------------------------------------------


def test_the_outputs_and_the_topology_describe_the_same_platform(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs_of("prod")))
    from_file = Platform.from_outputs_file(path)
    from_topology = Platform.from_topology(REPO / "config", "prod", REPO)
    assert from_file.topics == from_topology.topics
    assert from_file.exchanges == from_topology.exchanges
    assert from_file.patterns == from_topology.patterns
    assert from_topology.schemas == {}  # ids and versions exist only once deployed
    assert Platform.load(path).topics == from_file.topics
    assert Platform.load(REPO / "config").topics.keys() == from_file.topics.keys()


def test_unreadable_sources_say_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PlatformLoadError, match=r"cannot read the stack outputs file .*missing.json"):
        Platform.from_outputs_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("Current stack is dev:\n")
    with pytest.raises(PlatformLoadError, match=r"the outputs in .*bad.json: not JSON"):
        Platform.from_outputs_file(tmp_path / "bad.json")
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi there
    with pytest.raises(PlatformLoadError, match=r"the Pulumi CLI .* is not on PATH"):
        Platform.from_stack("dev")
    with pytest.raises(PlatformLoadError, match=r"the Pulumi CLI .* is not there"):
        Platform.from_stack("dev", pulumi_root=tmp_path / "no-such-pulumi")


def test_from_stack_without_the_pulumi_sdk_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pulumi", None)  # as if the `deploy` extra were not installed
    monkeypatch.delitem(sys.modules, "k2infra.ops.pulumi_driver", raising=False)
    with pytest.raises(PlatformLoadError, match=r"needs the Pulumi SDK \(pip install 'k2infra\[deploy\]'\)"):
        Platform.from_stack("dev")


# -- the builders over the outputs ----------------------------------------------------------------


def test_data_type_enum_is_the_topologys_data_types() -> None:
    topology = yaml.safe_load((REPO / "config" / "kafka" / "topics.yaml").read_text())
    assert {dt.value for dt in DataType} == set(topology["data_types"])


def test_topic_builder_from_outputs_gives_the_seed_topic_config(platform: Platform) -> None:
    builder = TopicNameBuilder(platform)
    assert builder.build_topic_name("equities", DataType.TRADES, "asx") == "market.equities.trades.asx"
    config = builder.get_topic_config("equities", DataType.TRADES, "asx")
    assert (config.asset_class, config.data_type, config.exchange) == ("equities", DataType.TRADES, "asx")
    assert config.partitions == 30
    assert config.config["compression.type"] == "lz4"
    assert config.schema_subject == "market.equities.trades-value"
    assert config.schema_name == "trade"
    assert config.partition_key == "symbol"
    assert config.key_of({"symbol": "BHP", "price": 1}) == "BHP"
    with pytest.raises(KeyError, match="no 'symbol' field, its partition key"):
        config.key_of({"price": 1})


def test_the_seeds_topic_config_names_still_work_and_say_they_are_deprecated(platform: Platform) -> None:
    config: TopicConfig = TopicNameBuilder(platform).get_topic_config("equities", DataType.TRADES, "asx")
    assert isinstance(config, Topic)
    with pytest.deprecated_call(match="use Topic.config"):
        assert config.kafka_config["compression.type"] == "lz4"
    with pytest.deprecated_call(match="use Topic.partition_key"):
        assert config.partition_key_field == "symbol"


def test_builders_give_the_same_answers_from_the_plan_and_from_the_outputs(platform: Platform) -> None:
    plan = load_plan(REPO / "config", "prod", REPO)
    for source in (plan, platform):
        subs = SubscriptionBuilder(source)
        assert subs.subscribe_to_exchange("equities", "asx") == [
            "market.equities.quotes.asx",
            "market.equities.reference_data.asx",
            "market.equities.trades.asx",
        ]
        assert subs.subscribe_to_asset_class("equities", data_types=[DataType.TRADES], exchanges=["asx"]) == [
            "market.equities.trades.asx"
        ]
        assert subs.subscribe_to_data_type(DataType.QUOTES) == [
            "market.crypto.quotes.binance",
            "market.equities.quotes.asx",
        ]
        assert TopicNameBuilder(source).exchange("crypto", "binance").timezone == "UTC"


def test_pattern_builders_check_the_names_they_are_given(platform: Platform) -> None:
    subs = SubscriptionBuilder(platform)
    assert subs.exchange_pattern("equities", "asx") == platform.patterns.by_exchange["equities.asx"]
    assert subs.data_type_pattern(DataType.TRADES) == platform.patterns.by_data_type["trades"]
    assert subs.asset_class_pattern("crypto") == platform.patterns.by_asset_class["crypto"]
    assert (
        subs.asset_class_pattern("crypto", [DataType.TRADES])
        == (platform.patterns.by_asset_class_and_data_type["crypto.trades"])
    )
    with pytest.raises(
        UnknownTopicError, match=r"unknown data type 'candles' \(known: quotes, reference_data, trades\)"
    ):
        subs.data_type_pattern("candles")
    with pytest.raises(UnknownTopicError, match=r"unknown exchange 'equities\.nyse'"):
        subs.exchange_pattern("equities", "nyse")


# -- the subject-name strategy -----------------------------------------------------------------------


def value_of(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def test_every_topic_maps_to_its_asset_class_subject(platform: Platform) -> None:
    strategy = SubjectNameStrategy(platform)
    got = {name: strategy(value_of(name), "k2.market.equities.trade") for name in platform.topics}
    assert got == {
        "market.crypto.quotes.binance": "market.crypto.quotes-value",
        "market.crypto.reference_data.binance": "market.crypto.reference_data-value",
        "market.crypto.trades.binance": "market.crypto.trades-value",
        "market.equities.quotes.asx": "market.equities.quotes-value",
        "market.equities.reference_data.asx": "market.equities.reference_data-value",
        "market.equities.trades.asx": "market.equities.trades-value",
    }


def test_a_topic_the_platform_does_not_have_is_refused_with_what_it_has(platform: Platform) -> None:
    strategy = SubjectNameStrategy(platform)
    with pytest.raises(
        UnknownTopicError, match=r"'market.equities.trades.nyse' is not a topic .*exchanges of equities: asx"
    ):
        strategy(value_of("market.equities.trades.nyse"), None)
    with pytest.raises(
        UnknownTopicError, match=r"'orders' is not a topic .*market.<asset_class>.<data_type>.<exchange>"
    ):
        strategy(value_of("orders"), None)
    with pytest.raises(UnknownTopicError, match=r"crypto\.quotes, crypto\.reference_data"):
        strategy(value_of("market.equities.candles.asx"), None)


def test_consumers_map_a_later_exchange_of_a_known_class_to_its_shared_subject(platform: Platform) -> None:
    strategy = SubjectNameStrategy(platform, accept_new_exchanges=True)
    assert strategy(value_of("market.equities.trades.nyse"), None) == "market.equities.trades-value"
    with pytest.raises(UnknownTopicError):
        strategy(value_of("market.fx.trades.ebs"), None)  # no subject of (fx, trades) exists


def test_keys_and_missing_contexts_are_refused_with_the_fix(platform: Platform) -> None:
    strategy = SubjectNameStrategy(platform)
    with pytest.raises(ValueError, match=r"no key schema .*symbol.* StringSerializer"):
        strategy(SerializationContext("market.equities.trades.asx", MessageField.KEY), None)
    with pytest.raises(ValueError, match="SerializationContext"):
        strategy(None, None)


def test_the_stock_avro_serializer_accepts_the_librarys_configuration() -> None:
    # Construction checks every key (it refuses unknown ones); e2e tests use them against the registry.
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer

    platform = Platform.from_outputs(outputs_of("dev"))
    settings = producer_settings(platform)
    registry = SchemaRegistryClient(settings.schema_registry)  # no request is made until a record is
    serializer = AvroSerializer(registry, conf=settings.serializer)
    assert serializer._subject_name_func is settings.serializer["subject.name.strategy"]
    assert serializer._strategy_accepts_client is False  # so it is called as (ctx, record_name)
    deserializer = AvroDeserializer(registry, conf=consumer_settings(platform, "g").deserializer)
    assert deserializer._subject_name_func.accept_new_exchanges


# -- client configurations ---------------------------------------------------------------------------


def test_producer_settings_on_a_plaintext_dev_platform() -> None:
    settings = producer_settings(Platform.from_outputs(outputs_of("dev")))
    assert settings.kafka == {
        "bootstrap.servers": "127.0.0.1:19092",
        "security.protocol": "PLAINTEXT",
        "partitioner": "murmur2_random",
        "acks": "all",
        "enable.idempotence": True,
    }
    assert settings.schema_registry == {"url": "http://127.0.0.1:18081/apis/ccompat/v7", "timeout": 10}
    assert settings.serializer["auto.register.schemas"] is False
    assert settings.serializer["use.latest.version"] is True
    assert isinstance(settings.serializer["subject.name.strategy"], SubjectNameStrategy)
    assert settings.partition_key_field("market.crypto.trades.binance") == "symbol"


def test_sasl_and_tls_come_from_the_outputs_and_the_credentials_from_the_app() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    platform = Platform.from_outputs(outputs_of("prod", ca_cert=pem))
    with pytest.raises(CredentialsError, match="requires SASL SCRAM-SHA-512: pass AppCredentials"):
        producer_settings(platform)
    credentials = AppCredentials(
        sasl_username="md-reader", sasl_password="s3cret", schema_registry_username="md", schema_registry_password="pw"
    )
    kafka = consumer_settings(platform, "md-readers", credentials).kafka
    assert kafka["security.protocol"] == "SASL_SSL"
    assert (kafka["sasl.mechanism"], kafka["sasl.username"], kafka["sasl.password"]) == (
        "SCRAM-SHA-512",
        "md-reader",
        "s3cret",
    )
    assert kafka["ssl.ca.pem"] == pem
    assert (kafka["group.id"], kafka["auto.offset.reset"]) == ("md-readers", "earliest")
    assert schema_registry_config(platform, credentials)["basic.auth.user.info"] == "md:pw"
    assert "s3cret" not in repr(credentials) and "pw" not in repr(credentials)


def test_credentials_from_the_environment() -> None:
    env = {"K2_APP_SASL_USERNAME": "u", "K2_APP_SASL_PASSWORD": "p", "K2_APP_SCHEMA_REGISTRY_TOKEN": "t"}
    credentials = AppCredentials.from_env(env)
    assert (credentials.sasl_username, credentials.sasl_password, credentials.schema_registry_token) == ("u", "p", "t")
    with pytest.raises(CredentialsError, match="logical_cluster"):
        schema_registry_config(Platform.from_outputs(outputs_of("dev")), credentials)


def test_a_partitioner_that_breaks_the_java_contract_is_refused(platform: Platform) -> None:
    dev = Platform.from_outputs(outputs_of("dev"))
    with pytest.raises(ValueError, match="another partition than Java producers"):
        producer_settings(dev, overrides={"partitioner": "consistent_random"})
    assert producer_settings(dev, overrides={"linger.ms": 5}).kafka["linger.ms"] == 5


def test_the_library_imports_neither_pulumi_nor_a_kafka_client() -> None:
    code = (
        "import sys, k2infra.client\n"
        "loaded = [m for m in ('pulumi', 'confluent_kafka', 'requests') if m in sys.modules]\n"
        "sys.exit(str(loaded) if loaded else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
