"""Capacity advice as pure functions (`k2infra.observe.capacity`): the arithmetic of measured bytes per
second against the per-partition budget, never fewer partitions, and the exact YAML edit; the real
broker and producer are in tests/integration/test_capacity_live.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from k2infra.cli.main import main
from k2infra.live.admin import RecordAt
from k2infra.model.errors import InputError, TopologyError
from k2infra.model.stack import load_stack_file
from k2infra.model.topology import load_topology
from k2infra.observe import capacity, feeds
from k2infra.observe.declaration import Watched

NOW_MS = 1_800_000_000_000
TRADES = "market.equities.trades.asx"
QUOTES = "market.equities.quotes.asx"
BINANCE = "market.crypto.trades.binance"


def watched_of(project_dir: Path, stack: str) -> Watched:
    plan = load_stack_file(project_dir / "config", stack, project_dir).plan
    return Watched.load(project_dir / "config", plan)


def window(watched: Watched, appended: dict[tuple[str, int], int], size: int = 100) -> tuple[feeds.NewestRead, ...]:
    """Two reads 10 s apart: every planned topic at its planned count, `appended` records of `size` bytes."""
    partitions = {t.name: t.partitions for t in watched.plan.topics}
    start = {(t, p): 1000 for t, n in partitions.items() for p in range(n)}
    end = {k: v + appended.get(k, 0) for k, v in start.items()}
    newest = {k: RecordAt(end[k] - 1, NOW_MS, size=size) for k in appended}
    return feeds.NewestRead(NOW_MS - 10_000, partitions, start, {}), feeds.NewestRead(NOW_MS, partitions, end, newest)


def test_partitions_needed_are_the_measured_bytes_over_the_budget_and_never_fewer_than_today(project_dir: Path) -> None:
    watched = watched_of(project_dir, "dev")  # asx: 3 partitions (the stack's cap), binance 4
    earlier, later = window(watched, {(TRADES, 0): 100, (TRADES, 1): 100, (TRADES, 2): 100, (QUOTES, 0): 500})
    rows = {r.topic: r for r in capacity.assess(watched, earlier, later, budget=1000)}
    trades, quotes, quiet = rows[TRADES], rows[QUOTES], rows[BINANCE]
    # 300 records of 100 bytes in 10 s: 3000 B/s, 1000 per partition, exactly the budget.
    assert (trades.rate.bytes_per_second, trades.per_partition, trades.needed, trades.recommended) == (3000, 1000, 3, 3)
    assert (quotes.rate.bytes_per_second, quotes.needed, quotes.recommended) == (5000, 5, 5)
    assert (quotes.rate.hottest, quotes.hottest_bytes) == (0, 5000)
    assert any("partition 0 alone carries 5000 B/s, over the budget" in n and "symbol" in n for n in quotes.notes)
    assert (quiet.rate.bytes_per_second, quiet.needed, quiet.recommended) == (0, 1, 4)  # never fewer


def test_a_rising_count_is_the_exact_edit_of_the_setting_it_comes_from(project_dir: Path) -> None:
    watched = watched_of(project_dir, "prod")  # asx: 30 partitions from the topology
    appended = {(TRADES, p): 40 for p in range(30)} | {(BINANCE, 0): 10}
    rows = capacity.assess(watched, *window(watched, appended), budget=300)  # 12000 B/s: 40 partitions
    (edit,) = capacity.edits(rows)
    topology = project_dir / "config" / "kafka" / "topics.yaml"
    assert (edit.file, edit.field, edit.current, edit.recommended) == (
        str(topology),
        "asset_classes.equities.exchanges.asx.partitions",
        30,
        40,
    )
    assert edit.topics == (QUOTES, TRADES)  # the exchange's count: its quotes rise with its trades
    patch, unwritten = capacity.diff([edit], lambda file: Path(file).read_text())
    assert unwritten == []
    changed = [line for line in patch.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-        partitions: 30", "+        partitions: 40"]
    assert patch.startswith(f"--- {topology}\n+++ {topology}\n@@ -{edit.line - 3},7 +{edit.line - 3},7 @@")


def test_an_exchange_under_the_stacks_cap_gets_a_count_of_its_own_in_the_stack_file(project_dir: Path) -> None:
    watched = watched_of(project_dir, "dev")  # asx capped at 3 by k2infra:maxPartitions
    rows = capacity.assess(watched, *window(watched, {(QUOTES, 0): 500}), budget=1000)
    (edit,) = capacity.edits(rows)
    assert (edit.field, edit.ref, edit.recommended) == ("k2infra:maxPartitions", "equities.asx", 5)
    assert edit.topics == (QUOTES, TRADES)  # the exchange's count: its trades rise with its quotes
    patch, _ = capacity.diff([edit], lambda file: Path(file).read_text())
    changed = [line for line in patch.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["+    equities.asx: 5"]  # under the existing k2infra:partitions, beside crypto.binance: 4
    assert "   k2infra:partitions:\n+    equities.asx: 5\n     crypto.binance: 4\n" in patch


def test_nothing_to_raise_is_no_edit(project_dir: Path) -> None:
    watched = watched_of(project_dir, "dev")
    rows = capacity.assess(watched, *window(watched, {(TRADES, 0): 1}), budget=1_048_576)
    assert capacity.edits(rows) == []
    assert all(r.recommended == r.partitions for r in rows)


def test_an_undeclared_budget_names_the_field_to_declare(project_dir: Path) -> None:
    path = project_dir / "config" / "kafka" / "topics.yaml"
    path.write_text(path.read_text().replace("  partition_budget_bytes_per_second: 1048576", "  # (no budget)"))
    with pytest.raises(InputError) as caught:
        capacity.budget_of(watched_of(project_dir, "dev"), "config/kafka/topics.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "config/kafka/topics.yaml: defaults.partition_budget_bytes_per_second: not declared: capacity needs the "
        "bytes per second one partition should carry"
    ]


@pytest.mark.parametrize(("value", "got"), [("0", "0"), ("'1MB'", "'1MB'"), ("1.5", "1.5")])
def test_a_budget_that_is_not_a_positive_integer_is_refused_with_its_line(
    config_dir: Path, value: str, got: str
) -> None:
    path = config_dir / "kafka" / "topics.yaml"
    text = path.read_text()
    line = text[: text.index("  partition_budget_bytes_per_second:")].count("\n") + 1
    path.write_text(
        text.replace("partition_budget_bytes_per_second: 1048576", f"partition_budget_bytes_per_second: {value}")
    )
    with pytest.raises(TopologyError) as caught:
        load_topology(config_dir)
    problems = [str(p) for p in caught.value.problems]
    assert len(problems) == 1
    assert problems[0].endswith(
        f"topics.yaml:{line}: defaults.partition_budget_bytes_per_second: must be an integer between 1 and "
        f"1000000000000, got {got}"
    )


def run_capacity(project_dir: Path, *args: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main(["capacity", "--stack", "dev", "--project-dir", str(project_dir), *args], io.StringIO(), err)
    return code, err.getvalue()


def test_capacity_refuses_a_window_that_is_not_a_positive_duration_before_reading(project_dir: Path) -> None:
    assert run_capacity(project_dir, "--window", "10 minutes") == (
        2,
        "error: --window must be a positive duration such as '10m' or '1h', got '10 minutes'\n",
    )
    assert run_capacity(project_dir, "--window", "0s")[0] == 2


def test_capacity_without_a_budget_names_the_key_and_exits_2_before_reading(project_dir: Path) -> None:
    path = project_dir / "config" / "kafka" / "topics.yaml"
    path.write_text(path.read_text().replace("  partition_budget_bytes_per_second: 1048576", "  # (no budget)"))
    code, err = run_capacity(project_dir)  # the stack's broker is not running: the check comes first
    assert code == 2
    assert "defaults.partition_budget_bytes_per_second: not declared" in err
