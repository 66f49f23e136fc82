"""Kafka topic-level configs: the catalogue, and checks of the values a topology gives them.

The catalogue is every topic config of Apache Kafka 3.9 (`LogConfig.configNames()` of the 3.9.2
broker, the "Topic Configs" table of the 3.9 docs), each with its value kind and the constraints
Kafka's own validators enforce. Values come from YAML, so they arrive as ints, bools, floats or
strings; `check_topic_config` says in one line what is wrong with one, and `to_config_string`
turns a valid one into the string Kafka (and the pulumi-kafka provider) takes.

Where this module is stricter than the broker, on purpose:
- `retention.bytes` must be >= -1 (the broker takes any long; every negative means unlimited);
- `cleanup.policy` must name at least one policy (the broker takes an empty list);
- `min.cleanable.dirty.ratio` must be a plain finite number (the broker takes "NaN", "0.5d");
- list entries must not be empty ("0:1,,1:2" is a typo, though the broker skips it);
- digits must be ASCII (Java's parsers also take other scripts' digits).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from k2infra.model.errors import did_you_mean, parse_int

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_REPLICA = re.compile(r"[0-9]+:[0-9]+")


class Kind(Enum):
    """How a config's value is written and checked."""

    INT = "int"  # a 32-bit integer within [minimum, maximum]
    LONG = "long"  # a 64-bit integer within [minimum, maximum]
    DOUBLE = "double"  # a finite number within [minimum, maximum]
    BOOLEAN = "boolean"  # true or false
    ENUM = "enum"  # exactly one of `choices` (case-sensitive, as in Kafka)
    LIST = "list"  # a comma-separated, non-empty subset of `choices`
    REPLICAS = "replicas"  # '*' or partitionId:brokerId pairs, comma-separated
    VERSION = "version"  # a Kafka release or metadata version, e.g. '3.0' or '3.0-IV1'


@dataclass(frozen=True)
class TopicConfig:
    """One topic-level config: its kind, Kafka's default, and the values it allows."""

    name: str
    kind: Kind
    default: str  # Kafka's default when neither the topic nor the broker sets one
    broker: str | None = None  # the broker property that sets the cluster-wide default
    minimum: int | float | None = None
    maximum: int | float | None = None
    also: tuple[int, ...] = ()  # integers allowed outside [minimum, maximum]
    choices: tuple[str, ...] = ()
    hint: str = ""  # unit and special values, shown in messages


def _int(
    name: str,
    broker: str,
    default: int,
    minimum: int,
    maximum: int = INT_MAX,
    hint: str = "",
    also: tuple[int, ...] = (),
) -> TopicConfig:
    return TopicConfig(name, Kind.INT, str(default), broker, minimum, maximum, also, hint=hint)


def _long(name: str, broker: str, default: int, minimum: int, hint: str) -> TopicConfig:
    return TopicConfig(name, Kind.LONG, str(default), broker, minimum, LONG_MAX, hint=hint)


def _boolean(name: str, broker: str | None, default: bool) -> TopicConfig:
    return TopicConfig(name, Kind.BOOLEAN, "true" if default else "false", broker)


_MS = "milliseconds"
_FOREVER = LONG_MAX

