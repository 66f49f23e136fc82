"""The K2 topology (config/kafka/topics.yaml) and the Avro schema files it names, as validated, immutable models.

Validation happens in two passes whose problems are reported together:
1. shape: pydantic models (strict types, no unknown keys, ranges, names, timezones), validated once;
2. meaning: what needs more than one field (Kafka configs, cross references, topic names,
   schema files). It runs on the raw mapping, so a shape error elsewhere does not hide it.
The topics are enumerated once, at load (`LoadedTopology.topics`): plan, settings and apps read them.

An exchange's silence limit and trading hours are declared here too. Durations are written as
Prometheus writes them ('30s', '2m', '1h30m': the SLO's `for` and the silence limits end up in
Prometheus rules and are written back in its syntax). Trading hours are a one-line string per session
('mon-fri 10:00-16:00') because PyYAML reads an unquoted `10:00` as the sexagesimal integer 600: a
mapping of `open: 10:00` would silently mean something else.
"""

from __future__ import annotations

import contextlib
import json
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import fastavro.schema
from fastavro.schema import SchemaParseException, UnknownType
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from k2infra.model import kafka_configs
from k2infra.model.errors import (
    InputError,
    Problem,
    TopologyError,
    describe,
    did_you_mean,
    display_path,
    pydantic_message,
)
from k2infra.model.kafka_configs import parse_int
from k2infra.model.yaml_source import YamlSource, load_yaml, unknown_key_problem

TOPIC_PREFIX = "market"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
KAFKA_TOPIC_MAX_LENGTH = 249
KAFKA_TOPIC_PATTERN = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_PARTITIONS = 10000
TOPOLOGY_FILE = Path("kafka") / "topics.yaml"
SCHEMA_DIR = Path("schemas")
# The region of a stack that sets no k2infra:region, and the home of an exchange that names none.
PRIMARY_REGION = "primary"


