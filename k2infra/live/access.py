"""The live ACLs and SCRAM users of a cluster, read for `verify`, and their comparison with the Plan.

Read through `k2infra.live.admin.KafkaAdmin` in two calls: every ACL binding (a match-everything
filter), and the SCRAM credentials of the planned app users. Client quotas are not
read: confluent-kafka 2.16.1's Python AdminClient has no DescribeClientQuotas (librdkafka has no
client-quota admin API), and DescribeConfigs does not serve quota entities, so `verify` says it
did not check them rather than guessing.

Which live ACLs are this stack's business (the others are left alone, as topics outside `market.` are):
- every binding of an app's principal, or of a wildcard principal (`User:*`);
- every Topic binding that can reach a `market.` topic: the literal `*`, a literal `market.` name, a
  prefix of `market.` or a prefix under it;
- every Group binding that can reach an app's group.
Of those, a binding the plan does not hold is `acl_extra`; a planned one absent is `acl_missing`.
The bindings of k2infra's own principal (the stack's connection) are not the apps' business: they are
judged apart, against `k2infra.model.infra_access` (more or less than it needs: one line in verify).
An app user without a credential of the stack's mechanism is `scram_user_missing`, where the stack's apps
log in by SCRAM (Plan.app_auth); with mutual TLS or OAUTHBEARER their certificates and OAuth clients are
not the cluster's to hold, and no SCRAM user is read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from k2infra.live.admin import KafkaAdmin
from k2infra.model.apps import AppAccess, PatternType, acl_id
from k2infra.model.apps import ResourceType as AclResourceType
from k2infra.model.connection import kafka_mechanism
from k2infra.model.infra_access import InfraPrivileges, infra_grants, judge
from k2infra.model.plan import Plan
from k2infra.model.stack import Stack
from k2infra.model.topology import TOPIC_PREFIX

PREFIX = f"{TOPIC_PREFIX}."
QUOTAS_UNCHECKED = (
    "client quotas are not checked here: confluent-kafka's AdminClient cannot read them (no DescribeClientQuotas);"
    " `pulumi preview --refresh` compares them through the Kafka provider"
)
# confluent-kafka's enum names -> pulumi-kafka's spellings, where title case does not give them.
_RESOURCE_TYPES = {"BROKER": "Cluster", "TRANSACTIONAL_ID": "TransactionalID"}


@dataclass(frozen=True, order=True)
class LiveAcl:
    """One binding as the broker holds it, spelt as pulumi-kafka spells an ACL."""

    principal: str
    host: str
    operation: str  # Read, Write, Describe, All, ...
    permission: str  # Allow, Deny
    resource_type: str  # Topic, Group, Cluster, TransactionalID
    resource_name: str
    pattern_type: str  # Literal, Prefixed

    @property
    def id(self) -> str:
        return acl_id(self)


@dataclass(frozen=True)
class LiveAccess:
    acls: frozenset[LiveAcl] = frozenset()
    scram_users: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # user -> mechanism -> iterations
    notes: tuple[str, ...] = (QUOTAS_UNCHECKED,)
    infra: InfraPrivileges | None = None  # k2infra's own principal's rights; None when it is not known


@dataclass(frozen=True)
class AccessDrift:
    """One difference; `kind` is a value of k2infra.live.verify.Kind."""

    kind: str
    name: str  # the principal, or the SCRAM user
    expected: Any
    actual: Any
    detail: str


# -- reading -------------------------------------------------------------------------------------


def read_live_access(stack: Stack, *, timeout: float) -> LiveAccess:
    """Every ACL of the cluster and the SCRAM credentials of the planned app users."""
    plan = stack.plan
    principal = stack.connections.kafka.principal
    with KafkaAdmin.of(stack.connections.kafka) as admin:
        bindings = admin.acls(timeout=timeout)
        users = sorted({app.username for app in plan.apps}) if plan.creates_app_credentials else []
        scram = admin.scram_users(users, timeout=timeout) if users else {}
        cluster_operations = admin.cluster_operations(timeout=timeout) if principal else None
    acls = frozenset(acl for b in bindings if (acl := live_acl(b)) is not None)
    infra = None
    if principal is not None:
        held = [a for a in acls if a.principal == principal and a.permission == "Allow" and a.host == "*"]
        infra = judge(
            principal,
            infra_grants((t.name for t in plan.legacy), access_control=plan.access_control),
            [(a.resource_type, a.resource_name, a.pattern_type, a.operation) for a in held],
            cluster_operations,
            access_control=plan.access_control,
        )
    return LiveAccess(acls, scram, infra=infra)


def live_acl(binding: Any) -> LiveAcl | None:
    """An AclBinding of confluent-kafka as a LiveAcl (None for kinds this project never declares)."""
    pattern = binding.resource_pattern_type.name
    if pattern not in ("LITERAL", "PREFIXED"):
        return None
    restype = binding.restype.name
    return LiveAcl(
        principal=binding.principal,
        host=binding.host,
        operation=_spelt(binding.operation.name),
        permission=_spelt(binding.permission_type.name),
        resource_type=_RESOURCE_TYPES.get(restype) or _spelt(restype),
        resource_name=binding.name,
        pattern_type=_spelt(pattern),
    )


def _spelt(enum_name: str) -> str:
    """CLUSTER_ACTION -> ClusterAction."""
    return "".join(part.capitalize() for part in enum_name.split("_"))


# -- comparing (pure) ----------------------------------------------------------------------------


def access_differences(plan: Plan, live: LiveAccess) -> list[AccessDrift]:
    """Missing and undeclared ACLs, and app users without their SCRAM credential."""
    planned = {acl.id: acl for app in plan.apps for acl in app.acls}
    live_by_id = {acl.id: acl for acl in live.acls}
    principals = {app.principal for app in plan.apps}
    out = [
        AccessDrift("acl_missing", acl.principal, "present", "absent", f"ACL not on the cluster: {acl.describe()}")
        for acl_id, acl in sorted(planned.items())
        if acl_id not in live_by_id
    ]
    out += [
        AccessDrift("acl_extra", acl.principal, "absent", "present", f"ACL nobody declared: {_describe(acl)}")
        for acl_id, acl in sorted(live_by_id.items())
        if acl_id not in planned
        and concerns_the_stack(acl, principals, plan.apps)
        and not (live.infra is not None and acl.principal == live.infra.principal)  # judged by `infra`
    ]
    mechanism = kafka_mechanism(plan.app_scram_mechanism)
    for app in plan.apps if plan.creates_app_credentials else ():
        username = app.username
        held = live.scram_users.get(username, {})
        if mechanism not in held:
            has = f"has {', '.join(sorted(held))} only" if held else "has no SCRAM credential"
            out.append(
                AccessDrift(
                    "scram_user_missing",
                    username,
                    mechanism,
                    sorted(held) or None,
                    f"app {app.name}'s user {username} {has}; the stack wants {mechanism}",
                )
            )
    return out


def _describe(acl: LiveAcl) -> str:
    host = "" if acl.host == "*" else f" from {acl.host}"
    verb = "" if acl.permission == "Allow" else f"{acl.permission} "
    return f"{verb}{acl.operation} {acl.resource_type} {acl.resource_name} ({acl.pattern_type}){host}"


def concerns_the_stack(acl: LiveAcl, principals: Collection[str], apps: Iterable[AppAccess]) -> bool:
    """Is this binding about the stack's apps, topics or groups (see the module docstring)?"""
    if acl.principal in principals or acl.principal.endswith(":*"):
        return True
    name, prefixed = acl.resource_name, acl.pattern_type == PatternType.PREFIXED
    if acl.resource_type == AclResourceType.TOPIC:
        if prefixed:
            return PREFIX.startswith(name) or name.startswith(PREFIX)
        return name == "*" or name.startswith(PREFIX)
    if acl.resource_type == AclResourceType.GROUP:
        for app in apps:
            if app.group is None:
                continue
            app_prefixed = app.group_pattern == PatternType.PREFIXED
            if name == app.group or (not prefixed and name == "*"):
                return True
            if (prefixed and app.group.startswith(name)) or (app_prefixed and name.startswith(app.group)):
                return True
    return False