# Metadata versions Kafka 3.9.2 accepts for message.format.version (MetadataVersion.VERSIONS).
# A short form ('3.0', or '0.10.0' before 1.0) means the latest metadata version of that release.
_METADATA_VERSIONS = (
    "0.8.0",
    "0.8.1",
    "0.8.2",
    "0.9.0",
    "0.10.0-IV0",
    "0.10.0-IV1",
    "0.10.1-IV0",
    "0.10.1-IV1",
    "0.10.1-IV2",
    "0.10.2-IV0",
    "0.11.0-IV0",
    "0.11.0-IV1",
    "0.11.0-IV2",
    "1.0-IV0",
    "1.1-IV0",
    "2.0-IV0",
    "2.0-IV1",
    "2.1-IV0",
    "2.1-IV1",
    "2.1-IV2",
    "2.2-IV0",
    "2.2-IV1",
    "2.3-IV0",
    "2.3-IV1",
    "2.4-IV0",
    "2.4-IV1",
    "2.5-IV0",
    "2.6-IV0",
    "2.7-IV0",
    "2.7-IV1",
    "2.7-IV2",
    "2.8-IV0",
    "2.8-IV1",
    "3.0-IV0",
    "3.0-IV1",
    "3.1-IV0",
    "3.2-IV0",
    "3.3-IV0",
    "3.3-IV1",
    "3.3-IV2",
    "3.3-IV3",
    "3.4-IV0",
    "3.5-IV0",
    "3.5-IV1",
    "3.5-IV2",
    "3.6-IV0",
    "3.6-IV1",
    "3.6-IV2",
    "3.7-IV0",
    "3.7-IV1",
    "3.7-IV2",
    "3.7-IV3",
    "3.7-IV4",
    "3.8-IV0",
    "3.9-IV0",
    "4.0-IV0",
    "4.0-IV1",
)
# 4.0 is unreleased in 3.9.2: its IVs are accepted, its short form '4.0' is not.
_RELEASES = frozenset(v.split("-")[0] for v in _METADATA_VERSIONS) - {"4.0"}

_CATALOGUE = (
    TopicConfig("cleanup.policy", Kind.LIST, "delete", "log.cleanup.policy", choices=("delete", "compact")),
    _int(
        "compression.gzip.level", "compression.gzip.level", -1, 1, 9, also=(-1,), hint="-1 = the codec's default level"
    ),
    _int("compression.lz4.level", "compression.lz4.level", 9, 1, 17),
    TopicConfig(
        "compression.type",
        Kind.ENUM,
        "producer",
        "compression.type",
        choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
    ),
    _int("compression.zstd.level", "compression.zstd.level", 3, -131072, 22),
    _long("delete.retention.ms", "log.cleaner.delete.retention.ms", 86400000, 0, _MS),
    _long("file.delete.delay.ms", "log.segment.delete.delay.ms", 60000, 0, _MS),
    _long("flush.messages", "log.flush.interval.messages", _FOREVER, 1, "messages"),
    _long("flush.ms", "log.flush.interval.ms", _FOREVER, 0, _MS),
    TopicConfig("follower.replication.throttled.replicas", Kind.REPLICAS, ""),
    _int("index.interval.bytes", "log.index.interval.bytes", 4096, 0, hint="bytes"),
    TopicConfig("leader.replication.throttled.replicas", Kind.REPLICAS, ""),
    _long(
        "local.retention.bytes", "log.local.retention.bytes", -2, -2, "bytes, -2 = as retention.bytes, -1 = unlimited"
    ),
    _long("local.retention.ms", "log.local.retention.ms", -2, -2, f"{_MS}, -2 = as retention.ms, -1 = unlimited"),
    _long("max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", _FOREVER, 1, _MS),
    _int("max.message.bytes", "message.max.bytes", 1048588, 0, hint="bytes"),
    _boolean("message.downconversion.enable", "log.message.downconversion.enable", True),
    # Deprecated: ignored once inter.broker.protocol.version is 3.0 or later.
    TopicConfig("message.format.version", Kind.VERSION, "3.0-IV1", "log.message.format.version"),
    _long("message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", _FOREVER, 0, _MS),
    _long("message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", _FOREVER, 0, _MS),
    # Deprecated in 3.6 for the two above.
    _long("message.timestamp.difference.max.ms", "log.message.timestamp.difference.max.ms", _FOREVER, 0, _MS),
    TopicConfig(
        "message.timestamp.type",
        Kind.ENUM,
        "CreateTime",
        "log.message.timestamp.type",
        choices=("CreateTime", "LogAppendTime"),
    ),
    TopicConfig(
        "min.cleanable.dirty.ratio",
        Kind.DOUBLE,
        "0.5",
        "log.cleaner.min.cleanable.ratio",
        0.0,
        1.0,
        hint="share of the log not yet compacted",
    ),
    _long("min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", 0, 0, _MS),
    _int("min.insync.replicas", "min.insync.replicas", 1, 1, hint="replicas"),
    _boolean("preallocate", "log.preallocate", False),
    _boolean("remote.log.copy.disable", None, False),
    _boolean("remote.log.delete.on.disable", None, False),
    _boolean("remote.storage.enable", None, False),
    _long("retention.bytes", "log.retention.bytes", -1, -1, "bytes, -1 = unlimited"),
    _long("retention.ms", "log.retention.ms", 604800000, -1, f"{_MS}, -1 = unlimited"),
    _int("segment.bytes", "log.segment.bytes", 1073741824, 14, hint="bytes"),
    _int("segment.index.bytes", "log.index.size.max.bytes", 10485760, 4, hint="bytes"),
    _long("segment.jitter.ms", "log.roll.jitter.ms", 0, 0, _MS),
    _long("segment.ms", "log.roll.ms", 604800000, 1, _MS),
    _boolean("unclean.leader.election.enable", "unclean.leader.election.enable", False),
)

