"""One preflight before any change: read the cluster once, judge with the pure guards, refuse once.

At preview and at `up`, before the component registers a topic, a subject or an access resource:

1. **read**, over one `KafkaAdmin` and the stack's own connection settings: one Metadata request
   (every topic's name, partitions and replica lists, and the live brokers; a wrong password,
   mechanism or CA ends the run here with `kafka_failure`'s one line), one authenticated registry
   request, and only where needed: the stack's state (which unplanned live topics it manages),
   the record counts of the topics the run would delete or replace, the records written to
   retiring legacy topics since their `quiet_since`, and the state of the regional stacks that
   mirror a topic this run raises;
2. **judge**: each guard is a pure function from (stack, what was read) to refusals
   (k2infra.deploy.guards);
3. **refuse once**: every refusal in one `pulumi.RunError`, so nothing is changed.

The component waits on one gate (`gate`) rather than a callback per topic: the topics through
one `partitions` Output per distinct count, shared, and the subjects through the one registry
connection they share. While a dependency (a local cluster being created)
has no id yet, as at its first preview, the gate stays unknown and nothing is read, as an invoke
would wait. The Kafka provider plugin is not asked (no `getTopics`, which reads every topic's
configs): the program relies on nothing upstream pulumi-kafka does not do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pulumi

from k2infra.deploy import guards
from k2infra.deploy.guards import LiveRead
from k2infra.live import retirement
from k2infra.live.admin import KafkaAdmin, LiveReadError, TopicLayout
from k2infra.live.cluster import check_registry
from k2infra.model.connection import Connections, KafkaConnection, RegistryConnection
from k2infra.model.stack import Stack

CONNECT_TIMEOUT = 30.0  # seconds for the reads, at most (k2infra:kafkaTimeoutSeconds if lower)


# -- reading ----------------------------------------------------------------------------------------


def connect(kafka: KafkaConnection) -> KafkaAdmin:
    """The preflight's one admin, over the connection with the stack's secret (a seam: the unit tests' mocks answer it)."""
    return KafkaAdmin.of(kafka, password_from=kafka.key("saslPassword"))


def check_registry_access(registry: RegistryConnection, timeout: float) -> None:
    """One authenticated registry request (a seam: the unit tests' mocks answer it)."""
    check_registry(registry, timeout=timeout)


def count_records(admin: KafkaAdmin, layouts: Mapping[str, TopicLayout], timeout: float) -> dict[str, int | None]:
    """Records held now by each topic of `layouts` (a seam: the unit tests stub the counts)."""
    return admin.record_counts({n: t.partition_ids for n, t in layouts.items()}, timeout=timeout)


async def read(stack: Stack, connections: Connections) -> LiveRead:
    """Everything the guards need, read once; pulumi.RunError with the one-line cause if a read fails.

    `connections` carry the stack's secrets (the gate resolves them inside its apply)."""
    plan = stack.plan
    timeout = min(float(connections.kafka.timeout_seconds), CONNECT_TIMEOUT)
    with _failing_as(), connect(connections.kafka) as admin:
        cluster = admin.cluster(timeout=timeout)
        if connections.registry.url:
            check_registry_access(connections.registry, timeout)
        live = LiveRead(cluster.topics, cluster.brokers)
        unplanned = guards.unplanned_live_topics(plan, live.topics)
        if unplanned:
            managed = await managed_topics()
            live = LiveRead(live.topics, live.brokers, tuple(n for n in unplanned if n in managed))
        at_risk = {loss.topic for loss in guards.losses(stack, live)}
        records: dict[str, int | None] = {}
        if at_risk:
            with _failing_as("cannot count the records of the topics this run would delete or replace: "):
                counted = count_records(admin, {n: live.topics[n] for n in at_risk}, timeout)
            records = {name: counted.get(name, 0) for name in at_risk}
        written: dict[str, int] = {}
        if quiet := guards.retiring(stack):
            with _failing_as("cannot check that the retiring topics are quiet: "):
                written = retirement.records_since(admin, quiet, live.topics, timeout)
    regions: dict[str, Mapping[str, int] | str] = {}
    if guards.raised(plan, live.partitions):
        regions = {carrier.stack: await region_state(carrier.stack) for carrier in plan.carried_by}
    return LiveRead(live.topics, live.brokers, live.managed_unplanned, records, written, regions)


@contextmanager
def _failing_as(prefix: str = "") -> Iterator[None]:
    """A read that fails ends the run with its one line (after `prefix`), without a traceback."""
    try:
        yield
    except LiveReadError as exc:
        raise pulumi.RunError(f"{prefix}{exc}") from None


# The file backend rewrites a checkpoint in place while an update runs, and a read that meets it
# half-written fails with "failed to load checkpoint: EOF" (seen once, at the start of recover's
# `pulumi up --target`, on a loaded machine). Such a read is tried again for up to this long; a
# checkpoint that stays unreadable fails as before.
TORN_CHECKPOINT = "failed to load checkpoint: EOF"
TORN_CHECKPOINT_WAIT = 20.0  # seconds


async def _stack_resources(stack_name: str) -> Mapping[str, object]:
    """The resources of a stack's last checkpoint, through the engine (see managed_topics)."""
    deadline = time.monotonic() + TORN_CHECKPOINT_WAIT
    pause = 0.2
    while True:
        try:
            answer = await pulumi.runtime.invoke_async(
                "pulumi:pulumi:readStackResourceOutputs", {"stackName": stack_name}
            )
            break
        except Exception as exc:  # the SDK raises a bare Exception carrying the engine's message
            if TORN_CHECKPOINT not in str(exc) or time.monotonic() + pause > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)
    outputs = answer.get("outputs") if isinstance(answer, Mapping) else None
    return outputs if isinstance(outputs, Mapping) else {}


