"""Consumer lag, read once: per partition, then per app x group x asset class x data type x exchange.

`read_cluster` is the one read (through KafkaAdmin): the groups, their members and committed offsets,
the partitions' earliest and end offsets, and the timestamp of the first record each group has not
consumed yet. `compute` is a pure function of that read (and, for `stalled`, of the read before):
no cluster, no clock. The `lag` command reads once; the exporter keeps its previous read.

Lag in seconds is now minus the timestamp of the first record not consumed yet (0 when caught up).
Where retention (a committed offset below the earliest offset) or compaction removed that record,
the first record kept after it dates the lag, and the row's `reason` says so.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from k2infra.live.admin import KafkaAdmin, Partition, RecordAt
from k2infra.model.apps import AppAccess, PatternType
from k2infra.model.plan import TopicSpec
from k2infra.observe.declaration import Watched
from k2infra.observe.metrics import ConsumerState

MARKET_PREFIX = "market."  # the topics whose other readers are listed apart
BREACHES = frozenset({ConsumerState.LAGGING, ConsumerState.STALLED, ConsumerState.NO_ACTIVE_CONSUMER})


# -- what is read ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterRead:
    """One read of the cluster: everything `compute` needs, nothing derived."""

    at_ms: int  # when the read was made (milliseconds since the epoch)
    groups: frozenset[str]  # every consumer group the cluster knows
    members: Mapping[str, int]  # group -> active members (groups read: declared or reading market. topics)
    committed: Mapping[str, Mapping[Partition, int]]  # group -> committed offset per partition
    partitions: Mapping[str, int]  # topic -> partition count (topics that exist)
    earliest: Mapping[Partition, int | None]
    end: Mapping[Partition, int | None]
    # (topic, partition, committed offset) -> the first record at or after it (None: none there); read
    # once per distinct offset behind the end, shared by the groups at that offset.
    first_unconsumed: Mapping[tuple[str, int, int], RecordAt | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """A group to report: a declared app's (app set) or another group reading market. topics."""

    app: str  # "" for a group no app declares
    group: str
    topics: tuple[str, ...]
    max_lag_seconds: float


# -- what is computed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group has not committed this partition
    end: int | None  # None: the partition could not answer (no leader)
    lag_records: int | None
    lag_seconds: float | None
    reason: str = ""


@dataclass(frozen=True)
class LagRow:
    """One app's group on one topic (one asset class x data type x exchange)."""

    app: str
    group: str
    topic: str
    asset_class: str
    data_type: str
    exchange: str
    lag_records: int | None  # None: not known (no partition answered)
    lag_seconds: float | None  # the largest over the partitions; None: not known
    state: ConsumerState
    max_lag_seconds: float
    partitions: tuple[PartitionLag, ...]
    reasons: tuple[str, ...] = ()

    @property
    def declared(self) -> bool:
        return bool(self.app)

    def labels(self) -> dict[str, str]:
        """The row's labels for the metrics of k2infra.observe.metrics (CONSUMER_LABELS)."""
        return {
            "app": self.app,
            "group": self.group,
            "asset_class": self.asset_class,
            "data_type": self.data_type,
            "exchange": self.exchange,
        }

    def to_dict(self) -> dict[str, object]:
        return {
            **self.labels(),
            "topic": self.topic,
            "lag_records": self.lag_records,
            "lag_seconds": self.lag_seconds,
            "state": str(self.state),
            "max_lag_seconds": self.max_lag_seconds,
            "reasons": list(self.reasons),
            "partitions": [
                {
                    "partition": p.partition,
                    "committed": p.committed,
                    "end": p.end,
                    "lag_records": p.lag_records,
                    "lag_seconds": p.lag_seconds,
                    "reason": p.reason,
                }
                for p in self.partitions
            ],
        }


# -- the pure part ---------------------------------------------------------------------------------


def targets(watched: Watched, groups: Iterable[str], committed: Mapping[str, Mapping[Partition, int]]) -> list[Target]:
    """The declared apps' groups (each group of a prefix that exists, else the prefix itself, to say it
    has not started), then every other group that committed an offset of a market. topic."""
    groups = sorted(groups)
    declared: set[str] = set()
    out: list[Target] = []
    for app in watched.consumers():
        topics = tuple(t.name for t in watched.reads(app))
        limit = float(watched.slo(app).max_lag_seconds or 0)
        for group in _groups_of(app, groups):
            declared.add(group)
            out.append(Target(app.name, group, topics, limit))
    default = float(watched.apps.default_slo.max_lag_seconds or 0)
    for group in groups:
        if group in declared or _declared_prefix(watched, group):
            continue
        topics = tuple(sorted({t for t, _ in committed.get(group, {}) if t.startswith(MARKET_PREFIX)}))
        if topics:
            out.append(Target("", group, topics, default))
    return out


