"""Kafka topic-level configs: the catalogue, and checks of the values a topology gives them.

The catalogue is the broker's own: topic_configs/kafka-<version>.json, read from each release's
jars by tools/kafka/topic-configs.sh (key, type, default, the broker property behind it, its
validator's range or choices). A topology is checked against BASELINE_VERSION's catalogue; a stack
that names `k2infra:kafkaVersion` is also checked against that release's (kafka_versions). Values
come from YAML, so they arrive as ints, bools, floats or strings; `check_topic_config` says in one
line what is wrong with one, and `to_config_string` turns a valid one into the string Kafka (and
the pulumi-kafka provider) takes.

What the JSON cannot say is written here: the unit of each number (for messages) and the rules
where this module is stricter than the broker, on purpose (STRICTER, and the checks below):
- `retention.bytes` must be >= -1 (the broker takes any long; every negative means unlimited);
- `cleanup.policy` must name at least one policy (the broker takes an empty list);
- `min.cleanable.dirty.ratio` must be a plain finite number (the broker takes "NaN", "0.5d");
- list entries must not be empty ("0:1,,1:2" is a typo, though the broker skips it);
- digits must be ASCII (Java's parsers also take other scripts' digits).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from k2infra.model.errors import did_you_mean

CATALOGUE_DIR = Path(__file__).parent / "topic_configs"
BASELINE_VERSION = "3.9.2"
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_REPLICA = re.compile(r"[0-9]+:[0-9]+")
# A validator's text "[1,...,9] or -1": a range with exceptions, which the JSON has no fields for.
_RANGE_OR = re.compile(r"\[(-?[0-9]+),\.\.\.,(-?[0-9]+)\] or (-?[0-9]+(?:, *-?[0-9]+)*)")


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
class ConfigEntry:
    """One topic-level config of a Kafka release: its kind, Kafka's default, and the values it allows."""

    name: str
    kind: Kind
    default: str  # Kafka's default when neither the topic nor the broker sets one
    broker: str | None = None  # the broker property that sets the cluster-wide default
    minimum: int | float | None = None
    maximum: int | float | None = None
    also: tuple[int, ...] = ()  # integers allowed outside [minimum, maximum]
    choices: tuple[str, ...] = ()
    versions: frozenset[str] = frozenset()  # VERSION: the metadata versions and releases it accepts
    hint: str = ""  # unit and special values, shown in messages


# -- the catalogue of a release, as its broker jars describe it ----------------------------------


@cache
def read_catalogue(version: str) -> Mapping[str, ConfigEntry]:
    """The topic configs of one Kafka release, from topic_configs/kafka-<version>.json."""
    data = json.loads((CATALOGUE_DIR / f"kafka-{version}.json").read_text())
    release = _release(data["kafka_version"])
    return MappingProxyType({name: _entry(name, spec, release) for name, spec in data["configs"].items()})


def _release(version: str) -> tuple[int, ...]:
    """'3.9.2' -> (3, 9); '0.10.1-IV2' -> (0, 10, 1): a release as MetadataVersion names it."""
    parts = version.split("-")[0].split(".")
    return tuple(int(p) for p in parts[: 3 if parts[0] == "0" else 2])


def _entry(name: str, spec: dict[str, Any], release: tuple[int, ...]) -> ConfigEntry:
    validator = spec.get("validator") or ""
    valid_values = spec.get("valid_values") or ""
    choices = tuple(spec.get("choices", ()))
    kind = {"int": Kind.INT, "long": Kind.LONG, "double": Kind.DOUBLE, "boolean": Kind.BOOLEAN}.get(spec["type"])
    versions: frozenset[str] = frozenset()
    if validator.endswith("MetadataVersionValidator"):
        # Metadata versions, and the short form of each release out by this one ('3.0', or
        # '0.10.0' before 1.0: its latest metadata version); 3.9 takes 4.0's IVs but not '4.0'.
        kind, listed = Kind.VERSION, [v.strip() for v in valid_values.strip("[]").split(",")]
        versions = frozenset(listed) | {v.split("-")[0] for v in listed if _release(v) <= release}
    elif validator.endswith("ThrottledReplicaListValidator"):
        kind = Kind.REPLICAS
    elif kind is None:
        kind = Kind.LIST if spec["type"] == "list" else Kind.ENUM
    minimum, maximum, also = spec.get("minimum"), spec.get("maximum"), ()
    if (range_or := _RANGE_OR.fullmatch(valid_values)) is not None:
        minimum, maximum = int(range_or[1]), int(range_or[2])
        also = tuple(int(n) for n in range_or[3].split(","))
    broker = spec.get("server_default_property")
    return ConfigEntry(name, kind, spec["default"], broker, minimum, maximum, also, choices, versions)


# -- the overlay: what the JSON cannot say --------------------------------------------------------

