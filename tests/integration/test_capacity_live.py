"""`capacity` against the real local broker, with a real producer: the bytes written in the window,
over a tiny per-partition budget, give a recommended count above today's and the exact edit, which
`git apply -p0` (or `patch -p0`) applies and the stack then loads with; the command itself changes no file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from devkit.local_platform import LocalPlatform
from k2infra.model.stack import load_stack_file
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
STACK = "capacitytest"
TOPIC = "market.equities.trades.asx"
WAIT = 90.0  # seconds for the broker and the topic's leaders on a loaded machine
RECORDS, SIZE = 600, 100  # 60,000 bytes in the 10 min window: 100 B/s, over a budget of 20 B/s per partition


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, platform: LocalPlatform) -> Path:
    root = tmp_path_factory.mktemp("capacity-project")
    shutil.copytree(REPO / "config", root / "config")
    topology = root / "config" / "kafka" / "topics.yaml"
    topology.write_text(
        topology.read_text().replace(
            "partition_budget_bytes_per_second: 1048576", "partition_budget_bytes_per_second: 20"
        )
    )
    stack = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    stack["config"]["k2infra:bootstrapServers"] = platform.bootstrap_servers
    (root / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def written(project: Path, platform: LocalPlatform) -> None:
    plan = load_stack_file(project / "config", STACK, project).plan
    spec = plan.topic(TOPIC)
    assert spec is not None
    admin = AdminClient({"bootstrap.servers": platform.bootstrap_servers})
    if TOPIC not in admin.list_topics(timeout=WAIT).topics:
        for future in admin.create_topics([NewTopic(TOPIC, spec.partitions, 1, config=dict(spec.config))]).values():
            future.result(WAIT)

    def led() -> bool:
        topic = admin.list_topics(TOPIC, timeout=10).topics.get(TOPIC)
        return topic is not None and topic.error is None and all(p.leader >= 0 for p in topic.partitions.values())

    wait_for(f"{TOPIC} with leaders", led, WAIT)
    producer = Producer({"bootstrap.servers": platform.bootstrap_servers})
    for i in range(RECORDS):
        producer.produce(TOPIC, key=b"BHP.", value=bytes(SIZE - 4), partition=i % spec.partitions)
    assert producer.flush(WAIT) == 0


def capacity(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # From the project directory: the edit names its files relative to it, as `patch -p0` takes them.
    return subprocess.run(
        [sys.executable, "-m", "k2infra", "capacity", "--stack", STACK, "--window", "10m", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_capacity_recommends_more_partitions_as_an_edit_that_applies(written: None, project: Path) -> None:
    files = {p: p.read_text() for p in (project / f"Pulumi.{STACK}.yaml", project / "config/kafka/topics.yaml")}
    run = capacity(project, "--json")
    assert run.returncode == 1, run.stderr  # an edit is recommended
    report = json.loads(run.stdout)
    trades = next(r for r in report["rows"] if r["topic"] == TOPIC)
    # Ours at least (another module may have written to the shared topic in the window too).
    assert trades["bytes_per_second"] >= RECORDS * SIZE / 600 * 0.99
    assert trades["needed"] >= 5 and trades["recommended"] == max(trades["needed"], 3) > trades["partitions"]
    assert {p: p.read_text() for p in files} == files  # capacity changes nothing

    table = capacity(project)
    assert table.returncode == 1, table.stderr
    assert "Recommended edit" in table.stdout
    assert f"equities-analytics (group equities-analytics): up to {trades['recommended']} consumers on {TOPIC}" in (
        table.stdout
    )
    # git apply: installed wherever the repository is (patch(1) need not be); outside a repository, like patch.
    applied = subprocess.run(
        ["git", "apply", "-p0"], input=report["diff"], capture_output=True, text=True, cwd=project, timeout=WAIT
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    patched = load_stack_file(project / "config", STACK, project).plan.topic(TOPIC)
    assert patched is not None and patched.partitions == trades["recommended"]
