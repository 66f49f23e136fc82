"""Legacy flat topics: adopted as they are, retired only when quiet, or when forced."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from devkit.pulumi_mocks import RecordingMocks, run_program
from k2infra.client.naming import load_plan
from k2infra.deploy import guards
from k2infra.live import retirement as legacy
from k2infra.model.errors import InputError
from k2infra.model.plan import LegacyAction, LegacyTopic
from tests.conftest import set_stack_config

TOPIC = "kafka:index/topic:Topic"


def set_stack(project_dir: Path, lines: str) -> None:
    """`lines` as written in the stack file, e.g. '  k2infra:allowRetire: true\n'."""
    settings = yaml.safe_load(lines)
    set_stack_config(project_dir, "dev", {key.removeprefix("k2infra:"): value for key, value in settings.items()})


def retire_trades(topology: dict) -> None:
    topology["legacy"]["market.trades.raw"].update(state="retire", quiet_since="2026-11-01T00:00:00Z")


def test_legacy_topics_are_ignored_unless_the_stack_manages_them(project_dir: Path) -> None:
    unmanaged = load_plan(project_dir / "config", "dev", project_dir).legacy
    assert {(t.action, t.declared) for t in unmanaged} == {("unmanaged", False)}
    set_stack(project_dir, "  k2infra:legacyTopics: true\n")
    plan = load_plan(project_dir / "config", "dev", project_dir)
    assert [(t.name, t.action, t.partitions) for t in plan.legacy] == [
        ("market.quotes.raw", "adopt", 6),
        ("market.reference_data", "adopt", 1),
        ("market.trades.raw", "adopt", 6),
    ]
    assert next(t for t in plan.legacy if t.name == "market.reference_data").config == {"cleanup.policy": "compact"}
    assert {t.replication_factor for t in plan.legacy} == {1}  # the stack's


def test_retirement_needs_the_stack_to_allow_it(project_dir: Path, edit_topology: Callable) -> None:
    edit_topology(retire_trades)
    set_stack(project_dir, "  k2infra:legacyTopics: true\n")
    plan = load_plan(project_dir / "config", "dev", project_dir)
    trades = next(t for t in plan.legacy if t.name == "market.trades.raw")
    assert (trades.action, trades.declared) == ("retire-blocked", True)
    assert trades.quiet_since == datetime(2026, 11, 1, tzinfo=UTC)
    set_stack(project_dir, "  k2infra:allowRetire: true\n")
    trades = next(
        t for t in load_plan(project_dir / "config", "dev", project_dir).legacy if t.name == "market.trades.raw"
    )
    assert (trades.action, trades.declared) == ("retire", False)


def test_retiring_needs_quiet_since(config_dir: Path, edit_topology: Callable) -> None:
    edit_topology(lambda t: t["legacy"]["market.trades.raw"].update(state="retire"))
    with pytest.raises(InputError) as caught:
        load_plan(config_dir)
    assert "legacy[market.trades.raw].quiet_since: is required to retire a topic" in str(caught.value)


def test_legacy_names_must_be_flat_legal_topics(config_dir: Path, edit_topology: Callable) -> None:
    def bad(topology: dict) -> None:
        topology["legacy"]["market.equities.trades.asx"] = {"state": "adopt", "partitions": 3}
        topology["legacy"]["bad topic!"] = {"state": "adopt", "partitions": 3}

    edit_topology(bad)
    with pytest.raises(InputError) as caught:
        load_plan(config_dir)
    report = str(caught.value)
    assert "legacy[market.equities.trades.asx]: has the shape of a hierarchical topic" in report
    assert "must be a legal Kafka topic name" in report


def test_adopted_topics_are_declared_with_the_topology_description(project_dir: Path) -> None:
    set_stack(project_dir, "  k2infra:legacyTopics: true\n")
    run = run_program(project_dir, "dev")
    declared = {r.name: r.inputs for r in run.mocks.of_type(TOPIC)}
    assert declared["market.trades.raw"]["partitions"] == 6
    assert declared["market.reference_data"]["config"] == {"cleanup.policy": "compact"}
    assert sorted(run.platform.legacy_topics) == ["market.quotes.raw", "market.reference_data", "market.trades.raw"]


def test_a_quiet_topic_is_retired(project_dir: Path, edit_topology: Callable, monkeypatch: pytest.MonkeyPatch) -> None:
    edit_topology(retire_trades)
    set_stack(project_dir, "  k2infra:legacyTopics: true\n  k2infra:allowRetire: true\n")
    monkeypatch.setattr(legacy, "records_since", lambda admin, topics, live, timeout=15.0: {"market.trades.raw": 0})
    run = run_program(project_dir, "dev")
    assert "market.trades.raw" not in {r.name for r in run.mocks.of_type(TOPIC)}
    assert "market.quotes.raw" in {r.name for r in run.mocks.of_type(TOPIC)}


def test_a_topic_still_written_to_is_not_retired(
    project_dir: Path, edit_topology: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit_topology(retire_trades)
    set_stack(project_dir, "  k2infra:legacyTopics: true\n  k2infra:allowRetire: true\n")
    seen: list[dict] = []

    def written(admin: Any, topics: list, live: dict, timeout: float = 15.0) -> dict[str, int]:
        seen.append(admin.config)
        return {"market.trades.raw": 42}

    monkeypatch.setattr(legacy, "records_since", written)
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as caught:
        run_program(project_dir, "dev", mocks=mocks)
    assert "refusing to retire topics that still receive data" in str(caught.value)
    assert "market.trades.raw: 42 records written since 2026-11-01T00:00:00+00:00" in str(caught.value)
    assert seen and seen[0]["bootstrap.servers"] == "127.0.0.1:19092"
    assert not mocks.of_type(TOPIC)


def test_force_retire_skips_the_check(
    project_dir: Path, edit_topology: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit_topology(retire_trades)
    set_stack(project_dir, "  k2infra:legacyTopics: true\n  k2infra:allowRetire: true\n  k2infra:forceRetire: true\n")

    def never(*args: object, **kwargs: object) -> dict[str, int]:
        raise AssertionError("forced retirement must not read the topic")

    monkeypatch.setattr(legacy, "records_since", never)
    run = run_program(project_dir, "dev")
    assert "market.trades.raw" not in {r.name for r in run.mocks.of_type(TOPIC)}


def test_check_retirement_lists_every_busy_topic() -> None:
    quiet = datetime(2026, 11, 1, tzinfo=UTC)
    topics = [LegacyTopic(n, LegacyAction.RETIRE, 6, 1, {}, quiet) for n in ("a.raw", "b.raw", "c.raw")]
    [message] = guards.retirement_refusals(topics, {"a.raw": 3, "b.raw": 0, "c.raw": 1})
    assert "a.raw: 3 records" in message and "c.raw: 1 records" in message and "b.raw" not in message
    assert guards.retirement_refusals(topics, {}) == []