def _qualified(stack: str) -> str:
    # The file backend's organization is always "organization".
    return f"{pulumi.get_organization() or 'organization'}/{pulumi.get_project()}/{stack}"


async def region_state(stack: str) -> Mapping[str, int] | str:
    """A regional stack's copies and their partitions, from its state; or why they could not be read."""
    try:
        return guards.partitions_in_state(await _stack_resources(_qualified(stack)))
    except Exception as exc:  # the SDK raises a bare Exception carrying the engine's message
        return f"its state could not be read ({exc}): deploy it, or take it out of the regions (its k2infra:mirrorFrom)"


async def managed_topics() -> set[str]:
    """Names of the topics in this stack's state, as the last checkpoint holds them.

    The one read of an engine-internal invoke (`pulumi:pulumi:readStackResourceOutputs`, the
    engine's builtin provider; checked against the Python SDK 3.272.0 and CLI 3.274.1 this project
    pins). The public ways fall short: a `pulumi.StackReference` of the stack itself gives its
    exported outputs, which list the topics of the last *finished* run (a topic created by an
    interrupted `up` is in the state but not in them, and would be deleted unguarded), and it
    registers a resource of its own; the CLI cannot pass the state in, since `pulumi up` runs the
    program directly. Asked only when live `market.` topics are unplanned."""
    stack = _qualified(pulumi.get_stack())
    try:
        outputs = await _stack_resources(stack)
    except Exception as exc:  # the SDK raises a bare Exception carrying the engine's message
        raise pulumi.RunError(
            f"cannot read which topics stack {stack} manages, which the program checks before it lets "
            f"pulumi delete topics that are no longer planned: {exc}"
        ) from None
    return guards.managed_topic_names(outputs)


# -- the gate ---------------------------------------------------------------------------------------


def gate(
    stack: Stack,
    depends_on: Sequence[pulumi.Resource],
    sasl_password: pulumi.Output[str] | None,
    registry_password: pulumi.Output[str] | None,
    registry_token: pulumi.Output[str] | None,
) -> pulumi.Output[None]:
    """Resolves once every guard passed (read, judged, warnings logged); fails the run otherwise."""

    async def check(values: list[Any]) -> None:
        sasl, password, token = values[-3:]
        # The connections with the secrets' values, which exist only inside this apply.
        live = await read(stack, stack.connections.with_secrets(sasl, password or "", token or ""))
        refused, warnings = guards.judge(stack, live, dry_run=pulumi.runtime.is_dry_run())
        if refused:
            raise pulumi.RunError("\n\n".join(refused))
        for warning in warnings:
            pulumi.log.warn(warning)

    # The passwords only reach the preflight's own connections: the gate must not make every
    # input that waits on it a secret.
    return pulumi.Output.unsecret(
        pulumi.Output.all(*(r.id for r in depends_on), sasl_password, registry_password, registry_token).apply(check)
    )