# Rules deliberately stricter than the broker (see the module docstring).
STRICTER: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "retention.bytes": {"minimum": -1},
        "cleanup.policy": {"choices": ("delete", "compact")},  # non-empty (_check_list); named as the docs do
    }
)
# Units and special values, for messages; a name ending in .ms is in milliseconds, one in .bytes in bytes.
_HINTS: Mapping[str, str] = MappingProxyType(
    {
        "compression.gzip.level": "-1 = the codec's default level",
        "flush.messages": "messages",
        "local.retention.bytes": "bytes, -2 = as retention.bytes, -1 = unlimited",
        "local.retention.ms": "milliseconds, -2 = as retention.ms, -1 = unlimited",
        "min.cleanable.dirty.ratio": "share of the log not yet compacted",
        "min.insync.replicas": "replicas",
        "retention.bytes": "bytes, -1 = unlimited",
        "retention.ms": "milliseconds, -1 = unlimited",
    }
)


def _hint(name: str) -> str:
    if name in _HINTS:
        return _HINTS[name]
    return "milliseconds" if name.endswith(".ms") else "bytes" if name.endswith(".bytes") else ""


_NUMBERS = (Kind.INT, Kind.LONG, Kind.DOUBLE)
TOPIC_CONFIGS: Mapping[str, ConfigEntry] = MappingProxyType(
    {
        name: replace(entry, **STRICTER.get(name, {}), hint=_hint(name) if entry.kind in _NUMBERS else "")
        for name, entry in read_catalogue(BASELINE_VERSION).items()
    }
)
KNOWN_TOPIC_CONFIGS: frozenset[str] = frozenset(TOPIC_CONFIGS)

# Broker properties a topology might give by mistake, and the topic config each one defaults.
_BROKER_PROPERTIES: Mapping[str, str] = MappingProxyType(
    {
        **{c.broker: c.name for c in TOPIC_CONFIGS.values() if c.broker and c.broker != c.name},
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


_INTEGER = re.compile(r"[+-]?[0-9]+")


def parse_int(value: object, *, text: bool = True) -> int | None:
    """A strict integer: an int, or (with `text`) a string of decimal digits with an optional sign.

    YAML's true and 1.5 are never integers here, though Python and pydantic's lax mode take them.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if text and isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


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


def _hint_of(config: ConfigEntry) -> str:
    return f" ({config.hint})" if config.hint else ""


# ----------------------------------------------------------------------------------------------
# One check per kind


def _check_integer(config: ConfigEntry, value: object) -> str | None:
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
    return f"must be {expected}{_hint_of(config)}, got {_shown(value)}"


def _check_double(config: ConfigEntry, value: object) -> str | None:
    number = _number(value)
    minimum = -math.inf if config.minimum is None else config.minimum
    maximum = math.inf if config.maximum is None else config.maximum
    if number is not None and minimum <= number <= maximum:
        return None
    expected = f"a number between {minimum:g} and {maximum:g}"
    return f"must be {expected}{_hint_of(config)}, got {_shown(value)}"


def _check_boolean(config: ConfigEntry, value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return None
    return f"must be true or false, got {_shown(value)}"


def _check_enum(config: ConfigEntry, value: object) -> str | None:
    if isinstance(value, str) and value.strip() in config.choices:
        return None
    message = f"must be one of {', '.join(config.choices)}, got {_shown(value)}"
    if isinstance(value, str):
        same = [c for c in config.choices if c.lower() == value.strip().lower()]
        if same:
            message += f" (values are case-sensitive: did you mean '{same[0]}'?)"
    return message


def _check_list(config: ConfigEntry, value: object) -> str | None:
    entries = _entries(value) if isinstance(value, str | list | tuple) else []
    if entries and all(entry in config.choices for entry in entries):
        return None
    choices = " and/or ".join(config.choices)
    return f"must be a comma-separated list of {choices}, got {_shown(value)}"


def _check_replicas(config: ConfigEntry, value: object) -> str | None:
    if isinstance(value, str | list | tuple):
        entries = _entries(value)
        if entries in ([], ["*"]) or all(_REPLICA.fullmatch(entry) for entry in entries):
            return None
    return (
        f"must be '*' or a comma-separated list of partitionId:brokerId pairs (e.g. '0:101,1:102'), got {_shown(value)}"
    )


def _check_version(config: ConfigEntry, value: object) -> str | None:
    if isinstance(value, str):
        text = value.strip()
        parts = text.split(".")
        # As Kafka's MetadataVersion.fromVersionString: 3 parts before 1.0, 2 after, rest ignored.
        key = ".".join(parts[: 3 if text.startswith("0.") else 2])
        if key in config.versions:
            return None
    number = isinstance(value, float | int) and not isinstance(value, bool)
    quote = " (quote it in YAML)" if number else ""
    return f"must be a Kafka version such as '3.0' or '3.0-IV1'{quote}, got {_shown(value)}"


_CHECKS: Mapping[Kind, Callable[[ConfigEntry, object], str | None]] = MappingProxyType(
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
