"""`python -m k2infra allow-data-loss --stack S TOPIC...`: the data-loss override as a command that
edits only k2infra:allowDataLoss of the stack file (every other value keeps its type, its comments stay)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from k2infra.cli.main import main
from k2infra.model.stack import load_stack_file
from tests.conftest import REPO

STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in REPO.glob("Pulumi.*.yaml"))
TOPICS = ["market.crypto.trades.binance", "market.crypto.quotes.binance"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#") or " # " in line]


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "prod-local"])
def test_allowing_topics_lists_them_and_keeps_every_other_value_its_type_and_the_comments(
    project_dir: Path, stack: str
) -> None:
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    before = stack_file.read_text()
    code, out, _ = run("allow-data-loss", "--stack", stack, "--project-dir", str(project_dir), *TOPICS)
    assert code == 0
    after = stack_file.read_text()
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    assert new["config"].pop("k2infra:allowDataLoss") == TOPICS
    assert new == old  # same keys, same values of the same types (1 stays 1, false stays false)
    assert comments(after) == comments(before)
    assert f"Pulumi.{stack}.yaml: k2infra:allowDataLoss: {', '.join(TOPICS)}" in out
    assert f"python -m k2infra allow-data-loss --stack {stack} --remove {' '.join(TOPICS)}" in out
    loaded = load_stack_file(project_dir / "config", stack, project_dir)  # the program reads what was written
    assert list(loaded.safety.allow_data_loss) == TOPICS


def test_allowing_again_adds_only_new_topics_and_removing_them_all_gives_back_the_file_as_it_was(
    project_dir: Path,
) -> None:
    stack_file = project_dir / "Pulumi.dev.yaml"
    original = stack_file.read_text()
    args = ("allow-data-loss", "--stack", "dev", "--project-dir", str(project_dir))
    run(*args, TOPICS[0])
    run(*args, *TOPICS)
    assert yaml.safe_load(stack_file.read_text())["config"]["k2infra:allowDataLoss"] == TOPICS
    code, out, _ = run(*args, "--remove", *TOPICS)
    assert code == 0
    assert "k2infra:allowDataLoss: (none: the key is removed)" in out
    assert stack_file.read_text() == original


def test_a_name_that_is_not_a_k2_topic_or_a_missing_stack_file_is_refused_without_writing(project_dir: Path) -> None:
    stack_file = project_dir / "Pulumi.dev.yaml"
    original = stack_file.read_text()
    code, _, err = run("allow-data-loss", "--stack", "dev", "--project-dir", str(project_dir), "trades")
    assert code == 2 and "not a K2 topic name" in err and "trades" in err
    code, _, err = run("allow-data-loss", "--stack", "qa", "--project-dir", str(project_dir), TOPICS[0])
    assert code == 2 and "Pulumi.qa.yaml does not exist" in err
    assert stack_file.read_text() == original
