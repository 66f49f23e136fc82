"""Regions end to end, real processes: the session's platform is the home region, a second platform on
free ports is the region (`tokyo`), MirrorMaker 2 runs on `python -m k2infra mirror-config`'s
properties (tools/mirror/mirrormaker.sh), and both stacks are deployed with the real Pulumi CLI
from one project (the regional stack reads the home's file: `k2infra:mirrorFrom`).

The regional registry reads the home registry's mirrored journal (docs/regions.md), with its storage
read-only. Figures (the failover's duplicate window, how long the copies took) are printed, never
asserted on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from devkit.local_platform import LocalPlatform
from devkit.pulumi_project import PulumiProject, pulumi_env
from examples.producer.records import RecordFactory, instruments
from k2infra.client import Platform, consumer_settings, producer_settings
from tests.conftest import REPO
from tests.e2e.conftest import base_settings, tear_down
from tests.exporter_process import ExporterProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

MIRRORMAKER = REPO / "tools" / "mirror" / "mirrormaker.sh"
TOPIC = "market.crypto.trades.binance"
WAIT = 240.0  # seconds any one wait may take on a loaded 2-core machine (MirrorMaker 2 starts in ~20-60 s)
GROUP_WAIT = 300.0  # a new group is found at MirrorMaker 2's next groups refresh (30 s), then checkpointed


def poll(what: str, check: Callable[[], Any], timeout: float = WAIT, every: float = 1.0) -> Any:
    return wait_for(what, check, timeout, interval=every)


@dataclass
class MirrorMaker:
    properties: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["bash", str(MIRRORMAKER), "run", str(self.properties)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed or committed on the way out."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=60)
        self.process = None


@dataclass
class Regions:
    home: PulumiProject
    tokyo: PulumiProject
    home_platform: Platform
    tokyo_platform: Platform
    tokyo_cluster: LocalPlatform
    mirrormaker: MirrorMaker


def outputs_platform(project: PulumiProject) -> Platform:
    outputs = json.loads(project.run("stack", "output", "--json").stdout)
    path = project.dir / f"outputs.{project.stack}.json"
    path.write_text(json.dumps(outputs))
    return Platform.from_outputs_file(path)


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str, platform) -> Iterator[Regions]:
    started = time.monotonic()
    subprocess.run(["bash", str(MIRRORMAKER), "install"], check=True, capture_output=True, timeout=1800)
    root = tmp_path_factory.mktemp("regions")
    tokyo_cluster = LocalPlatform.start(
        root / "tokyo-platform",
        # The regional registry serves the home's schemas from the mirrored journal and takes no writes.
        extra_env={"K2_REGISTRY_JVM_OPTS": "-Dapicurio.storage.read-only.enabled=true"},
    )
    home = PulumiProject.create(root / "project", "home", root / "backend")
    mirrormaker = MirrorMaker(root / "mm2.properties", root / "mm2.log")
    tokyo: PulumiProject | None = None
    try:
        home.configure({**base_settings(platform), "hardDeleteSubjects": True})
        home.up()
        tokyo = PulumiProject(home.dir, "tokyo", pulumi_env(root / "backend"))
        tokyo.driver.create(select_existing=False)
        tokyo.configure(
            {
                **base_settings(tokyo_cluster),
                "region": "tokyo",
                "mirrorFrom": {"stack": "home", "select": [{"asset_class": "crypto"}]},
            }
        )
        tokyo.up()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "k2infra",
                "mirror-config",
                "--stack",
                "tokyo",
                "--out",
                str(mirrormaker.properties),
            ],
            cwd=home.dir,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        mirrormaker.start()
        regions = Regions(home, tokyo, outputs_platform(home), outputs_platform(tokyo), tokyo_cluster, mirrormaker)
        # Every test reads the region with its registry: it must have replayed the home's whole journal.
        replayed = poll("the regional registry to replay the home's whole journal", lambda: journal_replayed(regions))
        print(f"\nregions: {replayed}")
        print(f"regions: two platforms, two stacks and MirrorMaker 2 ready in {time.monotonic() - started:.0f} s")
        yield regions
    finally:
        mirrormaker.kill()
        try:
            tear_down(home, platform)
        finally:
            tokyo_cluster.stop()


# -- helpers --------------------------------------------------------------------------------------


def produce(platform: Platform, count: int, seed: int, name: str = TOPIC) -> list[dict[str, Any]]:
    """`count` Avro trades keyed by symbol, with the library's settings; returns them with their partition."""
    settings = producer_settings(platform)
    serialize = AvroSerializer(SchemaRegistryClient(settings.schema_registry), conf=settings.serializer)
    producer = Producer(settings.kafka)
    topic = platform.topic(name)
    factory = RecordFactory(seed=seed)
    symbols = instruments(topic.asset_class, topic.exchange)
    sent: list[dict[str, Any]] = []
    errors: list[str] = []

    def report(err, msg) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            sent.append({"key": msg.key().decode(), "partition": msg.partition(), "offset": msg.offset()})

    for i in range(count):
        record = {**factory.record(topic, symbols[i % len(symbols)]), "sequence_number": seed * 1_000_000 + i}
        value = serialize(record, SerializationContext(name, MessageField.VALUE))
        producer.produce(name, key=settings.key_of(name, record), value=value, on_delivery=report)
    assert producer.flush(60) == 0 and not errors, errors
    return sent


