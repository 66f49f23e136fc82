"""The monitoring read at scale (`python -m bench --only observe`): one exporter read of 600 and 3,000
topics with 20 consumer groups, time and peak RSS, against the floor of the same requests batched
(Metadata, ListOffsets earliest and latest of every partition, ListGroups, DescribeGroups and
OffsetFetch of the 20 groups, sent together); and the `lag` command of the shipped topology.

The synthetic topology of bench.topologies, with 17 consumer apps added to apps.yaml beside the
shipped three (20 groups: crypto-risk's prefix counts one, crypto-risk.book1), each group committed
at offset 0 of every partition it reads; one record in partition 0 of every 10th topic, so the read
also peeks records (the first not consumed, the newest). Each measurement is its own process
(bench.measure: wall time, peak RSS of that process). Targets (issue 21): a read of 3,000 topics and
20 groups under 2 s, RSS under 150 MB; `lag` of the shipped topology under 1 s.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec

from bench import floor, topologies
from bench.measure import run_measured
from bench.topologies import REPO

SIZES = (600, 3000)
EXTRA_APPS = 17  # + equities-analytics, crypto-risk.book1, reference-data-cache = 20 groups
TIMEOUT = 600.0


def _apps(config: Path) -> list[str]:
    """Add the bench's consumer apps to apps.yaml; every group of the 20."""
    path = config / "kafka" / "apps.yaml"
    data = yaml.safe_load(path.read_text())
    asset_classes = list(yaml.safe_load((config / "kafka" / "topics.yaml").read_text())["asset_classes"])
    for i in range(EXTRA_APPS):
        data["apps"][f"bench-consumer-{i:02d}"] = {
            "consumes": [{"asset_class": asset_classes[i % len(asset_classes)]}],
            "group": f"bench-consumer-{i:02d}",
        }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return ["equities-analytics", "crypto-risk.book1", "reference-data-cache"] + [
        f"bench-consumer-{i:02d}" for i in range(EXTRA_APPS)
    ]


def _project(work: Path, name: str, servers: str, registry: str, topology: Any | None) -> Path:
    project = work / name
    project.mkdir()
    shutil.copy(REPO / "Pulumi.yaml", project / "Pulumi.yaml")
    if topology is None:
        shutil.copytree(REPO / "config", project / "config")
    else:
        topologies.write_config(topology, project / "config")
    topologies.write_stack_file(project, topologies.stack_settings(servers, registry))
    return project


def _prepare(project: Path, servers: str, groups: list[str]) -> list[str]:
    """Create the stack's topics, commit every group at 0 and write the records; the topic names."""
    from k2infra.model.stack import load_stack_file
    from k2infra.observe.declaration import Watched

    plan = load_stack_file(project / "config", topologies.STACK, project).plan
    admin = floor.admin_client(servers)
    wanted = [floor.TopicWanted(t.name, t.partitions, 1, {}) for t in plan.topics]
    there = set(floor.existing(admin, [w.name for w in wanted]))  # one Metadata request, not one per topic
    floor.create(admin, [t for t in wanted if t.name not in there], TIMEOUT)
    watched = Watched.load(project / "config", plan)
    for app in watched.consumers():
        group = "crypto-risk.book1" if app.group == "crypto-risk." else app.group
        assert group in groups
        offsets = [TopicPartition(t.name, p, 0) for t in watched.reads(app) for p in range(t.partitions)]
        admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, offsets)])[group].result()
    producer = Producer({"bootstrap.servers": servers})
    for topic in plan.topics[::10]:
        producer.produce(topic.name, value=bytes(100), partition=0)
    producer.flush(TIMEOUT)
    return [t.name for t in plan.topics]


def _measure(argv: list[str]) -> dict[str, Any]:
    run = run_measured([sys.executable, *argv], cwd=REPO, timeout=TIMEOUT)
    if not run.ok and run.returncode != 1:  # lag exits 1 when an objective is breached: still a read
        raise RuntimeError(run.failure())
    inner = json.loads(run.stdout.strip().splitlines()[-1]) if run.stdout.strip().startswith("{") else {}
    cpu = round(run.cpu_seconds or 0.0, 3)
    return {
        "process_seconds": round(run.seconds, 3),
        "cpu_seconds": cpu,
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        **inner,
    }


