"""Consumer lag as a pure function of one read (`k2infra.observe.lag.compute`), and the exporter's
collector serving the last read; the real broker is in tests/integration/test_lag_live.py."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from k2infra.cli.main import main
from k2infra.live import admin as live_admin
from k2infra.live.admin import Partition, RecordAt
from k2infra.model.errors import ConnectionFailed
from k2infra.model.plan import load_plan
from k2infra.observe import exporter, feeds, lag
from k2infra.observe.declaration import Watched
from k2infra.observe.metrics import ConsumerState
from tests.conftest import REPO

NOW_MS = 1_800_000_000_000
TRADES = "market.equities.trades.asx"
QUOTES = "market.equities.quotes.asx"
REFERENCE = "market.equities.reference_data.asx"  # compacted
GROUP = "equities-analytics"  # its objective: 60 s


@pytest.fixture(scope="module")
def watched() -> Watched:
    plan = load_plan(REPO / "config", "dev", REPO)
    return Watched.load(REPO / "config", plan)


def cluster(
    watched: Watched,
    committed: Mapping[str, Mapping[Partition, int]],
    *,
    members: Mapping[str, int] | None = None,
    end: Mapping[Partition, int | None] | None = None,
    earliest: Mapping[Partition, int] | None = None,
    first: Mapping[tuple[str, int, int], RecordAt | None] | None = None,
    groups: set[str] | None = None,
    at_ms: int = NOW_MS,
) -> lag.ClusterRead:
    """Every planned topic exists, empty, unless `end` / `earliest` say otherwise; every group has a member."""
    partitions = {t.name: t.partitions for t in watched.plan.topics}
    keys = [(t, p) for t, n in partitions.items() for p in range(n)]
    group_ids = frozenset(groups if groups is not None else committed)
    return lag.ClusterRead(
        at_ms=at_ms,
        groups=group_ids,
        members=dict(members) if members is not None else dict.fromkeys(group_ids, 1),
        committed=committed,
        partitions=partitions,
        earliest={k: 0 for k in keys} | dict(earliest or {}),
        end={k: 0 for k in keys} | dict(end or {}),
        first_unconsumed=dict(first or {}),
    )


def row(rows: list[lag.LagRow], group: str, topic: str) -> lag.LagRow:
    (found,) = [r for r in rows if r.group == group and r.topic == topic]
    return found


def behind(seconds: float, offset: int = 3) -> dict[tuple[str, int, int], RecordAt]:
    """The first record not consumed on TRADES[0], at `offset`, written `seconds` before NOW_MS."""
    return {(TRADES, 0, offset): RecordAt(offset, NOW_MS - int(seconds * 1000))}


def test_a_group_at_the_end_is_ok_with_zero_lag(watched: Watched) -> None:
    read = cluster(watched, {GROUP: {(TRADES, 0): 10}}, end={(TRADES, 0): 10})
    trades = row(lag.compute(watched, read), GROUP, TRADES)
    assert (trades.app, trades.exchange, trades.data_type) == ("equities-analytics", "asx", "trades")
    assert (trades.lag_records, trades.lag_seconds, trades.state) == (0, 0.0, ConsumerState.OK)


def test_lag_in_seconds_is_now_minus_the_first_record_not_consumed_and_over_the_slo_is_lagging(
    watched: Watched,
) -> None:
    read = cluster(watched, {GROUP: {(TRADES, 0): 3}}, end={(TRADES, 0): 10}, first=behind(90))
    trades = row(lag.compute(watched, read), GROUP, TRADES)
    assert (trades.lag_records, trades.lag_seconds, trades.state) == (7, 90.0, ConsumerState.LAGGING)
    assert trades.max_lag_seconds == 60
    assert lag.exit_code([trades]) == 1


def test_behind_within_the_slo_is_ok(watched: Watched) -> None:
    read = cluster(watched, {GROUP: {(TRADES, 0): 3}}, end={(TRADES, 0): 10}, first=behind(20))
    trades = row(lag.compute(watched, read), GROUP, TRADES)
    assert (trades.lag_records, trades.lag_seconds, trades.state) == (7, 20.0, ConsumerState.OK)
    assert lag.exit_code([trades]) == 0


def test_behind_without_a_member_is_no_active_consumer(watched: Watched) -> None:
    read = cluster(watched, {GROUP: {(TRADES, 0): 3}}, members={GROUP: 0}, end={(TRADES, 0): 10}, first=behind(5))
    trades = row(lag.compute(watched, read), GROUP, TRADES)
    assert trades.state == ConsumerState.NO_ACTIVE_CONSUMER
    assert "has no member" in trades.reasons[0]
    assert lag.exit_code([trades]) == 1


def test_behind_and_not_moving_between_two_reads_is_stalled_and_moving_is_not(watched: Watched) -> None:
    before = cluster(watched, {GROUP: {(TRADES, 0): 3}}, end={(TRADES, 0): 8}, at_ms=NOW_MS - 30_000)
    now = cluster(watched, {GROUP: {(TRADES, 0): 3}}, end={(TRADES, 0): 10}, first=behind(5))
    stalled = row(lag.compute(watched, now, before), GROUP, TRADES)
    assert stalled.state == ConsumerState.STALLED
    assert stalled.reasons[0] == "committed offsets did not move in 30s while behind"
    moved = cluster(watched, {GROUP: {(TRADES, 0): 4}}, end={(TRADES, 0): 10}, first=behind(5, offset=4))
    assert row(lag.compute(watched, moved, before), GROUP, TRADES).state == ConsumerState.OK
    assert row(lag.compute(watched, now), GROUP, TRADES).state == ConsumerState.OK  # one read cannot tell


def test_a_topic_without_committed_offsets_is_not_started_and_its_lag_is_unknown_not_zero(watched: Watched) -> None:
    read = cluster(watched, {GROUP: {(TRADES, 0): 3}}, end={(TRADES, 0): 3, (QUOTES, 0): 50})
    quotes = row(lag.compute(watched, read), GROUP, QUOTES)
    assert (quotes.state, quotes.lag_records, quotes.lag_seconds) == (ConsumerState.NOT_STARTED, None, None)
    assert quotes.reasons == (f"group {GROUP} has no committed offset on {QUOTES}",)


def test_a_declared_group_the_cluster_does_not_know_is_not_started(watched: Watched) -> None:
    rows = lag.compute(watched, cluster(watched, {}))
    trades = row(rows, GROUP, TRADES)
    assert trades.state == ConsumerState.NOT_STARTED
    assert trades.reasons == (f"group {GROUP} does not exist on the cluster",)
    # A prefix with no group yet: one row under the prefix itself.
    assert row(rows, "crypto-risk.", "market.crypto.trades.binance").state == ConsumerState.NOT_STARTED
    assert lag.exit_code(rows) == 0


def test_empty_partitions_without_commits_leave_a_caught_up_group_ok(watched: Watched) -> None:
    read = cluster(watched, {GROUP: {(TRADES, 0): 5}}, end={(TRADES, 0): 5})  # partitions 1 and 2 are empty
    trades = row(lag.compute(watched, read), GROUP, TRADES)
    assert (trades.state, trades.lag_records) == (ConsumerState.OK, 0)
    assert [p.reason for p in trades.partitions[1:]] == ["no committed offset", "no committed offset"]


def test_a_committed_offset_below_the_earliest_counts_from_the_earliest_and_says_so(watched: Watched) -> None:
    read = cluster(
        watched,
        {GROUP: {(TRADES, 0): 3}},
        earliest={(TRADES, 0): 6},
        end={(TRADES, 0): 10},
        first={(TRADES, 0, 3): RecordAt(6, NOW_MS - 120_000)},
    )
    trades = row(lag.compute(watched, read), GROUP, TRADES)
    assert (trades.lag_records, trades.lag_seconds, trades.state) == (4, 120.0, ConsumerState.LAGGING)
    assert trades.reasons == (
        "[0] committed offset 3 is below the earliest offset 6: retention removed 3 records the group never "
        "read; counted from 6",
    )


def test_a_compacted_partition_is_dated_by_the_first_record_kept_and_says_so(watched: Watched) -> None:
    read = cluster(
        watched,
        {GROUP: {(REFERENCE, 0): 3}},
        end={(REFERENCE, 0): 10},
        first={(REFERENCE, 0, 3): RecordAt(8, NOW_MS - 10_000)},
    )
    reference = row(lag.compute(watched, read), GROUP, REFERENCE)
    assert (reference.lag_records, reference.lag_seconds, reference.state) == (7, 10.0, ConsumerState.OK)
    (reason,) = reference.reasons
    assert "compacted topic: lag records count offsets" in reason
    assert "dated by the first record kept after it, at offset 8" in reason


def test_a_partition_that_does_not_answer_has_an_unknown_lag(watched: Watched) -> None:
    read = cluster(watched, {GROUP: {(TRADES, 0): 3, (TRADES, 1): 0}}, end={(TRADES, 0): None})
    trades = row(lag.compute(watched, read), GROUP, TRADES)
    assert (trades.partitions[0].lag_records, trades.partitions[0].lag_seconds) == (None, None)
    assert trades.reasons == ("[0] the partition did not answer (no leader?)",)


def test_other_groups_reading_market_topics_are_listed_apart_and_prefix_groups_belong_to_their_app(
    watched: Watched,
) -> None:
    committed = {
        "crypto-risk.book1": {("market.crypto.trades.binance", 0): 0},
        "adhoc-notebook": {(QUOTES, 1): 0},
        "billing": {("invoices", 0): 4},
    }
    rows = lag.compute(watched, cluster(watched, committed))
    assert row(rows, "crypto-risk.book1", "market.crypto.trades.binance").app == "crypto-risk"
    (other,) = [r for r in rows if not r.declared]
    assert (other.group, other.topic, other.exchange, other.max_lag_seconds) == ("adhoc-notebook", QUOTES, "asx", 30)
    assert not [r for r in rows if r.group in ("billing", "crypto-risk.")]


class FakeAdmin:
    """Stands in for KafkaAdmin where the exporter's lag read is replaced: `records` are the newest records."""

    records: Mapping[Partition, RecordAt] = {}

    @classmethod
    def of(cls, connection: Any) -> Any:
        return cls()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def record_timestamps(self, positions: Mapping[Partition, int], *, timeout: float) -> dict[Partition, RecordAt]:
        return {k: r for k in positions if (r := self.records.get(k)) is not None}