def end_offsets(platform: Platform, name: str = TOPIC) -> dict[int, int]:
    """Each live partition's end offset (the live count: the outputs' may predate a raise)."""
    probe = Consumer({"bootstrap.servers": platform.bootstrap_servers, "group.id": "e2e-regions-watermarks"})
    try:
        partitions = probe.list_topics(name, timeout=30).topics[name].partitions
        return {p: probe.get_watermark_offsets(TopicPartition(name, p), timeout=30)[1] for p in sorted(partitions)}
    finally:
        probe.close()


def read_all(platform: Platform, group: str, stop: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """Consume with the library's settings and `platform`'s registry until stop(records); commits as it goes."""
    settings = consumer_settings(platform, group, overrides={"enable.auto.commit": False})
    consumer = Consumer(settings.kafka)
    deserialize = AvroDeserializer(SchemaRegistryClient(settings.schema_registry), conf=settings.deserializer)
    consumer.subscribe([TOPIC])
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT
    try:
        while not stop(got):
            assert time.monotonic() < deadline, f"read {len(got)} records of {TOPIC} from {platform.bootstrap_servers}"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            value = deserialize(msg.value(), SerializationContext(TOPIC, MessageField.VALUE))
            got.append(
                {"key": msg.key().decode(), "partition": msg.partition(), "offset": msg.offset(), "value": value}
            )
            consumer.commit(msg, asynchronous=False)
    finally:
        consumer.close()
    return got


def committed(bootstrap: str, group: str, partitions: int) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(TOPIC, p) for p in range(partitions)])
    future = admin.list_consumer_group_offsets([request])[group]
    try:
        answer = future.result(timeout=30)
    except Exception:  # the group does not exist yet on this cluster
        return {}
    return {tp.partition: tp.offset for tp in answer.topic_partitions if tp.offset >= 0}


def copies_of(regions: Regions, sent: list[dict[str, Any]]) -> dict[tuple[int, int], dict[str, Any]]:
    """The region's records at the (partition, offset) of each record `sent` at home, read with a new group."""
    wanted = {(s["partition"], s["offset"]) for s in sent}
    got = read_all(
        regions.tokyo_platform,
        f"e2e-regions-{uuid.uuid4().hex[:8]}",
        lambda records: wanted <= {(r["partition"], r["offset"]) for r in records},
    )
    return {(r["partition"], r["offset"]): r for r in got}


JOURNAL = "k2-registry-journal"
JOURNAL_GROUPS = "k2-registry-"  # each registry start replays the journal in a group of its own (tools/platform.sh)


def _journal_end(consumer: Consumer) -> int:
    partitions = consumer.list_topics(JOURNAL, timeout=30).topics[JOURNAL].partitions
    assert list(partitions) == [0], f"{JOURNAL} has partitions {sorted(partitions)}; kafkasql needs exactly one"
    return consumer.get_watermark_offsets(TopicPartition(JOURNAL, 0), timeout=30)[1]


