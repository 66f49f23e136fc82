"""The distribution as an application gets it: a wheel built from the repository, installed in a
fresh virtualenv, used without Pulumi. Needs PyPI for the wheel's own dependencies (pydantic,
PyYAML, fastavro), which pip's cache usually answers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools leaves build/ and *.egg-info beside the sources it builds.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "k2infra", source / "k2infra", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        check=True,
        timeout=300,
    )
    [built] = out.glob("k2infra-*.whl")
    return built


def test_the_wheel_holds_the_k2infra_package_alone(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("k2infra-")}
    assert tops == {"k2infra"}
    for part in ("model", "client", "registry", "live", "deploy", "cli"):
        assert f"k2infra/{part}/__init__.py" in names
    assert "k2infra/model/topic_configs/kafka-4.4.0.json" in names  # read at run time by kafkaVersion checks


def test_an_application_installs_the_wheel_and_names_topics_without_pulumi(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "app-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=600,
    )
    code = (
        "import importlib.util, sys\n"
        "assert importlib.util.find_spec('pulumi') is None, 'pulumi came with the base install'\n"
        "from k2infra.client.naming import TopicNameBuilder, SubscriptionBuilder, load_plan\n"
        f"plan = load_plan({str(REPO / 'config')!r}, stack='prod', project_dir={str(REPO)!r})\n"
        "print(TopicNameBuilder(plan).build_topic_name('equities', 'trades', 'asx'))\n"
        "print(TopicNameBuilder(plan).get_topic_config('crypto', 'quotes', 'binance').partitions)\n"
        "print(','.join(SubscriptionBuilder(plan).subscribe_to_data_type('trades')))\n"
    )
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "market.equities.trades.asx",
        "40",
        "market.crypto.trades.binance,market.equities.trades.asx",
    ]
    # The console script is installed too, and validates without Pulumi.
    cli = subprocess.run(
        [str(venv / "bin" / "k2infra"), "validate", "--config-dir", str(REPO / "config")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("OK: the topology is valid: 6 topics, 6 schema subjects.")
