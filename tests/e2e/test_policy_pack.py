"""The policy pack through the real Pulumi CLI: `pulumi preview --policy-pack policy`.

A prod-like stack that breaks the rules fails the preview (MANDATORY, the pack's default); the
same stack with policy/config/dev.json only warns (ADVISORY, relaxed thresholds); the real dev
stack with dev.json and a prod-like stack (RF 3, ISR 2) pass clean. Preview creates no topic, so
RF 3 previews fine against the one-broker local platform; the program's getTopics invoke and the
Schema Registry subjects' preview checks do need it reachable, hence the platform fixture.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.policy_support import (
    DEV_POLICY_CONFIG,
    POLICY_DIR,
    Platform,
    PulumiCli,
    Run,
    make_hand_written_project,
    make_project,
    missing_tools,
    stack_config,
)

pytestmark = pytest.mark.e2e

POLICY_NAMES = (
    "k2-topic-naming",
    "k2-topic-replication",
    "k2-reference-data-compacted",
    "k2-topic-retention",
    "k2-topic-partitions",
    "k2-topic-has-schema-subject",
)


@pytest.fixture(scope="module")
def tools() -> None:
    """The CLI, the policy launcher and the Kafka provider: missing ones are an error, not a skip."""
    reason = missing_tools()
    if reason:
        pytest.fail(f"{reason}; run `make tools`")


@pytest.fixture
def cli(tmp_path: Path, tools: None) -> PulumiCli:
    return PulumiCli(tmp_path / "backend")


def uncompact_reference_data_and_keep_forever(topology: dict[str, Any]) -> None:
    topology["data_types"]["reference_data"]["config"].pop("cleanup.policy")
    # Unlimited retention comes from the topology: a stack's retentionMs only ever caps it.
    topology["defaults"]["config"]["retention.ms"] = -1


def violating_project(tmp_path: Path, platform: Platform) -> Path:
    """Prod-like, but one replica, unlimited retention, 2000 partitions on ASX and reference data
    that is no longer compacted. All of it passes the program's own validation."""
    config = stack_config(
        "prod",
        platform,
        replicationFactor=1,
        minInsyncReplicas=1,
        retentionMs=None,
        partitions={"equities.asx": 2000},
        protect=False,
    )
    return make_project(tmp_path / "project", "prod", config, edit_topology=uncompact_reference_data_and_keep_forever)


def violations(run: Run) -> list[tuple[str, str]]:
    """(enforcement level, policy name) of each violation the CLI printed."""
    # The CLI prints each as "- [mandatory]  k2-topic-replication  (kafka:index:Topic: <name>)".
    return re.findall(r"\[(mandatory|advisory)\]\s+(k2-[a-z-]+)", run.output)


def describe(run: Run) -> str:
    return f"exit {run.returncode} after {run.seconds:.1f}s:\n{run.output}"


def test_violating_prod_stack_fails_the_preview_with_each_violation(
    tmp_path: Path, platform: Platform, cli: PulumiCli
) -> None:
    run = cli.preview(violating_project(tmp_path, platform), "prod")
    assert run.returncode != 0, describe(run)
    found = set(violations(run))
    for policy in ("k2-topic-replication", "k2-reference-data-compacted", "k2-topic-retention", "k2-topic-partitions"):
        assert ("mandatory", policy) in found, describe(run)
    assert not {name for _, name in found} & {"k2-topic-naming", "k2-topic-has-schema-subject"}, describe(run)
    for message in (
        "topic 'market.equities.trades.asx': replicationFactor 1 is below the minimum 3",
        "topic 'market.equities.trades.asx': min.insync.replicas 1 is below the minimum 2",
        "topic 'market.crypto.reference_data.binance' carries reference_data but its cleanup.policy is not set "
        "(Kafka's default is 'delete'); it must contain 'compact'",
        "topic 'market.crypto.trades.binance': retention.ms -1 (unlimited) is not allowed on a delete-policy topic",
        "topic 'market.equities.quotes.asx': partitions 2000 exceeds the maximum 1000 per topic",
    ):
        assert message in run.output, describe(run)


