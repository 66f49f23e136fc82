"""The guards: pure functions from (the stack, what the preflight read) to refusals.

The preflight (k2infra.deploy.preflight) reads the cluster once and `judge` asks every guard; any
refusal stops the run before any change, at preview too. Each refusal opens with its guard's
`*_REFUSAL` line, by which the change summary (k2infra.review.summary) names the guard. Nothing here
reads or writes, so the tests give each guard its facts directly. Why each guard exists is said
above it; docs/architecture.md §8 lists them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from k2infra.live.admin import BrokerView, TopicLayout
from k2infra.model.plan import LegacyAction, LegacyTopic, Plan, TopicSpec
from k2infra.model.stack import Stack
from k2infra.model.topology import TOPIC_PREFIX

TOPIC_TYPE = "kafka:index/topic:Topic"
ALLOW_KEY = "k2infra:allowDataLoss"
# How each refusal opens (the change summary names the guard by it).
SHRINK_REFUSAL = "refusing to lower partition counts"
PLACEMENT_REFUSAL = "refusing to create topics or partitions while brokers are down"
DATA_LOSS_REFUSAL = "refusing to delete or replace topics that hold records"
RETIREMENT_REFUSAL = "refusing to retire topics that still receive data"
REGION_REFUSAL = "refusing to raise partition counts ahead of the regions that mirror these topics"


@dataclass(frozen=True)
class LiveRead:
    """What the preflight read: the input of every guard."""

    topics: Mapping[str, TopicLayout]  # every topic of the cluster
    brokers: BrokerView
    managed_unplanned: tuple[str, ...] = ()  # live `market.` topics the plan drops and the stack's state holds
    records: Mapping[str, int | None] = field(default_factory=dict)  # of the topics the run would delete or replace
    written_since: Mapping[str, int] = field(default_factory=dict)  # retiring topic -> records since quiet_since
    # regional stack -> its copies' partitions as its state holds them (or why it could not be read),
    # read only when this run raises a topic a region mirrors
    regions: Mapping[str, Mapping[str, int] | str] = field(default_factory=dict)

    @property
    def partitions(self) -> dict[str, int]:
        return {name: t.partition_count for name, t in self.topics.items()}

    @property
    def replication(self) -> dict[str, int]:
        return {name: t.replication_factor for name, t in self.topics.items()}


def judge(stack: Stack, live: LiveRead, *, dry_run: bool = True) -> tuple[list[str], list[str]]:
    """(refusals, warnings) of every guard, in the order they are reported; `dry_run` at preview."""
    topics = stack.plan.managed_topics()
    partitions = live.partitions
    refused = shrink_refusals(topics, partitions, stack.plan.partition_origins)
    refused += placement_refusals(topics, partitions, live.brokers)
    lost, warnings = data_loss_judgement(
        losses(stack, live),
        live.records,
        stack.safety.allow_data_loss,
        stack=stack.plan.stack or "STACK",
        dry_run=dry_run,
    )
    refused += lost
    refused += retirement_refusals(retiring(stack), live.written_since)
    refused += region_refusals(stack.plan, partitions, live.regions)
    return refused, warnings


# -- partitions grow and never shrink ---------------------------------------------------------------

# The Kafka provider answers a lower partition count by deleting and re-creating the topic, which
# loses its data: a plan that lowers one is refused, whatever the stack allows.


def shrinking(
    topics: Iterable[TopicSpec | LegacyTopic],
    live_partitions: Mapping[str, int],
    origins: Mapping[str, str] | None = None,
) -> list[str]:
    """One line per planned topic whose partition count is below the live one, naming the setting
    the planned count comes from where `origins` (the plan's partition_origins) knows it."""
    return [
        f"{t.name}: planned {t.partitions} partitions, the cluster has {live_partitions[t.name]}"
        + (f" (the count comes from {origins[t.name]})" if origins and t.name in origins else "")
        for t in topics
        if t.name in live_partitions and t.partitions < live_partitions[t.name]
    ]


def shrink_refusals(
    topics: Iterable[TopicSpec | LegacyTopic],
    live_partitions: Mapping[str, int],
    origins: Mapping[str, str] | None = None,
) -> list[str]:
    """The refusal of a plan that lowers partition counts (none if it lowers none)."""
    lines = shrinking(topics, live_partitions, origins)
    if not lines:
        return []
    return [
        f"{SHRINK_REFUSAL}: Kafka cannot remove partitions, and the provider would "
        "delete and re-create the topic, losing its data. Keep (or raise) these counts where each "
        "line says they come from (config/kafka/topics.yaml, or the stack's k2infra:partitions or "
        "k2infra:maxPartitions):\n" + "\n".join(f"  {line}" for line in lines)
    ]


# -- placement ---------------------------------------------------------------------------------------

# A new topic, or new partitions of one, are refused while fewer brokers are live than the
# replication factor. "Live" is what a Metadata answer lists: unfenced brokers. A broker that shut
# down is fenced at once (one that died, after broker.session.timeout.ms) and drops out of that
# list, while its node id stays in the replica lists it holds, which is how the message names the
# missing node. Kafka itself would not refuse: KRaft's placer counts registered brokers, fenced ones
# included (runbook §13 has the measurement), so the new topics would be born under-replicated, one
# more failure away from refusing acks=all writes. Existing topics keep working with a broker down
# (ISR 2 of 3), so nothing else is refused.


def placements(topics: Iterable[TopicSpec | LegacyTopic], live_partitions: Mapping[str, int]) -> list[tuple[str, str]]:
    """(topic, what Kafka must place) for each planned topic that is new or gains partitions."""
    out: list[tuple[str, str]] = []
    for spec in topics:
        live = live_partitions.get(spec.name)
        if live is None:
            out.append((spec.name, f"new topic, replication factor {spec.replication_factor}"))
        elif spec.partitions > live:
            out.append(
                (spec.name, f"{live} -> {spec.partitions} partitions, replication factor {spec.replication_factor}")
            )
    return out


def placement_refusals(
    topics: Iterable[TopicSpec | LegacyTopic], live_partitions: Mapping[str, int], brokers: BrokerView
) -> list[str]:
    """Refuse new topics or partitions whose replication factor exceeds the live brokers while a
    broker that holds replicas is down. A cluster that is simply smaller than the factor is left to
    Kafka, which refuses that create itself ("only N broker(s) are registered"), and whose preview
    (a prod-shaped stack against a one-broker dev cluster) must keep working."""
    if not brokers.missing:
        return []
    specs = {t.name: t for t in topics if not isinstance(t, LegacyTopic)}  # legacy topics are imported, never created
    alive = len(brokers.live)
    short = [
        (n, what) for n, what in placements(specs.values(), live_partitions) if specs[n].replication_factor > alive
    ]
    if not short:
        return []
    needed = max(specs[name].replication_factor for name, _ in short)
    nodes = ", ".join(map(str, brokers.missing))
    return [
        f"{PLACEMENT_REFUSAL}: replication factor {needed} needs "
        f"{needed} live brokers; {brokers.describe()}. Kafka would still place replicas on node {nodes}, and the "
        f"new partitions would start under-replicated. Start node {nodes} or wait until it rejoins, then run "
        "again; nothing was changed:\n" + "\n".join(f"  {name}: {what}" for name, what in short)
    ]


# -- data loss ---------------------------------------------------------------------------------------

# A topic that holds records is not deleted or replaced unless the stack lists it in
# k2infra:allowDataLoss. A run loses a topic by *removal* (a topic this stack manages is no longer
# planned: its exchange or data type was removed or renamed, left out of k2infra:exchanges, or
# k2infra:legacyTopics was turned off while legacy topics were adopted; Pulumi deletes what the
# program stops declaring, so the preflight lists the live `market.` topics and asks the engine which
# of them are in this stack's state: a topic someone else made is not, and is neither deleted nor
# refused), or by a *replication-factor change* (a provider that cannot reassign replicas replaces
# the topic: upstream pulumi-kafka's Terraform provider has done so; ours refuses the update). A
# destroy never runs the program: see docs/runbook.md (protect, and `make down`'s check).


@dataclass(frozen=True)
class Loss:
    topic: str
    reason: str  # what the run would do to it, in words
    doing: str = ""  # the same, said while `pulumi up` does it

    def line(self, records: int | None, *, now: bool = False) -> str:
        held = "an unknown number of records" if records is None else f"{records} record{'s' if records != 1 else ''}"
        return f"{self.topic}: {held}; {self.doing if now and self.doing else self.reason}"


def unplanned_live_topics(plan: Plan, live: Collection[str]) -> list[str]:
    """Live `market.` topics the plan does not declare (retiring legacy topics have their own guard)."""
    declared = {t.name for t in plan.managed_topics()}
    retiring = {t.name for t in plan.legacy if t.action == "retire"}
    return sorted(n for n in live if n.startswith(f"{TOPIC_PREFIX}.") and n not in declared and n not in retiring)


def _state_topics(stack_resources: Mapping[str, object]) -> Iterable[tuple[str, Mapping[str, object]]]:
    """(topic name, outputs) of the Kafka topics in a stack's state (`readStackResourceOutputs`' `outputs`)."""
    for urn, entry in stack_resources.items():
        if not isinstance(entry, Mapping) or entry.get("type") != TOPIC_TYPE:
            continue
        outputs = entry.get("outputs")
        outputs = outputs if isinstance(outputs, Mapping) else {}
        name = outputs.get("name")
        yield (name if isinstance(name, str) and name else str(urn).rsplit("::", 1)[-1]), outputs


def managed_topic_names(stack_resources: Mapping[str, object]) -> set[str]:
    """Topic names of the Kafka topics in a stack's state."""
    return {name for name, _ in _state_topics(stack_resources)}


def possible_losses(
    plan: Plan,
    live_replication: Mapping[str, int],
    managed_unplanned: Iterable[str],
) -> list[Loss]:
    """What this run would delete or replace, before counting records."""
    losses = [
        Loss(
            name,
            "no longer in the plan, so pulumi would delete it (removed or renamed in the topology?)",
            "no longer in the plan (removed or renamed in the topology?): this update deletes it",
        )
        for name in sorted(managed_unplanned)
    ]
    for spec in plan.topics:  # legacy topics ignore replication-factor changes
        live = live_replication.get(spec.name)
        if live is not None and live != spec.replication_factor:
            losses.append(
                Loss(
                    spec.name,
                    f"replication factor planned {spec.replication_factor}, the cluster has {live}: "
                    "a provider that cannot reassign replicas replaces (deletes and re-creates) the topic",
                    f"replication factor planned {spec.replication_factor}, the cluster has {live}: this update "
                    "changes it, and a provider that cannot reassign replicas replaces (deletes and re-creates) the topic",
                )
            )
    return losses


def losses(stack: Stack, live: LiveRead) -> list[Loss]:
    """What this run would delete or replace, from what the preflight read."""
    return possible_losses(stack.plan, live.replication, live.managed_unplanned)


def data_loss_judgement(
    losses: Iterable[Loss],
    records: Mapping[str, int | None],
    allowed: Collection[str],
    *,
    stack: str = "STACK",
    dry_run: bool = True,
) -> tuple[list[str], list[str]]:
    """(refusals, warnings): the refusal lists what may not be lost; the warnings what goes ahead.

    The refusal lists every topic the run would delete or replace, the empty ones too (they go
    with it once the others are allowed), and the command that allows the ones holding records.
    A warning during `pulumi up` (not `dry_run`) says what the update is doing, not what it would.
    """
    refused: list[str] = []
    refused_topics: list[str] = []
    empty: list[str] = []
    warnings: list[str] = []
    touched: set[str] = set()
    for loss in losses:
        touched.add(loss.topic)
        count = records.get(loss.topic)
        if count == 0:
            empty.append(loss.line(count))  # nothing to lose, but the run deletes or replaces it all the same
            continue
        if loss.topic in allowed:
            if dry_run:
                warnings.append(f"{loss.line(count)}. Allowed by {ALLOW_KEY}: the records will be lost")
            else:
                warnings.append(f"{loss.line(count, now=True)}. Allowed by {ALLOW_KEY}: the records will be lost")
        else:
            refused.append(loss.line(count))
            refused_topics.append(loss.topic)
    for name in sorted(set(allowed) - touched):
        warnings.append(
            f"{ALLOW_KEY} lists {name}, which this run neither deletes nor replaces: remove it from the stack "
            "file once the change it allowed is done"
        )
    if not refused:
        return [], warnings
    also = ""
    if empty:
        also = "\nthe run would also delete or replace these empty topics (nothing to lose):\n" + "\n".join(
            f"  {line}" for line in empty
        )
    return [
        f"{DATA_LOSS_REFUSAL}, which would lose them. Keep them in "
        "config/kafka/topics.yaml (and k2infra:exchanges), or, to accept the loss, list them in "
        f"{ALLOW_KEY} of the stack file:\n"
        + "\n".join(f"  {line}" for line in refused)
        + also
        + f"\nto accept the loss: python -m k2infra allow-data-loss --stack {stack} {' '.join(refused_topics)}"
    ], warnings


# -- legacy retirement -------------------------------------------------------------------------------

# A retiring legacy topic is no longer declared, so `pulumi up` deletes it: only once no record was
# written to it at or after its `quiet_since` (counted by k2infra.live.retirement.records_since).
# k2infra:forceRetire skips the proof; nothing is retired without k2infra:allowRetire.


def retiring(stack: Stack) -> list[LegacyTopic]:
    """The legacy topics whose quiet must be proven (none when k2infra:forceRetire skips the proof)."""
    if stack.safety.force_retire:
        return []
    return [t for t in stack.plan.legacy if t.action == LegacyAction.RETIRE]


def retirement_refusals(retiring: Iterable[LegacyTopic], written: Mapping[str, int]) -> list[str]:
    """The refusal naming every retiring topic that received records since its quiet_since."""
    lines = [
        f"{t.name}: {written[t.name]} records written since {t.quiet_since.isoformat()}"  # type: ignore[union-attr]
        for t in retiring
        if written.get(t.name, 0) > 0
    ]
    if not lines:
        return []
    return [
        f"{RETIREMENT_REFUSAL} (move their producers first, or set "
        "k2infra:forceRetire to delete them anyway):\n" + "\n".join(f"  {line}" for line in lines)
    ]


# -- partitions grow together ------------------------------------------------------------------------

# MirrorMaker 2 keeps a record's partition number, so a regional copy needs at least the partitions
# of its source (a symbol then hashes to the same partition in both clusters). Raising a topic that
# a regional stack mirrors is refused while that stack's copy, as its state holds it (which needs no
# credential of the regional cluster), has fewer partitions than planned; the regional plan already
# carries the home's new count, so `pulumi up` of the region goes first.


def partitions_in_state(stack_resources: Mapping[str, object]) -> dict[str, int]:
    """Topic -> partitions of the Kafka topics in a stack's state."""
    out: dict[str, int] = {}
    for name, outputs in _state_topics(stack_resources):
        count = outputs.get("partitions")
        if isinstance(count, (int, float)) and not isinstance(count, bool):
            out[name] = int(count)
    return out


def raised(plan: Plan, live_partitions: Mapping[str, int]) -> dict[str, int]:
    """The carried topics whose count this run raises: topic -> planned count."""
    carried = {name for carrier in plan.carried_by for name in carrier.topics}
    return {
        t.name: t.partitions
        for t in plan.topics
        if t.name in carried and t.name in live_partitions and t.partitions > live_partitions[t.name]
    }


def region_refusals(
    plan: Plan, live_partitions: Mapping[str, int], regions: Mapping[str, Mapping[str, int] | str]
) -> list[str]:
    """The refusal of raising carried topics ahead of a region (none if every region is ready).

    `regions` maps each carrying stack to its topics' partitions as its state holds them, or to
    the reason its state could not be read."""
    raising = raised(plan, live_partitions)
    lines: list[str] = []
    behind: list[str] = []
    for carrier in plan.carried_by:
        mine = sorted(name for name in carrier.topics if name in raising)
        if not mine:
            continue
        state = regions.get(carrier.stack, "its state was not read")
        for name in mine:
            want, now = raising[name], live_partitions[name]
            if isinstance(state, str):
                lines.append(
                    f"{name}: {now} -> {want} partitions; stack {carrier.stack} (region {carrier.region}) mirrors it, "
                    f"and {state}"
                )
            elif name in state and state[name] < want:
                lines.append(
                    f"{name}: {now} -> {want} partitions; stack {carrier.stack} (region {carrier.region}) mirrors it "
                    f"with {state[name]}"
                )
            else:
                continue
            if carrier.stack not in behind:
                behind.append(carrier.stack)
    if not lines:
        return []
    first = " and ".join(f"`pulumi up --stack {name}`" for name in behind)
    return [
        f"{REGION_REFUSAL}: MirrorMaker 2 "
        "keeps each record's partition, so a regional copy needs at least the partitions of its source. "
        f"Run {first} first (the regional plan already has the new counts), then this update again:\n"
        + "\n".join(f"  {line}" for line in lines)
    ]
