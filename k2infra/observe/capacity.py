"""Capacity advice (`python -m k2infra capacity`): partition counts from measured bytes per second.

Each planned topic's bytes per second over a window (records from the offsets at the window's start
and now, sized as `feeds.throughput` does) against the per-partition budget the topology declares
(`defaults.partition_budget_bytes_per_second`): the partitions it needs, never fewer than it has,
and the edit of the setting its count comes from (the plan's `partition_origins`), as a unified diff
of the file. It changes nothing: the operator applies the edit and previews it.

`assess` and `edits` are pure; `read_window` is the one read (through KafkaAdmin).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from k2infra.live.admin import KafkaAdmin
from k2infra.model.errors import InputError, Problem
from k2infra.model.settings import NAMESPACE
from k2infra.observe import feeds
from k2infra.observe.declaration import Watched

BUDGET_FIELD = "defaults.partition_budget_bytes_per_second"
_ORIGIN = re.compile(r"^(?P<file>.+?)(?::(?P<line>\d+))?: (?P<field>\S+)$")
_COUNT = re.compile(r"^(?P<key>\s*[^:#\s][^:#]*:\s*)(?P<count>\d+)")


@dataclass(frozen=True)
class TopicCapacity:
    topic: str
    asset_class: str
    data_type: str
    exchange: str
    partitions: int  # what the cluster has (the plan's count when the topic does not exist)
    rate: feeds.Throughput
    budget: int  # bytes per second per partition
    needed: int | None  # partitions the measured bytes need at the budget; None: not measured
    recommended: int  # never fewer than it has or the plan says
    origin: str  # "file:line: field" of the setting the count comes from
    notes: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.asset_class}.{self.exchange}"

    def to_dict(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "asset_class": self.asset_class,
            "data_type": self.data_type,
            "exchange": self.exchange,
            "partitions": self.partitions,
            "records_per_second": self.rate.records_per_second,
            "bytes_per_second": self.rate.bytes_per_second,
            "bytes_per_second_per_partition": self.per_partition,
            "hottest_partition": self.rate.hottest,
            "hottest_partition_bytes_per_second": self.hottest_bytes,
            "budget_bytes_per_second": self.budget,
            "needed": self.needed,
            "recommended": self.recommended,
            "origin": self.origin,
            "notes": list(self.notes),
        }

    @property
    def per_partition(self) -> float | None:
        rate = self.rate.bytes_per_second
        return None if rate is None or not self.partitions else rate / self.partitions

    @property
    def hottest_bytes(self) -> float | None:
        hottest = self.rate.hottest
        return None if hottest is None else self.rate.per_partition_bytes.get(hottest)


@dataclass(frozen=True)
class Edit:
    """One setting to raise: where it is, to what, and for which topics."""

    origin: str
    file: str
    line: int | None
    field: str
    ref: str  # the exchange (asset_class.exchange) a stack's k2infra:partitions entry is for
    current: int
    recommended: int
    topics: tuple[str, ...]  # every topic whose count the edit raises


def budget_of(watched: Watched, topology_file: str) -> int:
    """The declared per-partition budget, or InputError saying where to declare it."""
    budget = watched.topology.defaults.partition_budget_bytes_per_second
    if budget is None:
        raise InputError(
            [
                Problem(
                    topology_file,
                    None,
                    BUDGET_FIELD,
                    "not declared: capacity needs the bytes per second one partition should carry",
                )
            ]
        )
    return budget


def assess(watched: Watched, earlier: feeds.NewestRead, later: feeds.NewestRead, budget: int) -> list[TopicCapacity]:
    """Every planned topic's measured bytes per second against `budget`, and the partitions it needs."""
    rows = []
    for spec in watched.plan.topics:
        live = later.partitions.get(spec.name)
        rate = feeds.throughput(spec.name, earlier, later)
        have = max(live or 0, spec.partitions)
        notes = [rate.reason] if rate.reason else []
        if live is None:
            notes = [f"topic {spec.name} does not exist on the cluster"]
        elif live != spec.partitions:
            notes.append(f"the cluster has {live} partitions, the plan {spec.partitions}")
        needed = None if rate.bytes_per_second is None else max(math.ceil(rate.bytes_per_second / budget), 1)
        hottest = rate.per_partition_bytes.get(rate.hottest) if rate.hottest is not None else None
        if hottest is not None and hottest > budget:
            notes.append(
                f"partition {rate.hottest} alone carries {hottest:.0f} B/s, over the budget: records are keyed by "
                f"{spec.partition_key}, and more partitions do not split one hot key"
            )
        recommended = max(have, needed or 0)
        origin = watched.plan.partition_origins.get(spec.name, "")
        rows.append(
            TopicCapacity(
                spec.name,
                spec.asset_class,
                spec.data_type,
                spec.exchange,
                live or spec.partitions,
                rate,
                budget,
                needed,
                recommended,
                origin,
                tuple(notes),
            )
        )
    return rows


