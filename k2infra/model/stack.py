"""A stack as deploy, live and the command line take it: Stack(plan, connections, safety).

One loader (`load_stack`) for the command line and the Pulumi program alike: the topology, the
apps and the stack's settings are read and checked together (every problem at once), and the
settings are split in three: the layout overrides go into the Plan (build_plan alone reads them),
the connections are normalised once (k2infra.model.connection), the safety switches stand apart.
Only where the settings come from differs: Pulumi.<stack>.yaml for the command line, pulumi.Config
for the program; the caller hands in a `StackConfig` reader and whatever secrets it resolved.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from k2infra.model import regions
from k2infra.model.apps import Apps, load_apps
from k2infra.model.connection import Connections, KafkaConnection, RegistryConnection
from k2infra.model.errors import InputError, Problem
from k2infra.model.mirror_access import mirror_access
from k2infra.model.plan import Plan, TopicSpec, build_plan, partition_origin
from k2infra.model.settings import (
    NAMESPACE,
    StackConfig,
    StackSettings,
    client_key_problems,
    read_stack_file,
    validate_settings,
)
from k2infra.model.topology import LoadedTopology, load_topology
from k2infra.model.yaml_source import dotted


@dataclass(frozen=True)
class Safety:
    """What a run may destroy: the switches that guard data, apart from what is declared."""

    protect: bool = False  # k2infra:protect: Pulumi refuses to delete the stack's topics, subjects, ACLs
    allow_retire: bool = False  # legacy topics marked retire may be deleted (after the no-writes check)
    force_retire: bool = False  # ... even without that check
    allow_data_loss: tuple[str, ...] = ()  # topics a run may delete or replace although they hold records
    hard_delete_subjects: bool = False  # a removed subject is deleted for good, not soft-deleted


@dataclass(frozen=True)
class Stack:
    plan: Plan
    connections: Connections
    safety: Safety
    local_cluster: Literal["none", "docker"] = "none"  # dev stacks may bring a broker and registry in Docker
    secret_keys: frozenset[str] = frozenset()  # the secret keys the stack sets (never their values)
    # A regional stack's source (k2infra:mirrorFrom): how to reach its cluster and registry, no secrets.
    mirror_source: Connections | None = None

    @property
    def name(self) -> str | None:
        return self.plan.stack


@dataclass(frozen=True)
class PeerStacks:
    """The project's other stacks, as their files declare them: a region's source, a home's regions.

    Both the command line and the program read them from Pulumi.<stack>.yaml in the project
    directory (the program runs there): the engine hands a program its own stack's config only."""

    names: tuple[str, ...]
    read: Callable[[str], StackConfig]


def peer_stacks(project_dir: Path | str) -> PeerStacks:
    project = Path(project_dir)
    names = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project.glob("Pulumi.*.yaml"))
    return PeerStacks(tuple(names), lambda name: read_stack_file(project, name))


def connections_of(settings: StackSettings, secrets: Mapping[str, str] | None = None) -> Connections:
    """The stack's connections; `secrets` maps secret keys (saslPassword, ...) to the values resolved."""
    secrets = secrets or {}
    return Connections(
        kafka=KafkaConnection(
            bootstrap_servers=tuple(settings.bootstrap_servers),
            tls=settings.tls,
            tls_skip_verify=settings.tls_skip_verify,
            ca_cert=settings.ca_cert,
            sasl_mechanism=settings.sasl_mechanism,
            sasl_username=settings.sasl_username,
            sasl_password=secrets.get("saslPassword"),
            sasl_token_url=settings.sasl_token_url,
            sasl_oauth_scopes=tuple(settings.sasl_oauth_scopes),
            client_cert=settings.client_cert,
            client_key=secrets.get("clientKey"),
            kafka_version=settings.kafka_version,
            timeout_seconds=settings.kafka_timeout_seconds,
        ),
        registry=RegistryConnection(
            url=settings.schema_registry_url,
            username=settings.schema_registry_username,
            password=secrets.get("schemaRegistryPassword"),
            token=secrets.get("schemaRegistryToken"),
            ca_cert=settings.schema_registry_ca_cert,
        ),
    )


