"""Feed throughput between two reads (`k2infra.observe.feeds.throughput`): records and bytes per
second and the hottest partition's share, and the exporter serving them from its read loop; the
real broker is in tests/integration/test_lag_live.py."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from k2infra.live.admin import Partition, RecordAt
from k2infra.observe import exporter, feeds, lag
from k2infra.observe.declaration import Watched
from tests.unit.test_lag import NOW_MS, TRADES, FakeAdmin, cluster, scrape, watched  # noqa: F401 (the fixture)

TOPIC = "market.crypto.trades.binance"


def read(
    at_ms: int, end: Mapping[Partition, int | None], newest: Mapping[Partition, RecordAt] | None = None
) -> feeds.NewestRead:
    partitions: dict[str, int] = {}
    for topic, p in end:
        partitions[topic] = max(partitions.get(topic, 0), p + 1)
    return feeds.NewestRead(at_ms, partitions, end, dict(newest or {}))


def test_records_per_second_come_from_end_offset_deltas_and_skew_names_the_hottest_partition() -> None:
    earlier = read(NOW_MS, {(TOPIC, 0): 100, (TOPIC, 1): 100, (TOPIC, 2): 100, (TOPIC, 3): 100})
    later = read(
        NOW_MS + 10_000,
        {(TOPIC, 0): 160, (TOPIC, 1): 110, (TOPIC, 2): 120, (TOPIC, 3): 110},
        {(TOPIC, 0): RecordAt(159, NOW_MS, size=120), (TOPIC, 1): RecordAt(109, NOW_MS, size=80)},
    )
    rate = feeds.throughput(TOPIC, earlier, later)
    assert rate.records_per_second == 10.0  # 100 records in 10 s
    # 60 records of 120 bytes, 10 of 80, and 30 at their mean (100): partitions 2 and 3 had no record read.
    assert rate.bytes_per_second == 1100.0
    assert rate.mean_record_bytes == 110.0
    assert (rate.hottest, rate.skew) == (0, 0.6)  # partition 0 took 60 of the 100
    assert rate.per_partition == {0: 6.0, 1: 1.0, 2: 2.0, 3: 1.0}


def test_an_even_topic_has_a_skew_of_one_over_its_partitions_and_a_quiet_one_none() -> None:
    earlier = read(NOW_MS, {(TOPIC, p): 0 for p in range(4)})
    even = read(NOW_MS + 1_000, {(TOPIC, p): 5 for p in range(4)}, {(TOPIC, 0): RecordAt(4, NOW_MS, size=10)})
    assert feeds.throughput(TOPIC, earlier, even).skew == 0.25
    quiet = feeds.throughput(TOPIC, earlier, read(NOW_MS + 1_000, {(TOPIC, p): 0 for p in range(4)}))
    assert (quiet.records_per_second, quiet.bytes_per_second, quiet.skew, quiet.hottest) == (0.0, 0.0, None, None)


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        (
            {(TOPIC, 0): 10, (TOPIC, 1): 10},
            {(TOPIC, 0): 12, (TOPIC, 1): None},
            "partition 1 did not answer (no leader?)",
        ),
        ({(TOPIC, 0): 10, (TOPIC, 1): 10}, {(TOPIC, 0): 12, (TOPIC, 1): 3}, "partition 1's end offset went back"),
        ({("other", 0): 1}, {(TOPIC, 0): 12}, f"topic {TOPIC} is not in both reads"),
    ],
)
def test_a_rate_that_cannot_be_known_is_none_with_the_reason(
    before: dict[Partition, int], after: dict[Partition, int | None], reason: str
) -> None:
    rate = feeds.throughput(TOPIC, read(NOW_MS, before), read(NOW_MS + 1_000, after))
    assert (rate.records_per_second, rate.bytes_per_second, rate.skew) == (None, None, None)
    assert rate.reason.startswith(reason)


def test_a_partition_added_between_the_reads_counts_from_zero() -> None:
    earlier = read(NOW_MS, {(TOPIC, 0): 10})
    later = read(NOW_MS + 2_000, {(TOPIC, 0): 12, (TOPIC, 1): 6}, {(TOPIC, 1): RecordAt(5, NOW_MS, size=50)})
    rate = feeds.throughput(TOPIC, earlier, later)
    assert (rate.records_per_second, rate.hottest, rate.skew, rate.bytes_per_second) == (4.0, 1, 0.75, 200.0)


def test_records_appended_but_none_read_to_size_give_bytes_unknown() -> None:
    rate = feeds.throughput(TOPIC, read(NOW_MS, {(TOPIC, 0): 0}), read(NOW_MS + 1_000, {(TOPIC, 0): 3}))
    assert (rate.records_per_second, rate.bytes_per_second) == (3.0, None)
    assert rate.reason == "no record read to size: bytes per second not known"


def test_the_feeds_rows_carry_the_rates_only_with_an_earlier_read(watched: Watched) -> None:  # noqa: F811
    partitions = {t.name: t.partitions for t in watched.plan.topics}
    zero = {(t, p): 0 for t, n in partitions.items() for p in range(n)}
    earlier = feeds.NewestRead(NOW_MS - 5_000, partitions, zero, {})
    later = feeds.NewestRead(NOW_MS, partitions, zero | {(TRADES, 0): 50}, {(TRADES, 0): RecordAt(49, NOW_MS, size=64)})
    alone = {r.topic: r.to_dict() for r in feeds.feed_rows(watched, later)}
    assert alone[TRADES]["records_per_second"] is None
    rows = {r.topic: r.to_dict() for r in feeds.feed_rows(watched, later, earlier)}
    assert (rows[TRADES]["records_per_second"], rows[TRADES]["bytes_per_second"]) == (10.0, 640.0)
    assert (rows[TRADES]["skew"], rows[TRADES]["hottest_partition"]) == (1.0, 0)


def test_the_exporter_serves_rates_and_skew_from_its_second_read_on(
    watched: Watched,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = [cluster(watched, {}, at_ms=NOW_MS - 15_000), cluster(watched, {}, end={(TRADES, 1): 30}, at_ms=NOW_MS)]
    monkeypatch.setattr(lag, "read_cluster", lambda admin, watched, *, timeout: reads.pop(0))
    monkeypatch.setattr(FakeAdmin, "records", {(TRADES, 1): RecordAt(29, NOW_MS, size=100)})
    monkeypatch.setattr(exporter, "KafkaAdmin", FakeAdmin)
    running = exporter.Exporter(None, watched, timeout=5, log=lambda line: None)  # type: ignore[arg-type]
    running.read_once()
    first = scrape(running.collector)
    assert first["k2_exporter_up"][0].value == 1
    assert [first.get(name, []) for name in ("k2_feed_records_per_second", "k2_partition_skew_ratio")] == [[], []]

    running.read_once()
    second = scrape(running.collector)
    labels = {"asset_class": "equities", "data_type": "trades", "exchange": "asx"}
    (records,) = [s for s in second["k2_feed_records_per_second"] if s.labels == labels]
    (bytes_,) = [s for s in second["k2_feed_bytes_per_second"] if s.labels == labels]
    (skew,) = [s for s in second["k2_partition_skew_ratio"] if s.labels == {"topic": TRADES}]
    assert (records.value, bytes_.value, skew.value) == (2.0, 200.0, 1.0)
    quiet = {"asset_class": "crypto", "data_type": "trades", "exchange": "binance"}
    assert [s.value for s in second["k2_feed_records_per_second"] if s.labels == quiet] == [0.0]
    assert not [s for s in second["k2_partition_skew_ratio"] if s.labels == {"topic": TOPIC}]  # nothing appended