def test_plan_names_each_mandatory_violation_that_refuses_the_preview(
    tmp_path: Path, platform: Platform, cli: PulumiCli
) -> None:
    """`python -m k2infra plan --policy-pack policy`: the engine's policy events (not in the --json
    document) become the summary's refusals, so a reviewer sees the rule without the CLI's output."""
    project = violating_project(tmp_path, platform)
    init = cli.run(project, "stack", "init", "prod")
    assert init.returncode == 0, init.output
    done = subprocess.run(
        [
            sys.executable, "-m", "k2infra", "plan", "--stack", "prod", "--project-dir", str(project),
            "--policy-pack", str(POLICY_DIR), "--format", "json",
        ],
        cwd=REPO, env=cli.env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 1, f"exit {done.returncode}: {done.stderr}\n{done.stdout}"
    summary = json.loads(done.stdout)
    assert summary["headline"] == "refused by the policy pack", summary["headline"]
    refused = {r["message"].split(" ", 1)[0] for r in summary["refusals"] if r["guard"] == "policy"}
    assert {
        "k2-topic-replication",
        "k2-reference-data-compacted",
        "k2-topic-retention",
        "k2-topic-partitions",
    } <= refused
    assert any(
        "replicationFactor 1 is below the minimum 3" in r["message"] and "on market.equities.trades.asx" in r["message"]
        for r in summary["refusals"]
    ), summary["refusals"]


def test_dev_policy_config_turns_the_same_violations_into_warnings(
    tmp_path: Path, platform: Platform, cli: PulumiCli
) -> None:
    run = cli.preview(violating_project(tmp_path, platform), "prod", policy_config=DEV_POLICY_CONFIG)
    assert run.returncode == 0, describe(run)
    found = set(violations(run))
    # dev.json lowers the replication and retention thresholds: RF 1 / ISR 1 and -1 are fine there.
    # Compaction and the partition maximum are not relaxed, only made advisory.
    assert found == {("advisory", "k2-reference-data-compacted"), ("advisory", "k2-topic-partitions")}, describe(run)
    assert "mandatory" not in run.output, describe(run)


def test_real_dev_stack_passes_with_the_dev_policy_config(tmp_path: Path, platform: Platform, cli: PulumiCli) -> None:
    project = make_project(tmp_path / "project", "dev", stack_config("dev", platform))
    run = cli.preview(project, "dev", policy_config=DEV_POLICY_CONFIG)
    assert run.returncode == 0, describe(run)
    assert violations(run) == [], describe(run)
    assert not any(name in run.output for name in POLICY_NAMES), describe(run)


def test_real_dev_stack_fails_the_mandatory_defaults_without_the_dev_config(
    tmp_path: Path, platform: Platform, cli: PulumiCli
) -> None:
    project = make_project(tmp_path / "project", "dev", stack_config("dev", platform))
    run = cli.preview(project, "dev")
    assert run.returncode != 0, describe(run)
    assert set(violations(run)) == {("mandatory", "k2-topic-replication")}, describe(run)
    assert "topic 'market.crypto.trades.binance': replicationFactor 1 is below the minimum 3" in run.output


def test_prod_like_stack_passes_the_mandatory_pack(tmp_path: Path, platform: Platform, cli: PulumiCli) -> None:
    project = make_project(tmp_path / "project", "prod", stack_config("prod", platform))
    run = cli.preview(project, "prod")
    assert run.returncode == 0, describe(run)
    assert violations(run) == [], describe(run)
    assert not any(name in run.output for name in POLICY_NAMES), describe(run)


def test_hand_written_topics_break_naming_and_the_schema_subject_rule(
    tmp_path: Path, platform: Platform, cli: PulumiCli
) -> None:
    """The k2infra program refuses illegal names and always declares subjects, so these two
    policies are shown on a minimal program of raw topics."""
    topics = ["market.fx.trades.lmax", "market.equities.Trades.asx"]
    project = make_hand_written_project(tmp_path / "project", "prod", platform.bootstrap_servers, topics)
    run = cli.preview(project, "prod")
    assert run.returncode != 0, describe(run)
    assert set(violations(run)) == {("mandatory", "k2-topic-naming"), ("mandatory", "k2-topic-has-schema-subject")}, (
        describe(run)
    )
    for message in (
        "topic name 'market.equities.Trades.asx' has an illegal data_type 'Trades'",
        "topic 'market.fx.trades.lmax' has no schema subject 'market.fx.trades-value' in this stack",
    ):
        assert message in run.output, describe(run)
