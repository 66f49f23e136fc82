"""tools/diagram.py: a PNG and a Mermaid flowchart of a stack's plan, from the plan alone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from k2infra.client.naming import load_plan
from tests.conftest import REPO

SCRIPT = REPO / "tools" / "diagram.py"
NYSE = {"name": "New York Stock Exchange", "partitions": 100, "country": "US", "timezone": "America/New_York"}


def diagram(project_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the script as users do (a fresh interpreter, no display), on a copied project."""
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--config-dir",
            str(project_dir / "config"),
            "--project-dir",
            str(project_dir),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")},  # headless
    )


def test_png_is_written(project_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "topology.png"
    result = diagram(project_dir, "--stack", "prod", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000


def test_mermaid_names_every_planned_topic_and_subject(project_dir: Path) -> None:
    result = diagram(project_dir, "--stack", "prod", "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("flowchart LR\n")
    plan = load_plan(project_dir / "config", "prod", project_dir)
    for topic in plan.topics:
        assert f'["{topic.name}<br/>{topic.partitions} partition' in text, topic.name
    for subject in plan.subjects:
        assert f'[("{subject.subject}")]' in text, subject.subject
    assert text.count(", compacted") == 2  # the two reference_data topics


def test_a_new_exchange_appears(project_dir: Path, edit_topology: Callable[[Callable[[dict], None]], Path]) -> None:
    edit_topology(lambda t: t["asset_classes"]["equities"]["exchanges"].update(nyse=NYSE))
    result = diagram(project_dir, "--stack", "prod", "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    assert "nyse<br/>New York Stock Exchange" in result.stdout
    for data_type in ("trades", "quotes"):
        assert f'["market.equities.{data_type}.nyse<br/>100 partitions"]' in result.stdout
    assert '["market.equities.reference_data.nyse<br/>1 partition, compacted"]' in result.stdout
    # The new exchange's topics share the asset class's subjects: still six.
    assert result.stdout.count('[("market.') == 6


def test_bad_input_exits_2_with_the_validator_report(project_dir: Path) -> None:
    result = diagram(project_dir, "--stack", "nope", "--format", "mermaid")
    assert result.returncode == 2
    assert "no such stack file (stacks here: dev, prod, staging)" in result.stderr
    assert result.stdout == ""