def scrape(collector: exporter.LagCollector) -> dict[str, list[Any]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_the_exporter_serves_the_last_read_and_drops_the_lag_and_feed_series_when_a_read_fails(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Any] = [
        cluster(watched, {GROUP: {(TRADES, 0): 3}}, end={(TRADES, 0): 10}, first=behind(90)),
        ConnectionFailed("cannot reach Kafka at 127.0.0.1:1 within 5s (k2infra:bootstrapServers): refused"),
    ]

    def read_cluster(admin: Any, watched: Watched, *, timeout: float) -> lag.ClusterRead:
        result = reads.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(lag, "read_cluster", read_cluster)
    monkeypatch.setattr(exporter, "KafkaAdmin", FakeAdmin)
    monkeypatch.setattr(FakeAdmin, "records", {(TRADES, 0): RecordAt(9, NOW_MS - 12_000)})
    logged: list[str] = []
    running = exporter.Exporter(None, watched, timeout=5, log=logged.append)  # type: ignore[arg-type]

    first = scrape(running.collector)
    assert (first["k2_exporter_up"][0].value, first.get("k2_consumer_lag_seconds", [])) == (0, [])

    running.read_once()
    good = scrape(running.collector)
    assert good["k2_exporter_up"][0].value == 1
    (trades,) = [
        s for s in good["k2_consumer_lag_seconds"] if s.labels["group"] == GROUP and s.labels["data_type"] == "trades"
    ]
    assert (trades.labels["app"], trades.labels["exchange"], trades.value) == ("equities-analytics", "asx", 90.0)
    # The newest record's age per feed, from the same read; a feed with no record has no series (not 0).
    (age,) = good["k2_feed_last_record_age_seconds"]
    assert (age.labels, age.value) == ({"asset_class": "equities", "data_type": "trades", "exchange": "asx"}, 12.0)
    assert scrape(running.collector) == good  # a scrape reads nothing: the same read, served again

    running.read_once()
    failed = scrape(running.collector)
    assert failed["k2_exporter_up"][0].value == 0
    dropped = ("k2_consumer_lag_seconds", "k2_consumer_lag_records", "k2_feed_last_record_age_seconds")
    assert [failed.get(name, []) for name in dropped] == [[], [], []]
    assert logged[-1] == (
        "read failed, k2_exporter_up 0: cannot reach Kafka at 127.0.0.1:1 within 5s (k2infra:bootstrapServers): refused"
    )


def test_a_partition_retention_emptied_behind_the_group_has_nothing_left_to_consume(watched: Watched) -> None:
    read = cluster(watched, {GROUP: {(TRADES, 0): 3}}, earliest={(TRADES, 0): 10}, end={(TRADES, 0): 10})
    trades = row(lag.compute(watched, read), GROUP, TRADES)
    assert (trades.lag_records, trades.lag_seconds, trades.state) == (0, 0.0, ConsumerState.OK)
    assert "retention removed 7 records the group never read" in trades.reasons[0]


def test_feeds_give_the_age_of_the_newest_record_of_each_topic_and_say_why_there_is_none(watched: Watched) -> None:
    partitions = {t.name: t.partitions for t in watched.plan.topics if t.name != QUOTES}
    read = feeds.NewestRead(
        at_ms=NOW_MS,
        partitions=partitions,
        end={(t, p): 0 for t, n in partitions.items() for p in range(n)} | {(TRADES, 0): 5, (TRADES, 1): None},
        newest={(TRADES, 0): RecordAt(4, NOW_MS - 42_000)},
    )
    rows = {r.topic: r for r in feeds.feed_rows(watched, read)}
    assert (rows[TRADES].last_record_age_seconds, rows[TRADES].end_offsets) == (42.0, None)  # [1] did not answer
    assert (rows[REFERENCE].last_record_age_seconds, rows[REFERENCE].reason) == (None, "no record")
    assert rows[QUOTES].reason == f"topic {QUOTES} does not exist on the cluster"
    assert rows[TRADES].to_dict()["records_per_second"] is None  # needs two reads


def watch(
    project_dir: Any, monkeypatch: pytest.MonkeyPatch, reads: list[Any], *argv: str
) -> tuple[int, str, str, list[float]]:
    """`lag --watch` over `reads` (a ClusterRead or an exception each), Ctrl-C after the last one."""
    pending = list(reads)
    slept: list[float] = []

    def read_cluster(admin: Any, watched: Watched, *, timeout: float) -> lag.ClusterRead:
        result = pending.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if not pending:
            raise KeyboardInterrupt

    monkeypatch.setattr(lag, "read_cluster", read_cluster)
    monkeypatch.setattr(live_admin, "KafkaAdmin", FakeAdmin)
    monkeypatch.setattr("k2infra.cli.observe.time.sleep", sleep)
    out, err = io.StringIO(), io.StringIO()
    code = main(["lag", "--stack", "dev", "--project-dir", str(project_dir), *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue(), slept


def test_lag_watch_reads_every_interval_until_ctrl_c_and_exits_with_the_last_reads_code(
    watched: Watched, project_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lagging = cluster(watched, {GROUP: {(TRADES, 0): 3}}, end={(TRADES, 0): 10}, first=behind(90))
    caught_up = cluster(watched, {GROUP: {(TRADES, 0): 10}}, end={(TRADES, 0): 10}, at_ms=NOW_MS + 2_000)
    code, out, _, slept = watch(project_dir, monkeypatch, [lagging, caught_up], "--watch", "2", "--app", GROUP)
    assert (code, slept) == (0, [2.0, 2.0])
    tables = out.split("every 2s (Ctrl-C stops)\n")[1:]
    assert len(tables) == 2
    assert "1 of 3 rows breach their objective" in tables[0]
    assert "no objective breached (3 rows)" in tables[1]

    failed = ConnectionFailed("cannot reach Kafka at 127.0.0.1:1 within 5s (k2infra:bootstrapServers): refused")
    code, out, err, _ = watch(project_dir, monkeypatch, [caught_up, failed], "--watch")
    assert code == 2  # the last read failed
    assert err == f"error: {failed}\n"


def test_lag_watch_shows_a_stalled_group_from_its_second_read(
    watched: Watched, project_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = [
        cluster(watched, {GROUP: {(TRADES, 0): 3}}, end={(TRADES, 0): 10}, first=behind(20), at_ms=NOW_MS + s)
        for s in (0, 5_000)
    ]
    code, out, _, _ = watch(project_dir, monkeypatch, reads, "--watch", "--json", "--app", GROUP)
    first, second = (json.loads(line) for line in out.splitlines())
    assert [r["state"] for r in first["rows"] if r["topic"] == TRADES] == ["ok"]  # 20 s behind, within 60 s
    assert [r["state"] for r in second["rows"] if r["topic"] == TRADES] == ["stalled"]
    assert (code, second["exit"]) == (1, 1)


def test_lag_watch_refuses_an_interval_that_is_not_positive(project_dir: Any) -> None:
    err = io.StringIO()
    code = main(["lag", "--stack", "dev", "--project-dir", str(project_dir), "--watch", "0"], io.StringIO(), err)
    assert (code, err.getvalue()) == (2, "error: --watch takes a positive number of seconds, got 0\n")