TOPIC_CONFIGS: Mapping[str, TopicConfig] = MappingProxyType({c.name: c for c in _CATALOGUE})
KNOWN_TOPIC_CONFIGS: frozenset[str] = frozenset(TOPIC_CONFIGS)

# Broker properties a topology might give by mistake, and the topic config each one defaults.
_BROKER_PROPERTIES: Mapping[str, str] = MappingProxyType(
    {
        **{c.broker: c.name for c in _CATALOGUE if c.broker and c.broker != c.name},
        "log.retention.minutes": "retention.ms",
        "log.retention.hours": "retention.ms",
        "log.roll.hours": "segment.ms",
        "log.roll.jitter.hours": "segment.jitter.ms",
    }
)


def check_topic_config(key: str, value: object) -> str | None:
    """None when valid; otherwise a one-line, user-facing message.

    For example "unknown Kafka topic config 'retention.msx' (did you mean 'retention.ms'?)",
    "must be an integer >= -1 (milliseconds, -1 = unlimited), got 'abc'",
    "must be one of uncompressed, zstd, lz4, snappy, gzip, producer, got 'zip'" or
    "must be true or false, got 'yes'". A number may be given as an int or as a decimal string
    ("604800000"); a bool is rejected where a number is expected, a float where an integer is.
    """
    config = TOPIC_CONFIGS.get(key)
    if config is not None:
        return _CHECKS[config.kind](config, value)
    if key in _BROKER_PROPERTIES:
        topic_key = _BROKER_PROPERTIES[key]
        unit = ", in milliseconds" if key.endswith(("minutes", "hours")) else ""
        return (
            f"unknown Kafka topic config {key!r} (that is a broker property; the topic config is '{topic_key}'{unit})"
        )
    close = did_you_mean(key, KNOWN_TOPIC_CONFIGS)
    suggestion = f" (did you mean '{close}'?)" if close else ""
    return f"unknown Kafka topic config {key!r}{suggestion}"


def to_config_string(key: str, value: object) -> str:
    """The canonical string Kafka (and the pulumi-kafka provider) expects for a valid value.

    Bools become 'true'/'false', integers '604800000' (also when given as '+604800000 '),
    doubles '0.5', strings are stripped, and list entries are stripped and joined with ','
    ('compact, delete' -> 'compact,delete'). Assumes `check_topic_config` passed.
    """
    config = TOPIC_CONFIGS.get(key)
    kind = config.kind if config is not None else None
    if kind in (Kind.INT, Kind.LONG):
        integer = parse_int(value)
        return str(integer) if integer is not None else str(value).strip()
    if kind is Kind.DOUBLE:
        number = _number(value)
        return repr(float(number)) if number is not None else str(value).strip()
    if kind in (Kind.LIST, Kind.REPLICAS):
        entries = _entries(value)
        if kind is Kind.LIST:
            entries = list(dict.fromkeys(entries))  # 'compact,compact' means 'compact'
        return ",".join(entries)
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind is Kind.BOOLEAN and isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return ",".join(str(v).strip() for v in value)
    return str(value).strip()


# ----------------------------------------------------------------------------------------------
# Parsing of YAML values


