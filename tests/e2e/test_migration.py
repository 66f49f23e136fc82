"""Operating safely, end to end: verify after a deploy, and the migration off legacy flat topics."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from devkit.pulumi_project import REPO, PulumiProject
from tests.e2e.conftest import kafka_admin

pytestmark = pytest.mark.e2e

TOPIC = "kafka:index/topic:Topic"
LEGACY = {"market.trades.raw": 6, "market.quotes.raw": 6, "market.reference_data": 1}


def verify(project: PulumiProject) -> tuple[int, dict]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "k2infra",
            "verify",
            "--stack",
            project.stack,
            "--json",
            "--project-dir",
            str(project.dir),
            "--config-dir",
            str(project.dir / "config"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, json.loads(result.stdout)


def topics_of(platform) -> dict[str, int]:
    metadata = kafka_admin(platform).list_topics(timeout=15)
    return {name: len(t.partitions) for name, t in metadata.topics.items()}


def wait_until(condition, timeout: float = 120.0) -> None:
    """Poll `condition` (a lambda whose source says what it waits for) until it holds; a loaded
    broker may take tens of seconds to show a topic created or deleted."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {inspect.getsource(condition).strip()}")
        time.sleep(0.5)


def foreign(report: dict) -> set[tuple[str, str]]:
    """The `market.` topics and subjects verify finds extra before this test's stack exists: other
    modules' on the shared platform (a failed test may leave some), not this test's to judge."""
    return {(d["kind"], d["name"]) for d in report["differences"] if d["kind"].endswith("_extra")}


def own(report: dict, others: set[tuple[str, str]]) -> list[dict]:
    return [d for d in report["differences"] if (d["kind"], d["name"]) not in others]


def test_verify_reports_no_drift_after_up_then_each_change_behind_pulumis_back(new_project, platform) -> None:
    project = new_project("verified")
    others = foreign(verify(project)[1])
    if others:
        print(f"left on the shared platform by other modules, not judged here: {sorted(others)}")
    project.up()
    code, report = verify(project)
    assert (code, report["ok"], own(report, others)) == (int(bool(others)), not others, [])

    admin = kafka_admin(platform)
    retention = ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
    changed = ConfigResource("topic", "market.equities.trades.asx", incremental_configs=[retention])
    admin.incremental_alter_configs([changed])[changed].result(timeout=15)
    admin.delete_topics(["market.crypto.quotes.binance"])["market.crypto.quotes.binance"].result(timeout=15)
    admin.create_topics([NewTopic("market.equities.trades.cxa", 1, 1)])["market.equities.trades.cxa"].result(timeout=15)
    wait_until(lambda: "market.crypto.quotes.binance" not in topics_of(platform))
    code, report = verify(project)
    kinds = {(d["kind"], d["name"]) for d in own(report, others)}
    assert code == 1
    assert ("topic_missing", "market.crypto.quotes.binance") in kinds
    assert ("topic_extra", "market.equities.trades.cxa") in kinds
    assert any(d["kind"] == "config" and d.get("key") == "retention.ms" for d in report["differences"])
    admin.delete_topics(["market.equities.trades.cxa"])["market.equities.trades.cxa"].result(timeout=15)


def create_legacy_topics(platform) -> None:
    admin = kafka_admin(platform)
    futures = admin.create_topics(
        [
            NewTopic("market.trades.raw", 6, 1),
            NewTopic("market.quotes.raw", 6, 1),
            NewTopic("market.reference_data", 1, 1, config={"cleanup.policy": "compact"}),
        ]
    )
    for future in futures.values():
        future.result(timeout=15)
    wait_until(lambda: set(LEGACY) <= set(topics_of(platform)))


def produce(platform, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": platform.bootstrap_servers})
    for i in range(count):
        producer.produce(topic, key=f"SYM{i % 3}", value=b"legacy record")
    assert producer.flush(15) == 0


def test_legacy_topics_are_adopted_then_retired_only_when_quiet(new_project, platform) -> None:
    create_legacy_topics(platform)
    produce(platform, "market.trades.raw", 25)
    project = new_project("migration", {"legacyTopics": True, "exchanges": ["crypto.binance"]})

    # Adopt: imported as they are, nothing re-created, data kept.
    preview = project.preview()
    assert sorted(preview.names("import", TOPIC)) == sorted(LEGACY), preview.raw
    assert not [s for s in preview.steps if s["op"] in ("replace", "delete", "create-replacement")]
    project.up()
    assert {name: topics_of(platform)[name] for name in LEGACY} == LEGACY
    project.run("preview", "--expect-no-changes")
    code, report = verify(project)
    assert code == 0, report["differences"]

    # Retire a quiet topic: deleted by the next up.
    quiet_since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    def retire(name: str, since: str):
        def change(topology: dict) -> None:
            topology["legacy"][name].update(state="retire", quiet_since=since)

        return change

    project.edit_topology(retire("market.quotes.raw", quiet_since))
    blocked = project.preview()
    assert "market.quotes.raw is marked for retirement; set k2infra:allowRetire" in blocked.raw
    assert not blocked.names("delete", TOPIC)
    project.configure({"allowRetire": True})
    preview = project.preview()
    assert preview.names("delete", TOPIC) == ["market.quotes.raw"], preview.raw
    project.up()
    wait_until(lambda: "market.quotes.raw" not in topics_of(platform))

    # A topic still written to since quiet_since is refused, and stays.
    project.edit_topology(retire("market.trades.raw", "2020-01-01T00:00:00Z"))
    refused = project.preview(check=False)
    assert "refusing to retire topics that still receive data" in refused.raw
    assert "market.trades.raw: 25 records written since 2020-01-01T00:00:00+00:00" in refused.raw
    assert topics_of(platform)["market.trades.raw"] == 6

    # Unless forced.
    project.configure({"forceRetire": True})
    project.up()
    wait_until(lambda: "market.trades.raw" not in topics_of(platform))
    assert "market.reference_data" in topics_of(platform)
