"""Declared apps x the stack's topics -> the access each app gets: ACLs, group, quotas (pure).

What an app may touch is exactly what its selectors mean today, in this stack:
- consumes: Read and Describe on the topics; Read on its group (Literal for `group`, Prefixed for
  `group_prefix`);
- produces: Write and Describe on the topics.

Each selector's topics are granted by Literal names, or by a Prefixed pattern where the prefix
means the same thing as the selector:
- `asset_class: X` -> `market.X.` (the app gains a new exchange of X when one is added: by design);
- `asset_class: X` with `data_types` -> `market.X.DT.` per data type;
- `data_type: DT` (`reference_data` included) -> `market.AC.DT.` per asset class;
- anything that names exchanges (`exchange:`, `asset_class` with `exchanges`) and legacy topics ->
  Literal names: a single-exchange consumer never gains anything.
A prefix is used only when every topic it can match today is one the selector means in this stack:
every topic of the topology (enabled in this stack or not) and every legacy topic name. Otherwise
(a legacy topic such as `market.equities.raw`, an exchange this stack disables) the selector's
topics are granted by Literal names. A selector that means no topic of the stack grants nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from k2infra.model.apps import App, Apps, Quotas, Selector, SelectorKind, username_of
from k2infra.model.errors import InputError
from k2infra.model.topology import TOPIC_PREFIX

if TYPE_CHECKING:
    from k2infra.model.plan import LegacyTopic, TopicSpec


class ResourceType(StrEnum):
    """Kafka ACL resource types, spelt as pulumi-kafka's `acl_resource_type` takes them."""

    TOPIC = "Topic"
    GROUP = "Group"


class PatternType(StrEnum):
    """`resource_pattern_type_filter` of pulumi-kafka."""

    LITERAL = "Literal"
    PREFIXED = "Prefixed"


class Operation(StrEnum):
    """`acl_operation` of pulumi-kafka (the ones apps get)."""

    READ = "Read"
    WRITE = "Write"
    DESCRIBE = "Describe"


ALLOW = "Allow"
ANY_HOST = "*"
CONSUMER_OPERATIONS = (Operation.READ, Operation.DESCRIBE)
PRODUCER_OPERATIONS = (Operation.WRITE, Operation.DESCRIBE)


@dataclass(frozen=True, order=True)
class AclSpec:
    """One Kafka ACL binding (Allow, from any host)."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    operation: Operation
    permission: str = ALLOW
    host: str = ANY_HOST

    @property
    def id(self) -> str:
        return acl_id(self)

    def matches(self, resource_type: ResourceType, name: str) -> bool:
        """Would the broker apply this binding to the resource `name`?"""
        if resource_type != self.resource_type:
            return False
        if self.pattern_type is PatternType.PREFIXED:
            return name.startswith(self.resource_name)
        return name == self.resource_name

    def describe(self) -> str:
        return f"{self.operation} {self.resource_type} {self.resource_name} ({self.pattern_type})"

    def to_dict(self) -> dict[str, str]:
        return {
            "principal": self.principal,
            "resource_type": str(self.resource_type),
            "resource_name": self.resource_name,
            "pattern_type": str(self.pattern_type),
            "operation": str(self.operation),
            "permission": self.permission,
            "host": self.host,
        }


@dataclass(frozen=True)
class AppAccess:
    """What one app may touch in one stack."""

    name: str
    principal: str
    reads: tuple[str, ...]  # the topics it may read today, sorted
    writes: tuple[str, ...]  # the topics it may write today, sorted
    acls: tuple[AclSpec, ...]  # sorted
    group: str | None = None
    group_pattern: PatternType | None = None  # Literal for `group`, Prefixed for `group_prefix`
    quotas: Quotas | None = None
    description: str | None = None

    @property
    def username(self) -> str:
        return username_of(self.principal)

    def to_dict(self) -> dict[str, Any]:
        """The app's entry of the `apps` stack output and of `access --json` (no secrets)."""
        return {
            "principal": self.principal,
            "username": self.username,
            "reads": list(self.reads),
            "writes": list(self.writes),
            "acls": [{k: v for k, v in acl.to_dict().items() if k != "principal"} for acl in self.acls],
            "group": None if self.group is None else {"name": self.group, "pattern_type": str(self.group_pattern)},
            "quotas": self.quotas.config() if self.quotas else {},
        }