def _records(consumer: Consumer, start: int, end: int) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    consumer.assign([TopicPartition(JOURNAL, 0, start)])
    offset = start
    deadline = time.monotonic() + WAIT
    while offset < end:
        assert time.monotonic() < deadline, f"read {JOURNAL} to {offset} of {end}"
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        offset = msg.offset() + 1
        yield msg.offset(), msg.key(), msg.value()


def journal_replayed(regions: Regions) -> str | None:
    """Why the regional registry has applied every record of the home's journal, or None while it has not.

    Comparing the two registries' answers is not enough: the session's journal holds earlier tests'
    subjects created and deleted under the same names and, for the same schema, the same ID, so the
    region can answer like the home half-way through its replay and then replay an old delete."""
    home, tokyo = regions.home_platform.bootstrap_servers, regions.tokyo_platform.bootstrap_servers
    with_home = Consumer({"bootstrap.servers": home, "group.id": "e2e-regions-journal", "enable.auto.commit": False})
    with_tokyo = Consumer({"bootstrap.servers": tokyo, "group.id": "e2e-regions-journal", "enable.auto.commit": False})
    try:
        end = _journal_end(with_home)
        [(_, key, value)] = list(_records(with_home, end - 1, end))  # the home's newest record
        # Its copy, found from the end: the region's journal also holds its own registry's start records.
        copy_end = _journal_end(with_tokyo)
        copies = [o for o, k, v in _records(with_tokyo, 0, copy_end) if (k, v) == (key, value)]
    finally:
        with_home.close()
        with_tokyo.close()
    if not copies:
        return None  # not mirrored yet
    admin = AdminClient({"bootstrap.servers": tokyo})
    groups = [g.group_id for g in admin.list_consumer_groups().result(timeout=30).valid]
    read = [
        tp.offset
        for g in groups
        if g.startswith(JOURNAL_GROUPS)
        for tp in admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g]
        .result(timeout=30)
        .topic_partitions
        if tp.topic == JOURNAL
    ]
    applied = max(read, default=-1)
    if applied <= copies[-1]:
        return None
    return f"home journal's newest record (offset {end - 1}) is at {copies[-1]} in the region, applied to {applied}"


def mirrored(regions: Regions) -> bool:
    """Every record of the topic at home is in the region (same partition, same offsets)."""
    return end_offsets(regions.home_platform) == end_offsets(regions.tokyo_platform)


# -- the tests --------------------------------------------------------------------------------------


def test_the_region_serves_the_homes_schema_ids_and_refuses_registrations(regions: Regions) -> None:
    home_url = regions.home_platform.schema_registry_url
    tokyo_url = regions.tokyo_platform.schema_registry_url
    subjects = sorted({t.schema_subject for t in regions.tokyo_platform.topics.values()})
    assert subjects == [
        "market.crypto.quotes-value",
        "market.crypto.reference_data-value",
        "market.crypto.trades-value",
    ]

    def ids(url: str) -> dict[str, int] | None:
        out = {}
        for subject in subjects:
            answer = requests.get(f"{url}/subjects/{subject}/versions/latest", timeout=30)
            if answer.status_code != 200:
                return None
            out[subject] = answer.json()["id"]
        return out

    home_ids = ids(home_url)
    assert home_ids is not None
    tokyo_ids = ids(tokyo_url)
    assert tokyo_ids == home_ids
    refused = requests.post(
        f"{tokyo_url}/subjects/market.crypto.extra-value/versions",
        json={"schema": json.dumps({"type": "record", "name": "x", "fields": []})},
        timeout=30,
    )
    assert refused.status_code >= 400, refused.text


def test_records_keyed_by_symbol_at_home_are_read_in_the_region_in_the_same_partition(regions: Regions) -> None:
    started = time.monotonic()
    sent = produce(regions.home_platform, 200, seed=1)
    poll("MirrorMaker 2 to copy the records into the region", lambda: mirrored(regions))
    print(f"\nregions: 200 records at home readable in the region after {time.monotonic() - started:.1f} s")
    by_position = copies_of(regions, sent)
    for s in sent:
        copy = by_position[(s["partition"], s["offset"])]
        assert copy["key"] == s["key"] and copy["value"]["symbol"] == s["key"]
    partitions_of: dict[str, set[int]] = {}
    for r in by_position.values():
        partitions_of.setdefault(r["key"], set()).add(r["partition"])
    assert all(len(p) == 1 for p in partitions_of.values()), partitions_of