def _groups_of(app: AppAccess, groups: Sequence[str]) -> list[str]:
    assert app.group is not None
    if app.group_pattern == PatternType.PREFIXED:
        return [g for g in groups if g.startswith(app.group)] or [app.group]
    return [app.group]


def _declared_prefix(watched: Watched, group: str) -> bool:
    return any(
        app.group_pattern == PatternType.PREFIXED and app.group and group.startswith(app.group)
        for app in watched.consumers()
    )


def partition_lag(
    topic: str,
    partition: int,
    committed: int | None,
    earliest: int | None,
    end: int | None,
    first: RecordAt | None,
    at_ms: int,
    compacted: bool = False,
) -> PartitionLag:
    """One partition's lag in records and seconds, with how it was estimated where it is not plain."""
    if end is None:
        return PartitionLag(topic, partition, committed, None, None, None, "the partition did not answer (no leader?)")
    if committed is None:
        return PartitionLag(topic, partition, None, end, None, None, "no committed offset")
    if committed >= end:
        return PartitionLag(topic, partition, committed, end, 0, 0.0)
    reasons = []
    start = committed
    if earliest is not None and committed < earliest:
        start = earliest
        reasons.append(
            f"committed offset {committed} is below the earliest offset {earliest}: retention removed "
            f"{earliest - committed} records the group never read; counted from {earliest}"
        )
    records = end - start
    if records <= 0:  # retention removed every record the group had not read: nothing left to consume
        return PartitionLag(topic, partition, committed, end, 0, 0.0, "; ".join(reasons))
    if compacted:
        reasons.append("compacted topic: lag records count offsets, some of which compaction removed")
    if first is None:
        reasons.append(f"no record at or after offset {committed} could be read: lag in seconds not known")
        return PartitionLag(topic, partition, committed, end, records, None, "; ".join(reasons))
    if first.offset > start:
        reasons.append(
            f"the record at offset {start} is gone (compaction or retention): dated by the first record kept "
            f"after it, at offset {first.offset}"
        )
    seconds = max((at_ms - first.timestamp_ms) / 1000.0, 0.0)
    return PartitionLag(topic, partition, committed, end, records, seconds, "; ".join(reasons))


def compute(watched: Watched, read: ClusterRead, previous: ClusterRead | None = None) -> list[LagRow]:
    """Every target's rows, from one read (and the previous one: `stalled` needs two)."""
    plan = watched.plan
    rows: list[LagRow] = []
    for target in targets(watched, read.groups, read.committed):
        committed = read.committed.get(target.group, {})
        for topic in target.topics:
            spec = plan.topic(topic)
            rows.append(_row(target, topic, spec, committed, read, previous))
    return rows


def _row(
    target: Target,
    topic: str,
    spec: TopicSpec | None,
    committed: Mapping[Partition, int],
    read: ClusterRead,
    previous: ClusterRead | None,
) -> LagRow:
    asset_class, data_type, exchange = (
        (spec.asset_class, spec.data_type, spec.exchange) if spec is not None else _labels_of_name(topic)
    )
    compacted = spec is not None and "compact" in spec.config.get("cleanup.policy", "")

    def row(state: ConsumerState, parts: tuple[PartitionLag, ...], reasons: Sequence[str]) -> LagRow:
        known_records = [p.lag_records for p in parts if p.lag_records is not None]
        known_seconds = [p.lag_seconds for p in parts if p.lag_seconds is not None]
        return LagRow(
            target.app,
            target.group,
            topic,
            asset_class,
            data_type,
            exchange,
            sum(known_records) if known_records else None,
            max(known_seconds) if known_seconds else None,
            state,
            target.max_lag_seconds,
            parts,
            tuple(reasons),
        )

    if topic not in read.partitions:
        return row(ConsumerState.NOT_STARTED, (), [f"topic {topic} does not exist on the cluster"])
    parts = tuple(
        partition_lag(
            topic,
            p,
            offset,
            read.earliest.get((topic, p)),
            read.end.get((topic, p)),
            None if offset is None else read.first_unconsumed.get((topic, p, offset)),
            read.at_ms,
            compacted,
        )
        for p in range(read.partitions[topic])
        for offset in [committed.get((topic, p))]
    )
    reasons = sorted({f"[{p.partition}] {p.reason}" for p in parts if p.reason and p.committed is not None})
    if target.group not in read.groups:
        return row(ConsumerState.NOT_STARTED, parts, [f"group {target.group} does not exist on the cluster"])
    if all(p.committed is None for p in parts):
        return row(ConsumerState.NOT_STARTED, parts, [f"group {target.group} has no committed offset on {topic}"])
    lagging = [p for p in parts if p.lag_records]
    if not lagging:
        return row(ConsumerState.OK, parts, reasons)
    if not read.members.get(target.group):
        return row(ConsumerState.NO_ACTIVE_CONSUMER, parts, [f"group {target.group} has no member", *reasons])
    if previous is not None and target.group in previous.committed:
        before = previous.committed[target.group]
        if all(before.get((topic, p.partition)) == p.committed for p in lagging):
            window = (read.at_ms - previous.at_ms) / 1000.0
            return row(
                ConsumerState.STALLED,
                parts,
                [f"committed offsets did not move in {window:.0f}s while behind", *reasons],
            )
    seconds = max((p.lag_seconds for p in parts if p.lag_seconds is not None), default=None)
    if seconds is not None and seconds > target.max_lag_seconds:
        return row(ConsumerState.LAGGING, parts, reasons)
    return row(ConsumerState.OK, parts, reasons)


