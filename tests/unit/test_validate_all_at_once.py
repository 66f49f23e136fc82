"""Every input is checked in one run: a mistake in each of topics.yaml, a schema, apps.yaml and the
stack file is reported together, each as `file:line: field: message`, by `validate` and by the
program (the same lines, under a heading per file, with the stack file's line numbers)."""

from __future__ import annotations

import io
from pathlib import Path

import pulumi
import pytest

from devkit.pulumi_mocks import run_program
from k2infra.cli.main import main


def one_mistake_in_each_input(project_dir: Path) -> None:
    config = project_dir / "config"
    topics = config / "kafka" / "topics.yaml"
    topics.write_text(topics.read_text().replace("partitions: 30", "partitions: 0", 1))
    schema = config / "schemas" / "equities" / "trades.avsc"
    schema.write_text(schema.read_text().replace('"name": "trade",', '"name": "trades",', 1))
    apps = config / "kafka" / "apps.yaml"
    apps.write_text(apps.read_text().replace("    group: equities-analytics\n", "    gruop: equities-analytics\n", 1))
    stack = project_dir / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("k2infra:retentionMs:", "k2infra:retentionMS:", 1))


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.fixture
def broken(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    one_mistake_in_each_input(project_dir)
    monkeypatch.chdir(project_dir)  # paths in the report are relative to the working directory
    return project_dir


def expected_lines(project_dir: Path) -> list[str]:
    stack_line = line_of(project_dir / "Pulumi.dev.yaml", "retentionMS")
    apps_line = line_of(project_dir / "config/kafka/apps.yaml", "gruop")
    topics_line = line_of(project_dir / "config/kafka/topics.yaml", "partitions: 0")
    return [
        f"Pulumi.dev.yaml:{stack_line}: k2infra:retentionMS: unknown stack setting (did you mean 'retentionMs'?)",
        f"config/kafka/apps.yaml:{apps_line}: apps.equities-analytics.gruop: unknown key",
        f"config/kafka/topics.yaml:{topics_line}: asset_classes.equities.exchanges.asx.partitions: "
        "must be an integer between 1 and 10000, got 0",
        "config/schemas/equities/trades.avsc",
    ]


def test_validate_reports_a_mistake_in_every_input_file_in_one_run(broken: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", "--stack", "dev"], stdout=out, stderr=err)
    assert code == 2 and out.getvalue() == ""
    report = err.getvalue()
    for expected in expected_lines(broken):
        assert any(line.strip().startswith(expected) for line in report.splitlines()), (expected, report)
    # a heading per file, each once
    headings = [line for line in report.splitlines() if not line.startswith("  ")]
    assert [h.split(" in ", 1)[1] for h in headings] == [
        "Pulumi.dev.yaml:",
        "config/kafka/apps.yaml:",
        "config/kafka/topics.yaml:",
        "config/schemas/equities/trades.avsc:",
    ], report
    assert "K2 topology" not in report


def test_the_program_reports_the_same_lines_once_under_a_heading_per_file(broken: Path) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        run_program(broken, "dev")
    message = str(caught.value)
    out, err = io.StringIO(), io.StringIO()
    main(["validate", "--stack", "dev"], stdout=out, stderr=err)
    assert message.strip() == err.getvalue().strip()  # the same report as validate, line numbers included
    for expected in expected_lines(broken):
        assert sum(line.strip().startswith(expected) for line in message.splitlines()) == 1, (expected, message)


def test_a_malformed_registry_node_is_refused_at_load_with_its_line_among_the_other_mistakes(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = project_dir / "Pulumi.dev.yaml"
    text = stack.read_text().replace("k2infra:retentionMs:", "k2infra:retentionMS:", 1)
    nodes = "http://127.0.0.1:18081/apis/ccompat/v7,htp://127.0.0.1:18091/apis/ccompat/v7, ,http://h:port"
    stack.write_text(
        text.replace(
            "k2infra:schemaRegistryUrl: http://127.0.0.1:18081/apis/ccompat/v7", f"k2infra:schemaRegistryUrl: '{nodes}'"
        )
    )
    monkeypatch.chdir(project_dir)
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", "--stack", "dev"], stdout=out, stderr=err) == 2
    report = [line.strip() for line in err.getvalue().splitlines()]
    url_line = line_of(stack, "schemaRegistryUrl")
    assert (
        f"Pulumi.dev.yaml:{url_line}: k2infra:schemaRegistryUrl: "
        "entry 2 of 4 must be an http:// or https:// URL, got 'htp://127.0.0.1:18091/apis/ccompat/v7'; "
        "entry 3 of 4 must be an http:// or https:// URL, got ''; "
        "entry 4 of 4 has a port that is not a number: 'http://h:port'"
    ) in report
    assert any(
        line.endswith("k2infra:retentionMS: unknown stack setting (did you mean 'retentionMs'?)") for line in report
    )
    assert f"'{nodes}'" in stack.read_text()
