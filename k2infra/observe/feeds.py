"""Feed health per exchange and data type: how old the newest record of each planned topic is.

`read_newest` is the one read (end offsets, then the record at end - 1 of each partition that holds
one); `feed_rows` is a pure function of it. Records per second needs two reads (end-offset deltas):
one read says n/a.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from k2infra.live.admin import KafkaAdmin, Partition, RecordAt
from k2infra.observe.declaration import Watched


@dataclass(frozen=True)
class NewestRead:
    at_ms: int
    partitions: Mapping[str, int]  # topic -> partition count (topics that exist)
    end: Mapping[Partition, int | None]
    newest: Mapping[Partition, RecordAt | None]  # the record at end - 1 (None: the partition is empty)


@dataclass(frozen=True)
class FeedRow:
    topic: str
    asset_class: str
    data_type: str
    exchange: str
    end_offsets: int | None  # summed over the partitions; None: a partition did not answer
    last_record_age_seconds: float | None  # None: no record, or the topic does not exist
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "asset_class": self.asset_class,
            "data_type": self.data_type,
            "exchange": self.exchange,
            "end_offsets": self.end_offsets,
            "last_record_age_seconds": self.last_record_age_seconds,
            "records_per_second": None,  # needs two reads
            "reason": self.reason,
        }


def feed_rows(watched: Watched, read: NewestRead) -> list[FeedRow]:
    rows = []
    for spec in watched.plan.topics:
        labels = (spec.name, spec.asset_class, spec.data_type, spec.exchange)
        if spec.name not in read.partitions:
            rows.append(FeedRow(*labels, None, None, f"topic {spec.name} does not exist on the cluster"))
            continue
        keys = [(spec.name, p) for p in range(read.partitions[spec.name])]
        ends = [read.end.get(k) for k in keys]
        total = None if any(e is None for e in ends) else sum(e for e in ends if e is not None)
        stamps = [r.timestamp_ms for k in keys if (r := read.newest.get(k)) is not None]
        if not stamps:
            rows.append(FeedRow(*labels, total, None, "no record"))
            continue
        rows.append(FeedRow(*labels, total, max((read.at_ms - max(stamps)) / 1000.0, 0.0)))
    return rows


def read_newest(admin: KafkaAdmin, watched: Watched, *, timeout: float) -> NewestRead:
    at_ms = int(time.time() * 1000)
    layout = admin.cluster(timeout=timeout).topics
    partitions = {t.name: layout[t.name].partition_count for t in watched.plan.topics if t.name in layout}
    keys = [(t, p) for t, n in partitions.items() for p in range(n)]
    earliest = admin.offsets(keys, "earliest", timeout=timeout)
    end = admin.offsets(keys, "latest", timeout=timeout)
    # Only partitions that keep a record (retention may have removed every one: earliest == end).
    last = {k: e - 1 for k, e in end.items() if e is not None and (first := earliest.get(k)) is not None and first < e}
    newest = admin.record_timestamps(last, timeout=timeout)
    return NewestRead(at_ms, partitions, end, newest)
