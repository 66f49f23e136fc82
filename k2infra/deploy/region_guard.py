"""Partitions grow together: a region's copy first, then the home topic.

MirrorMaker 2 keeps a record's partition number, so a regional copy must always have at least the
partitions of its source: a symbol then hashes to the same partition in both clusters (the copy's
extra partitions stay empty until the home grows too), and no record arrives for a partition the
copy lacks. The order is enforced at home: raising a topic that a regional stack mirrors is
refused while that stack's copy has fewer partitions than planned, naming the stack and the command
to run first. The regional stack's plan already carries the home's new count (it reads the home's
stack file), so `pulumi up` of the region grows its copy, then the home's update goes ahead.

What the region has is read from its stack's state (k2infra.deploy.preflight), which needs no
credential of the regional cluster; a state that cannot be read refuses the raise, naming why.
"""

from __future__ import annotations

from collections.abc import Mapping

from k2infra.deploy.data_loss_guard import TOPIC_TYPE
from k2infra.model.plan import Plan


def partitions_in_state(stack_resources: Mapping[str, object]) -> dict[str, int]:
    """Topic -> partitions of the Kafka topics in a stack's state (`readStackResourceOutputs`' `outputs`)."""
    out: dict[str, int] = {}
    for urn, entry in stack_resources.items():
        if not isinstance(entry, Mapping) or entry.get("type") != TOPIC_TYPE:
            continue
        outputs = entry.get("outputs")
        if not isinstance(outputs, Mapping):
            continue
        name = outputs.get("name") or str(urn).rsplit("::", 1)[-1]
        count = outputs.get("partitions")
        if isinstance(count, (int, float)) and not isinstance(count, bool):
            out[str(name)] = int(count)
    return out


def raised(plan: Plan, live_partitions: Mapping[str, int]) -> dict[str, int]:
    """The carried topics whose count this run raises: topic -> planned count."""
    carried = {name for carrier in plan.carried_by for name in carrier.topics}
    return {
        t.name: t.partitions
        for t in plan.topics
        if t.name in carried and t.name in live_partitions and t.partitions > live_partitions[t.name]
    }


def refusals(
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
        "refusing to raise partition counts ahead of the regions that mirror these topics: MirrorMaker 2 "
        "keeps each record's partition, so a regional copy needs at least the partitions of its source. "
        f"Run {first} first (the regional plan already has the new counts), then this update again:\n"
        + "\n".join(f"  {line}" for line in lines)
    ]
