"""verify of a regional stack: each copy against its source as the source cluster holds it
(k2infra.live.verify's comparison, pure; the reading is k2infra.live.mirror, end to end in
tests/e2e/test_regions.py)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

from k2infra.live.cluster import LiveState, LiveSubject, LiveTopic
from k2infra.live.mirror import MirrorLive, SourceTopic, read_mirror
from k2infra.live.verify import Kind, compare, render_table
from k2infra.model.stack import Stack, load_stack_file
from tests.unit.test_regions import TOKYO, write_stack

TRADES = "market.crypto.trades.binance"


def tokyo(project_dir: Path) -> Stack:
    """The region `tokyo` mirroring the shipped prod stack's crypto topics and ASX trades."""
    write_stack(project_dir, "tokyo", TOKYO | {"mirrorFrom": TOKYO["mirrorFrom"] | {"stack": "prod"}})
    return load_stack_file(project_dir / "config", "tokyo", project_dir)


def _partitions(stack: Stack) -> int:
    topic = stack.plan.topic(TRADES)
    assert topic is not None
    return topic.partitions


def live_copies(stack: Stack, **changes: dict[str, object]) -> LiveState:
    """The region's cluster holding every copy as planned, `changes` (topic -> fields) aside."""
    topics = {}
    for t in stack.plan.topics:
        fields: dict[str, object] = {
            "name": t.name,
            "partitions": t.partitions,
            "replication_factor": t.replication_factor,
            "under_replicated": 0,
            "end_offsets": 0,
            "config": dict(t.config),
        }
        fields.update(changes.get(t.name, {}))
        topics[t.name] = LiveTopic(**fields)  # type: ignore[arg-type]
    return LiveState(topics, {})


def sources(stack: Stack, **changes: dict[str, object]) -> MirrorLive:
    """The source cluster holding each copy's source as planned (no lag), `changes` aside."""
    assert stack.plan.mirror is not None
    topics = {}
    for t in stack.plan.topics:
        config = {k: v for k, v in t.config.items() if k != "min.insync.replicas"}
        fields: dict[str, object] = {
            "name": t.name,
            "partitions": t.partitions,
            "config": config,
            "lag_records": 0,
            "lag_seconds": 0.0,
        }
        fields.update(changes.get(t.name, {}))
        topics[t.name] = SourceTopic(**fields)  # type: ignore[arg-type]
    return MirrorLive("prod", "broker-1:9093", topics)


def test_copies_in_step_with_their_sources_are_no_drift_and_their_lag_is_listed(project_dir: Path) -> None:
    stack = tokyo(project_dir)
    mirror = sources(stack, **{TRADES: {"lag_records": 120, "lag_seconds": 4.25}})
    report = compare(stack.plan, live_copies(stack), mirror=mirror)
    assert report.ok, report.differences
    [row] = [r for r in report.mirror.topics if r.name == TRADES]  # type: ignore[union-attr]
    planned = _partitions(stack)
    assert (row.lag_records, row.lag_seconds, row.partitions, row.source_partitions) == (120, 4.25, planned, planned)
    document = report.to_dict()["mirror"]
    assert document["source_stack"] == "prod"
    assert {"name": TRADES, "source_partitions": planned, "partitions": planned, "lag_records": 120,
            "lag_seconds": 4.25, "differences": []} in document["topics"]  # fmt: skip
    out = io.StringIO()
    render_table(report, out)
    assert "mirrored from stack prod (broker-1:9093):" in out.getvalue()
    assert next(line for line in out.getvalue().splitlines() if line.startswith(TRADES + " ") and "120" in line)


def test_a_copy_with_fewer_partitions_than_its_source_is_drift_naming_the_partitions_not_copied(
    project_dir: Path,
) -> None:
    stack = tokyo(project_dir)
    planned = _partitions(stack)  # the home raised without the region: MirrorMaker 2 has nowhere to write
    report = compare(stack.plan, live_copies(stack), mirror=sources(stack, **{TRADES: {"partitions": planned + 8}}))
    [difference] = report.differences
    assert (difference.kind, difference.name, difference.expected, difference.actual) == (
        Kind.MIRROR_PARTITIONS,
        TRADES,
        planned + 8,
        planned,
    )
    assert difference.describe() == (
        f"partitions: source {planned + 8}, region {planned} (the records of partitions {planned}-{planned + 7} "
        "cannot be copied: `pulumi up` this stack)"
    )
    assert report.summary() == "verify: 1 difference: 1 copy's partition count"


def test_a_copy_ahead_of_its_source_says_the_home_stack_is_not_raised_yet(project_dir: Path) -> None:
    stack = tokyo(project_dir)
    raised = {TRADES: {"partitions": _partitions(stack) + 8}}  # the region goes first (the raise order)
    report = compare(stack.plan, live_copies(stack, **raised), mirror=sources(stack))
    kinds = {(d.kind, d.name) for d in report.differences}
    assert (Kind.MIRROR_PARTITIONS, TRADES) in kinds and (Kind.PARTITIONS, TRADES) in kinds
    [mirrored] = [d for d in report.differences if d.kind is Kind.MIRROR_PARTITIONS]
    assert "stack prod has not been raised to it yet" in mirrored.describe()


