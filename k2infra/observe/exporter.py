"""`python -m k2infra exporter`: the stack's consumer lag, feed ages and feed throughput as Prometheus metrics.

One read of the cluster per interval (the lag read of k2infra.observe.lag and the newest-record read
of k2infra.observe.feeds, on one admin), in a background loop; every scrape is answered from the last
read by a custom Collector (a scrape never reads the cluster). A read that fails sets
`k2_exporter_up 0`, logs its one-line reason, and drops the lag and feed series: values of an older read are
never served as if they were fresh. Records and bytes per second and the skew are computed between
this read and the previous good one (the first read has none: no series yet). Metric names and
labels come from k2infra.observe.metrics only. Needs prometheus_client (the package's `monitoring`
extra).

On a regional stack each read also reads the copies' sources (k2infra.live.mirror: the replication
lag by time) into the `k2_mirror_*` series. The source cluster is another cluster: its failure sets
`k2_mirror_source_up 0` and drops those series only, so the region's own lag and feeds stay served.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from k2infra.live.admin import KafkaAdmin
from k2infra.live.mirror import MirrorLive
from k2infra.model.connection import KafkaConnection
from k2infra.model.errors import ConnectionFailed
from k2infra.observe import feeds, lag
from k2infra.observe.declaration import Watched
from k2infra.observe.metrics import (
    CONSUMER_LAG_RECORDS,
    CONSUMER_LAG_SECONDS,
    CONSUMER_STATE,
    EXPORTER_READ_SECONDS,
    EXPORTER_UP,
    FEED_BYTES_PER_SECOND,
    FEED_LAST_RECORD_AGE_SECONDS,
    FEED_RECORDS_PER_SECOND,
    MIRROR_LAG_RECORDS,
    MIRROR_LAG_SECONDS,
    MIRROR_SOURCE_UP,
    PARTITION_SKEW_RATIO,
    ConsumerState,
    Metric,
)


@dataclass(frozen=True)
class Snapshot:
    """What the scrapes serve: the outcome of the last read."""

    up: bool
    read_seconds: float
    rows: tuple[lag.LagRow, ...] = ()
    reason: str = ""
    feeds: tuple[feeds.FeedRow, ...] = ()
    mirror: MirrorLive | None = None  # a regional stack's copies against their sources, when read
    mirror_up: bool | None = None  # None: the stack mirrors nothing


def _family(metric: Metric) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric.name, metric.help, labels=list(metric.labels))


class LagCollector(Collector):
    """Serves the last Snapshot; `snapshot` is replaced whole by the read loop (one reference, no lock)."""

    def __init__(self, region: tuple[str, str] | None = None) -> None:
        self.snapshot = Snapshot(up=False, read_seconds=0.0, reason="no read yet")
        self.region = region  # (region, source stack) of a regional stack

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self.snapshot
        yield GaugeMetricFamily(EXPORTER_UP.name, EXPORTER_UP.help, value=1.0 if snapshot.up else 0.0)
        yield GaugeMetricFamily(EXPORTER_READ_SECONDS.name, EXPORTER_READ_SECONDS.help, value=snapshot.read_seconds)
        seconds, records, states = _family(CONSUMER_LAG_SECONDS), _family(CONSUMER_LAG_RECORDS), _family(CONSUMER_STATE)
        for row in snapshot.rows:
            labels = [row.labels()[name] for name in CONSUMER_LAG_SECONDS.labels]
            if row.lag_seconds is not None:  # unknown is left out, never reported as 0
                seconds.add_metric(labels, row.lag_seconds)
            if row.lag_records is not None:
                records.add_metric(labels, float(row.lag_records))
            for state in ConsumerState:
                states.add_metric([*labels, str(state)], 1.0 if row.state == state else 0.0)
        yield seconds
        yield records
        yield states
        ages, ages_labels = _family(FEED_LAST_RECORD_AGE_SECONDS), FEED_LAST_RECORD_AGE_SECONDS.labels
        for feed in snapshot.feeds:
            if feed.last_record_age_seconds is not None:  # an empty or missing topic has no age, not 0
                ages.add_metric([getattr(feed, name) for name in ages_labels], feed.last_record_age_seconds)
        yield ages
        yield from _throughput_families(snapshot.feeds)
        yield from _mirror_families(snapshot, self.region)


def _throughput_families(rows: tuple[feeds.FeedRow, ...]) -> Iterator[GaugeMetricFamily]:
    """Records and bytes per second per feed, and each topic's skew; an unknown value is left out."""
    records, bytes_, skew = (
        _family(FEED_RECORDS_PER_SECOND),
        _family(FEED_BYTES_PER_SECOND),
        _family(PARTITION_SKEW_RATIO),
    )
    for row in rows:
        rate = row.throughput
        if rate is None:
            continue
        labels = [getattr(row, name) for name in FEED_RECORDS_PER_SECOND.labels]
        if rate.records_per_second is not None:
            records.add_metric(labels, rate.records_per_second)
        if rate.bytes_per_second is not None:
            bytes_.add_metric(labels, rate.bytes_per_second)
        if rate.skew is not None:
            skew.add_metric([row.topic], rate.skew)
    yield records
    yield bytes_
    yield skew


