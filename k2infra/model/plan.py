"""Topology x stack layout x declared apps -> the Plan: frozen topic, subject and access specs.

The Plan is the seam of the project: the Pulumi program, the command line, `verify`, the policy
pack and the benchmarks all read it, and none of them re-reads YAML or re-derives a name. It holds
the desired state only; how to reach the cluster and the safety switches are the Stack's
(k2infra.model.stack), beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

from k2infra.model import kafka_configs
from k2infra.model.apps import AppAccess, AppAuth, Apps, derive_access
from k2infra.model.connection import kafka_mechanism
from k2infra.model.outputs import TopicOutput
from k2infra.model.regions import Carrier, Mirror
from k2infra.model.settings import NAMESPACE, StackSettings
from k2infra.model.topology import LoadedTopology, TopologyTopic
from k2infra.model.yaml_source import dotted


class TopicSpec(TopicOutput):
    """A planned topic: its name, and its entry of the `topics` stack output, whose fields are declared
    once, on TopicOutput (k2infra.model.outputs), and derived here by inheritance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str

    def output(self) -> dict[str, Any]:
        """Its `topics[<name>]` stack output: every field but the name, which is the key."""
        return self.model_dump(exclude={"name"})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.output()}


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
    # How the apps prove their principal: the mode of the stack's own connection (None: it logs in as no
    # one). Only SCRAM has k2infra create their credentials (UserScramCredential, appPasswords).
    app_auth: AppAuth | None = AppAuth.SCRAM
    # Does the stack create its apps' credentials (SCRAM users)? In the other modes an app brings its
    # certificate or OAuth client, and k2infra creates its ACLs and quotas only. A field, set by
    # build_plan, not a property: the program and verify read it without entering this file again.
    creates_app_credentials: bool = False
    # How the partition counts came about, for `validate` to explain them: the stack's cap
    # (k2infra:maxPartitions) and the exchanges whose count the stack sets (k2infra:partitions).
    max_partitions: int | None = None
    partition_overrides: tuple[str, ...] = ()
    # topic -> "file:line: field" of the setting its partition count comes from, for refusals that
    # must say what to edit (k2infra.deploy.guards); empty where the plan was built by hand.
    partition_origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # Regions (k2infra.model.regions): what this stack mirrors from another (its copies are among
    # `topics`), and the regional stacks that mirror this stack's topics.
    mirror: Mirror | None = None
    carried_by: tuple[Carrier, ...] = ()
    _by_name: dict[str, TopicSpec] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({t.name: t for t in self.topics})

    def consumers(self) -> list[AppAccess]:
        """The apps that read some hierarchical topic of this stack with a consumer group (whose lag is watched)."""
        return [app for app in self.apps if app.group is not None and any(self.topic(n) for n in app.reads)]

    def topic(self, name: str) -> TopicSpec | None:
        return self._by_name.get(name)

    def app(self, name: str) -> AppAccess | None:
        return next((a for a in self.apps if a.name == name), None)

    @property
    def monitor(self) -> AppAccess | None:
        """The app declared `monitors: true` (at most one): the principal the observe commands use."""
        return next((a for a in self.apps if a.monitors), None)

    def credential(self, app: AppAccess) -> str | None:
        """What proves the app's principal in this stack ('mTLS certificate CN=k2-risk-prod'), or None
        where the stack logs in as no one."""
        if self.app_auth is None:
            return None
        return self.app_auth.credential(app.username, kafka_mechanism(self.app_scram_mechanism))

    @property
    def app_auth_explained(self) -> str | None:
        """How this stack's apps prove their principals, one line; None where it logs in as no one."""
        return None if self.app_auth is None else self.app_auth.explain(kafka_mechanism(self.app_scram_mechanism))

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


class PartitionOrigins(Mapping[str, str]):
    """topic -> `partition_origin` of its count, worked out when asked: only a refusal names it
    (k2infra.deploy.guards), so a load does not locate every topic's count in the files."""

    def __init__(
        self,
        loaded: LoadedTopology,
        settings: StackSettings,
        stack_file: str,
        stack_line_of: Callable[[tuple[str | int, ...]], int | None] | None,
        topics: Mapping[str, TopologyTopic],
    ) -> None:
        self._where = (loaded, settings, stack_file, stack_line_of)
        self._topics = topics

    def __getitem__(self, name: str) -> str:
        t = self._topics[name]
        return partition_origin(*self._where, t.asset_class, t.data_type, t.exchange)

    def __iter__(self) -> Iterator[str]:
        return iter(self._topics)

    def __len__(self) -> int:
        return len(self._topics)

    def __contains__(self, name: object) -> bool:
        return name in self._topics


