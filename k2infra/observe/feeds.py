"""Feed health per exchange and data type: the newest record's age, and between two reads the
records and bytes appended per second and the hottest partition's share (skew).

`read_newest` is the one read (end offsets, then the record at end - 1 of each partition that holds
one); `feed_rows` and `throughput` are pure functions of one read and of two. Records per second is
the end offsets' delta between two reads over the time between them; one read says n/a.

Bytes per second is an estimate: each partition's records appended times the size (key + value +
headers, as a consumer receives them, uncompressed) of its newest record (of the topic's other
partitions' mean where it has none to read).
The log-dir sizes (DescribeLogDirs) would count compressed bytes on disk, but confluent-kafka has no
DescribeLogDirs; records of one data type share a schema, so their sizes vary little.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from k2infra.live.admin import KafkaAdmin, Partition, RecordAt
from k2infra.observe.declaration import Watched


@dataclass(frozen=True)
class NewestRead:
    at_ms: int
    partitions: Mapping[str, int]  # topic -> partition count (topics that exist)
    end: Mapping[Partition, int | None]
    newest: Mapping[Partition, RecordAt | None]  # the record at end - 1 (None: the partition is empty)


@dataclass(frozen=True)
class Throughput:
    """What one topic took between two reads."""

    records_per_second: float | None  # None: not known (the reason says why)
    bytes_per_second: float | None  # each partition's records x the size of its newest record
    skew: float | None  # the hottest partition's share of the records appended; None: none appended
    hottest: int | None  # that partition
    per_partition: Mapping[int, float]  # records per second of each partition
    mean_record_bytes: float | None = None  # the record size the estimate used, weighted by the records
    reason: str = ""
    per_partition_bytes: Mapping[int, float] = field(default_factory=dict)  # {} when not known


UNKNOWN = Throughput(None, None, None, None, {})


@dataclass(frozen=True)
class FeedRow:
    topic: str
    asset_class: str
    data_type: str
    exchange: str
    end_offsets: int | None  # summed over the partitions; None: a partition did not answer
    last_record_age_seconds: float | None  # None: no record, or the topic does not exist
    reason: str = ""
    throughput: Throughput | None = None  # None: one read only

    def to_dict(self) -> dict[str, object]:
        rate = self.throughput or UNKNOWN
        return {
            "topic": self.topic,
            "asset_class": self.asset_class,
            "data_type": self.data_type,
            "exchange": self.exchange,
            "end_offsets": self.end_offsets,
            "last_record_age_seconds": self.last_record_age_seconds,
            "records_per_second": rate.records_per_second,
            "bytes_per_second": rate.bytes_per_second,
            "skew": rate.skew,
            "hottest_partition": rate.hottest,
            "reason": "; ".join(r for r in (self.reason, rate.reason) if r),
        }


def throughput(topic: str, earlier: NewestRead, later: NewestRead) -> Throughput:
    """Records and bytes per second of `topic` between two reads, and its hottest partition's share."""
    if topic not in earlier.partitions or topic not in later.partitions:
        return Throughput(None, None, None, None, {}, reason=f"topic {topic} is not in both reads")
    seconds = (later.at_ms - earlier.at_ms) / 1000.0
    if seconds <= 0:
        return Throughput(None, None, None, None, {}, reason="the two reads are not apart in time")
    appended: dict[int, int] = {}
    for p in range(later.partitions[topic]):
        # A partition added between the reads started empty.
        before = earlier.end.get((topic, p)) if p < earlier.partitions[topic] else 0
        after = later.end.get((topic, p))
        if before is None or after is None:
            return Throughput(None, None, None, None, {}, reason=f"partition {p} did not answer (no leader?)")
        if after < before:
            return Throughput(
                None, None, None, None, {}, reason=f"partition {p}'s end offset went back (topic recreated?)"
            )
        appended[p] = after - before
    total = sum(appended.values())
    sized = {
        p: r.size
        for p in appended
        if (r := later.newest.get((topic, p)) or earlier.newest.get((topic, p))) is not None and r.size is not None
    }
    # Each partition's records at the size of its newest record; a partition not sized, at the others' mean.
    mean_size = sum(sized.values()) / len(sized) if sized else None
    per_partition = {p: n / seconds for p, n in appended.items()}
    per_partition_bytes: dict[int, float] = {}
    if mean_size is not None:
        per_partition_bytes = {p: rate * sized.get(p, mean_size) for p, rate in per_partition.items()}
    elif total == 0:
        per_partition_bytes = dict.fromkeys(per_partition, 0.0)
    records = total / seconds
    bytes_ = sum(per_partition_bytes.values()) if per_partition_bytes or total == 0 else None
    hottest = max(appended, key=lambda p: appended[p]) if total else None
    return Throughput(
        records,
        bytes_,
        appended[hottest] / total if hottest is not None else None,
        hottest,
        per_partition,
        bytes_ / records if bytes_ and records else mean_size,
        "" if bytes_ is not None else "no record read to size: bytes per second not known",
        per_partition_bytes,
    )


def feed_rows(watched: Watched, read: NewestRead, earlier: NewestRead | None = None) -> list[FeedRow]:
    """A row per planned topic from one read; with an earlier read, its throughput between the two."""
    rows = []
    for spec in watched.plan.topics:
        labels = (spec.name, spec.asset_class, spec.data_type, spec.exchange)
        rate = None if earlier is None else throughput(spec.name, earlier, read)
        if spec.name not in read.partitions:
            rows.append(FeedRow(*labels, None, None, f"topic {spec.name} does not exist on the cluster", rate))
            continue
        keys = [(spec.name, p) for p in range(read.partitions[spec.name])]
        ends = [read.end.get(k) for k in keys]
        total = None if any(e is None for e in ends) else sum(e for e in ends if e is not None)
        stamps = [r.timestamp_ms for k in keys if (r := read.newest.get(k)) is not None]
        if not stamps:
            rows.append(FeedRow(*labels, total, None, "no record", rate))
            continue
        rows.append(FeedRow(*labels, total, max((read.at_ms - max(stamps)) / 1000.0, 0.0), "", rate))
    return rows


def read_newest(admin: KafkaAdmin, watched: Watched, *, timeout: float, records: bool = True) -> NewestRead:
    """End offsets of every planned topic and (`records`) the newest record of each partition that keeps one."""
    layout = admin.cluster(timeout=timeout).topics
    partitions = {t.name: layout[t.name].partition_count for t in watched.plan.topics if t.name in layout}
    keys = [(t, p) for t, n in partitions.items() for p in range(n)]
    earliest = admin.offsets(keys, "earliest", timeout=timeout) if records else {}
    at_ms = int(time.time() * 1000)  # the end offsets' instant: rates divide by the time between two of them
    end = admin.offsets(keys, "latest", timeout=timeout)
    if not records:
        return NewestRead(at_ms, partitions, end, {})
    return newest_of(admin, at_ms, partitions, earliest, end, timeout=timeout)


def newest_of(
    admin: KafkaAdmin,
    at_ms: int,
    partitions: Mapping[str, int],
    earliest: Mapping[Partition, int | None],
    end: Mapping[Partition, int | None],
    *,
    timeout: float,
) -> NewestRead:
    """The read, given offsets already read (the exporter's lag read holds every planned topic's): the
    newest record of each partition that keeps one (retention may have removed every one: earliest == end)."""
    last = {k: e - 1 for k, e in end.items() if e is not None and (first := earliest.get(k)) is not None and first < e}
    return NewestRead(at_ms, partitions, end, admin.record_timestamps(last, timeout=timeout))