def test_a_group_fails_over_to_the_region_at_its_translated_offset_skipping_nothing(regions: Regions) -> None:
    group = f"crypto-risk.failover-{uuid.uuid4().hex[:8]}"  # crypto-risk's group_prefix: MirrorMaker 2 syncs it
    sent = produce(regions.home_platform, 300, seed=2)
    total = sum(end_offsets(regions.home_platform).values())
    poll("MirrorMaker 2 to copy the records into the region", lambda: mirrored(regions))
    # At home: read about half of what the topic holds, committing each record, then stop.
    half = total // 2
    read_home = read_all(regions.home_platform, group, lambda records: len(records) >= half)
    partitions = regions.home_platform.topic(TOPIC).partitions
    home_committed = committed(regions.home_platform.bootstrap_servers, group, partitions)
    started = time.monotonic()
    translated = poll(
        "MirrorMaker 2 to sync the group's offsets into the region",
        lambda: (
            (c := committed(regions.tokyo_platform.bootstrap_servers, group, partitions))
            and set(c) == set(home_committed)
            and c
        ),
        timeout=GROUP_WAIT,
    )
    print(f"\nregions: the group's offsets reached the region {time.monotonic() - started:.0f} s after it stopped")
    window = {p: home_committed[p] - translated[p] for p in home_committed}
    assert all(w >= 0 for w in window.values()), (home_committed, translated)  # never ahead: nothing skipped
    # In the region: the same group resumes from the translated offsets and reads to the end.
    ends = end_offsets(regions.tokyo_platform)
    read_tokyo = read_all(regions.tokyo_platform, group, _past(ends, translated))
    first: dict[int, int] = {}
    for r in read_tokyo:
        first.setdefault(r["partition"], r["offset"])
    # where the group never committed at home, it starts in the region where it would have at home: the earliest
    assert all(first[p] == translated.get(p, 0) for p in first), (first, translated)
    at_home = {(r["partition"], r["offset"]) for r in read_home}
    in_region = {(r["partition"], r["offset"]) for r in read_tokyo}
    everything = {(p, o) for p, end in ends.items() for o in range(end)}  # the group started at the earliest
    assert everything <= at_home | in_region, sorted(everything - at_home - in_region)[:10]  # nothing skipped
    print(
        f"regions: failover duplicate window {sum(window.values())} records over {len(window)} partitions "
        f"(per partition {sorted(window.values())}); read twice: {len(at_home & in_region)} of "
        f"{len(everything)} ({len(sent)} produced by this test)"
    )


def _past(ends: dict[int, int], start: dict[int, int]) -> Callable[[list[dict[str, Any]]], bool]:
    """stop() once every partition with records after `start` has been read to its end."""

    def done(records: list[dict[str, Any]]) -> bool:
        last: dict[int, int] = {}
        for r in records:
            last[r["partition"]] = max(last.get(r["partition"], -1), r["offset"])
        return all(last.get(p, -1) >= end - 1 for p, end in ends.items() if end > start.get(p, 0))

    return done


def test_a_declared_cycle_is_refused_at_preview_naming_both_ends(regions: Regions) -> None:
    regions.home.configure({"mirrorFrom": {"stack": "tokyo", "select": [{"asset_class": "crypto"}]}})
    try:
        refused = regions.home.preview(check=False)
    finally:
        regions.home.configure({"mirrorFrom": None})
    assert "is produced in this region (primary, its home: " in refused.raw
    assert "stack tokyo mirrors it from stack home (Pulumi.tokyo.yaml:" in refused.raw
    assert "mirroring it into its home region would make a cycle" in refused.raw


