"""What k2infra's own principal (the one a stack connects as) needs on an ACL-enforcing cluster, and why.

The least set, so that a cluster need not make the deploy tool a super user (docs/access.md,
"k2infra's own principal"):
- on the topics it manages (Prefixed `market.`, and each legacy topic by its Literal name where it is
  outside `market.`): Create, Alter (partitions), AlterConfigs, Describe (metadata, offsets),
  DescribeConfigs, Delete. Not Read or Write: k2infra counts records from offsets, it never reads
  or writes them, so it is refused the data of every topic, and it has no right on any group;
- on the Cluster, only when the stack manages access (k2infra:accessControl): what pulumi-kafka's
  Acl, Quota and UserScramCredential resources call.

Spelt as pulumi-kafka and `k2infra.live.access.LiveAcl` spell ACLs (`Topic`, `AlterConfigs`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from k2infra.model.topology import TOPIC_PREFIX

CLUSTER_RESOURCE = "kafka-cluster"  # the one name a Cluster ACL has
# (operation, why), in the order docs/access.md lists them.
TOPIC_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("Create", "CreateTopics"),
    ("Alter", "CreatePartitions (a partition count raised)"),
    ("AlterConfigs", "IncrementalAlterConfigs / AlterConfigs of a topic's settings"),
    ("Describe", "Metadata and ListOffsets: layouts, and record counts for the data-loss guards"),
    ("DescribeConfigs", "DescribeConfigs: a topic's settings, for refresh and verify"),
    ("Delete", "DeleteTopics (a retired or removed topic)"),
)
CLUSTER_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("Alter", "CreateAcls, DeleteAcls (kafka.Acl), AlterUserScramCredentials (kafka.UserScramCredential)"),
    ("Describe", "DescribeAcls, DescribeUserScramCredentials, DescribeCluster (refresh, verify)"),
    ("AlterConfigs", "AlterClientQuotas (kafka.Quota)"),
    ("DescribeConfigs", "DescribeClientQuotas (kafka.Quota's refresh)"),
)
# Kafka implies these: Alter gives Describe, AlterConfigs gives DescribeConfigs (what DescribeCluster reports).
_IMPLIED = {"Alter": "Describe", "AlterConfigs": "DescribeConfigs"}


@dataclass(frozen=True, order=True)
class InfraGrant:
    """One Allow binding (any host) the infra principal needs."""

    resource_type: str  # Topic | Cluster
    resource_name: str
    pattern_type: str  # Literal | Prefixed
    operation: str
    why: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.resource_type, self.resource_name, self.pattern_type, self.operation)

    def describe(self) -> str:
        return f"{self.operation} {self.resource_type} {self.resource_name} ({self.pattern_type})"


def infra_grants(legacy_topics: Iterable[str], *, access_control: bool) -> tuple[InfraGrant, ...]:
    """The bindings k2infra's principal needs for a stack: its topics always, the Cluster with access control."""
    prefix = f"{TOPIC_PREFIX}."
    topics = [(prefix, "Prefixed")] + [
        (name, "Literal") for name in sorted(set(legacy_topics)) if not name.startswith(prefix)
    ]
    grants = [InfraGrant("Topic", name, pattern, op, why) for name, pattern in topics for op, why in TOPIC_OPERATIONS]
    if access_control:
        grants += [InfraGrant("Cluster", CLUSTER_RESOURCE, "Literal", op, why) for op, why in CLUSTER_OPERATIONS]
    return tuple(grants)


def cluster_operations_needed(*, access_control: bool) -> frozenset[str]:
    """The Cluster operations DescribeCluster should report for the principal: the granted and the implied."""
    if not access_control:
        return frozenset()
    granted = {op for op, _ in CLUSTER_OPERATIONS}
    return frozenset(granted | {_IMPLIED[op] for op in granted if op in _IMPLIED})


@dataclass(frozen=True)
class InfraPrivileges:
    """The infra principal's rights against what it needs: `missing` and `excess` are empty when exact."""

    principal: str
    missing: tuple[str, ...] = ()
    excess: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        return not self.missing and not self.excess

    def line(self) -> str:
        """The one line `verify` prints."""
        if self.exact:
            return f"infra principal {self.principal}: exactly the rights k2infra needs (docs/access.md)"
        parts = []
        if self.excess:
            parts.append(f"more than it needs: {'; '.join(self.excess)}")
        if self.missing:
            parts.append(f"less than it needs, lacks: {'; '.join(self.missing)}")
        return f"infra principal {self.principal}: {' and '.join(parts)} (docs/access.md)"

    def to_dict(self) -> dict[str, object]:
        return {
            "principal": self.principal,
            "exact": self.exact,
            "missing": list(self.missing),
            "excess": list(self.excess),
        }


def judge(
    principal: str,
    needed: Iterable[InfraGrant],
    held: Iterable[tuple[str, str, str, str]],
    cluster_operations: Iterable[str] | None,
    *,
    access_control: bool,
) -> InfraPrivileges:
    """Compare the principal's own Allow bindings (`held`: resource type, name, pattern, operation) and the
    Cluster operations the broker says it may do (DescribeCluster; None when not asked) with `needed`.

    A super user holds no binding but every Cluster operation (ClusterAction, Create, IdempotentWrite...):
    the Cluster operations are what shows it."""
    wanted = {g.key: g for g in needed}
    have = set(held)
    missing = [wanted[k].describe() for k in sorted(wanted) if k not in have]
    excess = [f"{op} {rtype} {name} ({pattern})" for rtype, name, pattern, op in sorted(have - set(wanted))]
    beyond = sorted(set(cluster_operations or ()) - cluster_operations_needed(access_control=access_control))
    if beyond:
        granted = {op for rtype, _, _, op in have if rtype == "Cluster"}
        if granted & {*beyond, "All"}:
            excess.insert(0, f"{', '.join(beyond)} on the Cluster")
        else:  # rights no binding of its own gives: super.users (or a wildcard principal's grant)
            excess.insert(0, f"a super user ({', '.join(beyond)} on the Cluster without an ACL of its own)")
            missing = []  # a super user lacks nothing
    return InfraPrivileges(principal, tuple(missing), tuple(excess))
