"""No topic that holds records is deleted or replaced by accident.

A run can lose a topic's data in these ways, and each is stopped before any change (at preview
too) unless the stack lists the topic in `k2infra:allowDataLoss`:

- **removal**: a topic this stack manages is no longer planned (its exchange or data type was
  removed or renamed in the topology, or left out of `k2infra:exchanges`, or
  `k2infra:legacyTopics` was turned off while legacy topics were adopted). Pulumi deletes a
  resource the program stops declaring, and the program no longer sees it: so the preflight lists
  the live `market.` topics (its one Metadata request), keeps those that are not planned, and
  asks the engine which of them are in this stack's state (`managed_topics`, asked only when
  such topics exist). A topic someone else made is not in the state, is not deleted by Pulumi,
  and is not refused;
- **a replication-factor change** of a topic that holds records: a provider that cannot reassign
  replicas replaces the topic (upstream pulumi-kafka's Terraform provider has done so; ours
  refuses the update);
- **a partition decrease** is refused by `partition_guard`, whatever the flag: Kafka cannot remove
  partitions and the provider would replace the topic.

Retiring legacy topics (`state: retire`) has its own guard and flags (`retirement_guard`). A
destroy never runs the program: see docs/runbook.md (protect, and `make down`'s check).

The refusal names every topic and how many records it holds now, so the preview says what would
be lost. A topic listed in `allowDataLoss` goes ahead with a warning that says the same; a listed
topic that this run would not delete or replace is warned about too, so that a stale allowance
does not stay in the stack file.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from k2infra.model.plan import Plan
from k2infra.model.topology import TOPIC_PREFIX

TOPIC_TYPE = "kafka:index/topic:Topic"
ALLOW_KEY = "k2infra:allowDataLoss"
# How its refusal opens (the change summary names the guard by it).
REFUSAL = "refusing to delete or replace topics that hold records"


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


def managed_topic_names(stack_resources: Mapping[str, object]) -> set[str]:
    """Topic names of the Kafka topics in a stack's state (`readStackResourceOutputs`' `outputs`)."""
    names: set[str] = set()
    for urn, entry in stack_resources.items():
        if not isinstance(entry, Mapping) or entry.get("type") != TOPIC_TYPE:
            continue
        outputs = entry.get("outputs")
        name = outputs.get("name") if isinstance(outputs, Mapping) else None
        names.add(name if isinstance(name, str) and name else str(urn).rsplit("::", 1)[-1])
    return names


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


def judge(
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
        f"{REFUSAL}, which would lose them. Keep them in "
        "config/kafka/topics.yaml (and k2infra:exchanges), or, to accept the loss, list them in "
        f"{ALLOW_KEY} of the stack file:\n"
        + "\n".join(f"  {line}" for line in refused)
        + also
        + f"\nto accept the loss: python -m k2infra allow-data-loss --stack {stack} {' '.join(refused_topics)}"
    ], warnings