def _mirror_families(snapshot: Snapshot, region: tuple[str, str] | None) -> Iterator[GaugeMetricFamily]:
    """The copies' lag (unknown left out, never 0) and whether the source could be read."""
    if region is None:
        return
    up = _family(MIRROR_SOURCE_UP)
    up.add_metric(list(region), 1.0 if snapshot.mirror_up else 0.0)
    yield up
    records, seconds = _family(MIRROR_LAG_RECORDS), _family(MIRROR_LAG_SECONDS)
    for topic in snapshot.mirror.topics.values() if snapshot.mirror is not None else ():
        _, asset_class, data_type, exchange = topic.name.split(".", 3)
        labels = [asset_class, data_type, exchange, *region]
        if topic.lag_records is not None:
            records.add_metric(labels, float(topic.lag_records))
        if topic.lag_seconds is not None:
            seconds.add_metric(labels, topic.lag_seconds)
    yield records
    yield seconds


class Exporter:
    """The read loop: one read per interval into the collector, a failure logged in one line."""

    def __init__(
        self,
        connection: KafkaConnection,
        watched: Watched,
        *,
        timeout: float,
        log: Callable[[str], None],
        read_mirror: Callable[[], MirrorLive | None] | None = None,
    ) -> None:
        self.connection = connection
        self.watched = watched
        self.timeout = timeout
        self.log = log
        self.read_mirror = read_mirror  # a regional stack's: k2infra.live.mirror.read_mirror, bound
        mirror = watched.plan.mirror
        self.collector = LagCollector((mirror.region, mirror.stack) if mirror and read_mirror else None)
        self.previous: lag.ClusterRead | None = None  # the last good read: `stalled` compares with it
        self.previous_feeds: feeds.NewestRead | None = None  # ... and the rates are deltas from it
        self.stop = threading.Event()

    def read_once(self) -> Snapshot:
        started = time.monotonic()
        try:
            # A fresh admin per read: librdkafka's failure lines of an earlier outage must not word a later one.
            with KafkaAdmin.of(self.connection) as admin:
                read = lag.read_cluster(admin, self.watched, timeout=self.timeout)
                # The planned topics' offsets of the lag read: one ListOffsets of each kind per read.
                planned = {t.name for t in self.watched.plan.topics}
                newest = feeds.newest_of(
                    admin,
                    read.at_ms,
                    {t: n for t, n in read.partitions.items() if t in planned},
                    read.earliest,
                    read.end,
                    timeout=self.timeout,
                )
            rows = tuple(lag.compute(self.watched, read, self.previous))
            feed_rows = tuple(feeds.feed_rows(self.watched, newest, self.previous_feeds))
            self.previous, self.previous_feeds = read, newest
            snapshot = Snapshot(True, time.monotonic() - started, rows, feeds=feed_rows)
        except ConnectionFailed as exc:
            snapshot = Snapshot(False, time.monotonic() - started, reason=str(exc))
        except Exception as exc:  # the exporter reports up 0 and keeps reading: never a crash
            snapshot = Snapshot(False, time.monotonic() - started, reason=f"{type(exc).__name__}: {exc}")
        if snapshot.up and self.read_mirror is not None:
            snapshot = self._with_mirror(snapshot)
        if not snapshot.up:
            self.log(f"read failed, k2_exporter_up 0: {snapshot.reason}")
        elif not self.collector.snapshot.up:
            self.log(f"read {len(snapshot.rows)} rows in {snapshot.read_seconds:.2f}s, k2_exporter_up 1")
        self.collector.snapshot = snapshot
        return snapshot

    def _with_mirror(self, snapshot: Snapshot) -> Snapshot:
        assert self.read_mirror is not None
        was_up = self.collector.snapshot.mirror_up
        try:
            mirror = self.read_mirror()
        except Exception as exc:  # the source is another cluster: its outage is its own series, not the region's
            if was_up is not False:
                self.log(f"reading the copies' sources failed, k2_mirror_source_up 0: {exc}")
            return replace(snapshot, mirror_up=False)
        read = mirror is not None and mirror.note is None
        if not read and was_up is not False and mirror is not None:
            self.log(f"k2_mirror_source_up 0: {mirror.note}")
        return replace(snapshot, mirror=mirror if read else None, mirror_up=read)

    def run(self, interval: float) -> None:
        """Read every `interval` seconds (from the start of one read to the next) until `stop` is set."""
        while not self.stop.is_set():
            started = time.monotonic()
            self.read_once()
            self.stop.wait(max(interval - (time.monotonic() - started), 0.0))


def serve(exporter: Exporter, address: str, port: int) -> Any:
    """Start /metrics on address:port over the exporter's own registry (only K2's metrics); the server."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter.collector)
    server, _thread = start_http_server(port, addr=address, registry=registry)
    return server


def stderr_log(err: TextIO) -> Callable[[str], None]:
    def log(line: str) -> None:
        err.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} k2infra exporter: {line}\n")
        err.flush()

    return log