def _number(value: object) -> float | int | None:
    """A finite number: an int, a float, or a decimal string such as '0.5' or '5e-1'."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        number = float(value.strip())
        return number if math.isfinite(number) else None
    return None


def _entries(value: object) -> list[str]:
    """The stripped entries of a comma-separated string, or of a YAML list of strings."""
    if isinstance(value, str):
        return [] if not value.strip() else [part.strip() for part in value.split(",")]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value]
    return []


def _shown(value: object) -> str:
    """A found value as a user would recognise it from the YAML."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (a YAML boolean)"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return f"a list {list(value)!r}"
    if isinstance(value, dict):
        return "a mapping"
    return str(value)


def _hint(config: TopicConfig) -> str:
    return f" ({config.hint})" if config.hint else ""


# ----------------------------------------------------------------------------------------------
# One check per kind


def _check_integer(config: TopicConfig, value: object) -> str | None:
    lowest, highest = (INT_MIN, INT_MAX) if config.kind is Kind.INT else (LONG_MIN, LONG_MAX)
    minimum = lowest if config.minimum is None else int(config.minimum)
    maximum = highest if config.maximum is None else int(config.maximum)
    number = parse_int(value)
    if number is not None and (minimum <= number <= maximum or number in config.also):
        return None
    # Name the upper bound only where it is the config's own or the value went past it.
    if maximum < highest or (number is not None and number > maximum):
        expected = f"an integer between {minimum} and {maximum}"
    else:
        expected = f"an integer >= {minimum}"
    if config.also:
        expected += ", or " + ", ".join(str(n) for n in config.also)
    return f"must be {expected}{_hint(config)}, got {_shown(value)}"


def _check_double(config: TopicConfig, value: object) -> str | None:
    number = _number(value)
    minimum = -math.inf if config.minimum is None else config.minimum
    maximum = math.inf if config.maximum is None else config.maximum
    if number is not None and minimum <= number <= maximum:
        return None
    expected = f"a number between {minimum:g} and {maximum:g}"
    return f"must be {expected}{_hint(config)}, got {_shown(value)}"


def _check_boolean(config: TopicConfig, value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return None
    return f"must be true or false, got {_shown(value)}"


def _check_enum(config: TopicConfig, value: object) -> str | None:
    if isinstance(value, str) and value.strip() in config.choices:
        return None
    message = f"must be one of {', '.join(config.choices)}, got {_shown(value)}"
    if isinstance(value, str):
        same = [c for c in config.choices if c.lower() == value.strip().lower()]
        if same:
            message += f" (values are case-sensitive: did you mean '{same[0]}'?)"
    return message


def _check_list(config: TopicConfig, value: object) -> str | None:
    entries = _entries(value) if isinstance(value, str | list | tuple) else []
    if entries and all(entry in config.choices for entry in entries):
        return None
    choices = " and/or ".join(config.choices)
    return f"must be a comma-separated list of {choices}, got {_shown(value)}"


def _check_replicas(config: TopicConfig, value: object) -> str | None:
    if isinstance(value, str | list | tuple):
        entries = _entries(value)
        if entries in ([], ["*"]) or all(_REPLICA.fullmatch(entry) for entry in entries):
            return None
    return (
        f"must be '*' or a comma-separated list of partitionId:brokerId pairs (e.g. '0:101,1:102'), got {_shown(value)}"
    )


def _check_version(config: TopicConfig, value: object) -> str | None:
    if isinstance(value, str):
        text = value.strip()
        parts = text.split(".")
        # As Kafka's MetadataVersion.fromVersionString: 3 parts before 1.0, 2 after, rest ignored.
        key = ".".join(parts[: 3 if text.startswith("0.") else 2])
        if key in _METADATA_VERSIONS or key in _RELEASES:
            return None
    number = isinstance(value, float | int) and not isinstance(value, bool)
    quote = " (quote it in YAML)" if number else ""
    return f"must be a Kafka version such as '3.0' or '3.0-IV1'{quote}, got {_shown(value)}"


_CHECKS: Mapping[Kind, Callable[[TopicConfig, object], str | None]] = MappingProxyType(
    {
        Kind.INT: _check_integer,
        Kind.LONG: _check_integer,
        Kind.DOUBLE: _check_double,
        Kind.BOOLEAN: _check_boolean,
        Kind.ENUM: _check_enum,
        Kind.LIST: _check_list,
        Kind.REPLICAS: _check_replicas,
        Kind.VERSION: _check_version,
    }
)
