"""MirrorMaker 2's access on both clusters of a flow: one more principal in each stack's access.

MirrorMaker 2 logs in as `User:k2-mirror-<regional stack>` on both clusters (k2infra.model.mirrormaker
writes its properties). Each stack grants it what its side of the flow needs, derived from the same
facts as the properties (the mirror's topic patterns, the synced groups), with
`offset-syncs.topic.location=target` so that the home cluster is only read:

- the regional stack, on its own cluster: Read, Write, Describe on the copies and the registry
  journal's copy (Write to copy; Read because the translated group offsets are committed on them);
  Create, Read, Write, Describe, DescribeConfigs on its own topics (`mm2-` prefix: Connect's configs,
  offsets and status, the offset syncs; and `<source>.checkpoints.internal`); Read on the synced
  groups (to commit the translated offsets) and on its worker group `<source>-mm2`;
- the home stack, for each region that carries some of its topics: Read, Describe on the carried
  topics and the journal; Describe on the carried topics' groups (to read their committed offsets).

No other principal may Write a copy: the apps' access never grants it (k2infra.model.apps), and
the policy pack refuses it. The principal gets a quota like every app (the pack's k2-app-has-quota),
set high: a throttled mirror is a regional outage. In SCRAM stacks its credential is a SCRAM user
with the password `k2infra:appPasswords.<username>`, like an app's.
"""

from __future__ import annotations

from collections.abc import Iterable

from k2infra.model.apps import AclSpec, AppAccess, Operation, PatternType, Quotas, ResourceType, username_of
from k2infra.model.plan import Plan
from k2infra.model.regions import REGISTRY_JOURNAL, Carrier, mirror_principal

INTERNAL_PREFIX = "mm2-"  # Connect's configs/offsets/status and the offset syncs: mm2-*.<source>.internal
COPY_OPERATIONS = (Operation.READ, Operation.WRITE, Operation.DESCRIBE)
INTERNAL_OPERATIONS = (
    Operation.CREATE,
    Operation.READ,
    Operation.WRITE,
    Operation.DESCRIBE,
    Operation.DESCRIBE_CONFIGS,
)
SOURCE_OPERATIONS = (Operation.READ, Operation.DESCRIBE)
MIB = 1024 * 1024
MIRROR_QUOTAS = Quotas(producer_byte_rate=100 * MIB, consumer_byte_rate=100 * MIB)


def checkpoints_topic(source_stack: str) -> str:
    return f"{source_stack}.checkpoints.internal"


def worker_group(source_stack: str) -> str:
    return f"{source_stack}-mm2"


def mirror_access(plan: Plan) -> tuple[AppAccess, ...]:
    """The mirror principals' access in this stack: the target side of its own mirror, if it has one,
    and the source side of each region that carries its topics."""
    out = [] if plan.mirror is None else [target_access(plan)]
    return tuple(out + [_source(plan, carrier) for carrier in plan.carried_by])


def target_access(plan: Plan) -> AppAccess:
    """What MirrorMaker 2 may do on the regional cluster of `plan`, a stack with a mirror."""
    mirror = plan.mirror
    assert mirror is not None
    principal, source = mirror.principal, mirror.stack
    copies = [(name, PatternType.PREFIXED) for name in mirror.topic_prefixes]
    copies += [(name, PatternType.LITERAL) for name in (*mirror.topic_names, REGISTRY_JOURNAL)]
    own = [(INTERNAL_PREFIX, PatternType.PREFIXED), (checkpoints_topic(source), PatternType.LITERAL)]
    groups = [*synced_groups(plan, mirror.topics), (worker_group(source), PatternType.LITERAL)]
    acls = _topic_acls(principal, copies, COPY_OPERATIONS) | _topic_acls(principal, own, INTERNAL_OPERATIONS)
    acls |= {AclSpec(principal, ResourceType.GROUP, name, kind, Operation.READ) for name, kind in groups}
    return _access(principal, f"MirrorMaker 2 from stack {source}: writes the copies", (), mirror.topics, acls)


def _source(plan: Plan, carrier: Carrier) -> AppAccess:
    principal = mirror_principal(carrier.stack)
    topics = [(name, PatternType.LITERAL) for name in (*carrier.topics, REGISTRY_JOURNAL)]
    acls = _topic_acls(principal, topics, SOURCE_OPERATIONS)
    acls |= {
        AclSpec(principal, ResourceType.GROUP, name, kind, Operation.DESCRIBE)
        for name, kind in synced_groups(plan, carrier.topics)
    }
    description = f"MirrorMaker 2 into stack {carrier.stack} (region {carrier.region}): reads what it carries"
    return _access(principal, description, carrier.topics, (), acls)


def synced_groups(plan: Plan, topics: Iterable[str]) -> list[tuple[str, PatternType]]:
    """The groups of the apps that read one of `topics`: the groups MirrorMaker 2 syncs
    (k2infra.model.mirrormaker's groups pattern is made from them)."""
    wanted = set(topics)
    return sorted(
        {
            (app.group, app.group_pattern)
            for app in plan.apps
            if app.group is not None and app.group_pattern is not None and wanted & set(app.reads)
        }
    )


def _topic_acls(
    principal: str, topics: Iterable[tuple[str, PatternType]], operations: Iterable[Operation]
) -> set[AclSpec]:
    return {AclSpec(principal, ResourceType.TOPIC, name, kind, op) for name, kind in topics for op in operations}


def _access(
    principal: str, description: str, reads: Iterable[str], writes: Iterable[str], acls: set[AclSpec]
) -> AppAccess:
    return AppAccess(
        name=username_of(principal),
        principal=principal,
        reads=tuple(sorted(reads)),
        writes=tuple(sorted(writes)),
        acls=tuple(sorted(acls)),
        quotas=MIRROR_QUOTAS,
        description=description,
    )
