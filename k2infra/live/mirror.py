"""A regional stack's mirror as it runs: its copies and their sources read side by side (docs/regions.md).

MirrorMaker 2 copies records, not offsets: a record's offset in the region is not its offset at home,
and after a MirrorMaker 2 crash some records are copied twice, so neither offsets nor record counts
line up. Timestamps do: MirrorMaker 2 keeps each record's partition and timestamp. Per partition,
the region's newest record's timestamp says how far the copy has come; the source records written
after it (found by time, one ListOffsets call) are the ones not copied yet. So:

- lag in records: the source's end offset less the offset of its first record written after the
  region's newest one (every record the source holds, when the region's partition is empty or absent);
- lag in seconds, as K2's consumer lag (docs/monitoring.md): now less the timestamp of that first
  record not copied yet; 0 when nothing is behind.

Records written within one millisecond of the region's newest count as copied; producers that write
timestamps out of order within a partition make the figure an estimate.

The mirrored subjects' schema IDs are read from the source's registry too: the region's registry
replays the home's journal and must answer the same IDs (docs/regions.md, "The schema-ID guarantee").

The source cluster is reached with the source stack's settings; its SASL password (the one
MirrorMaker 2 itself is given, k2infra.model.mirrormaker) comes from K2_MIRROR_SOURCE_PASSWORD, and
the password of a source registry that asks for one from K2_MIRROR_SOURCE_REGISTRY_PASSWORD.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from k2infra.live.admin import KafkaAdmin, Partition
from k2infra.live.cluster import LiveSubject, read_subjects
from k2infra.model.mirrormaker import SOURCE_PASSWORD_ENV
from k2infra.model.stack import Stack

SOURCE_REGISTRY_PASSWORD_ENV = "K2_MIRROR_SOURCE_REGISTRY_PASSWORD"


@dataclass(frozen=True)
class SourceTopic:
    """A mirrored topic as its source cluster holds it, and how far the region's copy is behind."""

    name: str
    partitions: int | None  # None: not on the source cluster
    config: Mapping[str, str | None]  # effective values of the keys asked
    lag_records: int | None  # None: not on the source, or an offset could not be read
    lag_seconds: float | None


@dataclass(frozen=True)
class MirrorLive:
    source_stack: str
    source_servers: str
    topics: Mapping[str, SourceTopic]
    note: str | None = None  # why the source was not read (then `topics` is empty)
    subjects: Mapping[str, LiveSubject] | None = None  # the mirrored subjects at the source's registry
    subjects_note: str | None = None  # why they were not read (then None)


def read_mirror(
    stack: Stack,
    wanted_configs: Mapping[str, Collection[str]],
    *,
    timeout: float,
    source_password: str | None = None,
    source_registry_password: str | None = None,
    subjects: bool = True,
    now_ms: float | None = None,
) -> MirrorLive | None:
    """The mirrored topics among `wanted_configs` (topic -> config keys) at the source, with the
    region's lag, and (`subjects`) the mirrored subjects at the source's registry; None for a stack
    that mirrors nothing. LiveReadError when a cluster or the registry cannot be read."""
    mirror = stack.plan.mirror
    if mirror is None or stack.mirror_source is None:
        return None
    source_subjects, subjects_note = (
        _source_subjects(stack, source_registry_password, timeout) if subjects else (None, None)
    )
    source = stack.mirror_source.kafka
    servers = ",".join(source.bootstrap_servers)
    if source.sasl_mechanism and not source.sasl_password:
        if not source_password:
            note = (
                f"the copies were not compared with their sources: stack {mirror.stack}'s cluster ({servers}) "
                f"needs its SASL password in {SOURCE_PASSWORD_ENV} (the one MirrorMaker 2 is given)"
            )
            return MirrorLive(mirror.stack, servers, {}, note, source_subjects, subjects_note)
        source = replace(source, sasl_password=source_password)
    names = [n for n in mirror.topics if n in wanted_configs]
    # ListOffsets only, on both clusters: k2infra's own principal may Describe the topics but never
    # read their records (docs/access.md), and MirrorMaker 2's lag needs no record read.
    with KafkaAdmin.of(stack.connections.kafka) as region:
        copied_until, unread = _newest(region, names, timeout)
    with KafkaAdmin.of(source, password_from=SOURCE_PASSWORD_ENV) as admin:
        layouts = {n: layout for n, layout in admin.cluster(timeout=timeout).topics.items() if n in names}
        asked = {n: wanted_configs[n] for n in layouts if wanted_configs[n]}
        configs = admin.topic_configs(asked, timeout=timeout) if asked else {}
        partitions = [(n, p) for n, layout in layouts.items() for p in layout.partition_ids]
        end = admin.offsets(partitions, "latest", timeout=timeout)
        # The first source record after the region's newest (from the start where the copy holds none).
        after, unanswered = admin.first_records_at(
            {k: copied_until[k] + 1 if k in copied_until else 0 for k in partitions}, timeout=timeout
        )
        missing_from: dict[Partition, int | None] = {}  # the first source offset the region does not hold
        for key in partitions:
            if key in unread or key in unanswered:
                missing_from[key] = None
            else:
                missing_from[key] = after[key].offset if key in after else end[key]
        behind = {
            k: end[k] - start  # type: ignore[operator]
            for k, start in missing_from.items()
            if start is not None and end[k] is not None
        }
        oldest = {k: after[k] for k, n in behind.items() if n > 0}
    now = time.time() * 1000 if now_ms is None else now_ms
    topics = {}
    for name in names:
        if name not in layouts:
            topics[name] = SourceTopic(name, None, {}, None, None)
            continue
        keys = [(name, p) for p in layouts[name].partition_ids]
        records = sum(behind[k] for k in keys) if all(k in behind for k in keys) else None
        stamps = [r.timestamp_ms for k in keys if (r := oldest.get(k)) is not None]
        seconds = None if records is None else max((now - min(stamps)) / 1000, 0.0) if stamps else 0.0
        topics[name] = SourceTopic(name, layouts[name].partition_count, configs.get(name, {}), records, seconds)
    return MirrorLive(mirror.stack, servers, topics, None, source_subjects, subjects_note)


def _source_subjects(
    stack: Stack, password: str | None, timeout: float
) -> tuple[dict[str, LiveSubject] | None, str | None]:
    mirror, source = stack.plan.mirror, stack.mirror_source
    assert mirror is not None and source is not None
    registry = source.registry
    if registry.username and not (registry.password or registry.token):
        if not password:
            return None, (
                f"the schema IDs were not compared: stack {mirror.stack}'s registry ({registry.url}) needs its "
                f"password in {SOURCE_REGISTRY_PASSWORD_ENV}"
            )
        registry = replace(registry, password=password)
    read = read_subjects(registry, mirror.subjects, timeout=timeout)
    return {name: subject for name, subject in read.items() if name in mirror.subjects}, None


def _newest(admin: KafkaAdmin, names: Collection[str], timeout: float) -> tuple[dict[Partition, int], set[Partition]]:
    """The timestamp (ms) of the newest record of each partition of `names` that holds one, and the
    partitions that could not answer."""
    layouts = admin.cluster(timeout=timeout).topics
    partitions = [(n, p) for n in names if n in layouts for p in layouts[n].partition_ids]
    newest, unread = admin.newest_records(partitions, timeout=timeout)
    return {k: r.timestamp_ms for k, r in newest.items()}, unread
