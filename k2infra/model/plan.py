"""Topology x stack layout x declared apps -> the Plan: frozen topic, subject and access specs.

The Plan is the seam of the project: the Pulumi program, the command line, `verify`, the policy
pack and the benchmarks all read it, and none of them re-reads YAML or re-derives a name. It holds
the desired state only; how to reach the cluster and the safety switches are the Stack's
(k2infra.model.stack), beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from k2infra.model import kafka_configs
from k2infra.model.access import AppAccess, derive_access
from k2infra.model.apps import Apps
from k2infra.model.regions import Carrier, Mirror
from k2infra.model.settings import NAMESPACE, StackSettings
from k2infra.model.topology import LoadedTopology, merged_config, subject_name, topic_name
from k2infra.model.yaml_source import dotted


@dataclass(frozen=True)
class TopicSpec:
    name: str
    asset_class: str
    data_type: str
    exchange: str
    partitions: int
    replication_factor: int
    config: dict[str, str]  # Kafka topic configs, as the strings the broker stores
    schema_subject: str
    schema_name: str
    partition_key: str

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: asdict deep-copies, which costs seconds across thousands of topics.
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"config": dict(self.config)}


@dataclass(frozen=True)
class SubjectSpec:
    subject: str
    asset_class: str
    data_type: str
    schema_name: str
    schema: str  # the .avsc text, registered as written
    schema_file: str
    compatibility: str
    topics: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["topics"] = list(self.topics)
        return out


@dataclass(frozen=True)
class ExchangeInfo:
    asset_class: str
    code: str
    name: str
    country: str | None
    timezone: str

    @property
    def ref(self) -> str:
        return f"{self.asset_class}.{self.code}"


class LegacyAction(StrEnum):
    """What this run does with a legacy flat topic."""

    ADOPT = "adopt"  # import it as it is and manage it
    RETIRE = "retire"  # no longer declared, so `pulumi up` deletes it, after the no-writes check
    RETIRE_BLOCKED = "retire-blocked"  # state retire, but the stack does not allow it: stays adopted
    UNMANAGED = "unmanaged"  # the stack does not manage legacy topics; `verify` still knows the name


@dataclass(frozen=True)
class LegacyTopic:
    """A legacy flat topic and what this run does with it."""

    name: str
    action: LegacyAction
    partitions: int
    replication_factor: int
    config: dict[str, str]
    quiet_since: datetime | None

    @property
    def declared(self) -> bool:
        return self.action in (LegacyAction.ADOPT, LegacyAction.RETIRE_BLOCKED)


@dataclass(frozen=True)
class Plan:
    stack: str | None
    topics: tuple[TopicSpec, ...]
    subjects: tuple[SubjectSpec, ...]
    exchanges: tuple[ExchangeInfo, ...]  # the enabled ones
    legacy: tuple[LegacyTopic, ...] = ()
    apps: tuple[AppAccess, ...] = ()  # config/kafka/apps.yaml: what each app may touch in this stack
    compatibility: str = "BACKWARD"  # the subjects' level (k2infra:schemaCompatibility)
    # k2infra:accessControl: the apps' ACLs, quotas and SCRAM users are deployed and verified.
    access_control: bool = False
    app_scram_mechanism: str = "scram-sha512"  # as the stack writes it; kafka_mechanism() names it
    app_scram_iterations: int = 4096
    # How the partition counts came about, for `validate` to explain them: the stack's cap
    # (k2infra:maxPartitions) and the exchanges whose count the stack sets (k2infra:partitions).
    max_partitions: int | None = None
    partition_overrides: tuple[str, ...] = ()
    # topic -> "file:line: field" of the setting its partition count comes from, for refusals that
    # must say what to edit (k2infra.deploy.partition_guard); empty where the plan was built by hand.
    partition_origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # Regions (k2infra.model.regions): what this stack mirrors from another (its copies are among
    # `topics`), and the regional stacks that mirror this stack's topics.
    mirror: Mirror | None = None
    carried_by: tuple[Carrier, ...] = ()
    _by_name: dict[str, TopicSpec] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({t.name: t for t in self.topics})

    def topic(self, name: str) -> TopicSpec | None:
        return self._by_name.get(name)

    def app(self, name: str) -> AppAccess | None:
        return next((a for a in self.apps if a.name == name), None)

    def managed_topics(self) -> list[TopicSpec | LegacyTopic]:
        """Every topic this stack declares: the hierarchy and the adopted legacy topics."""
        return [*self.topics, *(t for t in self.legacy if t.declared)]


def effective_partitions(
    loaded: LoadedTopology, settings: StackSettings, asset_class: str, data_type: str, exchange: str
) -> int:
    """A data type's fixed count (reference_data: 1) wins; then the stack's entry for the exchange;
    then the exchange's own, capped by the stack's `maxPartitions`."""
    fixed = loaded.topology.data_types[data_type].partitions
    if fixed is not None:
        return fixed
    override = settings.partitions.get(f"{asset_class}.{exchange}")
    if override is not None:
        return override
    own = loaded.topology.asset_classes[asset_class].exchanges[exchange].partitions
    return own if settings.max_partitions is None else min(own, settings.max_partitions)


def partition_origin(
    loaded: LoadedTopology,
    settings: StackSettings,
    stack_file: str,
    stack_line_of: Callable[[tuple[str | int, ...]], int | None] | None,
    asset_class: str,
    data_type: str,
    exchange: str,
) -> str:
    """Where the count `effective_partitions` gives comes from, as `file:line: field` (same order of rules)."""

    def in_topology(path: tuple[str | int, ...]) -> str:
        return f"{loaded.source.file}:{loaded.source.line_of(path)}: {dotted(path)}"

    def in_stack(path: tuple[str | int, ...]) -> str:
        line = stack_line_of(path) if stack_line_of else None
        return f"{stack_file}{f':{line}' if line else ''}: {NAMESPACE}:{dotted(path)}"

    if loaded.topology.data_types[data_type].partitions is not None:
        return in_topology(("data_types", data_type, "partitions"))
    ref = f"{asset_class}.{exchange}"
    if ref in settings.partitions:
        return in_stack(("partitions", ref))
    own = loaded.topology.asset_classes[asset_class].exchanges[exchange].partitions
    if settings.max_partitions is not None and settings.max_partitions < own:
        return in_stack(("maxPartitions",))
    return in_topology(("asset_classes", asset_class, "exchanges", exchange, "partitions"))


def effective_config(
    loaded: LoadedTopology, settings: StackSettings, asset_class: str, data_type: str, exchange: str
) -> dict[str, str]:
    raw = merged_config(loaded.topology, asset_class, data_type, exchange)
    if settings.min_insync_replicas is not None:
        raw["min.insync.replicas"] = settings.min_insync_replicas
    # The stack's retention caps how long delete-policy topics keep data (a topic that keeps less,
    # such as quotes, keeps its own); compacted-only topics keep the latest value per key by design.
    policy = str(raw.get("cleanup.policy", "delete"))
    if settings.retention_ms is not None and "delete" in policy:
        raw["retention.ms"] = capped_retention(raw.get("retention.ms"), settings.retention_ms)
    return {key: kafka_configs.to_config_string(key, value) for key, value in sorted(raw.items())}


def capped_retention(topic_ms: object, stack_ms: int) -> int:
    """The shorter of two retentions, where -1 (or unset: Kafka's 7 days is not ours to assume) is unlimited."""
    current = int(str(topic_ms)) if topic_ms is not None else -1
    if stack_ms == -1:
        return current
    return stack_ms if current == -1 else min(current, stack_ms)


def build_plan(
    loaded: LoadedTopology,
    settings: StackSettings,
    stack: str | None = None,
    apps: Apps | None = None,
    mirrored: Sequence[TopicSpec] = (),
) -> Plan:
    """The plan; `mirrored` are the copies of another stack's topics a regional stack creates
    (k2infra.model.regions): planned, verified and granted to apps like its own, but their subjects
    are the home registry's (replayed by the regional one), so none is registered here."""
    topology = loaded.topology
    replication_factor = settings.replication_factor or topology.defaults.replication_factor
    topics: list[TopicSpec] = []
    exchanges: list[ExchangeInfo] = []
    carried = {(t.asset_class, t.exchange) for t in mirrored}
    for asset_class, exchange in topology.enabled_exchanges(settings.exchanges) + sorted(carried):
        spec = topology.asset_classes[asset_class].exchanges[exchange]
        exchanges.append(ExchangeInfo(asset_class, exchange, spec.name, spec.country, spec.timezone))
    for asset_class, data_type, exchange in topology.topics(settings.exchanges):
        dt = topology.data_types[data_type]
        topics.append(
            TopicSpec(
                name=topic_name(asset_class, data_type, exchange),
                asset_class=asset_class,
                data_type=data_type,
                exchange=exchange,
                partitions=effective_partitions(loaded, settings, asset_class, data_type, exchange),
                replication_factor=replication_factor,
                config=effective_config(loaded, settings, asset_class, data_type, exchange),
                schema_subject=subject_name(asset_class, data_type),
                schema_name=dt.schema_name,
                partition_key=dt.partition_key,
            )
        )
    subjects = []
    for (asset_class, data_type), schema in sorted(loaded.schemas.items()):
        users = tuple(sorted(t.name for t in topics if (t.asset_class, t.data_type) == (asset_class, data_type)))
        if not users:
            continue  # no enabled exchange carries it in this stack
        subjects.append(
            SubjectSpec(
                subject=subject_name(asset_class, data_type),
                asset_class=asset_class,
                data_type=data_type,
                schema_name=schema.name,
                schema=schema.text,
                schema_file=schema.path,
                compatibility=settings.schema_compatibility,
                topics=users,
            )
        )
    topics = sorted([*topics, *mirrored], key=lambda t: t.name)
    exchanges.sort(key=lambda e: e.ref)
    legacy = legacy_topics(loaded, settings)
    access = derive_access(
        apps or Apps(), stack, topics, legacy, [t.name for t in topology.topics()], {t.name for t in mirrored}
    )
    return Plan(
        stack,
        tuple(topics),
        tuple(subjects),
        tuple(exchanges),
        legacy,
        access,
        compatibility=settings.schema_compatibility,
        access_control=settings.access_control,
        app_scram_mechanism=settings.app_scram_mechanism,
        app_scram_iterations=settings.app_scram_iterations,
        max_partitions=settings.max_partitions,
        partition_overrides=tuple(sorted(settings.partitions)),
    )


def legacy_topics(loaded: LoadedTopology, settings: StackSettings) -> tuple[LegacyTopic, ...]:
    replication_factor = settings.replication_factor or loaded.topology.defaults.replication_factor
    out = []
    for name, spec in sorted(loaded.topology.legacy.items()):
        if not settings.legacy_topics:
            action = LegacyAction.UNMANAGED
        elif spec.state == "adopt":
            action = LegacyAction.ADOPT
        else:
            action = LegacyAction.RETIRE if settings.allow_retire else LegacyAction.RETIRE_BLOCKED
        out.append(
            LegacyTopic(
                name=name,
                action=action,
                partitions=spec.partitions,
                replication_factor=spec.replication_factor or replication_factor,
                config={k: kafka_configs.to_config_string(k, v) for k, v in sorted(spec.config.items())},
                quiet_since=spec.quiet_since,
            )
        )
    return tuple(out)


def load_plan(config_dir: Path | str = "config", stack: str | None = None, project_dir: Path | str = ".") -> Plan:
    """The plan of `stack` (its Pulumi.<stack>.yaml overrides applied), or of the topology alone."""
    from k2infra.model.stack import load_stack_file  # the Stack holds a Plan: imported here, not above

    return load_stack_file(config_dir, stack, project_dir).plan


def subscriptions(plan: Plan) -> dict[str, dict[str, list[str]]]:
    """Every subscription, as exported in the `subscriptions` stack output.

    The same lists as SubscriptionBuilder gives, grouped in one pass over the topics: asking the
    builder once per exchange would read every topic once per exchange (quadratic in the topology).
    """
    by_exchange: dict[str, list[str]] = {e.ref: [] for e in plan.exchanges}
    by_asset_class: dict[str, list[str]] = {}
    by_data_type: dict[str, list[str]] = {}
    for t in plan.topics:
        by_exchange.setdefault(f"{t.asset_class}.{t.exchange}", []).append(t.name)
        by_asset_class.setdefault(t.asset_class, []).append(t.name)
        by_data_type.setdefault(t.data_type, []).append(t.name)
    return {
        "by_exchange": {ref: sorted(names) for ref, names in by_exchange.items()},
        "by_asset_class": {key: sorted(by_asset_class[key]) for key in sorted(by_asset_class)},
        "by_data_type": {key: sorted(by_data_type[key]) for key in sorted(by_data_type)},
    }