def test_a_raise_goes_to_the_region_first_and_each_symbol_keeps_its_partition_in_both_clusters(
    regions: Regions,
) -> None:
    regions.home.configure({"partitions": {"equities.asx": 3, "crypto.binance": 8}})
    refused = regions.home.preview(check=False)
    assert "Run `pulumi up --stack tokyo` first" in refused.messages, refused.raw
    assert f"{TOPIC}: 4 -> 8 partitions; stack tokyo (region tokyo) mirrors it with 4" in refused.messages
    regions.tokyo.up()  # the regional plan reads the home's stack file: 8 partitions
    regions.home.up()
    started = time.monotonic()
    sent = produce(regions.home_platform, 200, seed=4)
    # a symbol now hashes to one of the new partitions at home (murmur2 of the shipped symbols over 8)
    assert any(s["partition"] >= 4 for s in sent), sorted({s["partition"] for s in sent})
    poll("MirrorMaker 2 to copy the records of the new partitions", lambda: mirrored(regions))
    print(f"\nregions: after the raise, the new partitions copied {time.monotonic() - started:.0f} s after producing")
    by_position = copies_of(regions, sent)
    partitions_of: dict[str, set[int]] = {}
    for s in sent:
        assert by_position[(s["partition"], s["offset"])]["key"] == s["key"]
        partitions_of.setdefault(s["key"], set()).add(s["partition"])
    assert all(len(p) == 1 for p in partitions_of.values()), partitions_of


def test_mirrormaker_killed_and_restarted_loses_nothing(regions: Regions) -> None:
    poll("MirrorMaker 2 to be in step before the kill", lambda: mirrored(regions))
    regions.mirrormaker.kill()
    produce(regions.home_platform, 150, seed=3)
    assert not mirrored(regions)  # written while MirrorMaker 2 was down
    started = time.monotonic()
    regions.mirrormaker.start()
    home_ends = end_offsets(regions.home_platform)
    poll(
        "the restarted MirrorMaker 2 to copy what was written while it was down",
        lambda: all(end >= home_ends[p] for p, end in end_offsets(regions.tokyo_platform).items()),
    )
    print(f"\nregions: after a SIGKILL and restart, caught up {time.monotonic() - started:.0f} s after the start")
    home = read_all(regions.home_platform, f"e2e-regions-{uuid.uuid4().hex[:8]}", _to_end(regions.home_platform))
    tokyo = read_all(regions.tokyo_platform, f"e2e-regions-{uuid.uuid4().hex[:8]}", _to_end(regions.tokyo_platform))
    assert _identity(home) <= _identity(tokyo)  # nothing lost, each record in its home partition
    # At least once: what MirrorMaker 2 had copied since its last offset commit is copied again.
    print(f"regions: copied again after the crash: {len(tokyo) - len(home)} of {len(home)} records")


def test_verify_of_the_region_lists_each_copys_lag_and_flags_a_config_that_differs_from_its_source(
    regions: Regions,
) -> None:
    in_step = poll("verify --stack tokyo to find the copy in step", lambda: _copy_in_step(regions))
    assert in_step["ok"], in_step["differences"]
    regions.mirrormaker.kill()
    retention: str | None = None
    try:
        produce(regions.home_platform, 50, seed=5)
        code, report = verify_region(regions)
        assert code == 0, report  # a lag is listed, it is no drift
        row = _copy(report)
        assert row["lag_records"] == 50, row
        assert row["lag_seconds"] > 0, row
        print(f"\nregions: verify with MirrorMaker 2 down: {row['lag_records']} records, {row['lag_seconds']} s behind")
        # The regional stack's exporter serves the same lag, labelled by exchange and region.
        running = ExporterProcess(regions.home.dir, "tokyo", regions.home.dir / "exporter-tokyo.log")
        try:
            series = poll("the tokyo exporter's k2_mirror_lag_records of the copy", lambda: _mirror_lag(running))
        finally:
            running.stop(timeout=60)
        assert series.value == 50, series
        assert series.labels == {
            "asset_class": "crypto",
            "data_type": "trades",
            "exchange": "binance",
            "region": "tokyo",
            "source_stack": "home",
        }
        # The source changed behind the region's back (a home `pulumi up` the region has not followed).
        retention = set_retention(regions.home_platform, "3600000")
        code, report = verify_region(regions)
        assert code == 1, report
        [difference] = [d for d in report["differences"] if d["kind"] == "mirror_config"]
        assert (difference["name"], difference["key"], difference["expected"]) == (TOPIC, "retention.ms", "3600000")
    finally:
        if retention is not None:
            set_retention(regions.home_platform, retention)
        regions.mirrormaker.start()
    poll("verify --stack tokyo to find the copy caught up after the restart", lambda: _copy_in_step(regions))