def effective_config(settings: StackSettings, topic: TopologyTopic) -> dict[str, str]:
    raw = dict(topic.config)
    if settings.min_insync_replicas is not None:
        raw["min.insync.replicas"] = settings.min_insync_replicas
    # The stack's retention caps how long delete-policy topics keep data (a topic that keeps less,
    # such as quotes, keeps its own); compacted-only topics keep the latest value per key by design.
    policy = str(raw.get("cleanup.policy", "delete"))
    if settings.retention_ms is not None and "delete" in policy:
        raw["retention.ms"] = capped_retention(raw.get("retention.ms"), settings.retention_ms)
    return config_strings(raw)


def config_strings(raw: Mapping[str, object]) -> dict[str, str]:
    """Topic configs as written (YAML values) -> the strings the broker stores, sorted by key."""
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
    stack_file: str | None = None,
    stack_line_of: Callable[[tuple[str | int, ...]], int | None] | None = None,
    mirrored: Sequence[TopicSpec] = (),
) -> Plan:
    """The plan of `stack`; `stack_file` (and where its keys are written) lets the plan say where each
    partition count comes from (Plan.partition_origins). `mirrored` are the copies of another stack's
    topics a regional stack creates (k2infra.model.regions): planned, verified and granted to apps like
    its own, but their subjects are the home registry's (replayed by the regional one), so none is
    registered here."""
    topology = loaded.topology
    enabled = settings.enabled(loaded)
    replication_factor = settings.replication_factor or topology.defaults.replication_factor
    exchanges: list[ExchangeInfo] = []
    carried = {(t.asset_class, t.exchange) for t in mirrored}
    for asset_class, exchange in [*enabled.exchanges, *sorted(carried)]:
        spec = topology.asset_classes[asset_class].exchanges[exchange]
        exchanges.append(ExchangeInfo(asset_class, exchange, spec.name, spec.country, spec.timezone))
    topics: list[TopicSpec] = []
    for t in enabled.topics:
        dt = topology.data_types[t.data_type]
        topics.append(
            TopicSpec(
                name=t.name,
                asset_class=t.asset_class,
                data_type=t.data_type,
                exchange=t.exchange,
                partitions=effective_partitions(loaded, settings, t.asset_class, t.data_type, t.exchange),
                replication_factor=replication_factor,
                config=effective_config(settings, t),
                schema_subject=t.subject,
                schema_name=dt.schema_name,
                partition_key=dt.partition_key,
            )
        )
    subject_of = {(t.asset_class, t.data_type): t.subject for t in enabled.topics}
    subjects = []
    for (asset_class, data_type), schema in sorted(loaded.schemas.items()):
        users = tuple(sorted(t.name for t in topics if (t.asset_class, t.data_type) == (asset_class, data_type)))
        if not users:
            continue  # no enabled exchange carries it in this stack
        subjects.append(
            SubjectSpec(
                subject=subject_of[(asset_class, data_type)],
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
    app_auth = AppAuth.of_connection(settings.sasl_mechanism, settings.client_cert)
    access = derive_access(
        apps or Apps(),
        stack,
        topics,
        legacy,
        [t.name for t in loaded.topics],
        {t.name for t in mirrored},
        auth=app_auth,
    )
    origins: Mapping[str, str] = {}
    if stack_file is not None:
        origins = PartitionOrigins(loaded, settings, stack_file, stack_line_of, {t.name: t for t in enabled.topics})
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
        app_auth=app_auth,
        creates_app_credentials=settings.access_control and app_auth is AppAuth.SCRAM,
        max_partitions=settings.max_partitions,
        partition_overrides=tuple(sorted(settings.partitions)),
        partition_origins=origins,
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
                config=config_strings(spec.config),
                quiet_since=spec.quiet_since,
            )
        )
    return tuple(out)


def load_plan(config_dir: Path | str = "config", stack: str | None = None, project_dir: Path | str = ".") -> Plan:
    """The plan of `stack` (its Pulumi.<stack>.yaml overrides applied), or of the topology alone."""
    from k2infra.model.stack import load_stack_file  # the Stack holds a Plan: imported here, not above

    return load_stack_file(config_dir, stack, project_dir).plan