def derive_access(
    apps: Apps,
    stack: str | None,
    topics: Sequence[TopicSpec],
    legacy: Sequence[LegacyTopic],
    topology_topics: Iterable[str],
    mirrored: Collection[str] = (),
) -> tuple[AppAccess, ...]:
    """The access of every app in `stack`.

    `topics` are the stack's planned topics, `legacy` the topology's legacy topics with what this
    stack does with them (only the ones it keeps can be granted), `topology_topics` every
    hierarchical topic name of the topology, enabled in this stack or not. `mirrored` are the
    topics a regional stack copies from their home region (k2infra.model.regions): apps may read
    them, and no app is ever granted a Write on one, since only the home region produces.
    """
    problems = apps.duplicate_principal_problems(stack) if stack is not None else []
    if problems:
        raise InputError(problems)
    reach = frozenset(topology_topics) | {t.name for t in legacy}
    produced = [t for t in topics if t.name not in mirrored]
    asset_classes = sorted({name.split(".")[1] for name in reach if name.count(".") == 3})
    kept_legacy = [t.name for t in legacy if t.declared]
    out = []
    for app in apps.apps:
        principal = apps.principal(app, stack)
        acls: set[AclSpec] = set()
        reads = _grant(app.consumes, CONSUMER_OPERATIONS, principal, topics, kept_legacy, reach, asset_classes, acls)
        writes = _grant(app.produces, PRODUCER_OPERATIONS, principal, produced, kept_legacy, reach, asset_classes, acls)
        group, pattern = _group(app)
        if group is not None and pattern is not None:
            acls.add(AclSpec(principal, ResourceType.GROUP, group, pattern, Operation.READ))
        out.append(
            AppAccess(
                name=app.name,
                principal=principal,
                reads=tuple(sorted(reads)),
                writes=tuple(sorted(writes)),
                acls=tuple(sorted(_without_subsumed(acls))),
                group=group,
                group_pattern=pattern,
                quotas=app.quotas,
                description=app.description,
            )
        )
    return tuple(out)


def _group(app: App) -> tuple[str | None, PatternType | None]:
    if app.group is not None:
        return app.group, PatternType.LITERAL
    if app.group_prefix is not None:
        return app.group_prefix, PatternType.PREFIXED
    return None, None


def _grant(
    selectors: Sequence[Selector],
    operations: Sequence[Operation],
    principal: str,
    topics: Sequence[TopicSpec],
    kept_legacy: Sequence[str],
    reach: frozenset[str],
    asset_classes: Sequence[str],
    acls: set[AclSpec],
) -> set[str]:
    """Add the ACLs of `selectors` to `acls`; the topics they mean in this stack."""
    granted: set[str] = set()
    for selector in selectors:
        meant = {t.name for t in topics if selector.means(t.asset_class, t.data_type, t.exchange)}
        meant |= {name for name in kept_legacy if selector.means_legacy(name)}
        granted |= meant
        prefixes, literals = patterns_for(selector, meant, reach, asset_classes)
        for operation in operations:
            acls.update(AclSpec(principal, ResourceType.TOPIC, p, PatternType.PREFIXED, operation) for p in prefixes)
            acls.update(AclSpec(principal, ResourceType.TOPIC, n, PatternType.LITERAL, operation) for n in literals)
    return granted


def candidate_prefixes(selector: Selector, asset_classes: Sequence[str]) -> list[str]:
    """The prefixes that could stand for the selector; none for selectors that name exchanges."""
    if selector.kind is SelectorKind.ASSET_CLASS and selector.exchanges is None:
        if selector.data_types is None:
            return [f"{TOPIC_PREFIX}.{selector.asset_class}."]
        return [f"{TOPIC_PREFIX}.{selector.asset_class}.{dt}." for dt in selector.data_types]
    if selector.kind is SelectorKind.DATA_TYPE:
        classes = selector.asset_classes if selector.asset_classes is not None else asset_classes
        return [f"{TOPIC_PREFIX}.{ac}.{selector.data_type}." for ac in classes]
    return []


def patterns_for(
    selector: Selector, meant: set[str], reach: frozenset[str], asset_classes: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(prefixes, literal names) that grant exactly `meant`, the topics the selector means today.

    A prefix stands in for its topics only if every name it reaches today (`reach`: the
    topology's topics, enabled here or not, and every legacy name) is one of them."""
    prefixes: list[str] = []
    covered: set[str] = set()
    for prefix in candidate_prefixes(selector, asset_classes):
        mine = {name for name in meant if name.startswith(prefix)}
        if mine and {name for name in reach if name.startswith(prefix)} <= meant:
            prefixes.append(prefix)
            covered |= mine
    return prefixes, sorted(meant - covered)


def _without_subsumed(acls: set[AclSpec]) -> set[AclSpec]:
    """Drop a Literal binding that a Prefixed one of the same principal and operation already grants."""
    prefixed = [a for a in acls if a.pattern_type is PatternType.PREFIXED]
    return {
        acl
        for acl in acls
        if acl.pattern_type is PatternType.PREFIXED
        or not any(
            (p.principal, p.resource_type, p.operation) == (acl.principal, acl.resource_type, acl.operation)
            and acl.resource_name.startswith(p.resource_name)
            for p in prefixed
        )
    }


def who_can(apps: Iterable[AppAccess], resource_type: ResourceType, name: str) -> list[tuple[AppAccess, AclSpec]]:
    """Every (app, binding) that applies to the resource `name`, as the broker would match them."""
    return [(app, acl) for app in apps for acl in app.acls if acl.matches(resource_type, name)]


def acl_id(acl: Any) -> str:
    """The identity pulumi-kafka gives an ACL (and imports it by): principal|host|op|permission|type|name|pattern.

    One spelling for a planned binding (AclSpec) and a live one (k2infra.live.access.LiveAcl), so
    that `verify` compares them by it.
    """
    parts = (acl.principal, acl.host, acl.operation, acl.permission, acl.resource_type, acl.resource_name)
    return "|".join((*parts, acl.pattern_type))