def test_an_exchange_added_to_a_mirrored_asset_class_is_copied_after_both_ups_without_restarting_mirrormaker(
    regions: Regions,
) -> None:
    new = "market.crypto.trades.kraken"
    assert regions.mirrormaker.process is not None
    running = regions.mirrormaker.process.pid
    regions.home.edit_topology(
        lambda topology: topology["asset_classes"]["crypto"]["exchanges"].update(
            {"kraken": {"name": "Kraken", "partitions": 2, "timezone": "UTC"}}
        )
    )
    # The region first, as for a raise: a copy MirrorMaker 2 would otherwise create itself, unmanaged.
    regions.tokyo.up()
    regions.home.up()
    home, tokyo = outputs_platform(regions.home), outputs_platform(regions.tokyo)
    assert tokyo.topic(new).partitions == home.topic(new).partitions == 2
    produce(home, 40, seed=6, name=new)
    started = time.monotonic()
    ends = end_offsets(home, new)
    poll(
        "MirrorMaker 2 to copy the new exchange's records (its `market.crypto.` pattern covers it)",
        lambda: end_offsets(tokyo, new) == ends,
    )
    print(f"\nregions: a new exchange's records copied {time.monotonic() - started:.0f} s after producing")
    assert regions.mirrormaker.process is not None and regions.mirrormaker.process.pid == running
    assert regions.mirrormaker.process.poll() is None  # the same MirrorMaker 2, never restarted


def _mirror_lag(running: ExporterProcess) -> Any:
    samples = running.scrape() or {}
    up = [s.value for s in samples.get("k2_mirror_source_up", [])]
    copy = [s for s in samples.get("k2_mirror_lag_records", []) if s.labels.get("exchange") == "binance"]
    return next((s for s in copy if s.labels["data_type"] == "trades"), None) if up == [1.0] else None


def verify_region(regions: Regions) -> tuple[int, dict[str, Any]]:
    """`python -m k2infra verify --stack tokyo --json` as an operator runs it in the project."""
    done = subprocess.run(
        [
            sys.executable, "-m", "k2infra", "verify", "--stack", "tokyo", "--json",
            "--project-dir", str(regions.home.dir), "--config-dir", str(regions.home.dir / "config"),
        ],
        cwd=regions.home.dir, env={**os.environ, **regions.tokyo.env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode in (0, 1), f"verify exited {done.returncode}: {done.stderr}"
    return done.returncode, json.loads(done.stdout)


def _copy(report: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in report["mirror"]["topics"] if t["name"] == TOPIC)


@dataclass
class _Behind:
    """verify's answer while the copy is not in step: falsy for poll, shown when the wait fails."""

    code: int
    copy: dict[str, Any]
    differences: list[dict[str, Any]]

    def __bool__(self) -> bool:
        return False


def _copy_in_step(regions: Regions) -> dict[str, Any] | _Behind:
    code, report = verify_region(regions)
    in_step = code == 0 and _copy(report)["lag_records"] == 0
    return report if in_step else _Behind(code, _copy(report), report["differences"])


def set_retention(platform: Platform, value: str) -> str:
    """Set the topic's retention.ms with a raw admin client; the value it had is returned."""
    admin = AdminClient({"bootstrap.servers": platform.bootstrap_servers})
    [described] = admin.describe_configs([ConfigResource("TOPIC", TOPIC)]).values()
    before = described.result(timeout=60)["retention.ms"].value
    entry = ConfigEntry("retention.ms", value, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource("TOPIC", TOPIC, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=60)
    return before


def _identity(records: list[dict[str, Any]]) -> set[tuple[int, str, int]]:
    return {(r["partition"], r["key"], r["value"]["sequence_number"]) for r in records}


def _to_end(platform: Platform) -> Callable[[list[dict[str, Any]]], bool]:
    ends = end_offsets(platform)
    return lambda records: len(records) >= sum(ends.values())