def edits(rows: Sequence[TopicCapacity]) -> list[Edit]:
    """The settings to raise, one per origin (per exchange where the stack's cap is the origin)."""
    grouped: dict[tuple[str, str], list[TopicCapacity]] = {}
    for row in rows:
        match = _ORIGIN.match(row.origin)
        if match is None:
            continue
        capped = match["field"] == f"{NAMESPACE}:maxPartitions"
        grouped.setdefault((row.origin, row.ref if capped else ""), []).append(row)
    out = []
    for (origin, ref), group in grouped.items():
        match = _ORIGIN.match(origin)
        assert match is not None
        current = max(r.partitions for r in group)
        recommended = max(r.recommended for r in group)
        if recommended > current:
            line = int(match["line"]) if match["line"] else None
            topics = tuple(r.topic for r in group if r.partitions < recommended)  # the setting raises them all
            out.append(Edit(origin, match["file"], line, match["field"], ref, current, recommended, topics))
    return out


def diff(edits_: Sequence[Edit], read_text: Callable[[str], str]) -> tuple[str, list[str]]:
    """The unified diff of every edit (file by file), and the edits it could not write (no line)."""
    by_file: dict[str, list[Edit]] = {}
    missing = []
    for edit in edits_:
        if edit.line is None:
            missing.append(f"{edit.origin}: set it to {edit.recommended}")
        else:
            by_file.setdefault(edit.file, []).append(edit)
    chunks = []
    for file, file_edits in by_file.items():
        before = read_text(file).splitlines(keepends=True)
        after = list(before)
        # From the bottom up, so that an inserted line does not move the lines of the edits above it.
        for edit in sorted(file_edits, key=lambda e: e.line or 0, reverse=True):
            assert edit.line is not None
            problem = _apply(after, edit)
            if problem:
                missing.append(problem)
        chunks.append("".join(difflib.unified_diff(before, after, fromfile=file, tofile=file)))
    return "".join(chunks), missing


def _apply(lines: list[str], edit: Edit) -> str:
    """Raise the count on the edit's line (or, for the stack's cap, add the exchange's own count)."""
    assert edit.line is not None
    index = edit.line - 1
    if edit.field == f"{NAMESPACE}:maxPartitions":
        # A count of its own for the exchange (it wins over the cap), under k2infra:partitions.
        key = re.compile(rf"^(\s*){re.escape(NAMESPACE)}:partitions:\s*(#.*)?$")
        for i, text in enumerate(lines):
            if found := key.match(text):
                indent = found[1] + "  "
                lines.insert(i + 1, f"{indent}{edit.ref}: {edit.recommended}\n")
                return ""
        indent = re.match(r"^\s*", lines[index])[0]  # type: ignore[index]
        lines[index + 1 : index + 1] = [
            f"{indent}{NAMESPACE}:partitions:\n",
            f"{indent}  {edit.ref}: {edit.recommended}\n",
        ]
        return ""
    found = _COUNT.match(lines[index])
    if found is None:
        return f"{edit.origin}: not a count on that line; set it to {edit.recommended}"
    lines[index] = f"{found['key']}{edit.recommended}{lines[index][found.end() :]}"
    return ""


def read_window(
    admin: KafkaAdmin, watched: Watched, window_seconds: float, *, timeout: float
) -> tuple[feeds.NewestRead, feeds.NewestRead]:
    """Two reads a window apart without waiting for it: the end offsets and newest records now, and
    the offsets of the first records written at or after the window's start (ListOffsets by time)."""
    later = feeds.read_newest(admin, watched, timeout=timeout)
    start_ms = later.at_ms - int(window_seconds * 1000)
    keys = [(t, p) for t, n in later.partitions.items() for p in range(n)]
    at_start = admin.offsets(keys, start_ms, timeout=timeout)
    end: dict[tuple[str, int], int | None] = {}
    for key in keys:
        offset, now = at_start.get(key), later.end.get(key)
        # -1: no record written since the start: nothing appended in the window.
        end[key] = None if offset is None or now is None else now if offset < 0 else min(offset, now)
    return feeds.NewestRead(start_ms, later.partitions, end, {}), later