def safety_of(settings: StackSettings) -> Safety:
    return Safety(
        protect=settings.protect,
        allow_retire=settings.allow_retire,
        force_retire=settings.force_retire,
        allow_data_loss=tuple(settings.allow_data_loss),
        hard_delete_subjects=settings.hard_delete_subjects,
    )


def load_stack(
    config_dir: Path | str,
    read_config: Callable[[], StackConfig],
    secrets: Mapping[str, str] | None = None,
    peers: PeerStacks | None = None,
) -> Stack:
    """The stack, or InputError with the problems of the topology, the apps and the settings together.

    With a broken topology the apps and the settings are still checked on their own, so that one run
    shows every input's problems. `peers` are the project's other stacks (a regional stack's source,
    the regions that mirror this one); without them a `k2infra:mirrorFrom` names an unknown stack."""
    problems: list[Problem] = []
    loaded: LoadedTopology | None = None
    try:
        loaded = load_topology(config_dir)
    except InputError as exc:
        problems += exc.problems
    topology = loaded.topology if loaded else None
    apps = Apps()
    try:
        apps = load_apps(config_dir, topology, loaded.topics if loaded else None)
    except InputError as exc:
        problems += exc.problems
    try:
        config = read_config()
        problems += _client_key_problems(config, secrets or {})
        settings = validate_settings(config, loaded)
    except InputError as exc:
        raise InputError(problems + exc.problems) from None
    if problems or loaded is None:
        raise InputError(problems)
    layout = _in_region(loaded, settings)
    mirror = _mirror(loaded, config, settings, peers) if settings.mirror_from is not None else None
    plan = build_plan(loaded, layout, config.name, apps, config.file, config.line_of, mirror.topics if mirror else ())
    mirror_source = None
    if mirror is not None:
        # the copies' counts come from the source stack's file; the own topics' are still worked out when asked
        origins = ChainMap(dict(mirror.origins), plan.partition_origins)
        plan = replace(plan, mirror=mirror.plan([t.name for t in loaded.topics]), partition_origins=origins)
        mirror_source = connections_of(mirror.settings)
    if peers is not None and config.name is not None:
        own = [t for t in plan.topics if not (plan.mirror and t.name in plan.mirror.topics)]
        plan = replace(plan, carried_by=tuple(regions.carriers(config.name, own, _peer_values(peers, config.name))))
    if plan.access_control and (mirrormaker := mirror_access(plan)):
        plan = replace(plan, apps=plan.apps + mirrormaker)  # MirrorMaker 2's principal, on either side of a flow
    return Stack(
        plan=plan,
        connections=connections_of(settings, secrets),
        safety=safety_of(settings),
        local_cluster=settings.local_cluster,
        secret_keys=config.secret_keys,
        mirror_source=mirror_source,
    )


def _in_region(loaded: LoadedTopology, settings: StackSettings) -> StackSettings:
    """The settings with `exchanges` narrowed to those homed in the stack's region (others are only mirrored)."""
    home = regions.home_exchanges(loaded, settings.region, settings.exchanges)
    if len(home) == (len(loaded.exchanges) if settings.exchanges is None else len(set(settings.exchanges))):
        return settings
    return settings.model_copy(update={"exchanges": home})


@dataclass(frozen=True)
class _Mirrored:
    """A regional stack's mirror as the loader resolved it from the source stack's file."""

    source: regions.SourceStack
    settings: StackSettings  # the source's
    region_stack: str
    region: str
    selectors: tuple[regions.Selector, ...]
    topics: tuple[TopicSpec, ...]
    origins: Mapping[str, str]

    def plan(self, topology_topics: list[str]) -> regions.Mirror:
        names = tuple(sorted(t.name for t in self.topics))
        prefixes, literal = regions.topic_patterns(self.selectors, self.topics, topology_topics)
        return regions.Mirror(
            region_stack=self.region_stack,
            region=self.region,
            stack=self.source.name,
            source_region=self.source.region,
            selectors=self.selectors,
            topics=names,
            subjects=tuple(sorted({t.schema_subject for t in self.topics})),
            topic_prefixes=prefixes,
            topic_names=literal,
        )


