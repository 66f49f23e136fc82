"""`lag` and the exporter against the real local broker, with a real producer and a real consumer group.

The shipped config with the platform's address, except that equities-analytics's group gets a name of
this run's own (so that offsets left by an earlier session on a shared platform do not count). The
group commits 3 of the 10 records it was given on market.equities.trades.asx, written 300 s in the
past: it is 7 records and about 297 s behind, over its 60 s objective.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from devkit.local_platform import LocalPlatform
from devkit.monitor import free_ports
from k2infra.model.stack import load_stack_file
from tests.exporter_process import ExporterProcess
from tests.waiting import wait_for as shared_wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
STACK = "lagtest"
TOPIC = "market.equities.trades.asx"
WAIT = 90.0  # seconds for the broker, a group join or the exporter's first read on a loaded machine
BEHIND_S = 300  # the records' age when written


def wait_for(what: str, check: Any, timeout: float = WAIT) -> Any:
    return shared_wait_for(what, check, timeout)


def write_stack(project: Path, name: str, servers: str) -> None:
    stack = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    stack["config"]["k2infra:bootstrapServers"] = servers
    (project / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))


@pytest.fixture(scope="module")
def group() -> str:
    return f"equities-analytics-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, platform: LocalPlatform, group: str) -> Path:
    root = tmp_path_factory.mktemp("lag-project")
    shutil.copytree(REPO / "config", root / "config")
    apps = root / "config" / "kafka" / "apps.yaml"
    text = apps.read_text()
    assert "group: equities-analytics\n" in text
    apps.write_text(text.replace("group: equities-analytics\n", f"group: {group}\n"))
    write_stack(root, STACK, platform.bootstrap_servers)
    write_stack(root, "nobroker", f"127.0.0.1:{free_ports(1)[0]}")  # nothing listens there: the address is wrong
    return root


@pytest.fixture(scope="module")
def behind(project: Path, platform: LocalPlatform, group: str) -> Iterator[int]:
    """A live member of the group, 7 records behind on partition 0 of TOPIC; yields the partition's end."""
    plan = load_stack_file(project / "config", STACK, project).plan
    admin = AdminClient({"bootstrap.servers": platform.bootstrap_servers})
    existing = set(admin.list_topics(timeout=WAIT).topics)
    created = [
        NewTopic(t.name, t.partitions, 1, config=dict(t.config))
        for t in plan.topics
        if (t.asset_class, t.exchange) == ("equities", "asx") and t.name not in existing
    ]
    if created:
        for future in admin.create_topics(created).values():
            future.result(WAIT)
    wait_for(f"{TOPIC} with leaders", lambda: _led(admin, TOPIC))
    producer = Producer({"bootstrap.servers": platform.bootstrap_servers})
    written_ms = int(time.time() * 1000) - BEHIND_S * 1000
    for i in range(10):
        producer.produce(TOPIC, value=b"trade", partition=0, timestamp=written_ms + i)
    assert producer.flush(WAIT) == 0
    witness = Consumer({"bootstrap.servers": platform.bootstrap_servers, "group.id": "witness"})
    _low, end = witness.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=WAIT)
    witness.close()
    consumer = Consumer(
        {
            "bootstrap.servers": platform.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([TOPIC])
    target = end - 7

    def consumed_up_to_target() -> bool:
        # A batch per check: the shared platform's topic may hold records of earlier modules (capacity's).
        return any(
            m.error() is None and m.partition() == 0 and m.offset() >= target - 1
            for m in consumer.consume(num_messages=1000, timeout=0.5)
        )

    wait_for(f"the group {group} to consume {TOPIC}[0] up to offset {target - 1}", consumed_up_to_target)
    consumer.commit(offsets=[TopicPartition(TOPIC, 0, target)], asynchronous=False)
    yield end
    consumer.close()
    if created:
        for future in admin.delete_topics([t.topic for t in created]).values():
            future.result(WAIT)


def _led(admin: AdminClient, name: str) -> bool:
    topic = admin.list_topics(name, timeout=10).topics.get(name)
    return topic is not None and topic.error is None and all(p.leader >= 0 for p in topic.partitions.values())


def cli(project: Path, *args: str, stack: str = STACK) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k2infra", *args, "--stack", stack, "--project-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=REPO,
    )


def test_lag_reports_records_and_seconds_behind_and_the_app_lagging(behind: int, project: Path, group: str) -> None:
    run = cli(project, "lag", "--app", "equities-analytics", "--exchange", "asx", "--json")
    assert run.returncode == 1, run.stderr  # an SLO breached
    rows = {r["data_type"]: r for r in json.loads(run.stdout)["rows"]}
    trades = rows["trades"]
    assert (trades["app"], trades["group"], trades["exchange"]) == ("equities-analytics", group, "asx")
    assert trades["state"] == "lagging"
    first = next(p for p in trades["partitions"] if p["partition"] == 0)
    assert (first["committed"], first["end"], first["lag_records"]) == (behind - 7, behind, 7)
    assert trades["lag_seconds"] > 60  # the record it has not consumed was written ~297 s ago
    assert {rows["quotes"]["state"], rows["reference_data"]["state"]} == {"not_started"}

    table = cli(project, "lag", "--app", "equities-analytics")
    assert table.returncode == 1, table.stderr
    line = next(row for row in table.stdout.splitlines() if " trades " in f" {row} " and group in row)
    assert line.split()[-1] == "lagging"


def test_feeds_give_the_age_of_the_newest_record_per_exchange_and_data_type(behind: int, project: Path) -> None:
    run = cli(project, "feeds", "--json", "--interval", "0")  # one read: no rate
    assert run.returncode == 0, run.stderr
    rows = {r["topic"]: r for r in json.loads(run.stdout)["rows"]}
    trades = rows[TOPIC]
    assert (trades["exchange"], trades["data_type"], trades["records_per_second"]) == ("asx", "trades", None)
    assert trades["end_offsets"] >= behind
    assert trades["last_record_age_seconds"] > 0


def test_feeds_rates_and_skew_come_from_the_records_appended_between_two_reads(
    behind: int, project: Path, platform: LocalPlatform
) -> None:
    from k2infra.live.admin import KafkaAdmin
    from k2infra.observe import feeds
    from k2infra.observe.declaration import Watched

    stack = load_stack_file(project / "config", STACK, project)
    watched = Watched.load(project / "config", stack.plan)
    with KafkaAdmin.of(stack.connections.kafka) as admin:
        earlier = feeds.read_newest(admin, watched, timeout=WAIT, records=False)
        producer = Producer({"bootstrap.servers": platform.bootstrap_servers})
        for _ in range(20):  # 20 records of 4 + 96 bytes, all on partition 2: the hottest, with every record
            producer.produce(TOPIC, key=b"BHP.", value=bytes(96), partition=2)
        assert producer.flush(WAIT) == 0
        later = feeds.read_newest(admin, watched, timeout=WAIT)
    rate = feeds.throughput(TOPIC, earlier, later)
    seconds = (later.at_ms - earlier.at_ms) / 1000.0
    assert rate.records_per_second is not None and rate.bytes_per_second is not None
    assert round(rate.records_per_second * seconds) == 20
    assert (rate.hottest, rate.skew, rate.mean_record_bytes) == (2, 1.0, pytest.approx(100.0))
    assert rate.bytes_per_second == pytest.approx(rate.records_per_second * 100)

    run = cli(project, "feeds", "--interval", "1")  # the table, with the rates of a real second
    assert run.returncode == 0, run.stderr
    assert "RECORDS/S" in run.stdout and "rates over 1s" in run.stdout


def test_lag_names_the_unknown_app_and_exchange_at_once(project: Path) -> None:
    run = cli(project, "lag", "--app", "equities-analytic", "--exchange", "asxx")
    assert run.returncode == 2
    assert "did you mean 'equities-analytics'?" in run.stderr
    assert "did you mean 'asx'?" in run.stderr


def test_lag_that_cannot_read_the_cluster_exits_2(project: Path) -> None:
    run = cli(project, "lag", "--timeout", "5", stack="nobroker")
    assert run.returncode == 2
    assert "cannot reach Kafka" in run.stderr


@pytest.fixture
def exporter(project: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[ExporterProcess] = []

    def start(stack: str) -> ExporterProcess:
        started.append(ExporterProcess(project, stack, tmp_path / f"exporter-{stack}.log"))
        return started[-1]

    yield start
    for running in started:
        running.stop(WAIT)


def test_the_exporter_serves_lag_seconds_with_app_and_exchange_labels(behind: int, exporter: Any, group: str) -> None:
    running = exporter(STACK)

    def lag_series() -> list[Any]:
        samples = running.scrape()
        if not samples or samples["k2_exporter_up"][0].value != 1:
            return []
        return [
            s
            for s in samples.get("k2_consumer_lag_seconds", [])
            if s.labels["group"] == group and s.labels["data_type"] == "trades"
        ]

    (series,) = wait_for("the exporter's first good read", lag_series)
    assert series.labels == {
        "app": "equities-analytics",
        "group": group,
        "asset_class": "equities",
        "data_type": "trades",
        "exchange": "asx",
    }
    assert series.value > 60
    samples = running.scrape()
    assert samples is not None
    state = [
        s for s in samples["k2_consumer_state"] if s.labels["group"] == group and s.labels["data_type"] == "trades"
    ]
    # lagging on the first read; stalled from the second on (the committed offset does not move).
    assert {s.labels["state"] for s in state if s.value == 1} <= {"lagging", "stalled"}
    assert sum(s.value for s in state) == 1

    def feed_rates() -> dict[str, list[Any]] | None:
        samples = running.scrape()  # from the second read on: the rates are deltas between two reads
        return samples if samples and samples.get("k2_feed_records_per_second") else None

    rates = wait_for("the exporter's second good read (feed rates)", feed_rates)
    asx = {"asset_class": "equities", "data_type": "trades", "exchange": "asx"}
    assert [s.value >= 0 for s in rates["k2_feed_records_per_second"] if s.labels == asx] == [True]
    assert [s.value >= 0 for s in rates["k2_feed_bytes_per_second"] if s.labels == asx] == [True]


def test_the_exporter_without_a_cluster_serves_up_0_and_no_lag(project: Path, exporter: Any) -> None:
    running = exporter("nobroker")

    def failed_read() -> dict[str, list[Any]] | None:
        samples = running.scrape()
        return samples if samples and samples["k2_exporter_read_seconds"][0].value > 0 else None

    samples = wait_for("the exporter's first read", failed_read)
    assert samples["k2_exporter_up"][0].value == 0
    assert samples.get("k2_consumer_lag_seconds", []) == []
    assert samples.get("k2_consumer_lag_records", []) == []
    assert "read failed, k2_exporter_up 0: cannot reach Kafka at 127.0.0.1:" in running.log.read_text()
