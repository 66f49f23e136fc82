"""`python -m k2infra validate|topics|subscriptions`: output, JSON and exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import yaml

from k2infra.cli.main import main
from tests.conftest import PROD_TOPICS, REPO


def run(*argv: str, cwd: Path = REPO) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = list(argv)
    if "--config-dir" not in args:
        args += ["--config-dir", str(cwd / "config"), "--project-dir", str(cwd)]
    code = main(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_validate_ok() -> None:
    code, out, _ = run("validate", "--stack", "prod")
    assert code == 0
    assert out.splitlines() == [
        "OK: stack prod is valid: 6 topics, 6 schema subjects.",
        "Partitions per topic in stack prod:",
        "  crypto.binance: quotes 40, reference_data 1, trades 40 (the topology's)",
        "  equities.asx: quotes 30, reference_data 1, trades 30 (the topology's)",
        "  a new exchange: its partitions in config/kafka/topics.yaml (no k2infra:maxPartitions); "
        "reference_data 1 (the data type's)",
        "Not checked offline: the cluster's live partition counts. A plan below them is refused at preview "
        "(make preview), before any change.",
    ]


def test_validate_without_a_stack_says_only_that_the_topology_is_valid() -> None:
    code, out, _ = run("validate")
    assert code == 0
    assert out.strip() == "OK: the topology is valid: 6 topics, 6 schema subjects."


def test_validate_of_a_stack_shows_what_an_exchange_added_to_the_topology_alone_gets(project_dir: Path) -> None:
    topology = project_dir / "config" / "kafka" / "topics.yaml"
    data = yaml.safe_load(topology.read_text())
    data["asset_classes"]["equities"]["exchanges"]["nyse"] = {
        "name": "New York Stock Exchange",
        "partitions": 100,
        "timezone": "America/New_York",
    }
    topology.write_text(yaml.safe_dump(data, sort_keys=False))
    expected = {"dev": "quotes 3, reference_data 1, trades 3 (100 in the topology, capped by k2infra:maxPartitions)"}
    expected["staging"] = expected["dev"].replace("3", "12").replace("reference_data 12", "reference_data 1")
    expected["prod"] = "quotes 100, reference_data 1, trades 100 (the topology's)"
    for stack, line in expected.items():
        code, out, _ = run("validate", "--stack", stack, cwd=project_dir)
        assert code == 0
        assert f"  equities.nyse: {line}" in out.splitlines(), out


def test_validate_reports_problems_on_stderr_with_exit_2(project_dir: Path) -> None:
    topology = project_dir / "config" / "kafka" / "topics.yaml"
    topology.write_text(topology.read_text().replace("partitions: 30", "partitions: 0"))
    code, out, err = run("validate", cwd=project_dir)
    assert code == 2
    assert out == ""
    assert "asset_classes.equities.exchanges.asx.partitions: must be an integer between 1 and 10000, got 0" in err
    assert "Traceback" not in err


def test_project_dir_alone_takes_the_topology_of_that_project_too(project_dir: Path) -> None:
    """--project-dir X reads X's stack file and X/config, not the working directory's config (a mix hid mistakes)."""
    topology = project_dir / "config" / "kafka" / "topics.yaml"
    topology.write_text(topology.read_text().replace("partitions: 30", "partitions: 0"))
    err = io.StringIO()
    code = main(["validate", "--stack", "dev", "--project-dir", str(project_dir)], stdout=io.StringIO(), stderr=err)
    assert code == 2
    assert (
        "asset_classes.equities.exchanges.asx.partitions: must be an integer between 1 and 10000, got 0"
        in err.getvalue()
    )


def test_topics_json_for_prod_is_the_platform_of_today() -> None:
    code, out, _ = run("topics", "--stack", "prod", "--json")
    assert code == 0
    payload = json.loads(out)
    topics = {t["name"]: t for t in payload["topics"]}
    assert {n: t["partitions"] for n, t in topics.items()} == PROD_TOPICS
    assert {t["replication_factor"] for t in topics.values()} == {3}
    assert topics["market.crypto.reference_data.binance"]["config"]["cleanup.policy"] == "compact"
    assert set(topics["market.equities.trades.asx"]) == {
        "name",
        "asset_class",
        "data_type",
        "exchange",
        "partitions",
        "replication_factor",
        "config",
        "schema_subject",
        "schema_name",
        "partition_key",
    }
    assert sorted(s["subject"] for s in payload["subjects"]) == sorted(
        f"market.{ac}.{dt}-value" for ac in ("crypto", "equities") for dt in ("quotes", "reference_data", "trades")
    )


def test_topics_table_lists_every_topic() -> None:
    code, out, _ = run("topics", "--stack", "dev")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["TOPIC", "PARTITIONS", "RF", "SUBJECT", "KEY"]
    assert any(line.startswith("market.equities.trades.asx") and " 3 " in line for line in lines)
    assert "6 topics, 6 subjects (BACKWARD):" in out


def test_subscriptions_by_exchange() -> None:
    code, out, _ = run("subscriptions", "--exchange", "equities.asx")
    assert code == 0
    assert out.splitlines() == [
        "market.equities.quotes.asx",
        "market.equities.reference_data.asx",
        "market.equities.trades.asx",
    ]


def test_subscriptions_by_asset_class_filtered_json() -> None:
    code, out, _ = run("subscriptions", "--asset-class", "equities", "--data-types", "trades,quotes", "--json")
    assert code == 0
    assert json.loads(out) == ["market.equities.quotes.asx", "market.equities.trades.asx"]


def test_subscriptions_by_data_type() -> None:
    code, out, _ = run("subscriptions", "--data-type", "reference_data")
    assert out.splitlines() == ["market.crypto.reference_data.binance", "market.equities.reference_data.asx"]
    assert code == 0


def test_subscriptions_unknown_exchange_exits_2() -> None:
    code, _, err = run("subscriptions", "--exchange", "equities.nyse")
    assert code == 2
    assert err.strip() == "error: unknown exchange 'equities.nyse' (known: crypto.binance, equities.asx)"


def test_module_entry_point_and_usage_errors() -> None:
    ok = subprocess.run([sys.executable, "-m", "k2infra", "validate"], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "k2infra", "subscriptions", "--data-type", "trades", "--exchanges", "asx"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert usage.returncode == 2
    assert "--data-types and --exchanges go with --asset-class" in usage.stderr