def _labels_of_name(topic: str) -> tuple[str, str, str]:
    """(asset_class, data_type, exchange) of a market.<asset_class>.<data_type>.<exchange> name outside the plan."""
    parts = topic.split(".")
    if len(parts) == 4 and parts[0] == "market":
        return parts[1], parts[2], parts[3]
    return "", "", ""


def exit_code(rows: Iterable[LagRow]) -> int:
    """1 when any row breaches its app's objective (lagging, stalled, or behind with no consumer), else 0."""
    return 1 if any(r.state in BREACHES for r in rows) else 0


# -- the read --------------------------------------------------------------------------------------


def read_cluster(admin: KafkaAdmin, watched: Watched, *, timeout: float) -> ClusterRead:
    """The one read `compute` needs (LiveReadError, one line, when the cluster cannot be read)."""
    at_ms = int(time.time() * 1000)
    # Metadata first: an unreachable cluster fails here, with the admin's one line naming the setting.
    layout = admin.cluster(timeout=timeout).topics
    listing = admin.consumer_groups(timeout=timeout)
    groups = frozenset(g.group_id for g in listing)
    committed_all = admin.committed_offsets(sorted(groups), timeout=timeout)
    wanted = targets(watched, groups, committed_all)
    read_groups = sorted({t.group for t in wanted} & groups)
    committed = {g: committed_all.get(g, {}) for g in read_groups}
    members = {g: len(d.members) for g, d in admin.describe_groups(read_groups, timeout=timeout).items()}
    # Every planned topic too, so that the exporter's feed read needs no offsets of its own (feeds.newest_of).
    read_topics = {t for target in wanted for t in target.topics} | {t.name for t in watched.plan.topics}
    topics = sorted(t for t in read_topics if t in layout)
    partitions = {t: layout[t].partition_count for t in topics}
    keys = [(t, p) for t in topics for p in range(partitions[t])]
    earliest = admin.offsets(keys, "earliest", timeout=timeout)
    end = admin.offsets(keys, "latest", timeout=timeout)
    # The first record not consumed, per distinct (partition, committed offset) behind the end.
    positions: dict[tuple[str, int, int], None] = {}
    for group in read_groups:
        for (t, p), offset in committed[group].items():
            e, first_kept = end.get((t, p)), earliest.get((t, p))
            if e is not None and offset < e and (first_kept is None or first_kept < e):
                positions[(t, p, offset)] = None
    first: dict[tuple[str, int, int], RecordAt | None] = {}
    # record_timestamps takes one offset per partition: one call per round of distinct offsets.
    pending = list(positions)
    while pending:
        batch: dict[Partition, int] = {}
        rest = []
        for t, p, offset in pending:
            if (t, p) in batch:
                rest.append((t, p, offset))
            else:
                batch[(t, p)] = offset
        for (t, p), record in admin.record_timestamps(batch, timeout=timeout).items():
            first[(t, p, batch[(t, p)])] = record
        pending = rest
    return ClusterRead(at_ms, groups, members, committed, partitions, earliest, end, first)
