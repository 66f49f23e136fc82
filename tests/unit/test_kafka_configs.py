"""The Kafka topic-config catalogue: which keys exist, what each accepts, and canonical strings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from k2infra.model.kafka_configs import (
    BASELINE_VERSION,
    INT_MAX,
    KNOWN_TOPIC_CONFIGS,
    LONG_MAX,
    STRICTER,
    TOPIC_CONFIGS,
    check_topic_config,
    read_catalogue,
    to_config_string,
)

# LogConfig.configNames() of the Kafka 3.9.2 broker: the "Topic Configs" table of the 3.9 docs.
KAFKA_3_9_TOPIC_CONFIGS = frozenset(
    {
        "cleanup.policy",
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.type",
        "compression.zstd.level",
        "delete.retention.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "follower.replication.throttled.replicas",
        "index.interval.bytes",
        "leader.replication.throttled.replicas",
        "local.retention.bytes",
        "local.retention.ms",
        "max.compaction.lag.ms",
        "max.message.bytes",
        "message.downconversion.enable",
        "message.format.version",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.difference.max.ms",
        "message.timestamp.type",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "min.insync.replicas",
        "preallocate",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
        "remote.storage.enable",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.index.bytes",
        "segment.jitter.ms",
        "segment.ms",
        "unclean.leader.election.enable",
    }
)

# A valid value for every key, typed as YAML would give it.
VALID_VALUES: dict[str, object] = {
    "cleanup.policy": "compact",
    "compression.gzip.level": 6,
    "compression.lz4.level": 12,
    "compression.type": "zstd",
    "compression.zstd.level": -5,
    "delete.retention.ms": 86400000,
    "file.delete.delay.ms": 60000,
    "flush.messages": 10000,
    "flush.ms": 1000,
    "follower.replication.throttled.replicas": "*",
    "index.interval.bytes": 4096,
    "leader.replication.throttled.replicas": "0:101,1:102",
    "local.retention.bytes": 1073741824,
    "local.retention.ms": 3600000,
    "max.compaction.lag.ms": 604800000,
    "max.message.bytes": 2097152,
    "message.downconversion.enable": False,
    "message.format.version": "3.0",
    "message.timestamp.after.max.ms": 3600000,
    "message.timestamp.before.max.ms": 86400000,
    "message.timestamp.difference.max.ms": 86400000,
    "message.timestamp.type": "LogAppendTime",
    "min.cleanable.dirty.ratio": 0.1,
    "min.compaction.lag.ms": 0,
    "min.insync.replicas": 2,
    "preallocate": True,
    "remote.log.copy.disable": False,
    "remote.log.delete.on.disable": False,
    "remote.storage.enable": True,
    "retention.bytes": -1,
    "retention.ms": 604800000,
    "segment.bytes": 536870912,
    "segment.index.bytes": 10485760,
    "segment.jitter.ms": 0,
    "segment.ms": 3600000,
    "unclean.leader.election.enable": False,
}


def test_catalogue_holds_every_kafka_3_9_topic_config() -> None:
    assert KNOWN_TOPIC_CONFIGS == KAFKA_3_9_TOPIC_CONFIGS
    assert set(VALID_VALUES) == KNOWN_TOPIC_CONFIGS


@pytest.mark.parametrize("key", sorted(KAFKA_3_9_TOPIC_CONFIGS))
def test_every_config_accepts_a_valid_value(key: str) -> None:
    assert check_topic_config(key, VALID_VALUES[key]) is None


@pytest.mark.parametrize("key", sorted(KAFKA_3_9_TOPIC_CONFIGS))
def test_every_config_accepts_its_canonical_string_and_kafka_default(key: str) -> None:
    assert check_topic_config(key, to_config_string(key, VALID_VALUES[key])) is None
    assert check_topic_config(key, TOPIC_CONFIGS[key].default) is None


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("retention.msx", "unknown Kafka topic config 'retention.msx' (did you mean 'retention.ms'?)"),
        ("cleanup.polcy", "unknown Kafka topic config 'cleanup.polcy' (did you mean 'cleanup.policy'?)"),
        ("replication.factor", "unknown Kafka topic config 'replication.factor'"),
        (
            "log.retention.ms",
            "unknown Kafka topic config 'log.retention.ms'"
            " (that is a broker property; the topic config is 'retention.ms')",
        ),
        (
            "log.retention.hours",
            "unknown Kafka topic config 'log.retention.hours'"
            " (that is a broker property; the topic config is 'retention.ms', in milliseconds)",
        ),
        (
            "message.max.bytes",
            "unknown Kafka topic config 'message.max.bytes'"
            " (that is a broker property; the topic config is 'max.message.bytes')",
        ),
    ],
)
def test_unknown_key_is_rejected_with_a_pointer_to_the_right_one(key: str, message: str) -> None:
    assert check_topic_config(key, 1) == message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retention.ms", "604800000"),
        ("retention.ms", " +604800000 "),
        ("retention.ms", -1),
        ("retention.ms", LONG_MAX),
        ("retention.bytes", -1),
        ("local.retention.ms", -2),
        ("local.retention.bytes", -1),
        ("segment.bytes", 14),
        ("segment.bytes", INT_MAX),
        ("max.message.bytes", 0),
        ("compression.gzip.level", -1),
        ("compression.gzip.level", 9),
        ("compression.zstd.level", -131072),
        ("min.cleanable.dirty.ratio", 0),
        ("min.cleanable.dirty.ratio", 1),
        ("min.cleanable.dirty.ratio", "0.25"),
        ("min.cleanable.dirty.ratio", "5e-1"),
        ("preallocate", "TRUE"),
        ("preallocate", " false "),
        ("compression.type", " gzip "),
        ("cleanup.policy", "delete"),
        ("cleanup.policy", "compact,delete"),
        ("cleanup.policy", "compact, delete"),
        ("cleanup.policy", ["delete", "compact"]),
        ("leader.replication.throttled.replicas", ""),
        ("leader.replication.throttled.replicas", "0:101, 1:102"),
        ("message.format.version", "3.0-IV1"),
        ("message.format.version", "2.8.1"),
        ("message.format.version", "0.10.2"),
    ],
)
def test_valid_value_is_accepted(key: str, value: object) -> None:
    assert check_topic_config(key, value) is None


MS_UNLIMITED = "must be an integer >= -1 (milliseconds, -1 = unlimited)"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        # longs and ints
        ("retention.ms", "abc", f"{MS_UNLIMITED}, got 'abc'"),
        ("retention.ms", True, f"{MS_UNLIMITED}, got true (a YAML boolean)"),
        ("retention.ms", 604800000.0, f"{MS_UNLIMITED}, got 604800000.0"),
        ("retention.ms", "604800000.0", f"{MS_UNLIMITED}, got '604800000.0'"),
        ("retention.ms", -2, f"{MS_UNLIMITED}, got -2"),
        ("retention.ms", None, f"{MS_UNLIMITED}, got nothing (null)"),
        ("retention.bytes", -2, "must be an integer >= -1 (bytes, -1 = unlimited), got -2"),
        ("segment.bytes", 13, "must be an integer >= 14 (bytes), got 13"),
        ("segment.bytes", INT_MAX + 1, f"must be an integer between 14 and {INT_MAX} (bytes), got {INT_MAX + 1}"),
        ("max.message.bytes", -1, "must be an integer >= 0 (bytes), got -1"),
        ("min.insync.replicas", 0, "must be an integer >= 1 (replicas), got 0"),
        ("min.insync.replicas", False, "must be an integer >= 1 (replicas), got false (a YAML boolean)"),
        ("segment.ms", 0, "must be an integer >= 1 (milliseconds), got 0"),
        ("compression.lz4.level", 18, "must be an integer between 1 and 17, got 18"),
        (
            "compression.gzip.level",
            0,
            "must be an integer between 1 and 9, or -1 (-1 = the codec's default level), got 0",
        ),
        # doubles
        (
            "min.cleanable.dirty.ratio",
            1.5,
            "must be a number between 0 and 1 (share of the log not yet compacted), got 1.5",
        ),
        (
            "min.cleanable.dirty.ratio",
            -0.1,
            "must be a number between 0 and 1 (share of the log not yet compacted), got -0.1",
        ),
        (
            "min.cleanable.dirty.ratio",
            True,
            "must be a number between 0 and 1 (share of the log not yet compacted), got true (a YAML boolean)",
        ),
        (
            "min.cleanable.dirty.ratio",
            "NaN",
            "must be a number between 0 and 1 (share of the log not yet compacted), got 'NaN'",
        ),
        # booleans
        ("preallocate", "yes", "must be true or false, got 'yes'"),
        ("preallocate", 1, "must be true or false, got 1"),
        # enums
        ("compression.type", "zip", "must be one of uncompressed, zstd, lz4, snappy, gzip, producer, got 'zip'"),
        (
            "message.timestamp.type",
            "createtime",
            "must be one of CreateTime, LogAppendTime, got 'createtime'"
            " (values are case-sensitive: did you mean 'CreateTime'?)",
        ),
        # lists
        ("cleanup.policy", "compact,foo", "must be a comma-separated list of delete and/or compact, got 'compact,foo'"),
        ("cleanup.policy", "compact,", "must be a comma-separated list of delete and/or compact, got 'compact,'"),
        ("cleanup.policy", "", "must be a comma-separated list of delete and/or compact, got ''"),
        (
            "leader.replication.throttled.replicas",
            "0:101,*",
            "must be '*' or a comma-separated list of partitionId:brokerId pairs (e.g. '0:101,1:102'), got '0:101,*'",
        ),
        # versions
        (
            "message.format.version",
            3.0,
            "must be a Kafka version such as '3.0' or '3.0-IV1' (quote it in YAML), got 3.0",
        ),
        ("message.format.version", "4.1", "must be a Kafka version such as '3.0' or '3.0-IV1', got '4.1'"),
    ],
)
def test_invalid_value_is_rejected_with_a_one_line_message(key: str, value: object, message: str) -> None:
    assert check_topic_config(key, value) == message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("retention.ms", 604800000, "604800000"),
        ("retention.ms", " +604800000 ", "604800000"),
        ("retention.ms", -1, "-1"),
        ("preallocate", True, "true"),
        ("unclean.leader.election.enable", False, "false"),
        ("preallocate", " TRUE ", "true"),
        ("min.cleanable.dirty.ratio", 0.5, "0.5"),
        ("min.cleanable.dirty.ratio", "0.50", "0.5"),
        ("min.cleanable.dirty.ratio", 1, "1.0"),
        ("compression.type", " zstd ", "zstd"),
        ("message.timestamp.type", "LogAppendTime", "LogAppendTime"),
        ("cleanup.policy", "compact, delete", "compact,delete"),
        ("cleanup.policy", " delete ", "delete"),
        ("cleanup.policy", ["compact", "delete"], "compact,delete"),
        ("cleanup.policy", "compact,compact", "compact"),
        ("leader.replication.throttled.replicas", "0:101, 1:102", "0:101,1:102"),
        ("leader.replication.throttled.replicas", " * ", "*"),
        ("message.format.version", " 3.0-IV1 ", "3.0-IV1"),
    ],
)
def test_to_config_string_gives_the_canonical_kafka_string(key: str, value: object, expected: str) -> None:
    assert check_topic_config(key, value) is None
    assert to_config_string(key, value) == expected


def test_the_checked_catalogue_is_the_baseline_release_as_the_broker_describes_it_plus_the_stricter_overlay() -> None:
    broker = read_catalogue(BASELINE_VERSION)
    assert set(broker) == KNOWN_TOPIC_CONFIGS
    for key, entry in TOPIC_CONFIGS.items():
        stricter = STRICTER.get(key, {})
        assert replace(entry, hint="", **{field: getattr(broker[key], field) for field in stricter}) == broker[key]
    # Each overlay rule narrows what the broker takes.
    assert check_topic_config("retention.bytes", -2) is not None and broker["retention.bytes"].minimum is None
    assert set(STRICTER["cleanup.policy"]["choices"]) == set(broker["cleanup.policy"].choices)
    assert check_topic_config("cleanup.policy", "") is not None
