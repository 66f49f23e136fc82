"""Quiet make targets: tools/quiet.sh (a line per step, the output in a log), tools/up_summary.py
(the closing lines of `make up`) and `make env` (the shell setup of runbook §0)."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

from tests.conftest import REPO

QUIET = REPO / "tools" / "quiet.sh"


def quiet(tmp_path: Path, *command: str, verbose: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "K2_LOG_DIR": str(tmp_path / "logs"), "K2_VERBOSE": "1" if verbose else ""}
    return subprocess.run(
        ["bash", str(QUIET), "step", "doing the step", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_a_quiet_step_prints_one_line_and_keeps_the_output_in_its_log(tmp_path: Path) -> None:
    done = quiet(tmp_path, "bash", "-c", "for i in $(seq 50); do echo noise $i; done")
    assert done.returncode == 0
    assert done.stdout.startswith("doing the step ... done (")
    assert len(done.stdout.splitlines()) == 1
    assert (tmp_path / "logs" / "step.log").read_text().count("noise") == 50


def test_a_failed_quiet_step_shows_its_output_and_the_log_path_and_keeps_the_exit_status(tmp_path: Path) -> None:
    done = quiet(tmp_path, "bash", "-c", "echo refused: topics hold records; exit 3")
    assert done.returncode == 3
    assert "failed" in done.stdout and "exit 3" in done.stdout
    assert "  refused: topics hold records" in done.stdout
    assert f"full log: {tmp_path / 'logs' / 'step.log'}" in done.stdout


def test_a_long_failed_log_is_cut_to_its_end(tmp_path: Path) -> None:
    done = quiet(tmp_path, "bash", "-c", "for i in $(seq 200); do echo line $i; done; exit 1")
    assert "the last 40 of 200 lines" in done.stdout
    assert "line 200" in done.stdout and "line 100\n" not in done.stdout


def test_verbose_shows_the_whole_output_and_still_logs_it(tmp_path: Path) -> None:
    done = quiet(tmp_path, "bash", "-c", "for i in $(seq 5); do echo noise $i; done", verbose=True)
    assert done.returncode == 0
    assert done.stdout.count("noise") == 5
    assert (tmp_path / "logs" / "step.log").read_text().count("noise") == 5


UP_LOG = """Updating (dev):
 +  pulumi:pulumi:Stack k2infra-dev creating
Outputs:
    topics: {...}

Resources:
    + 15 created

Duration: 4s
"""


def test_the_up_summary_prints_the_resource_counts_each_output_on_one_line_and_the_next_command() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("up_summary", REPO / "tools" / "up_summary.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    outputs = {
        "bootstrap_servers": "127.0.0.1:19092",
        "topics": {f"market.t{i}": {"partitions": 3} for i in range(40)},
        "apps": {},
    }
    module.write_summary(outputs, UP_LOG, ".state/logs/up.log", "dev", out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "resources: + 15 created (4s)  (full log: .state/logs/up.log)"
    assert "  bootstrap_servers  127.0.0.1:19092" in lines
    assert "  apps               {}" in lines
    topics = next(line for line in lines if line.startswith("  topics"))
    assert topics.startswith("  topics             40: market.t0, ") and topics.endswith("...")
    assert lines[-1].startswith('next: eval "$(make env)"')
    assert len(lines) == 2 + len(outputs) + 1


def test_make_env_prints_only_exports_for_the_built_pulumi_the_venv_and_the_local_backend(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "K2_")) and k not in ("MAKEFLAGS", "MFLAGS")
    }
    env["HOME"] = str(tmp_path)  # nothing may be written there
    # The built toolchain asked for: under CI a built `pulumi` of another tools dir is on PATH, which
    # K2_PULUMI=auto would take as the system's (tests/integration/test_system_pulumi.py covers auto).
    env["K2_PULUMI"] = "build"
    done = subprocess.run(["make", "-s", "env"], cwd=REPO, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "login" not in done.stdout
    shell = subprocess.run(
        [
            "bash",
            "-c",
            'eval "$1"; echo "$PULUMI_BACKEND_URL|$PULUMI_CONFIG_PASSPHRASE"; command -v python; echo "$PATH"',
            "-",
            done.stdout,  # as a user's shell reads `eval "$(make env)"`
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    backend, python, path = shell.stdout.splitlines()
    assert backend == f"file://{REPO}/.state/pulumi|k2-local-dev"
    assert python == f"{REPO}/.venv/bin/python"
    assert f"{tmp_path}/.cache/k2infra/tools/bin" in path.split(":")  # where tools/install-pulumi.sh puts pulumi
    assert not any(tmp_path.iterdir())
