"""Regions: each exchange's topics produced in its home region and mirrored to regional clusters.

The declaration, in two places:
- config/kafka/topics.yaml: an exchange's `region` is its home, where its feed is produced
  (default: `primary`, the region of every stack that names none);
- Pulumi.<stack>.yaml: `k2infra:region` (default `primary`) and, on a regional stack,
  `k2infra:mirrorFrom: {stack: prod, select: [...]}`: the stack it mirrors from, and what, by the
  selectors apps use in config/kafka/apps.yaml (k2infra.model.apps.Selector, checked by the same
  `selector_problems`).

A stack creates the topics of the exchanges homed in its region (k2infra.model.stack applies that
to `k2infra:exchanges`) and, with `mirrorFrom`, the topics it mirrors, named as at home (identity
naming). One rule keeps mirroring free of cycles: a stack mirrors only topics whose home is the
region of the stack it mirrors from, and never into their home region. So every copy is one hop
from home; a topic never travels back, nor on from a region that only mirrors it. Only the home
region produces: the access model grants no app a Write on a mirrored topic
(k2infra.model.apps.derive_access), so a regional cluster's brokers refuse such a write (docs/regions.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from k2infra.model.apps import ProblemAt, Selector, patterns_for, selector_problems
from k2infra.model.errors import Problem
from k2infra.model.kafka_configs import parse_int
from k2infra.model.topology import PRIMARY_REGION, LoadedTopology, Topology

if TYPE_CHECKING:
    from k2infra.model.plan import TopicSpec

MIRROR_PRINCIPAL_RULE = "User:k2-mirror-{stack}"  # MirrorMaker 2's user, one per regional stack
# Apicurio's kafkasql journal (docs/architecture.md §13): mirrored with the market topics, so that the
# regional registry replays the home registry's changes and serves the same schema IDs.
REGISTRY_JOURNAL = "k2-registry-journal"


class MirrorFrom(BaseModel):
    """`k2infra:mirrorFrom` as written: the stack to mirror from and what to take from it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    stack: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    select: list[Selector] = Field(min_length=1)


@dataclass(frozen=True)
class Mirror:
    """What a regional stack mirrors: from which stack and region, into which region, which topics."""

    region_stack: str  # the regional stack itself
    region: str
    stack: str  # the source stack (its Pulumi.<stack>.yaml)
    source_region: str
    selectors: tuple[Selector, ...]
    topics: tuple[str, ...]  # the mirrored topics, sorted (they are in the Plan's topics too)
    subjects: tuple[str, ...]  # their subjects, served by the regional registry with the home's IDs
    # The mirrored topics as prefixes and names (the rule of apps' ACLs, k2infra.model.apps.patterns_for):
    # a prefix only where every topic of the topology under it is mirrored, so a new exchange of a
    # mirrored asset class is matched by MirrorMaker 2's pattern without a restart.
    topic_prefixes: tuple[str, ...] = ()
    topic_names: tuple[str, ...] = ()

    @property
    def principal(self) -> str:
        return mirror_principal(self.region_stack)


@dataclass(frozen=True)
class Carrier:
    """A regional stack that mirrors some of this stack's topics."""

    stack: str
    region: str
    bootstrap_servers: tuple[str, ...]
    topics: tuple[str, ...]


def mirror_principal(region_stack: str) -> str:
    return MIRROR_PRINCIPAL_RULE.replace("{stack}", region_stack)


# -- the declaration, as written ---------------------------------------------------------------------


def declaration_problems(raw: Any, topology: Topology | None, problem: ProblemAt) -> list[Problem]:
    """`k2infra:mirrorFrom.select`: each selector checked as apps.yaml's are (names, options)."""
    if topology is None:
        return []
    out: list[Problem] = []
    select = raw.get("select") if isinstance(raw, dict) else None  # raw YAML: its shape is checked apart
    for i, selector in enumerate(select if isinstance(select, list) else []):
        if isinstance(selector, dict):
            out += selector_problems(problem, ("mirrorFrom", "select", i), selector, topology)
    return out


