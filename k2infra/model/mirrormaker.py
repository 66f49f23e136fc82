"""MirrorMaker 2's dedicated-mode properties (`connect-mirror-maker.sh FILE`) from a regional stack
and its source: the one flow source -> region, written from the two stacks so that nothing in it is
typed by hand (docs/regions.md, "What k2infra owns in MirrorMaker 2").

- cluster aliases are the stack names; each side's bootstrap and security come from its stack
  (k2infra.model.connection). MirrorMaker 2's user is `User:k2-mirror-<regional stack>` on both
  clusters; its passwords are never written: Kafka's EnvVarConfigProvider reads them at start from
  K2_MIRROR_SOURCE_PASSWORD and K2_MIRROR_TARGET_PASSWORD;
- topics: an anchored regex of the mirrored topics, by prefix where the selector means every topic
  under it (the prefixes apps' ACLs use, k2infra.model.apps.patterns_for: a new exchange of a
  mirrored asset class is picked up at the next refresh, without a restart), and the registry's
  journal (schema IDs, docs/regions.md);
- groups: the consumer groups of the apps that read a mirrored topic (apps.yaml), anchored;
- IdentityReplicationPolicy (the home's names), topic configs and ACLs not synced (k2infra creates
  the copies with the source's partitions and configs, and owns access), checkpoints and group
  offset sync on, offset syncs written to the target (MirrorMaker 2 only reads the source), no
  heartbeats (a topic of its own no stack plans), every internal topic on the target with the
  region's replication factor; offset syncs at most `offset.lag.max` records apart, the bound of a
  failed-over group's duplicate window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from k2infra.model.apps import PatternType, username_of
from k2infra.model.connection import KafkaConnection, read_ca
from k2infra.model.errors import InputError, Problem
from k2infra.model.mirror_access import synced_groups
from k2infra.model.regions import REGISTRY_JOURNAL, anchored, mirror_principal
from k2infra.model.stack import Stack

SOURCE_PASSWORD_ENV = "K2_MIRROR_SOURCE_PASSWORD"
TARGET_PASSWORD_ENV = "K2_MIRROR_TARGET_PASSWORD"
IDENTITY_POLICY = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
ENV_PROVIDER = "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


@dataclass(frozen=True)
class Timing:
    """How often MirrorMaker 2 checkpoints, syncs group offsets and looks for new topics and groups.

    The checkpoint and sync intervals bound how far a failed-over group may be behind where it
    stopped at home (its duplicate window, docs/regions.md)."""

    checkpoint_seconds: int = 5
    sync_group_offsets_seconds: int = 5
    # Offset syncs at most this many records apart: a failed-over group may read up to this many
    # records per partition again (MirrorMaker 2's default, said here because it is the bound).
    offset_lag_max: int = 100
    # How often the copy's progress is committed: after a crash MirrorMaker 2 copies again, at least
    # once, what it copied since the last commit (Connect's default is 60 s).
    offset_flush_seconds: int = 5
    refresh_topics_seconds: int = 30
    refresh_groups_seconds: int = 30


def mirrormaker_properties(stack: Stack, *, registry_journal: bool = True, timing: Timing = Timing()) -> str:
    """The properties text for the regional `stack`; InputError when it mirrors nothing."""
    plan = stack.plan
    mirror = plan.mirror
    if mirror is None or stack.mirror_source is None:
        raise InputError(
            [Problem(f"Pulumi.{plan.stack}.yaml", None, "k2infra:mirrorFrom", "is not set: this stack mirrors nothing")]
        )
    source, target = mirror.stack, mirror.region_stack
    rf = str(max(t.replication_factor for t in plan.topics if t.name in mirror.topics))
    lines = [
        f"# MirrorMaker 2, dedicated mode: {source} (region {mirror.source_region}) -> {target} (region {mirror.region}).",
        f"# Written by `python -m k2infra mirror-config --stack {target}` from Pulumi.{source}.yaml and",
        f"# Pulumi.{target}.yaml; k2infra owns every key below: change the stacks, not this file.",
        f"# Run: connect-mirror-maker.sh THIS_FILE (with {SOURCE_PASSWORD_ENV} and {TARGET_PASSWORD_ENV} set if SASL).",
        f"clusters = {source}, {target}",
        "config.providers = env",
        f"config.providers.env.class = {ENV_PROVIDER}",
    ]
    principal = username_of(mirror_principal(target))
    lines += _cluster(source, stack.mirror_source.kafka, principal, SOURCE_PASSWORD_ENV)
    lines += _cluster(target, stack.connections.kafka, principal, TARGET_PASSWORD_ENV)
    topics = mirror_topics_pattern(stack, registry_journal=registry_journal)
    flow = f"{source}->{target}"
    lines += [
        f"{flow}.enabled = true",
        f"{target}->{source}.enabled = false",
        f"{flow}.topics = {topics}",
        f"{flow}.topics.exclude = ^$",
        f"{flow}.groups = {mirror_groups_pattern(stack)}",
        f"{flow}.groups.exclude = ^$",
        f"replication.policy.class = {IDENTITY_POLICY}",
        "sync.topic.configs.enabled = false",
        "sync.topic.acls.enabled = false",
        "emit.heartbeats.enabled = false",
        "emit.checkpoints.enabled = true",
        f"emit.checkpoints.interval.seconds = {timing.checkpoint_seconds}",
        "sync.group.offsets.enabled = true",
        f"sync.group.offsets.interval.seconds = {timing.sync_group_offsets_seconds}",
        f"offset.lag.max = {timing.offset_lag_max}",
        f"offset.flush.interval.ms = {timing.offset_flush_seconds * 1000}",
        f"refresh.topics.interval.seconds = {timing.refresh_topics_seconds}",
        f"refresh.groups.interval.seconds = {timing.refresh_groups_seconds}",
        "offset-syncs.topic.location = target",
        # Every topic MirrorMaker 2 itself creates is on the target: the region's replication factor.
        f"replication.factor = {rf}",
        f"checkpoints.topic.replication.factor = {rf}",
        f"offset-syncs.topic.replication.factor = {rf}",
        f"heartbeats.topic.replication.factor = {rf}",
        f"config.storage.replication.factor = {rf}",
        f"offset.storage.replication.factor = {rf}",
        f"status.storage.replication.factor = {rf}",
    ]
    return "\n".join(lines) + "\n"


def mirror_topics_pattern(stack: Stack, *, registry_journal: bool = True) -> str:
    """The anchored regex of what the flow copies: the mirrored topics (the plan's prefixes and
    names, k2infra.model.regions.Mirror) and, with `registry_journal`, the registry's journal."""
    mirror = stack.plan.mirror
    assert mirror is not None
    names = set(mirror.topic_names) | ({REGISTRY_JOURNAL} if registry_journal else set())
    return anchored(names, mirror.topic_prefixes)