def run(sizes: tuple[int, ...] = SIZES, out: Any = print) -> dict[str, Any]:
    from devkit.local_platform import LocalPlatform

    results: dict[str, Any] = {"sizes": {}}
    with tempfile.TemporaryDirectory(prefix="k2bench-observe-") as tmp:
        work = Path(tmp)
        platform = LocalPlatform.from_env() or LocalPlatform.start(work / "platform")
        created: list[str] = []
        try:
            servers, registry = platform.bootstrap_servers, platform.schema_registry_url
            # The lag command first, on a cluster that holds only the shipped topology's topics and groups.
            shipped = _project(work, "observe-shipped", servers, registry, None)
            created += _prepare(shipped, servers, _apps_shipped())
            argv = ["-m", "k2infra", "lag", "--stack", topologies.STACK, "--project-dir", str(shipped)]
            results["lag_cli"] = [_measure(argv) for _ in range(3)]
            out(f"observe: lag of the shipped topology: {results['lag_cli']}")
            for size in sizes:
                project = _project(work, f"observe-{size}", servers, registry, topologies.synthetic_topology(size))
                groups = _apps(project / "config")
                out(f"observe: {size} topics, {len(groups)} groups: creating and committing")
                created += _prepare(project, servers, groups)
                read = [_measure(["-m", "bench.observe", "read", str(project)]) for _ in range(3)]
                low = [_measure(["-m", "bench.observe", "floor", str(project), *groups]) for _ in range(3)]
                results["sizes"][size] = {"read": read, "floor": low}
                out(f"observe: {size} topics: read {read}, floor {low}")
        finally:
            floor.remove(floor.admin_client(platform.bootstrap_servers), sorted(set(created)), TIMEOUT)
            platform.stop()
    return results


def _apps_shipped() -> list[str]:
    return ["equities-analytics", "crypto-risk.book1", "reference-data-cache"]


def _read(project: Path) -> dict[str, Any]:
    """One exporter read (Exporter.read_once: lag and feeds, one admin), in this process."""
    from k2infra.model.stack import load_stack_file
    from k2infra.observe.declaration import Watched
    from k2infra.observe.exporter import Exporter

    spent = _time_admin_calls()
    stack = load_stack_file(project / "config", topologies.STACK, project)
    watched = Watched.load(project / "config", stack.plan)
    exporter = Exporter(stack.connections.kafka, watched, timeout=60, log=lambda line: print(line, file=sys.stderr))
    cpu = time.process_time()
    snapshot = exporter.read_once()
    cpu = time.process_time() - cpu
    if not snapshot.up:
        raise SystemExit(f"the read failed: {snapshot.reason}")
    calls = {name: round(seconds, 3) for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1])}
    return {
        "read_seconds": round(snapshot.read_seconds, 3),
        "read_cpu_seconds": round(cpu, 3),  # this process's CPU in the read (librdkafka's threads included)
        "rows": len(snapshot.rows),
        "feeds": len(snapshot.feeds),
        "admin_seconds": calls,  # where the time goes (nested calls count in both: offsets within record_timestamps)
    }


def _time_admin_calls() -> dict[str, float]:
    """Wrap KafkaAdmin's reads to sum the seconds spent in each, in this process."""
    import functools

    from k2infra.live.admin import KafkaAdmin

    spent: dict[str, float] = {}
    for name in ("cluster", "consumer_groups", "committed_offsets", "describe_groups", "offsets", "record_timestamps"):
        method = getattr(KafkaAdmin, name)

        def timed(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent[_name] = spent.get(_name, 0.0) + time.perf_counter() - start

        setattr(KafkaAdmin, name, functools.wraps(method)(timed))
    return spent


def _floor(project: Path, groups: list[str]) -> dict[str, Any]:
    """The same requests, batched and sent together: the least a read of this cluster costs."""
    from k2infra.model.stack import load_stack_file

    stack = load_stack_file(project / "config", topologies.STACK, project)
    admin = floor.admin_client(stack.connections.kafka.servers)
    start = time.perf_counter()
    metadata = admin.list_topics(timeout=60)
    keys = [TopicPartition(t.name, p) for t in stack.plan.topics for p in metadata.topics[t.name].partitions]
    futures = [
        *admin.list_offsets({k: OffsetSpec.earliest() for k in keys}, request_timeout=60).values(),
        *admin.list_offsets({k: OffsetSpec.latest() for k in keys}, request_timeout=60).values(),
        admin.list_consumer_groups(request_timeout=60),
        *admin.describe_consumer_groups(groups, request_timeout=60).values(),
        *(admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g] for g in groups),
    ]
    for future in futures:
        future.result()
    return {"floor_seconds": round(time.perf_counter() - start, 3), "partitions": len(keys)}


if __name__ == "__main__":
    what, project = sys.argv[1], Path(sys.argv[2])
    print(json.dumps(_read(project) if what == "read" else _floor(project, sys.argv[3:])))