def home_exchanges(loaded: LoadedTopology, region: str, enabled: Iterable[str] | None) -> list[str]:
    """The exchanges (`asset_class.exchange`) a stack of `region` produces: enabled and homed there."""
    wanted = None if enabled is None else set(enabled)
    return [
        f"{ac}.{ex}"
        for ac, ex in loaded.exchanges
        if (wanted is None or f"{ac}.{ex}" in wanted) and loaded.topology.home_region(ac, ex) == region
    ]


# -- the mirror of a regional stack -----------------------------------------------------------------


@dataclass(frozen=True)
class SourceStack:
    """The stack a region mirrors from, as its file declares it (read by k2infra.model.stack)."""

    name: str
    file: str
    region: str
    topics: Sequence[TopicSpec]  # the topics it produces (its plan's)
    line_of: Callable[[tuple[str | int, ...]], int | None] | None = None
    mirror_stack: str | None = None  # the stack it mirrors from itself, if any

    def where(self, key: str) -> str:
        line = self.line_of((key,)) if self.line_of else None
        return f"{self.file}{f':{line}' if line else ''}: k2infra:{key}"


def mirror_problems(
    region_stack: str,
    region: str,
    mirror_from: MirrorFrom,
    source: SourceStack,
    topology: Topology,
    topology_where: Callable[[tuple[str | int, ...]], str],
    problem: ProblemAt,
) -> list[Problem]:
    """A mirror refused: a source in this region, a selector meaning no topic of the source, a topic
    mirrored into its home region or out of a region that only mirrors it (both ends named)."""
    out: list[Problem] = []
    if source.name == region_stack:
        return [problem(("mirrorFrom", "stack"), "a stack cannot mirror from itself")]
    if source.region == region:
        return [
            problem(
                ("mirrorFrom", "stack"),
                f"stack {source.name} is in region {region} too ({source.where('region')}): "
                "a region mirrors from another region's stack",
            )
        ]
    produced = {t.name for t in source.topics}
    for i, selector in enumerate(mirror_from.select):
        path = ("mirrorFrom", "select", i)
        keys = [k for k in topology.topics() if selector.means(k.asset_class, k.data_type, k.exchange)]
        if not keys:
            continue  # declaration_problems said why
        before = len(out)
        # The other end of a cycle: the source's own mirror, where the topic came from.
        back = (
            f"; stack {source.name} mirrors it from stack {source.mirror_stack} ({source.where('mirrorFrom')})"
            if source.mirror_stack
            else ""
        )
        for key in keys:
            home = topology.home_region(key.asset_class, key.exchange)
            exchange_at = topology_where(("asset_classes", key.asset_class, "exchanges", key.exchange))
            if home == region:
                out.append(
                    problem(
                        path,
                        f"{key.name} is produced in this region ({region}, its home: {exchange_at}){back}: "
                        "mirroring it into its home region would make a cycle",
                    )
                )
            elif home != source.region:
                out.append(
                    problem(
                        path,
                        f"{key.name} is produced in region {home} ({exchange_at}), not in region {source.region} of "
                        f"stack {source.name}{back}: mirroring it out of a region that only mirrors it would make "
                        f"a chain or a cycle; mirror it from a stack of region {home}",
                    )
                )
        if not any(k.name in produced for k in keys) and len(out) == before:
            out.append(problem(path, f"selects no topic that stack {source.name} produces ({selector.describe()})"))
    return out


def mirrored_topics(
    source: SourceStack,
    selectors: Sequence[Selector],
    replication_factor: int,
    min_insync_replicas: int | None,
) -> list[TopicSpec]:
    """The regional copies of the source's topics the selectors mean: the source's name, partitions
    and configs (MirrorMaker 2 keeps a record's partition, so the counts must match), the region's
    replication factor and, where it sets one, its min.insync.replicas."""
    out = []
    for topic in source.topics:
        if not any(s.means(topic.asset_class, topic.data_type, topic.exchange) for s in selectors):
            continue
        config = dict(topic.config)
        if min_insync_replicas is not None:
            config["min.insync.replicas"] = str(min_insync_replicas)
        out.append(topic.model_copy(update={"replication_factor": replication_factor, "config": config}))
    return out