def test_a_config_that_differs_from_the_source_is_drift_but_the_regions_own_min_isr_is_not(project_dir: Path) -> None:
    stack = tokyo(project_dir)
    source_config = dict(sources(stack).topics[TRADES].config)
    mirror = sources(
        stack, **{TRADES: {"config": {**source_config, "retention.ms": "1000", "min.insync.replicas": "2"}}}
    )
    report = compare(stack.plan, live_copies(stack), mirror=mirror)
    [difference] = report.differences
    assert (difference.kind, difference.key) == (Kind.MIRROR_CONFIG, "retention.ms")
    assert difference.describe().startswith("retention.ms: source 1000, region ")


def test_a_copy_whose_source_topic_is_gone_is_drift(project_dir: Path) -> None:
    stack = tokyo(project_dir)
    mirror = sources(stack, **{TRADES: {"partitions": None, "config": {}, "lag_records": None, "lag_seconds": None}})
    report = compare(stack.plan, live_copies(stack), mirror=mirror)
    [difference] = report.differences
    assert difference.kind is Kind.MIRROR_SOURCE_MISSING
    assert difference.describe() == "not on stack prod's cluster: nothing to copy"
    assert json.loads(json.dumps(report.to_dict()))["mirror"]["topics"]


def test_a_home_stack_has_no_mirror_section(project_dir: Path) -> None:
    home = load_stack_file(project_dir / "config", "prod", project_dir)
    assert read_mirror(home, {}, timeout=1) is None
    assert "mirror" not in compare(home.plan, LiveState({}, {})).to_dict()


def test_a_sasl_source_without_its_password_is_a_note_not_a_failure(project_dir: Path) -> None:
    stack = tokyo(project_dir)  # prod's cluster is SASL_SSL; the CLI had no K2_MIRROR_SOURCE_PASSWORD
    assert stack.mirror_source is not None and stack.mirror_source.kafka.sasl_mechanism
    mirror = read_mirror(stack, {t.name: () for t in stack.plan.topics}, timeout=1)
    assert mirror is not None and mirror.topics == {}
    assert mirror.note == (
        "the copies were not compared with their sources: stack prod's cluster (kafka-0.prod.k2.internal:9093,"
        "kafka-1.prod.k2.internal:9093,kafka-2.prod.k2.internal:9093) needs its SASL password in K2_MIRROR_SOURCE_PASSWORD (the one MirrorMaker 2 is given)"
    )
    report = compare(stack.plan, live_copies(stack), mirror=mirror)
    assert report.ok
    out = io.StringIO()
    render_table(report, out)
    assert f"note: {mirror.note}" in out.getvalue()


def test_the_homes_subjects_in_the_regions_registry_are_not_extra(project_dir: Path) -> None:
    stack = tokyo(project_dir)
    assert stack.plan.mirror is not None and stack.plan.subjects == ()
    subjects = {name: LiveSubject(name, 1, 7) for name in stack.plan.mirror.subjects}
    # the regional registry replays the home's whole journal: subjects of topics this region does not copy too
    subjects["market.equities.quotes-value"] = LiveSubject("market.equities.quotes-value", 1, 9)
    live = replace(live_copies(stack), subjects=subjects)
    assert compare(stack.plan, live, mirror=sources(stack)).ok
    home = load_stack_file(project_dir / "config", "prod", project_dir)
    extra = compare(home.plan, LiveState({}, {"market.crypto.orders-value": LiveSubject("market.crypto.orders-value")}))
    assert (Kind.SUBJECT_EXTRA, "market.crypto.orders-value") in [(d.kind, d.name) for d in extra.differences]


def test_a_mirrored_subject_whose_id_differs_or_is_missing_in_the_region_is_drift(project_dir: Path) -> None:
    stack = tokyo(project_dir)
    assert stack.plan.mirror is not None
    names = stack.plan.mirror.subjects
    at_source = {name: LiveSubject(name, 2, 10 + i, version_ids={2: 10 + i}) for i, name in enumerate(names)}
    in_region = dict(at_source)
    in_region[names[0]] = LiveSubject(names[0], 2, 99, version_ids={2: 99})  # another journal's ID
    del in_region[names[1]]
    live = replace(live_copies(stack), subjects=in_region)
    report = compare(stack.plan, live, mirror=replace(sources(stack), subjects=at_source))
    assert [(d.kind, d.name, d.expected, d.actual) for d in report.differences] == [
        (Kind.MIRROR_SCHEMA_ID, names[0], 10, 99),
        (Kind.MIRROR_SCHEMA_ID, names[1], 11, None),
    ]
    assert report.differences[0].describe() == (
        "version 2 has schema ID 10 at the source, 99 in the region's registry: the copies' records would not "
        "decode there"
    )
    assert "is not in the region's registry" in report.differences[1].describe()
    assert report.summary() == "verify: 2 differences: 2 mirrored schema IDs"
    same = compare(stack.plan, replace(live, subjects=at_source), mirror=replace(sources(stack), subjects=at_source))
    assert same.ok and [s["schema_id"] for s in same.to_dict()["mirror"]["subjects"]] == [
        10 + i for i in range(len(names))
    ]