def _mirror(
    loaded: LoadedTopology, config: StackConfig, settings: StackSettings, peers: PeerStacks | None
) -> _Mirrored:
    """The source stack of `k2infra:mirrorFrom`, read from its file, and the copies of its topics; InputError
    with every problem of the mirror (and of the source's file) otherwise."""
    assert settings.mirror_from is not None
    topology = loaded.topology

    def problem(path: tuple[str | int, ...], message: str) -> Problem:
        line = config.line_of(path) if config.line_of else None
        return Problem(config.file, line, f"{NAMESPACE}:{'.'.join(map(str, path))}", message)  # as settings name it

    def topology_where(path: tuple[str | int, ...]) -> str:
        if loaded.source is None:
            return dotted(path)
        return f"{loaded.source.file}:{loaded.source.line_of(path)}: {dotted(path)}"

    name = settings.mirror_from.stack
    known = [n for n in (peers.names if peers else ()) if n != config.name]
    if name not in known:
        raise InputError(
            [problem(("mirrorFrom", "stack"), f"unknown stack {name!r} (stacks here: {', '.join(known) or 'none'})")]
        )
    assert peers is not None
    source_config = peers.read(name)
    source_settings = validate_settings(source_config, loaded)  # its problems, in its file
    source_layout = _in_region(loaded, source_settings)
    source_plan = build_plan(loaded, source_layout, name)
    source = regions.SourceStack(
        name=name,
        file=source_config.file,
        region=source_settings.region,
        topics=source_plan.topics,
        line_of=source_config.line_of,
        mirror_stack=source_settings.mirror_from.stack if source_settings.mirror_from else None,
    )
    problems = regions.mirror_problems(
        config.name or "", settings.region, settings.mirror_from, source, topology, topology_where, problem
    )
    rf = settings.replication_factor or topology.defaults.replication_factor
    topics = regions.mirrored_topics(source, settings.mirror_from.select, rf, settings.min_insync_replicas)
    problems += regions.isr_problems(topics, rf, source, problem)
    if problems:
        raise InputError(problems)
    origins = {
        t.name: partition_origin(
            loaded, source_layout, source_config.file, source_config.line_of, t.asset_class, t.data_type, t.exchange
        )
        + f" (stack {name}, which this stack mirrors)"
        for t in topics
    }
    return _Mirrored(
        source,
        source_settings,
        config.name or "",
        settings.region,
        tuple(settings.mirror_from.select),
        tuple(topics),
        origins,
    )


def _peer_values(peers: PeerStacks, own: str) -> dict[str, Mapping[str, object]]:
    """The other stacks' `k2infra:` keys as written, decoded; a file that cannot be read is left out."""
    out: dict[str, Mapping[str, object]] = {}
    for name in peers.names:
        if name == own:
            continue
        try:
            out[name] = peers.read(name).values
        except InputError:
            continue
    return out


def _client_key_problems(config: StackConfig, secrets: Mapping[str, str]) -> list[Problem]:
    """The secret client key against the stack's certificate, where the caller resolved the key: with the
    settings' own problems, so that one run names them all."""
    cert, key = config.values.get("clientCert"), secrets.get("clientKey")
    if not isinstance(cert, str) or not cert or not key:
        return []
    line = config.line_of(("clientKey",)) if config.line_of else None
    return [Problem(config.file, line, f"{NAMESPACE}:clientKey", r) for r in client_key_problems(cert, key)]


def load_stack_file(
    config_dir: Path | str = "config",
    stack: str | None = None,
    project_dir: Path | str = ".",
    secrets: Mapping[str, str] | None = None,
) -> Stack:
    """The stack of Pulumi.<stack>.yaml (the topology alone when stack is None), as the command line reads it.

    `secrets` are the credentials the caller resolved (the command line: from the environment)."""
    return load_stack(
        config_dir,
        lambda: read_stack_file(Path(project_dir), stack, list(secrets or {})),
        secrets,
        peer_stacks(project_dir),
    )
