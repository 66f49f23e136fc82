"""The K2 topology (config/kafka/topics.yaml) as validated, immutable models.

Validation happens in two passes whose problems are reported together:
1. shape: pydantic models (strict types, no unknown keys, ranges, names, timezones);
2. meaning: what needs more than one field (Kafka configs, cross references, topic names,
   schema files). It runs on the raw mapping, so a shape error elsewhere does not hide it.
"""

from __future__ import annotations

import contextlib
import re
import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from k2infra.model import kafka_configs
from k2infra.model.errors import (
    InputError,
    Problem,
    TopologyError,
    describe,
    display_path,
    parse_int,
    pydantic_message,
)
from k2infra.model.schemas import load_topology_schemas
from k2infra.model.shape import as_mapping, unknown_key_problem
from k2infra.model.timing import PositiveDuration, TradingHours, TradingSession
from k2infra.model.yaml_source import YamlSource, load_yaml

TOPIC_PREFIX = "market"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
KAFKA_TOPIC_MAX_LENGTH = 249
KAFKA_TOPIC_PATTERN = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_PARTITIONS = 10000
TOPOLOGY_FILE = Path("kafka") / "topics.yaml"
# The region of a stack that sets no k2infra:region, and the home of an exchange that names none.
PRIMARY_REGION = "primary"


def _strict_int(low: int, high: int) -> BeforeValidator:
    """Integers only: YAML's true, 1.5 and "30" are all refused, unlike pydantic's lax mode."""

    def check(value: Any) -> int:
        number = parse_int(value, text=False)
        if number is None or not low <= number <= high:
            raise PydanticCustomError(
                "k2_int",
                "must be an integer between {low} and {high}, got {got}",
                {"low": low, "high": high, "got": describe(value)},
            )
        return value

    return BeforeValidator(check)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise PydanticCustomError(
            "k2_name",
            "names must be lowercase letters, digits and underscores, starting with a letter (no dots), got {got}",
            {"got": describe(value)},
        )
    return value


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("k2_tz", "must be an IANA timezone name, got {got}", {"got": describe(value)})
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "k2_tz",
            "must be an IANA timezone name such as 'Australia/Sydney' or 'UTC', got {got}",
            {"got": describe(value)},
        ) from None
    return value


