"""A team's stack: its state in PostgreSQL (tools/postgres.sh), on the real platform and CLI.

One dev-like stack for the module (its own database): deployed and verified; NYSE added, then
its partitions raised, each by a named operator, and the runbook's history query answering when and
by whom; two `pulumi up` at once, as two operators would run them; an up killed mid-way, recovered
(the lock row of the killed CLI released, pending creates resolved) and converged.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from devkit.faults import counter, run_until
from devkit.pulumi_project import REPO, PulumiProject
from devkit.state_db import StateDb, bin_dir
from k2infra.ops import postgres_state
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

TOPIC_CREATED = r"^\s*\+\s+kafka:index:Topic \S+ created"
PROJECT = "k2infra"
STACK = "team"


@pytest.fixture(scope="module")
def backend(state_db: StateDb) -> str:
    return state_db.new_database("team")


@pytest.fixture(scope="module")
def project(new_module_project, backend: str) -> Iterator[PulumiProject]:
    yield new_module_project(STACK, backend_url=backend)


def k2infra(project: PulumiProject, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k2infra", *args, "--stack", project.stack, "--project-dir", str(project.dir)],
        cwd=REPO, env=project.env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def up_argv(project: PulumiProject, *extra: str) -> list[str]:
    return project.driver.argv("up", "--yes", "--skip-preview", *extra)


def add_exchanges(project: PulumiProject, prefix: str, count: int) -> None:
    def change(topology: dict) -> None:
        exchanges = topology["asset_classes"]["equities"]["exchanges"]
        for i in range(count):
            exchanges[f"{prefix}{i:02d}"] = {"name": f"Venue {i}", "partitions": 1, "timezone": "UTC"}

    project.edit_topology(change)


def converged(project: PulumiProject) -> None:
    """No change left to make, and the cluster and registry hold the plan (other modules' topics on the
    shared platform aside: they are 'extra' to this stack)."""
    project.run("preview", "--expect-no-changes")
    verified = k2infra(project, "verify", "--json")
    report = json.loads(verified.stdout)
    assert report["error"] is None, report["error"]
    assert [d for d in report["differences"] if not d["kind"].endswith("_extra")] == []


def test_the_stack_deploys_and_verifies_with_its_state_in_postgres(project: PulumiProject, backend: str) -> None:
    assert project.env["PULUMI_BACKEND_URL"] == backend
    project.up()
    converged(project)
    checked = k2infra(project, "recover")
    assert checked.returncode == 0, checked.stderr
    assert f"(backend {postgres_state.masked(backend)})" in checked.stdout


def test_the_history_query_says_when_nyse_partitions_changed_and_by_whom(
    project: PulumiProject, state_db: StateDb, backend: str
) -> None:
    def nyse(partitions: int):
        def change(topology: dict) -> None:
            topology["asset_classes"]["equities"]["exchanges"]["nyse"] = {
                "name": "New York Stock Exchange", "partitions": partitions, "timezone": "America/New_York",
            }  # fmt: skip

        return change

    project.edit_topology(nyse(2))
    project.run("up", "--yes", "--skip-preview", "--message", "ana@laptop: add NYSE")
    project.edit_topology(nyse(3))
    project.run("up", "--yes", "--skip-preview", "--message", "ben@ci-7: NYSE to 3 partitions")
    history = json.loads(project.run("stack", "history", "--json").stdout)
    assert [h["message"] for h in history[:2]] == ["ben@ci-7: NYSE to 3 partitions", "ana@laptop: add NYSE"]

    database = backend.rsplit("/", 1)[1].split("?")[0]
    done = subprocess.run(
        [bin_dir() / "psql", "-d", database, "-tA", "-F", "|", "-v", f"stack={STACK}",
         "-v", "topic=market.equities.%.nyse", "-f", REPO / "tools" / "sql" / "topic-history.sql"],
        env=state_db.client_env(), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    rows = [line.split("|") for line in done.stdout.strip().splitlines()]
    print(done.stdout)
    changes = sorted((r[1], r[2], r[3], r[6]) for r in rows)
    expected = []
    for data_type in ("quotes", "trades"):  # reference_data has 1 partition whatever the exchange's count
        topic = f"market.equities.{data_type}.nyse"
        expected += [(topic, "", "2", "ana@laptop: add NYSE"), (topic, "2", "3", "ben@ci-7: NYSE to 3 partitions")]
    expected.append(("market.equities.reference_data.nyse", "", "1", "ana@laptop: add NYSE"))
    assert changes == sorted(expected)


def test_two_operators_up_at_once_one_runs_the_other_stops_naming_the_holder(
    project: PulumiProject, backend: str
) -> None:
    add_exchanges(project, "con", 6)  # 18 topics: the first up runs long enough to be caught holding the lock
    first = subprocess.Popen(
        up_argv(project), env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        [row] = wait_for(
            "the first up's lock row", lambda: postgres_state.lock_rows(backend, PROJECT, STACK), timeout=300
        )
        second = project.run("up", "--yes", "--skip-preview", check=False)
        holder = row.content or {}
        assert second.returncode != 0
        assert "the stack is currently locked by 1 lock(s)" in second.stderr, second.stderr
        assert f"created by {holder['username']}@{holder['hostname']} (pid {first.pid}) at " in second.stderr
        output, _ = first.communicate(timeout=900)
        assert first.returncode == 0, output
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=60)
    converged(project)  # exactly the first one's change, all of it


def test_an_up_killed_mid_way_on_postgres_is_recovered_and_converges(project: PulumiProject, backend: str) -> None:
    add_exchanges(project, "kil", 8)  # 24 topics
    killed = run_until(up_argv(project), project.env, project.dir, counter(TOPIC_CREATED, 8))
    [row] = postgres_state.lock_rows(backend, PROJECT, STACK)
    locked = project.run("up", "--yes", "--skip-preview", check=False)
    assert "the stack is currently locked" in locked.stderr, locked.stderr
    print(f"killed after {killed.seconds:.0f}s; lock row {row.key}")

    recovered = k2infra(project, "recover")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert re.search(
        r"^lock     released the lock of \S+ \(pid \d+\) at .*: pid \d+ is not running", recovered.stdout, re.M
    )
    assert postgres_state.lock_rows(backend, PROJECT, STACK) == []
    up = project.up()
    assert not re.search(r"\b(deleted|replaced)\b", up.stdout), up.stdout[-3000:]
    converged(project)
