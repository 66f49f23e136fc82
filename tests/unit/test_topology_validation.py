"""Every validation rule of the topology file: the message names the file, line and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from k2infra.model.errors import TopologyError
from k2infra.model.topology import load_topology

TOPOLOGY = Path("kafka") / "topics.yaml"


def problems(config_dir: Path) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        load_topology(config_dir)
    return [str(p) for p in caught.value.problems]


def write(config_dir: Path, text: str) -> None:
    (config_dir / TOPOLOGY).write_text(text)


def replace_in_topology(config_dir: Path, old: str, new: str) -> None:
    path = config_dir / TOPOLOGY
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not in topology"
    path.write_text(text.replace(old, new, 1))


def line_of(config_dir: Path, needle: str) -> int:
    for number, line in enumerate((config_dir / TOPOLOGY).read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_the_repository_topology_is_valid(config_dir: Path) -> None:
    loaded = load_topology(config_dir)
    assert set(loaded.topology.asset_classes) == {"equities", "crypto"}
    assert len(loaded.schemas) == 6


def test_partitions_out_of_range_names_file_line_and_field(config_dir: Path) -> None:
    replace_in_topology(config_dir, "partitions: 30", "partitions: 0")
    line = line_of(config_dir, "partitions: 0")
    assert problems(config_dir) == [
        f"{config_dir / TOPOLOGY}:{line}: asset_classes.equities.exchanges.asx.partitions: "
        "must be an integer between 1 and 10000, got 0"
    ]


@pytest.mark.parametrize(
    ("written", "shown"),
    [("10001", "10001"), ("true", "true"), ("1.5", "1.5"), ('"30"', "'30'"), ("-3", "-3")],
)
def test_partitions_must_be_strict_integers_in_range(config_dir: Path, written: str, shown: str) -> None:
    replace_in_topology(config_dir, "partitions: 40", f"partitions: {written}")
    [message] = problems(config_dir)
    assert message.endswith(
        f"asset_classes.crypto.exchanges.binance.partitions: must be an integer between 1 and 10000, got {shown}"
    )


def test_replication_factor_must_be_at_least_one(config_dir: Path) -> None:
    replace_in_topology(config_dir, "replication_factor: 3", "replication_factor: 0")
    [message] = problems(config_dir)
    assert "defaults.replication_factor: must be an integer between 1 and 32767, got 0" in message


def test_unknown_key_suggests_the_right_one(config_dir: Path) -> None:
    replace_in_topology(config_dir, "partitions: 30", "partitons: 30")
    line = line_of(config_dir, "partitons: 30")
    found = problems(config_dir)
    assert (
        f"{config_dir / TOPOLOGY}:{line}: asset_classes.equities.exchanges.asx.partitons: "
        "unknown key (did you mean 'partitions'?)" in found
    )
    # The exchange now also lacks its partition count, reported in the same run.
    assert any(m.endswith("asset_classes.equities.exchanges.asx.partitions: required field is missing") for m in found)


def test_unknown_top_level_key(config_dir: Path) -> None:
    path = config_dir / TOPOLOGY
    path.write_text(path.read_text() + "\nbrokers: {}\nasset_clases: {}\n")
    found = problems(config_dir)
    assert any(
        m.endswith("brokers: unknown key (expected one of: defaults, data_types, asset_classes, legacy)") for m in found
    )
    assert any(m.endswith("asset_clases: unknown key (did you mean 'asset_classes'?)") for m in found)


def test_duplicate_yaml_keys_are_errors(config_dir: Path) -> None:
    replace_in_topology(config_dir, "        partitions: 30\n", "        partitions: 30\n        partitions: 31\n")
    line = line_of(config_dir, "partitions: 31")
    [message] = problems(config_dir)
    assert message == (
        f"{config_dir / TOPOLOGY}:{line}: asset_classes.equities.exchanges.asx.partitions: "
        f"duplicate key (first defined on line {line - 1})"
    )


def test_yaml_syntax_error_has_a_line(config_dir: Path) -> None:
    write(config_dir, "defaults:\n  replication_factor: 3\n  config: {a: 1\n")
    [message] = problems(config_dir)
    assert message.startswith(f"{config_dir / TOPOLOGY}:")
    assert "invalid YAML" in message


def test_empty_file(config_dir: Path) -> None:
    write(config_dir, "# nothing here\n")
    assert problems(config_dir) == [f"{config_dir / TOPOLOGY}: the file is empty; expected a mapping"]


def test_top_level_must_be_a_mapping(config_dir: Path) -> None:
    write(config_dir, "- equities\n- crypto\n")
    assert problems(config_dir) == [f"{config_dir / TOPOLOGY}:1: the top level must be a mapping, got list"]


def test_missing_topology_file(tmp_path: Path) -> None:
    assert problems(tmp_path) == [f"{tmp_path / TOPOLOGY}: file not found"]


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("  equities:\n", "  Equities:\n", "asset_classes.Equities"),
        ("      asx:\n", "      asx.au:\n", "asset_classes.equities.exchanges[asx.au]"),
        ("  quotes:\n", "  top-of-book:\n", "data_types.top-of-book"),
        ("      binance:\n", "      9binance:\n", "asset_classes.crypto.exchanges.9binance"),
    ],
)
def test_names_are_lowercase_identifiers_without_dots(config_dir: Path, old: str, new: str, path: str) -> None:
    replace_in_topology(config_dir, old, new)
    found = problems(config_dir)
    assert any(
        f": {path}: names must be lowercase letters, digits and underscores, starting with a letter (no dots)" in m
        for m in found
    ), found


def test_topic_names_must_be_legal_for_kafka(config_dir: Path) -> None:
    long_code = "x" * 240
    replace_in_topology(config_dir, "      binance:\n", f"      {long_code}:\n")
    found = problems(config_dir)
    assert any("is not legal for Kafka (at most 249 characters" in m for m in found), found


def test_unknown_kafka_config_key_suggests(config_dir: Path) -> None:
    replace_in_topology(config_dir, "retention.ms: 604800000", "retention.msx: 604800000")
    line = line_of(config_dir, "retention.msx")
    [message] = problems(config_dir)
    assert message.startswith(
        f"{config_dir / TOPOLOGY}:{line}: defaults.config[retention.msx]: unknown Kafka topic config"
    )
    assert "did you mean 'retention.ms'?" in message


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ("compression.type: lz4", "compression.type: zip", "defaults.config[compression.type]", "zip"),
        ("retention.ms: 259200000", "retention.ms: soon", "data_types.quotes.config[retention.ms]", "soon"),
        (
            "cleanup.policy: compact",
            "cleanup.policy: compact,foo",
            "data_types.reference_data.config[cleanup.policy]",
            "foo",
        ),
        ("min.insync.replicas: 2", "min.insync.replicas: true", "defaults.config[min.insync.replicas]", "true"),
        ("max.message.bytes: 1048576", "max.message.bytes: 1.5", "defaults.config[max.message.bytes]", "1.5"),
        (
            "unclean.leader.election.enable: false",
            "unclean.leader.election.enable: maybe",
            "defaults.config[unclean.leader.election.enable]",
            "maybe",
        ),
    ],
)
def test_kafka_config_values_are_type_checked(config_dir: Path, old: str, new: str, field: str, expected: str) -> None:
    replace_in_topology(config_dir, old, new)
    [message] = problems(config_dir)
    assert f": {field}: " in message
    assert expected in message


def test_asset_class_without_exchanges(config_dir: Path, edit_topology: Callable) -> None:
    edit_topology(lambda t: t["asset_classes"]["crypto"].update(exchanges={}))
    [message] = problems(config_dir)
    assert message.endswith("asset_classes.crypto.exchanges: an asset class needs at least one exchange")


def test_invalid_timezone(config_dir: Path) -> None:
    replace_in_topology(config_dir, "timezone: Australia/Sydney", "timezone: Australia/Sydny")
    [message] = problems(config_dir)
    assert message.endswith(
        "asset_classes.equities.exchanges.asx.timezone: "
        "must be an IANA timezone name such as 'Australia/Sydney' or 'UTC', got 'Australia/Sydny'"
    )


def test_exchange_naming_an_unknown_data_type(config_dir: Path, edit_topology: Callable) -> None:
    edit_topology(
        lambda t: t["asset_classes"]["crypto"]["exchanges"]["binance"].update(data_types=["trades", "candles"])
    )
    [message] = problems(config_dir)
    assert "asset_classes.crypto.exchanges.binance.data_types[1]: unknown data type 'candles'" in message


def test_all_problems_are_reported_at_once(config_dir: Path) -> None:
    replace_in_topology(config_dir, "partitions: 30", "partitions: 0")
    replace_in_topology(config_dir, "timezone: UTC", "timezone: Mars/Olympus")
    replace_in_topology(config_dir, "compression.type: lz4", "compression.type: zip")
    (config_dir / "schemas" / "crypto" / "quotes.avsc").unlink()
    found = problems(config_dir)
    assert len(found) == 4, found


def schema_file(config_dir: Path, name: str = "trades") -> Path:
    return config_dir / "schemas" / "equities" / f"{name}.avsc"


def test_missing_schema_file(config_dir: Path) -> None:
    schema_file(config_dir).unlink()
    [message] = problems(config_dir)
    assert message == f"{schema_file(config_dir)}: missing schema file for equities/trades"


def test_schema_that_is_not_json_has_a_line(config_dir: Path) -> None:
    schema_file(config_dir).write_text('{\n  "type": "record",\n  "name": trade\n}\n')
    [message] = problems(config_dir)
    assert message.startswith(f"{schema_file(config_dir)}:3: not valid JSON")


def test_schema_that_is_not_valid_avro(config_dir: Path) -> None:
    schema_file(config_dir).write_text(
        json.dumps({"type": "record", "name": "trade", "fields": [{"name": "symbol", "type": "strng"}]})
    )
    [message] = problems(config_dir)
    assert message.startswith(f"{schema_file(config_dir)}: not a valid Avro schema")


def test_schema_record_name_must_match_the_data_type(config_dir: Path) -> None:
    schema = json.loads(schema_file(config_dir).read_text())
    schema["name"] = "trade_event"
    schema_file(config_dir).write_text(json.dumps(schema))
    [message] = problems(config_dir)
    assert "record name 'trade_event' differs from data_types.trades.schema 'trade'" in message


def test_schema_must_hold_the_partition_key(config_dir: Path) -> None:
    schema = json.loads(schema_file(config_dir).read_text())
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "symbol"]
    schema_file(config_dir).write_text(json.dumps(schema))
    [message] = problems(config_dir)
    assert "lacks the partition key field 'symbol'" in message


def test_adding_an_exchange_needs_only_the_topology(config_dir: Path, edit_topology: Callable) -> None:
    edit_topology(
        lambda t: t["asset_classes"]["equities"]["exchanges"].update(
            nyse={"name": "New York Stock Exchange", "partitions": 100, "country": "US", "timezone": "America/New_York"}
        )
    )
    loaded = load_topology(config_dir)
    assert loaded.topology.asset_classes["equities"].exchanges["nyse"].partitions == 100