# Prometheus's units, largest first: a duration names each at most once, in this order.
_UNITS: dict[str, timedelta] = {
    "y": timedelta(days=365),
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_PART = re.compile(r"([0-9]+)(ms|y|w|d|h|m|s)")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = Python's weekday()
_SESSION = re.compile(r"^\s*(?P<days>\S+)\s+(?P<open>\d{1,2}:\d{2})\s*-\s*(?P<close>\d{1,2}:\d{2})\s*$")
SESSION_EXAMPLE = "'mon-fri 10:00-16:00'"


def parse_duration(text: str) -> timedelta | None:
    """'1h30m' -> 90 minutes; None unless `text` is a Prometheus duration (units in order, each once)."""
    position, total, order = 0, timedelta(), list(_UNITS)
    last = -1
    for match in _PART.finditer(text):
        if match.start() != position:
            return None
        index = order.index(match.group(2))
        if index <= last:
            return None
        last = index
        total += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return total if position == len(text) and text else None


def prometheus_duration(value: timedelta) -> str:
    """A duration in Prometheus's syntax, largest units first: 90 s -> '1m30s'."""
    remaining = value
    parts: list[str] = []
    for unit, size in _UNITS.items():
        if unit == "y":
            continue  # years are 365 days for Prometheus, but '52w1d' reads better than a rounded year
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _positive_duration(value: Any) -> timedelta:
    # A timedelta comes from code (DEFAULT_SLO); YAML only ever gives a string.
    duration = value if isinstance(value, timedelta) else parse_duration(value) if isinstance(value, str) else None
    if duration is None or duration <= timedelta(0):
        raise PydanticCustomError(
            "k2_duration",
            "must be a positive duration such as '30s', '2m' or '1h30m', got {got}",
            {"got": describe(value)},
        )
    return duration


PositiveDuration = Annotated[timedelta, BeforeValidator(_positive_duration)]


class TradingSession(BaseModel):
    """One trading session of an exchange, in its local time: the days it runs, when it opens and closes."""

    model_config = ConfigDict(frozen=True, strict=True)

    days: tuple[int, ...]  # Python weekdays, Monday 0
    open: time
    close: time  # time.max stands for 24:00

    def covers(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.open <= local.time() < self.close

    @property
    def open_minute(self) -> int:
        return self.open.hour * 60 + self.open.minute

    @property
    def close_minute(self) -> int:
        return 24 * 60 if self.close == time.max else self.close.hour * 60 + self.close.minute

    def describe(self) -> str:
        close = "24:00" if self.close == time.max else self.close.strftime("%H:%M")
        return f"{','.join(DAYS[d] for d in self.days)} {self.open.strftime('%H:%M')}-{close}"


def parse_session(text: str) -> TradingSession:
    """'mon-fri 10:00-16:00' (days: mon..sun, ranges such as sun-thu, commas, or 'daily')."""
    match = _SESSION.match(text)
    if match is None:
        raise ValueError(f"must be 'DAYS HH:MM-HH:MM' such as {SESSION_EXAMPLE}, got {text!r}")
    days = _days(match.group("days").lower())
    opens, closes = _clock(match.group("open")), _clock(match.group("close"))
    if opens is None or opens == time.max:
        raise ValueError(f"opening time {match.group('open')!r} is not a time of day (00:00 to 23:59)")
    if closes is None:
        raise ValueError(f"closing time {match.group('close')!r} is not a time of day (00:00 to 24:00)")
    if closes <= opens:
        raise ValueError(
            f"opens at {match.group('open')} but closes at {match.group('close')}: "
            f"a session past midnight is two sessions ('mon-fri 22:00-24:00', 'tue-sat 00:00-02:00')"
        )
    return TradingSession(days=days, open=opens, close=closes)


def _days(text: str) -> tuple[int, ...]:
    if text == "daily":
        return tuple(range(7))
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.partition("-")
        start, end = _day(first), _day(last) if dash else _day(first)
        # A range may wrap around the week: sun-thu is Sunday to Thursday.
        days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
    return tuple(sorted(days))


def _day(name: str) -> int:
    if name in DAYS:
        return DAYS.index(name)
    close = did_you_mean(name, [*DAYS, "daily"])
    hint = f"did you mean '{close}'?" if close else "days are mon, tue, wed, thu, fri, sat, sun, or daily"
    raise ValueError(f"unknown day {name!r} ({hint})")


def _clock(text: str) -> time | None:
    hours, minutes = (int(part) for part in text.split(":"))
    if (hours, minutes) == (24, 0):
        return time.max
    if hours > 23 or minutes > 59:
        return None
    return time(hours, minutes)


def _session(value: Any) -> TradingSession:
    if isinstance(value, TradingSession):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "k2_session",
            "must be a session such as {example}, got {got}",
            {"example": SESSION_EXAMPLE, "got": describe(value)},
        )
    try:
        return parse_session(value)
    except ValueError as exc:
        raise PydanticCustomError("k2_session", str(exc)) from None


# One session as the topology writes it; the topology's `trading_hours` takes one or a list of them.
Session = Annotated[TradingSession, BeforeValidator(_session)]


def trading_at(sessions: tuple[TradingSession, ...] | None, timezone: str, at: datetime) -> bool:
    """Is an exchange with these sessions (None: around the clock) trading at the instant `at`?"""
    if sessions is None:
        return True
    local = at.astimezone(zoneinfo.ZoneInfo(timezone))
    return any(session.covers(local) for session in sessions)


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


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Partitions = Annotated[int, _strict_int(1, MAX_PARTITIONS)]
LegacyName = Annotated[str, BeforeValidator(_legacy_name)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
ReplicationFactor = Annotated[int, _strict_int(1, 32767)]
BytesPerSecond = Annotated[int, _strict_int(1, 10**12)]
Name = Annotated[str, BeforeValidator(_name)]
Timezone = Annotated[str, BeforeValidator(_timezone)]
Country = Annotated[str, BeforeValidator(_country)]
# Values are checked per key by kafka_configs in the second pass; here only their YAML type.
ConfigValue = bool | int | float | str
ConfigValues = dict[str, ConfigValue]  # a topology level's Kafka topic configs, as written
# An exchange's sessions: one string ('mon-fri 10:00-16:00') or a list of them.
TradingHours = Annotated[list[Session], BeforeValidator(_one_or_many), AfterValidator(tuple)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


class Defaults(_Model):
    replication_factor: ReplicationFactor
    config: ConfigValues = Field(default_factory=dict)
    # What one partition should carry at most, in bytes per second: `capacity` recommends partition
    # counts from it (docs/monitoring.md). None: not declared, and `capacity` says so.
    partition_budget_bytes_per_second: BytesPerSecond | None = None


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

    def exchanges(self) -> list[tuple[str, str]]:
        """Every exchange as (asset class, exchange), in the topology's order."""
        return [(ac, ex) for ac, spec in self.asset_classes.items() for ex in spec.exchanges]

    def home_region(self, asset_class: str, exchange: str) -> str:
        """The region whose stacks produce the exchange's feed (k2infra.model.regions)."""
        return self.asset_classes[asset_class].exchanges[exchange].region or PRIMARY_REGION

    def exchange_refs(self) -> list[str]:
        """Every exchange as `asset_class.exchange`, in the topology's order."""
        return [f"{ac}.{ex}" for ac, ex in self.exchanges()]

    def topics(self) -> list[TopologyTopic]:
        """THE enumeration of hierarchical topics: every data type of every exchange, in the topology's
        order (asset class, exchange, data type). A stack deploys those of the exchanges it enables
        (k2infra.model.settings.StackSettings.enabled)."""
        return [
            TopologyTopic(
                ac,
                dt,
                ex,
                name=topic_name(ac, dt, ex),
                subject=subject_name(ac, dt),
                exchange_ref=f"{ac}.{ex}",
                # Kafka config before the stack's overrides: defaults < data type < exchange.
                config={
                    **self.defaults.config,
                    **self.data_types[dt].config,
                    **self.asset_classes[ac].exchanges[ex].config,
                },
            )
            for ac, ex in self.exchanges()
            for dt in self.data_types_of(ac, ex)
        ]


@dataclass(frozen=True)
class TopologyTopic:
    """One hierarchical topic of the topology: what it carries, its names, its configs as the topology sets them."""

    asset_class: str
    data_type: str
    exchange: str
    name: str  # market.<asset_class>.<data_type>.<exchange>
    subject: str  # the Schema Registry subject of its values
    exchange_ref: str  # <asset_class>.<exchange>, as stacks name the exchange
    config: Mapping[str, ConfigValue] = field(repr=False)


@dataclass(frozen=True)
class LoadedTopology:
    """A valid topology with the Avro schemas it refers to, keyed by (asset class, data type), and its
    exchanges and topics enumerated once."""

    topology: Topology
    schemas: dict[tuple[str, str], AvroSchema]
    config_dir: Path
    source: YamlSource | None = None  # where each value was written, for errors that involve a stack too
    topics: tuple[TopologyTopic, ...] = field(init=False, repr=False, compare=False)
    exchanges: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)  # (asset class, exchange)

    def __post_init__(self) -> None:
        object.__setattr__(self, "topics", tuple(self.topology.topics()))
        object.__setattr__(self, "exchanges", tuple(self.topology.exchanges()))


def topic_name(asset_class: str, data_type: str, exchange: str) -> str:
    return f"{TOPIC_PREFIX}.{asset_class}.{data_type}.{exchange}"


def subject_name(asset_class: str, data_type: str) -> str:
    return f"{TOPIC_PREFIX}.{asset_class}.{data_type}-value"


def load_topology(config_dir: Path | str = "config") -> LoadedTopology:
    """Load and validate `<config_dir>/kafka/topics.yaml` and its schemas; raise TopologyError."""
    config_dir = Path(config_dir)
    try:
        source = load_yaml(config_dir / TOPOLOGY_FILE)
    except InputError as exc:
        raise TopologyError(exc.problems) from None
    problems: list[Problem] = []
    topology: Topology | None = None
    try:
        topology = Topology.model_validate(source.data)
    except ValidationError as exc:
        problems += [_from_pydantic(source, err) for err in exc.errors()]
    problems += _meaning_problems(source)
    schemas, schema_problems = load_topology_schemas(config_dir, source.data)
    problems += schema_problems
    if problems or topology is None:
        raise TopologyError(problems)
    return LoadedTopology(topology, schemas, config_dir, source)


# -- pass 1: shape ---------------------------------------------------------------------------


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
    # Raw YAML: a level the shape pass refused (a list where a mapping belongs) is skipped here.
    data = source.data
    problems: list[Problem] = []
    problems += _config_problems(source, ("defaults", "config"))
    data_types = data.get("data_types") if isinstance(data.get("data_types"), dict) else {}
    for dt_name, dt in data_types.items():
        problems += _config_problems(source, ("data_types", dt_name, "config"))
        partition_key = dt.get("partition_key") if isinstance(dt, dict) else None
        if isinstance(partition_key, str) and not partition_key.strip():
            problems.append(source.problem(("data_types", dt_name, "partition_key"), "must not be empty"))
    problems += _legacy_problems(source)
    asset_classes = data.get("asset_classes") if isinstance(data.get("asset_classes"), dict) else {}
    for ac_name, ac in asset_classes.items():
        exchanges = ac.get("exchanges") if isinstance(ac, dict) else None
        if isinstance(exchanges, dict) and not exchanges:
            problems.append(
                source.problem(("asset_classes", ac_name, "exchanges"), "an asset class needs at least one exchange")
            )
        for ex_name, ex in (exchanges if isinstance(exchanges, dict) else {}).items():
            path = ("asset_classes", ac_name, "exchanges", ex_name)
            problems += _config_problems(source, (*path, "config"))
            ex = ex if isinstance(ex, dict) else {}
            selected = ex.get("data_types")
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
            if ex.get("trading_hours") == []:
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
    legacy = source.data.get("legacy")
    for name, spec in (legacy if isinstance(legacy, dict) else {}).items():
        problems += _config_problems(source, ("legacy", name, "config"))
        if isinstance(spec, dict) and spec.get("state") == "retire" and spec.get("quiet_since") is None:
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


def config_origin(topology: Topology, asset_class: str, data_type: str, exchange: str, key: str) -> tuple[str, ...]:
    """The YAML path of the level whose value of config `key` a topic gets (exchange > data type > defaults)."""
    if key in topology.asset_classes[asset_class].exchanges[exchange].config:
        return ("asset_classes", asset_class, "exchanges", exchange, "config", key)
    if key in topology.data_types[data_type].config:
        return ("data_types", data_type, "config", key)
    return ("defaults", "config", key)


# -- the Avro schema files -------------------------------------------------------------------


@dataclass(frozen=True)
class AvroSchema:
    """One schema file as registered under an asset-class subject."""

    path: str
    name: str  # the record's short name, e.g. 'trade'
    full_name: str  # with namespace, e.g. 'k2.market.equities.trade'
    text: str  # the file as written: what the registry receives
    field_names: tuple[str, ...]


def schema_path(config_dir: Path, asset_class: str, data_type: str) -> Path:
    return config_dir / SCHEMA_DIR / asset_class / f"{data_type}.avsc"


def parse_avro(text: str, path: str) -> AvroSchema:
    """Parse one schema text; raise ValueError with a located message."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaFileError(exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    try:
        parsed = fastavro.schema.parse_schema(raw, _write_hint=False)
    except (SchemaParseException, UnknownType, TypeError, KeyError, AttributeError, ValueError) as exc:
        raise SchemaFileError(None, f"not a valid Avro schema: {exc}") from None
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise SchemaFileError(None, "the top level must be an Avro record")
    full_name = str(parsed["name"])
    return AvroSchema(
        path=path,
        name=full_name.rsplit(".", 1)[-1],
        full_name=full_name,
        text=text,
        field_names=tuple(str(f["name"]) for f in raw.get("fields", [])),
    )


class SchemaFileError(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_topology_schemas(
    config_dir: Path, data: dict[str, Any]
) -> tuple[dict[tuple[str, str], AvroSchema], list[Problem]]:
    """Load the schema of every (asset class, data type) that some exchange carries.

    Works on the raw topology mapping so that schema problems are reported together with
    problems elsewhere in the topology file.
    """
    schemas: dict[tuple[str, str], AvroSchema] = {}
    problems: list[Problem] = []
    data_types = data.get("data_types") if isinstance(data.get("data_types"), dict) else {}
    asset_classes = data.get("asset_classes") if isinstance(data.get("asset_classes"), dict) else {}
    for asset_class, spec in asset_classes.items():
        for data_type in sorted(_carried(spec, data_types)):
            dt_spec = data_types.get(data_type)
            if not isinstance(dt_spec, dict):
                continue
            path = schema_path(config_dir, asset_class, data_type)
            shown = display_path(path)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                problems.append(Problem(shown, None, "", f"missing schema file for {asset_class}/{data_type}"))
                continue
            try:
                schema = parse_avro(text, shown)
            except SchemaFileError as exc:
                problems.append(Problem(shown, exc.line, "", exc.message))
                continue
            expected = dt_spec.get("schema")
            if isinstance(expected, str) and schema.name != expected:
                problems.append(
                    Problem(
                        shown,
                        1,
                        "name",
                        f"record name {schema.name!r} differs from data_types.{data_type}.schema {expected!r}",
                    )
                )
            key = dt_spec.get("partition_key")
            if isinstance(key, str) and key and key not in schema.field_names:
                problems.append(
                    Problem(
                        shown,
                        1,
                        "fields",
                        f"lacks the partition key field {key!r} (data_types.{data_type}.partition_key)",
                    )
                )
            schemas[(asset_class, data_type)] = schema
    return schemas, problems


def _carried(asset_class_spec: Any, data_types: dict[str, Any]) -> set[str]:
    exchanges = asset_class_spec.get("exchanges") if isinstance(asset_class_spec, dict) else None
    carried: set[str] = set()
    for exchange in (exchanges or {}).values() if isinstance(exchanges, dict) else []:
        selected = exchange.get("data_types") if isinstance(exchange, dict) else None
        if isinstance(selected, list):
            carried.update(dt for dt in selected if isinstance(dt, str) and dt in data_types)
        else:
            carried.update(data_types)
    return carried
