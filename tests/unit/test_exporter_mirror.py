"""The exporter of a regional stack: its copies' replication lag as `k2_mirror_*` series, labelled by
exchange and region; a source cluster that cannot be read drops those series only (the region's own
lag and feeds stay served) and says so once in the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from k2infra.live.admin import LiveReadError
from k2infra.live.mirror import MirrorLive, SourceTopic
from k2infra.model.stack import load_stack_file
from k2infra.observe import exporter, lag
from k2infra.observe.declaration import Watched
from tests.unit.test_lag import FakeAdmin, cluster, scrape
from tests.unit.test_regions import TOKYO, write_stack

TRADES = "market.crypto.trades.binance"
QUOTES = "market.crypto.quotes.binance"


@pytest.fixture
def region(project_dir: Path) -> Watched:
    write_stack(project_dir, "tokyo", TOKYO)
    stack = load_stack_file(project_dir / "config", "tokyo", project_dir)
    assert stack.plan.mirror is not None and stack.plan.mirror.stack == "dev"
    return Watched.load(project_dir / "config", stack.plan)


def copies(**lag_of: tuple[int | None, float | None]) -> MirrorLive:
    topics = {name: SourceTopic(name, 4, {}, records, seconds) for name, (records, seconds) in lag_of.items()}
    return MirrorLive("dev", "127.0.0.1:19092", topics)


def test_a_regional_exporter_serves_each_copys_lag_by_exchange_and_region_and_survives_its_sources_outage(
    region: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lag, "read_cluster", lambda admin, watched, *, timeout: cluster(watched, {}))
    monkeypatch.setattr(exporter, "KafkaAdmin", FakeAdmin)
    answers: list[Any] = [
        copies(**{TRADES: (50, 2.5), QUOTES: (None, None)}),  # a quotes offset could not be read: no series
        LiveReadError("cannot reach Kafka at 127.0.0.1:19092 within 5s (k2infra:bootstrapServers): refused"),
        LiveReadError("cannot reach Kafka at 127.0.0.1:19092 within 5s (k2infra:bootstrapServers): refused"),
        copies(**{TRADES: (0, 0.0)}),
    ]

    def read_mirror() -> MirrorLive:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    logged: list[str] = []
    running = exporter.Exporter(None, region, timeout=5, log=logged.append, read_mirror=read_mirror)  # type: ignore[arg-type]
    running.read_once()
    good = scrape(running.collector)
    [records] = good["k2_mirror_lag_records"]
    assert records.labels == {
        "asset_class": "crypto",
        "data_type": "trades",
        "exchange": "binance",
        "region": "tokyo",
        "source_stack": "dev",
    }
    assert (records.value, good["k2_mirror_lag_seconds"][0].value) == (50, 2.5)
    assert [(s.labels, s.value) for s in good["k2_mirror_source_up"]] == [
        ({"region": "tokyo", "source_stack": "dev"}, 1)
    ]

    running.read_once()
    running.read_once()  # the same outage again: logged once
    down = scrape(running.collector)
    assert down["k2_exporter_up"][0].value == 1  # the region itself was read
    assert down["k2_mirror_source_up"][0].value == 0
    assert (down.get("k2_mirror_lag_records", []), down.get("k2_mirror_lag_seconds", [])) == ([], [])
    assert [line for line in logged if "k2_mirror_source_up 0" in line] == [
        "reading the copies' sources failed, k2_mirror_source_up 0: cannot reach Kafka at 127.0.0.1:19092 within 5s "
        "(k2infra:bootstrapServers): refused"
    ]

    running.read_once()
    back = scrape(running.collector)
    assert (back["k2_mirror_source_up"][0].value, back["k2_mirror_lag_records"][0].value) == (1, 0)


def test_a_home_stacks_exporter_has_no_mirror_series(monkeypatch: pytest.MonkeyPatch) -> None:
    collector = exporter.LagCollector()
    collector.snapshot = exporter.Snapshot(up=True, read_seconds=0.1)
    assert not [f.name for f in collector.collect() if f.name.startswith("k2_mirror_")]