def _country(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{2}", value):
        raise PydanticCustomError(
            "k2_country", "must be an ISO 3166-1 alpha-2 country code such as 'AU', got {got}", {"got": describe(value)}
        )
    return value


def _legacy_name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > KAFKA_TOPIC_MAX_LENGTH or not KAFKA_TOPIC_PATTERN.match(value):
        raise PydanticCustomError(
            "k2_topic",
            "must be a legal Kafka topic name ([a-zA-Z0-9._-], at most 249), got {got}",
            {"got": describe(value)},
        )
    return value


def _timestamp(value: Any) -> datetime:
    """YAML reads unquoted ISO timestamps as datetimes, quoted ones as strings: take both, UTC if naive."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise PydanticCustomError(
            "k2_time", "must be an ISO 8601 timestamp such as 2026-11-01T00:00:00Z, got {got}", {"got": describe(value)}
        )
    return value if value.tzinfo else value.replace(tzinfo=UTC)


Partitions = Annotated[int, _strict_int(1, MAX_PARTITIONS)]
LegacyName = Annotated[str, BeforeValidator(_legacy_name)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
ReplicationFactor = Annotated[int, _strict_int(1, 32767)]
Name = Annotated[str, BeforeValidator(_name)]
Timezone = Annotated[str, BeforeValidator(_timezone)]
Country = Annotated[str, BeforeValidator(_country)]
# Values are checked per key by kafka_configs in the second pass; here only their YAML type.
ConfigValue = bool | int | float | str
ConfigValues = dict[str, ConfigValue]  # a topology level's Kafka topic configs, as written


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


class Defaults(_Model):
    replication_factor: ReplicationFactor
    config: ConfigValues = Field(default_factory=dict)


class DataTypeSpec(_Model):
    schema_name: str = Field(alias="schema")
    partition_key: str
    partitions: Partitions | None = None
    config: ConfigValues = Field(default_factory=dict)
    # false: a quiet topic of this data type is normal (reference data changes rarely): no silence alert.
    silence_alerts: bool = True
    description: str | None = None


class ExchangeSpec(_Model):
    name: str
    partitions: Partitions
    timezone: Timezone
    country: Country | None = None
    config: ConfigValues = Field(default_factory=dict)
    data_types: list[Name] | None = None
    # Local time (`timezone`); none: around the clock. Feeds are expected to be quiet outside them.
    trading_hours: TradingHours | None = None
    silence_limit: PositiveDuration | None = None  # overrides the asset class's
    # The region where its feed is produced (k2infra.model.regions); other regions only mirror it.
    region: Name | None = None
    description: str | None = None


class AssetClassSpec(_Model):
    exchanges: dict[Name, ExchangeSpec]
    # How long a feed of its exchanges may go without a record, in trading hours, before an alert.
    silence_limit: PositiveDuration | None = None
    description: str | None = None


class LegacyTopicSpec(_Model):
    """A topic of the old flat layout, on its way out: adopted as it is, then retired."""

    state: Literal["adopt", "retire"]
    partitions: Partitions
    replication_factor: ReplicationFactor | None = None
    config: ConfigValues = Field(default_factory=dict)
    # Retirement needs proof that producers moved away: no record written since this instant.
    quiet_since: Timestamp | None = None
    description: str | None = None


class Topology(_Model):
    defaults: Defaults
    data_types: dict[Name, DataTypeSpec]
    asset_classes: dict[Name, AssetClassSpec]
    legacy: dict[LegacyName, LegacyTopicSpec] = Field(default_factory=dict)

    def data_types_of(self, asset_class: str, exchange: str) -> list[str]:
        """The data types an exchange carries, in the topology's order."""
        wanted = self.asset_classes[asset_class].exchanges[exchange].data_types
        return [dt for dt in self.data_types if wanted is None or dt in wanted]

    def silence_limit(self, asset_class: str, exchange: str) -> timedelta | None:
        """How long a feed of the exchange may be silent in trading hours: the exchange's, else its asset class's."""
        spec = self.asset_classes[asset_class]
        own = spec.exchanges[exchange].silence_limit
        return own if own is not None else spec.silence_limit

    def trading_hours(self, asset_class: str, exchange: str) -> tuple[TradingSession, ...] | None:
        """The exchange's sessions in its local time; None: it trades around the clock."""
        hours = self.asset_classes[asset_class].exchanges[exchange].trading_hours
        return None if hours is None else tuple(hours)

    def home_region(self, asset_class: str, exchange: str) -> str:
        """The region whose stacks produce the exchange's feed (k2infra.model.regions)."""
        return self.asset_classes[asset_class].exchanges[exchange].region or PRIMARY_REGION

    def exchange_refs(self) -> list[str]:
        """Every exchange as `asset_class.exchange`, in the topology's order."""
        return [f"{ac}.{ex}" for ac, spec in self.asset_classes.items() for ex in spec.exchanges]

    def enabled_exchanges(self, exchanges: Collection[str] | None = None) -> list[tuple[str, str]]:
        """(asset class, exchange) of the exchanges a stack enables (`asset_class.exchange` refs; None: all)."""
        return [
            (ac, ex)
            for ac, spec in self.asset_classes.items()
            for ex in spec.exchanges
            if exchanges is None or f"{ac}.{ex}" in exchanges
        ]

    def topics(self, exchanges: Collection[str] | None = None) -> list[TopicKey]:
        """THE enumeration of hierarchical topics: every data type of every enabled exchange (None: all),
        in the topology's order (asset class, exchange, data type). Plan, settings and apps all use it."""
        return [
            TopicKey(ac, dt, ex) for ac, ex in self.enabled_exchanges(exchanges) for dt in self.data_types_of(ac, ex)
        ]


class TopicKey(NamedTuple):
    """One hierarchical topic of the topology, by what it carries."""

    asset_class: str
    data_type: str
    exchange: str

    @property
    def name(self) -> str:
        return topic_name(self.asset_class, self.data_type, self.exchange)


@dataclass(frozen=True)
class LoadedTopology:
    """A valid topology with the Avro schemas it refers to, keyed by (asset class, data type)."""

    topology: Topology
    schemas: dict[tuple[str, str], Any]  # -> k2infra.model.schemas.AvroSchema
    config_dir: Path
    source: YamlSource | None = None  # where each value was written, for errors that involve a stack too


def topic_name(asset_class: str, data_type: str, exchange: str) -> str:
    return f"{TOPIC_PREFIX}.{asset_class}.{data_type}.{exchange}"


def subject_name(asset_class: str, data_type: str) -> str:
    return f"{TOPIC_PREFIX}.{asset_class}.{data_type}-value"


def load_topology(config_dir: Path | str = "config") -> LoadedTopology:
    """Load and validate `<config_dir>/kafka/topics.yaml` and its schemas; raise TopologyError."""
    config_dir = Path(config_dir)
    try:
        source = load_yaml(config_dir / TOPOLOGY_FILE, display_name=display_path(config_dir / TOPOLOGY_FILE))
    except InputError as exc:
        raise TopologyError(exc.problems) from None
    problems = _shape_problems(source) + _meaning_problems(source)
    schemas, schema_problems = load_topology_schemas(config_dir, source.data)
    problems += schema_problems
    if problems:
        raise TopologyError(problems)
    return LoadedTopology(Topology.model_validate(source.data), schemas, config_dir, source)


# -- pass 1: shape ---------------------------------------------------------------------------


def _shape_problems(source: YamlSource) -> list[Problem]:
    try:
        Topology.model_validate(source.data)
    except ValidationError as exc:
        return [_from_pydantic(source, err) for err in exc.errors()]
    return []


def _from_pydantic(source: YamlSource, err: Any) -> Problem:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return unknown_key_problem(source, Topology, loc)
    # A union of YAML scalar types: say what is allowed rather than four failed alternatives.
    if (len(loc) >= 2 and loc[-2] == "config") or (len(loc) >= 3 and loc[-3] == "config"):
        loc = loc[: loc.index("config") + 2]
        return source.problem(loc, f"must be a string, number or boolean, got {describe(err.get('input'))}")
    if "[key]" in loc:
        loc = tuple(part for part in loc if part != "[key]")
    return source.problem(_written_at(source.data, loc), pydantic_message(err))


def _written_at(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """`loc` up to where the YAML holds one value that pydantic saw as a list of one (trading_hours: a string)."""
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, int) and not isinstance(node, list):
            return loc[:i]
        node = node.get(part) if isinstance(node, dict) else node[part] if isinstance(node, list) else None
    return loc


# -- pass 2: meaning -------------------------------------------------------------------------


def _meaning_problems(source: YamlSource) -> list[Problem]:
    data = source.data
    problems: list[Problem] = []
    problems += _config_problems(source, ("defaults", "config"))
    data_types = as_mapping(data.get("data_types"))
    for dt_name, dt in data_types.items():
        problems += _config_problems(source, ("data_types", dt_name, "config"))
        partition_key = as_mapping(dt).get("partition_key")
        if isinstance(partition_key, str) and not partition_key.strip():
            problems.append(source.problem(("data_types", dt_name, "partition_key"), "must not be empty"))
    problems += _legacy_problems(source)
    for ac_name, ac in as_mapping(data.get("asset_classes")).items():
        exchanges = as_mapping(ac).get("exchanges")
        if isinstance(ac, dict) and isinstance(exchanges, dict) and not exchanges:
            problems.append(
                source.problem(("asset_classes", ac_name, "exchanges"), "an asset class needs at least one exchange")
            )
        for ex_name, ex in as_mapping(exchanges).items():
            path = ("asset_classes", ac_name, "exchanges", ex_name)
            problems += _config_problems(source, (*path, "config"))
            selected = as_mapping(ex).get("data_types")
            for i, dt_name in enumerate(selected if isinstance(selected, list) else []):
                if isinstance(dt_name, str) and data_types and dt_name not in data_types:
                    problems.append(
                        source.problem(
                            (*path, "data_types", i),
                            f"unknown data type {describe(dt_name)} (known: {', '.join(data_types)})",
                        )
                    )
            if isinstance(selected, list) and not selected:
                problems.append(
                    source.problem((*path, "data_types"), "must list at least one data type (omit it for all)")
                )
            if as_mapping(ex).get("trading_hours") == []:
                problems.append(
                    source.problem(
                        (*path, "trading_hours"), "must list at least one session (omit it for around the clock)"
                    )
                )
            for dt_name in data_types:
                name = topic_name(str(ac_name), str(dt_name), str(ex_name))
                if len(name) > KAFKA_TOPIC_MAX_LENGTH or not KAFKA_TOPIC_PATTERN.match(name):
                    problems.append(
                        source.problem(
                            path,
                            f"topic name {name!r} is not legal for Kafka "
                            f"(at most {KAFKA_TOPIC_MAX_LENGTH} characters of [a-zA-Z0-9._-])",
                        )
                    )
    return problems


def _legacy_problems(source: YamlSource) -> list[Problem]:
    problems: list[Problem] = []
    for name, spec in as_mapping(source.data.get("legacy")).items():
        problems += _config_problems(source, ("legacy", name, "config"))
        spec = as_mapping(spec)
        if spec.get("state") == "retire" and spec.get("quiet_since") is None:
            problems.append(
                source.problem(("legacy", name, "quiet_since"), "is required to retire a topic (no writes since when?)")
            )
        if isinstance(name, str) and name.count(".") == 3 and name.startswith(f"{TOPIC_PREFIX}."):
            problems.append(
                source.problem(
                    ("legacy", name), "has the shape of a hierarchical topic; legacy topics are the old flat ones"
                )
            )
    return problems


def _config_problems(source: YamlSource, path: tuple[str, ...]) -> list[Problem]:
    node: Any = source.data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return []
    return [
        source.problem((*path, key), message)
        for key, value in node.items()
        if isinstance(value, (bool, int, float, str))
        and (message := kafka_configs.check_topic_config(key, value)) is not None
    ]


def merged_config(topology: Topology, asset_class: str, data_type: str, exchange: str) -> dict[str, ConfigValue]:
    """Kafka config of one topic before stack overrides: defaults < data type < exchange."""
    return {
        **topology.defaults.config,
        **topology.data_types[data_type].config,
        **topology.asset_classes[asset_class].exchanges[exchange].config,
    }


def config_origin(topology: Topology, asset_class: str, data_type: str, exchange: str, key: str) -> tuple[str, ...]:
    """The YAML path of the level whose value of config `key` a topic gets (exchange > data type > defaults)."""
    if key in topology.asset_classes[asset_class].exchanges[exchange].config:
        return ("asset_classes", asset_class, "exchanges", exchange, "config", key)
    if key in topology.data_types[data_type].config:
        return ("data_types", data_type, "config", key)
    return ("defaults", "config", key)