def mirror_groups_pattern(stack: Stack) -> str:
    """The consumer groups whose offsets follow them to the region: those of the apps that read a mirrored topic."""
    mirror = stack.plan.mirror
    assert mirror is not None
    groups = synced_groups(stack.plan, mirror.topics)
    return anchored(
        {name for name, kind in groups if kind is not PatternType.PREFIXED},
        {name for name, kind in groups if kind is PatternType.PREFIXED},
    )


def _cluster(alias: str, kafka: KafkaConnection, username: str, password_env: str) -> list[str]:
    lines = [f"{alias}.bootstrap.servers = {kafka.servers}", f"{alias}.security.protocol = {kafka.security_protocol}"]
    if kafka.mechanism:
        module = PLAIN_LOGIN if kafka.mechanism == "PLAIN" else SCRAM_LOGIN
        lines += [
            f"{alias}.sasl.mechanism = {kafka.mechanism}",
            f'{alias}.sasl.jaas.config = {module} required username="{username}" password="${{env:{password_env}}}";',
        ]
    if kafka.tls:
        if kafka.ca_cert:
            pem = read_ca(kafka.ca_pem or kafka.ca_cert, f"the CA of {alias}")
            lines += [f"{alias}.ssl.truststore.type = PEM", f"{alias}.ssl.truststore.certificates = {_escaped(pem)}"]
        if kafka.tls_skip_verify:
            lines.append(f"{alias}.ssl.endpoint.identification.algorithm = ")
    return lines


def _escaped(text: str) -> str:
    """A multi-line value on one properties line (java.util.Properties reads `\\n` as a newline)."""
    return text.strip().replace("\\", "\\\\").replace("\n", "\\n")


def parse_properties(text: str) -> Mapping[str, str]:
    """`key = value` lines as written here (comments and blank lines skipped): for tests and tools."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out
