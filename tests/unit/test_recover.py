"""`recover`: what it decides for each lock, pending operation and untracked topic, without services.

The Pulumi CLI is replaced by a recorder under pulumi.automation (the command lines Automation would
run are asserted), the cluster and registry by fixed answers; the end-to-end tests
(tests/e2e/test_faults.py) run the real ones.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from k2infra.cli.main import exit_code
from k2infra.client.naming import load_plan
from k2infra.live.cluster import LiveSubject
from k2infra.live.records import TopicHolding
from k2infra.model.plan import Plan
from k2infra.model.stack import Stack, load_stack_file
from k2infra.ops import orphans, postgres_state, stack_lock
from k2infra.ops.pulumi_driver import PulumiDriver
from k2infra.ops.pulumi_stack import StackState
from k2infra.ops.recover import (
    CLEAR,
    IMPORT,
    LEAVE,
    REFRESH,
    Context,
    Options,
    classify,
    run_recover,
    topic_differences,
)
from tests.conftest import REPO

STACK = "dev"
PROJECT = "k2infra"
COMPONENT_URN = f"urn:pulumi:{STACK}::{PROJECT}::k2infra:index:TopicPlatform::k2"
PROVIDER_URN = f"urn:pulumi:{STACK}::{PROJECT}::k2infra:index:TopicPlatform$pulumi:providers:kafka::kafka"
TOPIC_URN = f"urn:pulumi:{STACK}::{PROJECT}::k2infra:index:TopicPlatform$kafka:index/topic:Topic::"
SUBJECT_URN = (
    f"urn:pulumi:{STACK}::{PROJECT}::k2infra:index:TopicPlatform$pulumi-python:dynamic/k2infra:SchemaSubject::"
)


@pytest.fixture
def plan(project_dir: Path) -> Plan:
    (project_dir / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    return load_plan(project_dir / "config", STACK, project_dir)


def stack_of(plan: Plan, project_dir: Path) -> Stack:
    """The stack the plan was loaded from, as the command line hands it to recover and destroy-check."""
    stack = load_stack_file(project_dir / "config", plan.stack, project_dir)
    assert stack.plan == plan
    return stack


def ctx(plan: Plan) -> Context:
    return Context(
        STACK, PROJECT, "127.0.0.1:19092", "http://127.0.0.1:18081/apis/ccompat/v7", False, COMPONENT_URN, PROVIDER_URN
    )


def resource(urn: str, type_: str, inputs: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"urn": urn, "type": type_, "id": extra.pop("id", ""), "inputs": inputs or {}, **extra}


def topic(name: str, **extra: Any) -> dict[str, Any]:
    return resource(TOPIC_URN + name, "kafka:index/topic:Topic", {"name": name}, id=name, **extra)


def subject(name: str) -> dict[str, Any]:
    return resource(SUBJECT_URN + name, "pulumi-python:dynamic/k2infra:SchemaSubject", {"subject": name}, id=name)


def export(resources: list[dict[str, Any]], pending: list[tuple[str, dict[str, Any]]] = ()) -> dict[str, Any]:
    base = [
        resource(f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}", "pulumi:pulumi:Stack"),
        resource(COMPONENT_URN, "k2infra:index:TopicPlatform", parent="stack"),
        resource(PROVIDER_URN, "pulumi:providers:kafka", id="prov-id", parent=COMPONENT_URN),
    ]
    return {
        "version": 3,
        "deployment": {
            "resources": base + resources,
            "pending_operations": [{"type": kind, "resource": r} for kind, r in pending],
        },
    }


def holding(plan: Plan, name: str, **changes: Any) -> TopicHolding:
    spec = plan.topic(name)
    assert spec is not None
    values: dict[str, Any] = {
        "name": name,
        "partitions": spec.partitions,
        "replication_factor": spec.replication_factor,
        "records": 0,
        "own_config": dict(spec.config),
    }
    values.update(changes)
    return TopicHolding(**values)


def live_subject(plan: Plan, name: str, schema: str | None = None) -> LiveSubject:
    spec = next(s for s in plan.subjects if s.subject == name)
    return LiveSubject(name, version=1, schema_id=7, schema=schema or spec.schema, compatibility="BACKWARD")


TRADES = "market.equities.trades.asx"
QUOTES = "market.equities.quotes.asx"
REF = "market.equities.reference_data.asx"
SUBJECT = "market.equities.trades-value"


# -- classification -------------------------------------------------------------------------------


def test_a_pending_create_that_reached_the_broker_as_planned_and_empty_is_imported(plan: Plan) -> None:
    state = StackState.from_export(export([], [("creating", topic(TRADES))]))
    [finding] = classify(plan, state, {TRADES: holding(plan, TRADES)}, {}, ctx(plan))
    assert (finding.kind, finding.name, finding.action, finding.pending) == ("topic", TRADES, IMPORT, True)
    assert finding.found == "on the cluster as planned, empty"


def test_a_pending_create_that_never_reached_the_broker_is_only_dropped(plan: Plan) -> None:
    state = StackState.from_export(export([], [("creating", topic(TRADES))]))
    [finding] = classify(plan, state, {}, {}, ctx(plan))
    assert (finding.action, finding.found) == (CLEAR, "not on the cluster")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"partitions": 9}, "partitions: planned 3, live 9"),
        ({"replication_factor": 3}, "replication factor: planned 1, live 3"),
        ({"own_config": {"cleanup.policy": "delete"}}, "retention.ms: planned 86400000, live (not set)"),
    ],
)
def test_a_topic_that_differs_from_the_plan_is_left_with_the_commands_to_adopt_or_delete_it(
    plan: Plan, change: dict[str, Any], words: str
) -> None:
    state = StackState.from_export(export([], [("creating", topic(TRADES))]))
    [finding] = classify(plan, state, {TRADES: holding(plan, TRADES, **change)}, {}, ctx(plan))
    assert finding.action == LEAVE
    assert words in finding.found
    adopt, remove, again = finding.advice
    assert (
        f"pulumi import --stack dev kafka:index/topic:Topic {TRADES} {TRADES} --parent 'k2={COMPONENT_URN}' "
        f"--provider 'kafka={PROVIDER_URN}' --generate-code=false --protect=false --yes" in adopt
    )
    assert f"kafka-topics.sh --bootstrap-server 127.0.0.1:19092 --delete --topic {TRADES}" in remove
    assert again == "then: python -m k2infra recover --stack dev"


def test_a_topic_holding_records_this_stack_did_not_write_is_left(plan: Plan) -> None:
    state = StackState.from_export(export([], [("creating", topic(TRADES))]))
    [finding] = classify(plan, state, {TRADES: holding(plan, TRADES, records=12)}, {}, ctx(plan))
    assert finding.action == LEAVE
    assert "holds 12 records this stack did not write" in finding.found
    assert "to delete it and its 12 records" in finding.advice[1]


def test_an_unknown_record_count_is_not_taken_for_empty(plan: Plan) -> None:
    state = StackState.from_export(export([], [("creating", topic(TRADES))]))
    [finding] = classify(plan, state, {TRADES: holding(plan, TRADES, records=None)}, {}, ctx(plan))
    assert finding.action == LEAVE and "an unknown number of records" in finding.found


def test_a_config_value_spelled_differently_is_the_same_value(plan: Plan) -> None:
    spec = plan.topic(TRADES)
    assert spec is not None
    live = holding(plan, TRADES, own_config={**spec.config, "compression.type": spec.config["compression.type"]})
    assert topic_differences(spec, live) == []
    extra = holding(plan, TRADES, own_config={**spec.config, "segment.ms": "1000"})
    assert topic_differences(spec, extra) == ["segment.ms: not planned, live 1000"]


def test_planned_topics_on_the_cluster_but_absent_from_the_state_are_imported_bulk_mode(plan: Plan) -> None:
    # PULUMI_SKIP_CHECKPOINTS=true and a crash: the state holds nothing of the run.
    state = StackState.from_export(export([topic(REF)]))
    live = {TRADES: holding(plan, TRADES), QUOTES: holding(plan, QUOTES, records=5), REF: holding(plan, REF)}
    findings = {f.name: f for f in classify(plan, state, live, {}, ctx(plan))}
    assert set(findings) == {TRADES, QUOTES}  # REF is in the state; the others are not live
    assert findings[TRADES].action == IMPORT and findings[TRADES].situation == "on the cluster, not in the state"
    assert findings[QUOTES].action == LEAVE


def test_a_pending_create_already_in_the_state_is_only_dropped(plan: Plan) -> None:
    state = StackState.from_export(export([topic(TRADES)], [("creating", topic(TRADES))]))
    [finding] = classify(plan, state, {TRADES: holding(plan, TRADES)}, {}, ctx(plan))
    assert (finding.action, finding.found) == (CLEAR, "already in the state")


def test_pending_updates_and_deletes_are_reconciled_by_refresh(plan: Plan) -> None:
    state = StackState.from_export(
        export([topic(TRADES), topic(QUOTES)], [("updating", topic(TRADES)), ("deleting", topic(QUOTES))])
    )
    findings = classify(plan, state, {}, {}, ctx(plan))
    assert [(f.name, f.situation, f.action) for f in findings] == [
        (TRADES, "pending update", REFRESH),
        (QUOTES, "pending delete", REFRESH),
    ]


def test_a_topic_no_longer_planned_is_left(plan: Plan) -> None:
    gone = "market.equities.trades.chix"
    state = StackState.from_export(export([], [("creating", topic(gone))]))
    [finding] = classify(plan, state, {gone: TopicHolding(gone, 3, 1, 0, {})}, {}, ctx(plan))
    assert finding.action == LEAVE and "no longer planned" in finding.found


def test_a_subject_registered_as_planned_is_dropped_for_the_next_up_to_adopt(plan: Plan) -> None:
    state = StackState.from_export(export([], [("creating", subject(SUBJECT))]))
    [finding] = classify(plan, state, {}, {SUBJECT: live_subject(plan, SUBJECT)}, ctx(plan))
    assert (finding.kind, finding.action) == ("subject", CLEAR)
    assert finding.found == "registered as planned (version 1, id 7)"


def test_a_subject_holding_another_schema_is_left(plan: Plan) -> None:
    other = json.dumps({"type": "record", "name": "trade", "fields": [{"name": "symbol", "type": "string"}]})
    state = StackState.from_export(export([], [("creating", subject(SUBJECT))]))
    [finding] = classify(plan, state, {}, {SUBJECT: live_subject(plan, SUBJECT, other)}, ctx(plan))
    assert finding.action == LEAVE
    assert (
        finding.advice[1]
        == f"to delete the subject: curl -X DELETE http://127.0.0.1:18081/apis/ccompat/v7/subjects/{SUBJECT}"
    )


def test_a_pending_create_of_a_provider_has_nothing_outside_the_state(plan: Plan) -> None:
    state = StackState.from_export(export([], [("creating", resource(PROVIDER_URN + "2", "pulumi:providers:kafka"))]))
    [finding] = classify(plan, state, {}, {}, ctx(plan))
    assert finding.action == CLEAR and finding.kind == "resource"


# -- the command, with the CLI recorded ----------------------------------------------------------


# What Automation reads around each operation (the stack's selection, its last update, its outputs).
BOOKKEEPING = {("stack", "select"), ("stack", "history"), ("stack", "output")}
HISTORY = [
    {
        "kind": "update",
        "startTime": "2026-12-01T10:00:00.000Z",
        "message": "",
        "environment": {},
        "config": {},
        "result": "succeeded",
    }
]


class FakeCli(PulumiCommand):
    """The Pulumi CLI under pulumi.automation: each command line recorded, fixed answers."""

    def __init__(self, document: dict[str, Any], backend: str, failing: Mapping[str, str] | None = None) -> None:
        self.command, self.version = "pulumi", VersionInfo.parse("3.274.1")  # the CLI tools/ builds; not run
        self.document = document
        self.backend = backend
        self.calls: list[tuple[str, ...]] = []
        self.envs: list[Mapping[str, str]] = []
        self.import_files: list[dict[str, Any]] = []
        self.failing = failing or {}

    def run(
        self, args: list[str], cwd: str, additional_env: Mapping[str, str], on_output: Any = None, on_error: Any = None
    ) -> CommandResult:
        args = [a for a in args if a != "--non-interactive"]
        if tuple(args[:2]) not in BOOKKEEPING:
            self.calls.append(tuple(args))
            self.envs.append(dict(additional_env))
        if args[0] in self.failing:
            raise create_command_error(CommandResult(stdout="", stderr=self.failing[args[0]], code=255))
        answer = "ok"
        if args[0] == "whoami":
            answer = json.dumps({"user": "root", "url": self.backend})
        elif args[:2] == ["stack", "export"]:
            answer = json.dumps(self.document)
        elif args[:2] == ["stack", "history"]:
            answer = json.dumps(HISTORY)
        elif args[:2] == ["stack", "output"]:
            answer = "{}"
        elif args[0] == "import":
            self.import_files.append(json.loads(Path(args[args.index("--file") + 1]).read_text()))
        return CommandResult(stdout=answer, stderr="", code=0)


def recover(plan: Plan, project_dir: Path, cli: FakeCli, live: dict, subjects: dict | None = None, **options: Any):
    out, err = io.StringIO(), io.StringIO()
    code = exit_code(
        run_recover(
            stack_of(plan, project_dir),
            Options(stack=STACK, project_dir=project_dir, **options),
            out=out,
            err=err,
            driver=PulumiDriver(project_dir, STACK, command=cli),
            host="thishost",
            read_live=lambda stack, topics, subjects_wanted, timeout: (
                {n: h for n, h in live.items() if n in topics},
                {n: s for n, s in (subjects or {}).items() if n in subjects_wanted},
            ),
        )
    )
    return code, out.getvalue(), err.getvalue()


def test_recover_drops_resolved_pending_creates_then_imports_in_one_file(plan: Plan, project_dir: Path) -> None:
    document = export(
        [topic(REF)],
        [("creating", topic(TRADES)), ("creating", topic(QUOTES)), ("creating", subject(SUBJECT))],
    )
    cli = FakeCli(document, f"file://{project_dir}/backend")
    live = {TRADES: holding(plan, TRADES), REF: holding(plan, REF)}
    code, out, err = recover(plan, project_dir, cli, live, {SUBJECT: live_subject(plan, SUBJECT)})
    assert code == 0, err
    commands = [c[0] for c in cli.calls]
    assert commands == ["whoami", "stack", "refresh", "stack", "import"]  # the state is read again after refresh
    refresh = cli.calls[2]
    assert "--clear-pending-creates" in refresh and "--yes" in refresh
    assert cli.envs[2]["PULUMI_SKIP_CHECKPOINTS"] == "true"
    assert "PULUMI_SKIP_CHECKPOINTS" not in cli.envs[1]  # for the refresh and the import only
    assert cli.envs[4]["PULUMI_SKIP_CHECKPOINTS"] == "true"
    [document_imported] = cli.import_files
    assert document_imported == {
        "nameTable": {"k2": COMPONENT_URN, "kafka": PROVIDER_URN},
        "resources": [
            {"type": "kafka:index/topic:Topic", "name": TRADES, "id": TRADES, "parent": "k2", "provider": "kafka"}
        ],
    }
    assert "--protect=false" in cli.calls[4] and "--generate-code=false" in cli.calls[4]
    lines = out.splitlines()
    assert (
        f"topic    {TRADES}: pending create: on the cluster as planned, empty -> imported into the state (pending create dropped)"
        in lines
    )
    assert (
        f"topic    {QUOTES}: pending create: not on the cluster -> pending create dropped; the next pulumi up creates it"
        in lines
    )
    assert any(line.startswith(f"subject  {SUBJECT}: pending create: registered as planned") for line in lines)
    assert lines[-1] == "next: pulumi up --stack dev"


def test_recover_keeps_the_pending_create_it_cannot_resolve(plan: Plan, project_dir: Path) -> None:
    document = export([], [("creating", topic(TRADES)), ("creating", topic(QUOTES))])
    cli = FakeCli(document, f"file://{project_dir}/backend")
    live = {TRADES: holding(plan, TRADES), QUOTES: holding(plan, QUOTES, partitions=9)}
    code, out, _ = recover(plan, project_dir, cli, live)
    assert code == 1
    refresh = next(c for c in cli.calls if c[0] == "refresh")
    assert "--clear-pending-creates" not in refresh
    # URN and ID, each as its own flag value.
    assert refresh[refresh.index("--import-pending-creates") : refresh.index("--stack")] == (
        "--import-pending-creates",
        TOPIC_URN + TRADES,
        "--import-pending-creates",
        TRADES,
    )
    assert "1 resource(s) need a decision (above); nothing was changed for them" in out


def test_recover_with_nothing_to_do_runs_no_pulumi_command_that_changes_anything(plan: Plan, project_dir: Path) -> None:
    cli = FakeCli(export([topic(n) for n in (TRADES, QUOTES, REF)]), f"file://{project_dir}/backend")
    code, out, _ = recover(plan, project_dir, cli, {})
    assert code == 0
    assert [c[0] for c in cli.calls] == ["whoami", "stack"]
    assert "nothing to recover" in out


def test_recover_creates_the_parent_and_provider_first_when_a_bulk_crash_left_no_state(
    plan: Plan, project_dir: Path
) -> None:
    document = {"version": 3, "deployment": {"resources": [], "pending_operations": []}}
    cli = FakeCli(document, f"file://{project_dir}/backend")
    code, _, err = recover(plan, project_dir, cli, {TRADES: holding(plan, TRADES)})
    assert code == 0, err
    up = next(c for c in cli.calls if c[0] == "up")
    assert up[up.index("--target") + 1] == COMPONENT_URN
    assert PROVIDER_URN in up
    assert [c[0] for c in cli.calls][-2:] == ["up", "import"]
    assert "refresh" not in [c[0] for c in cli.calls]  # no pending operation: nothing to refresh


def test_recover_dry_run_changes_nothing(plan: Plan, project_dir: Path) -> None:
    cli = FakeCli(export([], [("creating", topic(TRADES))]), f"file://{project_dir}/backend")
    code, out, _ = recover(plan, project_dir, cli, {TRADES: holding(plan, TRADES)}, dry_run=True)
    assert code == 0
    assert [c[0] for c in cli.calls] == ["whoami", "stack"]
    assert "would be imported into the state" in out


def test_recover_up_runs_pulumi_up_last(plan: Plan, project_dir: Path) -> None:
    cli = FakeCli(export([], [("updating", topic(TRADES))]), f"file://{project_dir}/backend")
    code, _, _ = recover(plan, project_dir, cli, {}, up=True)
    assert code == 0
    assert [c[0] for c in cli.calls] == ["whoami", "stack", "refresh", "up"]


def test_a_failed_refresh_stops_recover_before_any_import(plan: Plan, project_dir: Path) -> None:
    cli = FakeCli(
        export([], [("creating", topic(TRADES))]),
        f"file://{project_dir}/backend",
        failing={"refresh": "error: cannot reach the Schema Registry"},
    )
    code, _, err = recover(plan, project_dir, cli, {TRADES: holding(plan, TRADES)})
    assert code == 2
    assert "cannot reach the Schema Registry" in err and "nothing was imported" in err
    assert "import" not in [c[0] for c in cli.calls]


# -- locks ----------------------------------------------------------------------------------------


def write_lock(backend: Path, pid: int, host: str, when: datetime) -> Path:
    folder = backend / ".pulumi" / "locks" / "organization" / PROJECT / STACK
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"lock-{pid}.json"
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    path.write_text(json.dumps({"pid": pid, "username": "root", "hostname": host, "timestamp": stamp}))
    return path


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_lock_whose_process_is_gone_is_released_and_reported(plan: Plan, project_dir: Path) -> None:
    backend = project_dir / "backend"
    path = write_lock(backend, dead_pid(), "thishost", datetime.now(UTC))
    cli = FakeCli(export([topic(n) for n in (TRADES, QUOTES, REF)]), f"file://{backend}")
    code, out, _ = recover(plan, project_dir, cli, {})
    assert code == 0
    assert not path.exists()
    assert "lock     released the lock of root@thishost" in out and "is not running on thishost" in out


def test_a_lock_held_by_a_running_update_is_never_touched(plan: Plan, project_dir: Path) -> None:
    backend = project_dir / "backend"
    path = write_lock(backend, os.getpid(), "thishost", datetime.now(UTC))
    cli = FakeCli(export([]), f"file://{backend}")
    code, _, err = recover(plan, project_dir, cli, {})
    assert code == 1
    assert path.exists()
    assert "locked by a running update" in err
    assert [c[0] for c in cli.calls] == ["whoami"]


def test_a_lock_from_another_host_is_reported_with_the_command_and_kept(plan: Plan, project_dir: Path) -> None:
    backend = project_dir / "backend"
    path = write_lock(backend, dead_pid(), "ci-runner-7", datetime.now(UTC))
    cli = FakeCli(export([]), f"file://{backend}")
    code, _, err = recover(plan, project_dir, cli, {})
    assert code == 1 and path.exists()
    assert "written on host ci-runner-7, not this one (thishost)" in err
    assert "pulumi cancel --yes --stack dev" in err


def test_a_reused_pid_does_not_keep_a_lock_alive(tmp_path: Path) -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    path = write_lock(tmp_path, 4242, "h", when)
    lock = stack_lock.judge(path, host="h", running=lambda pid: True, started=lambda pid: when + timedelta(hours=1))
    assert lock.verdict == "stale" and "reused" in lock.reason
    same = stack_lock.judge(path, host="h", running=lambda pid: True, started=lambda pid: when - timedelta(seconds=1))
    assert same.verdict == "live"


def test_releasing_refuses_anything_but_a_stale_lock(tmp_path: Path) -> None:
    path = write_lock(tmp_path, os.getpid(), "h", datetime.now(UTC))
    live = stack_lock.judge(path, host="h")
    with pytest.raises(ValueError):
        stack_lock.release(live)
    assert path.exists()


def test_postgres_lock_rows_are_judged_and_only_a_gone_holders_row_is_deleted(
    plan: Plan, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgres://k2state:pw@db:5432/k2state?sslmode=disable"
    stamp = datetime.now(UTC).isoformat()
    rows = [
        postgres_state.LockRow("k2state/.pulumi/locks/organization/k2infra/dev/a.json",
                               {"pid": dead_pid(), "username": "ana", "hostname": "thishost", "timestamp": stamp}),
    ]  # fmt: skip
    deleted: list[str] = []
    monkeypatch.setattr(postgres_state, "check", lambda url: None)
    monkeypatch.setattr(postgres_state, "lock_rows", lambda url, project, stack: rows)
    monkeypatch.setattr(postgres_state, "delete_lock", lambda url, key: deleted.append(key))
    cli = FakeCli(export([topic(n) for n in (TRADES, QUOTES, REF)]), url)
    code, out, _ = recover(plan, project_dir, cli, {})
    assert code == 0, out
    assert deleted == [rows[0].key]
    assert "backend postgres://k2state:****@db:5432/k2state" in out and ":pw@" not in out
    assert "lock     released the lock of ana@thishost" in out

    deleted.clear()
    rows[0] = postgres_state.LockRow(rows[0].key, {**(rows[0].content or {}), "hostname": "ci-runner-7"})
    code, _, err = recover(plan, project_dir, cli, {})
    assert code == 1 and deleted == []
    assert "written on host ci-runner-7" in err and "pulumi cancel --yes --stack dev" in err
    assert f"Lock row (table pulumi_state): {rows[0].key}" in err


def test_other_backends_cannot_be_inspected_and_recover_says_so(plan: Plan, project_dir: Path) -> None:
    cli = FakeCli(export([topic(n) for n in (TRADES, QUOTES, REF)]), "https://api.pulumi.com")
    code, out, _ = recover(plan, project_dir, cli, {})
    assert code == 0
    assert "cannot be inspected on this backend (https://api.pulumi.com)" in out
    assert "pulumi cancel --stack dev" in out


def test_backend_dir_of_file_urls(tmp_path: Path) -> None:
    assert stack_lock.backend_dir(f"file://{tmp_path}") == tmp_path
    assert stack_lock.backend_dir("file://~/state") == Path.home() / "state"
    assert stack_lock.backend_dir("s3://bucket") is None


# -- orphans --------------------------------------------------------------------------------------


def fake_proc(root: Path, pid: int, ppid: int, cmdline: list[str], cwd: Path, state: str = "S") -> None:
    entry = root / str(pid)
    entry.mkdir(parents=True)
    (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in cmdline) + b"\0")
    (entry / "stat").write_text(f"{pid} (x y) {state} {ppid} 1 1 0 -1 0\n")
    (entry / "cwd").symlink_to(cwd)


def test_orphans_are_plugins_of_the_project_reparented_to_init_and_their_children(tmp_path: Path) -> None:
    proc, project, elsewhere = tmp_path / "proc", tmp_path / "project", tmp_path / "other"
    project.mkdir()
    elsewhere.mkdir()
    fake_proc(proc, 10, 1, ["/tools/pulumi-resource-kafka", "127.0.0.1:1"], project)
    fake_proc(proc, 11, 1, ["/bin/sh", "/tools/bin/pulumi-resource-pulumi-python", "127.0.0.1:1"], project)
    fake_proc(proc, 12, 11, ["/venv/bin/python", "-u", "-m", "pulumi.dynamic", "127.0.0.1:1"], project)
    fake_proc(proc, 13, 99, ["/tools/pulumi-language-python", "127.0.0.1:1"], project)  # its engine runs
    fake_proc(proc, 14, 1, ["/tools/pulumi-resource-kafka", "127.0.0.1:1"], elsewhere)  # another project
    fake_proc(proc, 15, 1, ["/usr/bin/vim", "pulumi-resource-kafka.go"], project)
    fake_proc(proc, 16, 1, ["/tools/pulumi-resource-kafka"], project, state="Z")
    assert [p.pid for p in orphans.orphans(project, proc)] == [10, 11, 12]
    assert [p.pid for p in orphans.plugin_processes(project, proc)] == [10, 11, 12, 13]


def test_orphans_are_ended_by_recover_which_says_so(
    plan: Plan, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stray = orphans.PluginProcess(4321, 1, "/tools/pulumi-resource-kafka 127.0.0.1:1", str(project_dir))
    seen: list[tuple[Path, bool]] = []

    def end(project: Path, dry_run: bool = False) -> list[orphans.Ending]:
        seen.append((project, dry_run))
        return [orphans.Ending(stray, "", dry_run=True) if dry_run else orphans.Ending(stray, "SIGTERM")]

    monkeypatch.setattr(orphans, "end_orphans", end)
    cli = FakeCli(export([topic(n) for n in (TRADES, QUOTES, REF)]), f"file://{project_dir}/backend")
    code, out, _ = recover(plan, project_dir, cli, {})
    assert code == 0
    assert (
        "orphan   ended orphaned plugin pid 4321 (/tools/pulumi-resource-kafka 127.0.0.1:1): it served no engine\n"
        in out
    )
    code, out, _ = recover(plan, project_dir, cli, {}, dry_run=True)
    assert code == 0
    assert "orphan   would end orphaned plugin pid 4321 (/tools/pulumi-resource-kafka 127.0.0.1:1)" in out
    assert seen == [(project_dir, False), (project_dir, True)]


# -- the command line -----------------------------------------------------------------------------


def test_recover_needs_a_stack() -> None:
    from k2infra.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["recover"])
    args = build_parser().parse_args(["recover", "--stack", "dev", "--up", "--project-dir", "/p"])
    assert (args.stack, args.up, args.project_dir, args.config_dir) == ("dev", True, Path("/p"), None)


def test_recover_reads_the_config_of_the_project_dir(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from k2infra.cli.main import main as cli_main
    from k2infra.ops import recover as recover_module

    seen: dict[str, Any] = {}

    def fake(stack: Stack, options: Options, *, out: Any, err: Any) -> None:
        seen.update(topics=len(stack.plan.topics), stack=options.stack, dir=options.project_dir)
        return None  # the stack is ready

    monkeypatch.setattr(recover_module, "run_recover", fake)
    assert cli_main(["recover", "--stack", "dev", "--project-dir", str(project_dir)]) == 0
    assert seen == {"topics": 6, "stack": "dev", "dir": project_dir}


# -- destroy-check ----------------------------------------------------------------------------------


def destroy_check(plan: Plan, project_dir: Path, cli: FakeCli, held: dict[str, int], monkeypatch, **kw: Any):
    from k2infra.ops import destroy_check as module

    monkeypatch.setattr(
        module,
        "read_holdings",
        lambda config, names, **_: {n: TopicHolding(n, 1, 1, held.get(n, 0)) for n in names},
    )
    out, err = io.StringIO(), io.StringIO()
    code = exit_code(
        module.run_destroy_check(
            stack_of(plan, project_dir).connections.kafka,
            STACK,
            project_dir,
            allow=kw.get("allow", False),
            timeout=5,
            out=out,
            err=err,
            driver=PulumiDriver(project_dir, STACK, command=cli),
        )
    )
    return code, out.getvalue(), err.getvalue()


def test_destroy_check_refuses_when_an_unprotected_topic_holds_records(
    plan: Plan, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = FakeCli(export([topic(TRADES), topic(QUOTES), topic(REF, protect=True)]), "file:///b")
    code, out, err = destroy_check(plan, project_dir, cli, {TRADES: 120, REF: 4}, monkeypatch)
    assert code == 1
    assert f"  {TRADES}: 120 records" in out
    assert f"  {REF}: 4 records (protected: pulumi destroy refuses to delete it)" in out
    assert "would delete 1 topic(s) holding records" in err and "make down ALLOW_DATA_LOSS=1" in err
    assert destroy_check(plan, project_dir, cli, {TRADES: 120}, monkeypatch, allow=True)[0] == 0
    assert destroy_check(plan, project_dir, cli, {REF: 4}, monkeypatch)[0] == 0  # only protected ones hold records


def test_destroy_check_of_a_stack_that_does_not_exist_passes(
    plan: Plan, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = FakeCli(export([]), "file:///b", failing={"stack": "error: no stack named 'dev' found"})
    code, out, _ = destroy_check(plan, project_dir, cli, {}, monkeypatch)
    assert code == 0 and "there is no stack dev" in out


# -- the file backend's attribute files -------------------------------------------------------------


def test_an_attribute_file_left_empty_by_the_kill_is_removed_and_the_checkpoint_kept(
    plan: Plan, project_dir: Path
) -> None:
    # The kill landed between fileblob's write of <stack>.json.attrs and its rename of the new
    # checkpoint: `pulumi` then fails with "failed to load checkpoint: EOF".
    backend = project_dir / "backend"
    stacks = backend / ".pulumi" / "stacks" / PROJECT
    stacks.mkdir(parents=True)
    checkpoint = stacks / f"{STACK}.json"
    checkpoint.write_text('{"version": 3}')
    (stacks / f"{STACK}.json.attrs").write_text("")
    (stacks / f"{STACK}.json.bak.attrs").write_text('{"md5": "x"}')  # readable: kept
    cli = FakeCli(export([topic(n) for n in (TRADES, QUOTES, REF)]), f"file://{backend}")

    code, out, _ = recover(plan, project_dir, cli, {}, dry_run=True)
    assert code == 0 and (stacks / f"{STACK}.json.attrs").exists()
    assert f"state    {stacks / f'{STACK}.json.attrs'} is empty:" in out and "would remove it" in out

    code, out, _ = recover(plan, project_dir, cli, {})
    assert code == 0
    assert not (stacks / f"{STACK}.json.attrs").exists()
    assert (stacks / f"{STACK}.json.bak.attrs").exists()
    assert checkpoint.read_text() == '{"version": 3}'
    assert "failed to load checkpoint: EOF`; removed it" in out


def test_attribute_files_are_judged_by_whether_they_decode(tmp_path: Path) -> None:
    from k2infra.ops.file_backend import unreadable

    good, empty, cut = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    good.write_text('{"user.content_type": "text/plain"}')
    empty.write_text("")
    cut.write_text('{"user.content_type": "te')
    assert unreadable(good) is None
    assert unreadable(empty) == "is empty"
    assert unreadable(cut).startswith("is cut short")  # type: ignore[union-attr]
