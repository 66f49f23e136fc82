"""K2_PULUMI: which Pulumi CLI tools/env.sh puts first (a fitting one on PATH, or the built one).

Stand-in `pulumi` scripts that print a version: the rule alone, no CLI is run."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO


def fake_pulumi(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True)
    script = folder / "pulumi"
    script.write_text(f"#!/bin/sh\necho v{version}\n")
    script.chmod(0o755)
    return folder


def choose(tmp_path: Path, path_dirs: list[Path], k2_pulumi: str | None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "K2_TOOLS_DIR": str(tmp_path / "tools"),
    }
    if k2_pulumi is not None:
        env["K2_PULUMI"] = k2_pulumi
    return subprocess.run(
        ["sh", "-c", f'. "{REPO}/tools/env.sh" && echo "system=$K2_PULUMI_SYSTEM" && command -v pulumi'],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_rule_names_the_sdk_pin_of_requirements() -> None:
    pin = re.search(r"^pulumi==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    rule = re.search(r"^K2_PULUMI_SDK=(\S+)", (REPO / "tools" / "env.sh").read_text(), re.M)
    assert pin and rule and pin.group(1) == rule.group(1)


@pytest.mark.parametrize(
    ("version", "fits"), [("3.272.0", True), ("3.274.1", True), ("3.271.9", False), ("4.0.0", False)]
)
def test_auto_takes_a_pulumi_on_path_only_when_its_version_fits(tmp_path: Path, version: str, fits: bool) -> None:
    system = fake_pulumi(tmp_path / "system", version)
    built = fake_pulumi(tmp_path / "tools" / "bin", "3.274.1")
    done = choose(tmp_path, [system], None)
    assert done.returncode == 0, done.stderr
    if fits:
        assert done.stdout.splitlines() == [f"system={system}/pulumi", f"{system}/pulumi"]
    else:
        assert done.stdout.splitlines() == ["system=", f"{built}/pulumi"]


def test_system_refuses_a_pulumi_that_does_not_fit_saying_why(tmp_path: Path) -> None:
    done = choose(tmp_path, [fake_pulumi(tmp_path / "old", "3.100.0")], "system")
    assert done.returncode != 0
    assert "the SDK needs 3.x, at least 3.272.0" in done.stderr and "K2_PULUMI=build" in done.stderr
    assert "no pulumi on PATH" in choose(tmp_path, [], "system").stderr


def test_build_keeps_the_built_cli_first_whatever_is_on_path(tmp_path: Path) -> None:
    system = fake_pulumi(tmp_path / "system", "3.274.1")
    built = fake_pulumi(tmp_path / "tools" / "bin", "3.274.1")
    done = choose(tmp_path, [system], "build")
    assert done.stdout.splitlines() == ["system=", f"{built}/pulumi"]


def acquisition(tmp_path: Path, path_dirs: list[Path], k2_pulumi: str) -> str:
    done = subprocess.run(
        ["sh", "-c", f'. "{REPO}/tools/env.sh" && echo "${{PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION-unset}}"'],
        env={
            "PATH": os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"]),
            "HOME": str(tmp_path),
            "K2_TOOLS_DIR": str(tmp_path / "tools"),
            "K2_PULUMI": k2_pulumi,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_the_built_cli_does_not_try_to_download_plugins_while_a_system_cli_may(tmp_path: Path) -> None:
    """The built CLI serves machines without Pulumi's downloads: a fetch of a missing plugin (the
    docker plugin, outside `make tools-docker`) would only fail, 2.5 s into every run."""
    fake_pulumi(tmp_path / "tools" / "bin", "3.274.1")
    assert acquisition(tmp_path, [], "build") == "true"
    assert acquisition(tmp_path, [fake_pulumi(tmp_path / "system", "3.274.1")], "system") == "unset"