def isr_problems(
    topics: Sequence[TopicSpec], replication_factor: int, source: SourceStack, problem: ProblemAt
) -> list[Problem]:
    """The source's min.insync.replicas above the region's replication factor: MirrorMaker 2's writes would fail."""
    over = sorted(t.name for t in topics if (parse_int(t.config.get("min.insync.replicas")) or 0) > replication_factor)
    if not over:
        return []
    isr = max(parse_int(t.config.get("min.insync.replicas")) or 0 for t in topics)
    return [
        problem(
            ("mirrorFrom",),
            f"the mirrored topics keep min.insync.replicas {isr} of stack {source.name}, above this stack's "
            f"replication factor {replication_factor} (topics: {', '.join(over)}): set k2infra:minInsyncReplicas",
        )
    ]


def carriers(home_stack: str, topics: Sequence[TopicSpec], peers: Mapping[str, Mapping[str, Any]]) -> list[Carrier]:
    """The regional stacks whose `k2infra:mirrorFrom` names `home_stack`, and what each carries of it.

    `peers` are the other stacks' `k2infra:` keys as their files hold them; one that does not parse
    is left out (its own `validate` says why)."""
    out = []
    for name, values in sorted(peers.items()):
        try:
            mirror_from = MirrorFrom.model_validate(values.get("mirrorFrom"))
        except ValueError:
            continue
        if mirror_from.stack != home_stack or name == home_stack:
            continue
        carried = sorted(
            t.name for t in topics if any(s.means(t.asset_class, t.data_type, t.exchange) for s in mirror_from.select)
        )
        servers = values.get("bootstrapServers") or ()
        if isinstance(servers, str):
            servers = [s.strip() for s in servers.split(",") if s.strip()]
        out.append(Carrier(name, str(values.get("region") or PRIMARY_REGION), tuple(servers), tuple(carried)))
    return out


def regions_output(topics: Sequence[TopicSpec], carried_by: Sequence[Carrier]) -> dict[str, list[dict[str, Any]]]:
    """The `regions` stack output of a home stack: per exchange, the region clusters that carry it."""
    out: dict[str, list[dict[str, Any]]] = {}
    by_name = {t.name: t for t in topics}
    for carrier in carried_by:
        refs = sorted({f"{by_name[n].asset_class}.{by_name[n].exchange}" for n in carrier.topics if n in by_name})
        for ref in refs:
            out.setdefault(ref, []).append(
                {
                    "stack": carrier.stack,
                    "region": carrier.region,
                    "bootstrap_servers": ",".join(carrier.bootstrap_servers),
                    "topics": sorted(
                        n for n in carrier.topics if n.startswith("market.") and ref_of(by_name[n]) == ref
                    ),
                }
            )
    return {ref: out[ref] for ref in sorted(out)}


def ref_of(topic: TopicSpec) -> str:
    return f"{topic.asset_class}.{topic.exchange}"


def topic_patterns(
    selectors: Sequence[Selector], topics: Sequence[TopicSpec], topology_topics: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(prefixes, names) that match exactly the mirrored `topics` among every topic of the topology."""
    reach = frozenset(topology_topics)
    asset_classes = sorted({name.split(".")[1] for name in reach})
    prefixes: set[str] = set()
    names: set[str] = set()
    for selector in selectors:
        meant = {t.name for t in topics if selector.means(t.asset_class, t.data_type, t.exchange)}
        found, literal = patterns_for(selector, meant, reach, asset_classes)
        prefixes.update(found)
        names.update(literal)
    names = {n for n in names if not any(n.startswith(p) for p in prefixes)}
    return tuple(sorted(prefixes)), tuple(sorted(names))


def anchored(names: Iterable[str], prefixes: Iterable[str] = ()) -> str:
    """One anchored Java/Python regex matching exactly `names` and whatever starts with `prefixes`."""
    # Topic and group names hold letters, digits, '.', '_' and '-': only the dot is special in a regex.
    parts = [p.replace(".", r"\.") + ".*" for p in sorted(prefixes)] + [n.replace(".", r"\.") for n in sorted(names)]
    return "^(?:" + "|".join(parts) + ")$" if parts else "^$"
