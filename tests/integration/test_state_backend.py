"""The PostgreSQL state backend on a real PostgreSQL (tools/postgres.sh) and the real Pulumi CLI.

A small Pulumi program (one secret config value, two outputs; no provider, no broker) stands for a
stack here: what is tested is the backend, not the resources. The k2infra stack on PostgreSQL,
concurrent `pulumi up`s of it and an interrupted up recovered are in tests/e2e/test_team_state.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devkit.pulumi_project import REPO
from devkit.state_db import StateDb, bin_dir
from k2infra.ops import postgres_state, stack_lock
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

PASSPHRASE = "k2-state-tests"
SECRET = "s3cr3t-value-never-printed"
PROGRAM = """\
import os
import time
from pathlib import Path

import pulumi

gate = os.environ.get("K2_TEST_GATE")
if gate and pulumi.runtime.is_dry_run() is False:
    # Held open until the test creates the gate file (its deadline is the test's own).
    deadline = time.monotonic() + 600
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
config = pulumi.Config()
pulumi.export("token", config.require_secret("token"))
pulumi.export("partitions", int(config.get("partitions") or "3"))
"""


def make_project(root: Path, backend: str, stack: str = "team") -> tuple[Path, dict[str, str]]:
    root.mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(
        f"name: k2state\nruntime:\n  name: python\n  options:\n    virtualenv: {REPO / '.venv'}\n"
    )
    (root / "__main__.py").write_text(PROGRAM)
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": backend,
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    pulumi(root, env, "stack", "init", stack, stack=False)
    pulumi(root, env, "config", "set", "--secret", "token", SECRET)
    pulumi(root, env, "up", "--yes", "--skip-preview")
    return root, env


def pulumi(
    project: Path, env: dict[str, str], *args: str, check: bool = True, stack: bool = True
) -> subprocess.CompletedProcess[str]:
    argv = ["pulumi", *args, "--non-interactive", "--cwd", str(project)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def k2infra(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k2infra", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


def no_changes(project: Path, env: dict[str, str]) -> None:
    pulumi(project, env, "preview", "--expect-no-changes")


@pytest.fixture(scope="module")
def cli() -> None:
    if shutil.which("pulumi") is None:
        pytest.fail("the Pulumi CLI is not on PATH: run `make tools` (or `source tools/env.sh`)")


# -- bad input ------------------------------------------------------------------------------------


def test_state_check_says_the_url_is_usable(state_db: StateDb) -> None:
    done = k2infra("state", "check", "--backend", state_db.url, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"state backend {postgres_state.masked(state_db.url)}: usable"
    assert state_db.password not in done.stdout


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong password", "PostgreSQL refused the password of user k2state; fix: put the right password in the URL"),
        ("unreachable", "cannot reach PostgreSQL at 127.0.0.1:"),
        ("missing database", "database nosuchdb does not exist on 127.0.0.1:"),
        ("missing table", "table pulumi_state does not exist in database"),
    ],
)
def test_a_backend_that_cannot_be_used_is_one_line_naming_the_url_and_the_fix(
    state_db: StateDb, cli: None, tmp_path: Path, case: str, expected: str
) -> None:
    if case == "wrong password":
        url = state_db.url_for(password="not-the-password")
    elif case == "unreachable":
        closed = subprocess.run(
            [
                sys.executable,
                "-c",
                "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        url = f"postgres://k2state:pw@127.0.0.1:{closed}/k2state?sslmode=disable"
    elif case == "missing database":
        url = state_db.url_for(database="nosuchdb")
    else:  # a role that may connect but not create the table the CLI needs
        name = f"t{uuid.uuid4().hex[:10]}"
        state_db.psql(f"CREATE DATABASE {name}", database="postgres")
        state_db.psql(f"CREATE ROLE r{name} LOGIN PASSWORD 'reader'", database="postgres")
        url = state_db.url_for(user=f"r{name}", password="reader", database=name)
    done = k2infra("state", "check", "--backend", url, env=dict(os.environ))
    print(done.stderr)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: state backend {postgres_state.masked(url)}: "), lines[0]
    assert expected in lines[0] and "; fix: " in lines[0]
    assert "not-the-password" not in done.stderr and ":pw@" not in done.stderr and "reader" not in done.stderr

    # recover against it exits 2 before it changes anything, with the same line.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / "config", project / "config")
    env = {**os.environ, "PULUMI_BACKEND_URL": url, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    recovered = k2infra("recover", "--stack", "dev", "--project-dir", str(project), env=env)
    assert recovered.returncode == 2, recovered.stdout + recovered.stderr
    assert lines[0] in recovered.stderr
    assert "lock " not in recovered.stdout  # nothing was looked at, let alone released


def test_a_passphrase_that_does_not_decrypt_the_stack_says_so_without_printing_a_secret(
    state_db: StateDb, cli: None, tmp_path: Path
) -> None:
    project, env = make_project(tmp_path / "p", state_db.new_database())
    wrong = {**env, "PULUMI_CONFIG_PASSPHRASE": "not-the-passphrase"}
    for args in (("preview",), ("stack", "output", "--show-secrets")):
        done = pulumi(project, wrong, *args, check=False)
        assert done.returncode != 0
        assert "incorrect passphrase" in done.stderr, done.stderr
        assert SECRET not in done.stdout + done.stderr and "not-the-passphrase" not in done.stdout + done.stderr


# -- locks ----------------------------------------------------------------------------------------


def test_a_second_up_stops_at_once_naming_who_holds_the_lock_and_a_gone_holder_is_released(
    state_db: StateDb, cli: None, tmp_path: Path
) -> None:
    url = state_db.new_database()
    project, env = make_project(tmp_path / "p", url)
    gate = tmp_path / "gate"
    first = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive", "--cwd", str(project),
         "-c", "partitions=6"],
        env={**env, "K2_TEST_GATE": str(gate)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        rows = wait_for(
            "the first up's lock row", lambda: postgres_state.lock_rows(url, "k2state", "team"), timeout=120
        )
        [row] = rows
        lock = stack_lock.judge_content(row.key, row.content or {})
        assert lock.verdict == "live" and lock.pid == first.pid, lock
        second = pulumi(project, env, "up", "--yes", "--skip-preview", check=False)
        assert second.returncode != 0
        said = second.stderr
        assert "the stack is currently locked by 1 lock(s)" in said, said
        assert f"created by {lock.username}@{lock.hostname} (pid {first.pid}) at " in said, said
        assert url.split("@")[0] not in said  # the CLI masks the credentials too
        gate.touch()
        assert first.wait(timeout=300) == 0, first.stdout.read() if first.stdout else ""
    finally:
        gate.touch()
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=60)
    # Exactly the first one ran: one update more in the history (the second never started), its change made.
    assert len(json.loads(pulumi(project, env, "stack", "history", "--json").stdout)) == 2
    assert pulumi(project, env, "stack", "output", "partitions").stdout.strip() == "6"
    assert postgres_state.lock_rows(url, "k2state", "team") == []

    # A holder killed mid-update leaves its row; once it is gone it is judged stale, and released alone.
    gate.unlink()
    killed = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive", "--cwd", str(project)],
        env={**env, "K2_TEST_GATE": str(gate)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for("the lock row", lambda: postgres_state.lock_rows(url, "k2state", "team"), timeout=120)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=60)
    [row] = postgres_state.lock_rows(url, "k2state", "team")
    lock = stack_lock.judge_content(row.key, row.content or {})
    assert lock.verdict == "stale", lock
    assert "the stack is currently locked" in pulumi(project, env, "up", "--yes", check=False).stderr
    postgres_state.delete_lock(url, row.key)
    assert postgres_state.lock_rows(url, "k2state", "team") == []
    no_changes(project, env)


# -- moving, backing up, rotating -------------------------------------------------------------------


def test_a_stack_migrated_file_to_postgres_and_back_previews_no_change(
    state_db: StateDb, cli: None, tmp_path: Path
) -> None:
    file_backend = tmp_path / "backend"
    file_backend.mkdir()
    file_url = f"file://{file_backend}"
    pg_url = state_db.new_database()
    project, env = make_project(tmp_path / "p", file_url)

    moved = k2infra("state", "migrate", "--stack", "team", "--project-dir", str(project), "--to", pg_url, env=env)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"stack team: 1 resource(s) copied from {file_url} to {postgres_state.masked(pg_url)}" in moved.stdout
    assert state_db.password not in moved.stdout + moved.stderr
    on_pg = {**env, "PULUMI_BACKEND_URL": pg_url}
    no_changes(project, on_pg)
    assert pulumi(project, on_pg, "stack", "output", "token", "--show-secrets").stdout.strip() == SECRET

    # A target that already holds the stack is refused, and changes nothing.
    again = k2infra("state", "migrate", "--stack", "team", "--project-dir", str(project), "--to", pg_url, env=env)
    assert again.returncode == 1 and "already exists" in again.stderr, again.stderr

    # ... and back, to a new file backend.
    back_dir = tmp_path / "back"
    back_dir.mkdir()
    back = k2infra(
        "state", "migrate", "--stack", "team", "--project-dir", str(project), "--to", f"file://{back_dir}", env=on_pg
    )
    assert back.returncode == 0, back.stdout + back.stderr
    no_changes(project, {**env, "PULUMI_BACKEND_URL": f"file://{back_dir}"})


def test_pg_dump_and_restore_of_the_state_database_then_no_changes(
    state_db: StateDb, cli: None, tmp_path: Path
) -> None:
    url = state_db.new_database()
    name = url.rsplit("/", 1)[1].split("?")[0]
    project, env = make_project(tmp_path / "p", url)
    dump = tmp_path / "state.dump"
    client = state_db.client_env()
    # As docs/runbook.md "Team state in PostgreSQL" says: pg_dump -Fc, then into a fresh database pg_restore.
    subprocess.run([bin_dir() / "pg_dump", "-Fc", "-d", name, "-f", dump], env=client, check=True, timeout=300)
    state_db.psql(f"DROP DATABASE {name}", database="postgres")
    assert pulumi(project, env, "preview", check=False).returncode != 0  # the state is gone
    state_db.psql(f"CREATE DATABASE {name}", database="postgres")
    subprocess.run([bin_dir() / "pg_restore", "-d", name, dump], env=client, check=True, timeout=300)
    no_changes(project, env)
    assert pulumi(project, env, "stack", "output", "token", "--show-secrets").stdout.strip() == SECRET


def test_rotating_the_passphrase_with_change_secrets_provider(state_db: StateDb, cli: None, tmp_path: Path) -> None:
    project, env = make_project(tmp_path / "p", state_db.new_database())
    rotated = {**env, "PULUMI_CONFIG_PASSPHRASE": "the-new-team-passphrase"}
    # Non-interactive, the CLI takes the current passphrase from PULUMI_CONFIG_PASSPHRASE and the new one
    # from its standard input (one line), as docs/runbook.md "Team state in PostgreSQL" spells it.
    done = subprocess.run(
        ["pulumi", "stack", "change-secrets-provider", "passphrase", "--non-interactive", "--cwd", str(project)],
        env=env,
        input="the-new-team-passphrase\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert pulumi(project, rotated, "stack", "output", "token", "--show-secrets").stdout.strip() == SECRET
    no_changes(project, rotated)
    old = pulumi(project, env, "preview", check=False)
    assert old.returncode != 0 and "incorrect passphrase" in old.stderr
