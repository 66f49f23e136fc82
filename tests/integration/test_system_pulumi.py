"""K2_PULUMI=system with a real CLI: the built one, linked into another directory as if a team had
installed it its usual way. The tools step then builds no CLI, and tools/env.sh puts that one first."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_the_tools_step_and_the_shell_use_a_fitting_pulumi_already_on_path(tmp_path: Path) -> None:
    tools = Path(os.environ.get("K2_TOOLS_DIR", Path.home() / ".cache" / "k2infra" / "tools"))
    built = (tools / "bin").resolve()
    if not (built / "pulumi").is_file():
        pytest.fail(f"no built Pulumi CLI in {built}: run `make tools`")
    system = tmp_path / "usr-local-bin"
    system.mkdir()
    for binary in built.iterdir():  # a system install ships the language host and launchers beside it
        if not binary.name.startswith("."):
            (system / binary.name).symlink_to(binary)
    path = [p for p in os.environ["PATH"].split(os.pathsep) if Path(p).resolve() != built]
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(system), *path]),
        "K2_PULUMI": "system",
        "K2_TOOLS_DIR": str(tools),
    }
    stamps = {p: p.stat().st_mtime_ns for p in built.glob(".*.stamp")}

    installed = subprocess.run(
        ["bash", str(REPO / "tools" / "install-pulumi.sh")], env=env, capture_output=True, text=True, timeout=900
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"pulumi: using {system}/pulumi (v3.274.1: fits the SDK's 3.272.0" in installed.stdout
    assert "building" not in installed.stdout
    assert {p: p.stat().st_mtime_ns for p in built.glob(".*.stamp")} == stamps  # no CLI rebuilt or restamped

    shell = subprocess.run(
        ["bash", "-c", f'. "{REPO}/tools/env.sh" && command -v pulumi && pulumi plugin ls --json'],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.splitlines()[0] == f"{system}/pulumi"
    assert '"name": "kafka"' in shell.stdout  # the provider plugin installed beside either CLI
