"""Retiring legacy flat topics without silent data loss.

A retiring topic is no longer declared, so `pulumi up` deletes it. Before that may happen, the
program proves that producers have moved away: no record was written to the topic at or after its
`quiet_since` instant (the preflight counts them with `k2infra.live.retirement.records_since`). A
stack can skip the proof with k2infra:forceRetire, and no topic is retired at all without
k2infra:allowRetire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from k2infra.model.plan import LegacyAction, LegacyTopic
from k2infra.model.stack import Stack

# How its refusal opens (the change summary names the guard by it).
REFUSAL = "refusing to retire topics that still receive data"


def retiring(stack: Stack) -> list[LegacyTopic]:
    """The legacy topics whose quiet must be proven (none when k2infra:forceRetire skips the proof)."""
    if stack.safety.force_retire:
        return []
    return [t for t in stack.plan.legacy if t.action == LegacyAction.RETIRE]


def refusals(retiring: Iterable[LegacyTopic], written: Mapping[str, int]) -> list[str]:
    """The refusal naming every retiring topic that received records since its quiet_since."""
    lines = [
        f"{t.name}: {written[t.name]} records written since {t.quiet_since.isoformat()}"  # type: ignore[union-attr]
        for t in retiring
        if written.get(t.name, 0) > 0
    ]
    if not lines:
        return []
    return [
        f"{REFUSAL} (move their producers first, or set "
        "k2infra:forceRetire to delete them anyway):\n" + "\n".join(f"  {line}" for line in lines)
    ]
