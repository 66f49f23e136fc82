"""The benchmark's synthetic topologies and its report rendering (fake numbers; no timing asserted)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from bench import floor, report, topologies
from bench.measure import Stat
from k2infra.client.naming import load_plan
from k2infra.model.topology import load_topology

REPO = Path(__file__).resolve().parents[2]


# -- synthetic topologies -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [6, 7, 8, 60, 300, 601, 3000])
def test_exactly_the_asked_number_of_topics(size: int) -> None:
    topology = topologies.synthetic_topology(size)
    assert len(topology.topics) == size
    assert all(name.startswith("market.") for name in topology.topics)


def test_six_topics_are_the_real_exchanges_with_small_partition_counts() -> None:
    topology = topologies.synthetic_topology(6)
    assert set(topology.topics) == {
        f"market.{ac}.{dt}.{ex}"
        for ac, ex in (("equities", "asx"), ("crypto", "binance"))
        for dt in ("trades", "quotes", "reference_data")
    }
    assert all(1 <= p <= 3 for p in topology.topics.values())


def test_grows_exchanges_per_asset_class_keeping_data_types_and_configs() -> None:
    base = topologies.load_base()
    topology = topologies.synthetic_topology(60, base)
    data = topology.data
    assert data["defaults"] == base["defaults"]
    assert data["data_types"] == base["data_types"]
    assert data["legacy"] == base["legacy"]
    equities = data["asset_classes"]["equities"]["exchanges"]
    crypto = data["asset_classes"]["crypto"]["exchanges"]
    assert len(equities) == len(crypto) == 10
    assert list(equities)[:3] == ["asx", "x0001", "x0002"]
    assert list(crypto)[:2] == ["binance", "x0001"]
    assert {spec["partitions"] for spec in [*equities.values(), *crypto.values()]} <= {1, 2, 3}
    # reference_data keeps its fixed single partition.
    assert all(p == 1 for name, p in topology.topics.items() if ".reference_data." in name)
    assert topology.exchanges == 20
    assert topology.partitions == sum(topology.topics.values())


def test_remainder_exchange_carries_the_first_data_types() -> None:
    topology = topologies.synthetic_topology(8)
    last = topology.data["asset_classes"]["equities"]["exchanges"]["x0001"]
    assert last["data_types"] == ["trades", "quotes"]
    assert "market.equities.reference_data.x0001" not in topology.topics


def test_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 6"):
        topologies.synthetic_topology(5)


def test_the_written_config_is_a_valid_topology_and_plan(tmp_path: Path) -> None:
    topology = topologies.synthetic_topology(301)
    config = topologies.write_config(topology, tmp_path / "config")
    assert (config / "schemas" / "equities" / "trades.avsc").exists()
    loaded = load_topology(config)
    assert sum(len(ac.exchanges) for ac in loaded.topology.asset_classes.values()) == topology.exchanges

    settings = topologies.stack_settings("127.0.0.1:9092", "http://127.0.0.1:8081/apis/ccompat/v7")
    (tmp_path / "Pulumi.bench.yaml").write_text("encryptionsalt: v1:abc\n")
    topologies.write_stack_file(tmp_path, settings)
    stack_file = yaml.safe_load((tmp_path / "Pulumi.bench.yaml").read_text())
    assert stack_file["encryptionsalt"] == "v1:abc"
    assert stack_file["config"]["k2infra:replicationFactor"] == 1

    plan = load_plan(config, topologies.STACK, tmp_path)
    assert {t.name: t.partitions for t in plan.topics} == topology.topics
    assert {t.replication_factor for t in plan.topics} == {1}
    assert {t.config["min.insync.replicas"] for t in plan.topics} == {"1"}
    assert len(plan.subjects) == 6
    # Same configs as the real topology: quotes keep their shorter retention, reference data compacts.
    quotes = next(t for t in plan.topics if t.data_type == "quotes")
    assert quotes.config["retention.ms"] == "259200000"
    reference = next(t for t in plan.topics if t.data_type == "reference_data")
    assert reference.config["cleanup.policy"] == "compact"


# -- floor batching -------------------------------------------------------------


def test_floor_batches_stay_under_kafkas_record_limit() -> None:
    config = {f"k{i}": "v" for i in range(7)}
    topics = [floor.TopicWanted(f"t{i}", 1 + i % 3, 1, config) for i in range(3000)]
    batches = list(floor.batches(topics))
    assert sum(len(b) for b in batches) == 3000
    assert [t.name for b in batches for t in b] == [t.name for t in topics]
    assert all(len(b) <= floor.BATCH for b in batches)
    assert all(sum(floor.records(t) for t in b) <= floor.MAX_RECORDS for b in batches)
    names = list(floor.batches([f"n{i}" for i in range(2500)]))
    assert [len(b) for b in names] == [1000, 1000, 500]


class _CountingAdmin:
    """Answers the floor's requests at once and counts them (no broker: what is asked, not how fast)."""

    def __init__(self, names: list[str]) -> None:
        self.topics = dict.fromkeys(names)
        self.metadata_requests = 0
        self.describe_requests = 0

    def list_topics(self, timeout: float) -> object:
        self.metadata_requests += 1
        return self

    def describe_configs(self, resources: list, request_timeout: float) -> dict:
        self.describe_requests += 1
        return {}


def test_floor_describe_is_one_metadata_request_and_one_describe_configs() -> None:
    # It once asked the metadata again for every name it checked: 3,000 Metadata requests made the
    # floor's describe of 3,000 topics take 120 s instead of 2 s.
    names = [f"t{i}" for i in range(300)]
    admin = _CountingAdmin(names)
    floor.describe(admin, names, timeout=5)  # type: ignore[arg-type]
    assert (admin.metadata_requests, admin.describe_requests) == (1, 1)


def test_stat_median_and_spread() -> None:
    assert Stat.of([3.0, 1.0, 2.0, 10.0]) == Stat(median=2.5, low=1.0, high=10.0, n=4)
    assert Stat.of([]) is None


# -- tables, markers and the plot on fake numbers -------------------------------------------------


def fake_results() -> dict:
    def fig(*seconds: float, mb: float | None = None) -> dict:
        return {"seconds": list(seconds), "peak_mb": [mb] * len(seconds) if mb else []}

    sizes = {}
    for n, scale in ((6, 1.0), (600, 10.0), (3000, 50.0)):
        phases = {"startup": 0.03, "imports": 1.0, "plan": 0.1 * scale, "declare": 0.2 * scale, "settle": 0.1}
        figures = {
            "eval": fig(0.5 * scale, 0.6 * scale, 0.7 * scale, mb=60 * scale**0.5) | {"phases": [phases] * 3},
            "eval_lean": fig(0.4 * scale, mb=50.0),
            "eval_sdk": fig(0.2 * scale, mb=45.0),
            "topics_json": fig(0.3 * scale, mb=40.0),
            "floor_create": fig(0.1 * scale, 0.2 * scale),
            "floor_describe": fig(0.05 * scale),
            "floor_delete": fig(0.1 * scale),
            "verify": fig(0.09 * scale, mb=55.0),
            "up_nockpt@8": fig(0.3 * scale),
            "destroy_nockpt@8": fig(0.25 * scale),
        }
        if n != 3000:
            figures |= {
                "up@8": fig(4.0 * scale, mb=400.0),
                "preview@8": fig(1.9 * scale),
                "destroy@8": fig(3.0 * scale),
            }
        sizes[str(n)] = {"topics": n, "partitions": n * 2, "figures": figures, "notes": [], "errors": []}
    sizes["3000"]["notes"] = ["verify ran on topics created by the floor"]
    sizes["3000"]["errors"] = ["pulumi up: exited 255\n--- stdout (tail)"]
    return {
        "meta": {
            "started": "2026-01-01 00:00:00 UTC",
            "finished": "2026-01-01 02:03:00 UTC",
            "command": "python -m bench",
            "machine": {"cores": 2, "memory_gb": 23.5, "cpu": "Fake CPU", "kernel": "6.1", "loadavg": [1, 1, 1]},
            "versions": {"pulumi_cli": "v3.0.0", "kafka": "3.9.2"},
            "platform": "fake",
        },
        "settings": {"sizes": [6, 600, 3000], "repeat": 3, "default_parallel": 8},
        "sizes": sizes,
    }


def test_targets_met_and_missed_from_fake_numbers() -> None:
    by_name = {name: (measured, status) for name, measured, status in report.targets(fake_results())}
    assert by_name["program evaluation of 3000 topics < 3 s (lean, under mocks)"] == ("20.0 s", "missed")
    assert by_name["program evaluation of 3000 topics < 300 MB (lean, under mocks)"] == ("50.0 MB", "met")
    # 40 s against a 1.5 s floor.
    assert by_name["`pulumi up` of 600 topics within 5x the batched floor"] == (
        "40.0 s / 1.50 (1.00-2.00) s = 26.7x",
        "missed",
    )
    assert by_name["no-change preview of 600 topics < 20 s"] == ("19.0 s", "met")
    assert by_name["verify of 3000 topics < 5 s"] == ("4.50 s", "met")
    assert by_name["create 600 topics within 3x Jikkou, bulk mode"] == ("-", "not measured")


def test_tables_render_fake_numbers() -> None:
    results = fake_results()
    program = report.program_table(results)
    assert "| 600 | 1200 | 6.00 (5.00-7.00) | 190 | 4.00 | 50 | 2.00 | 45 | 2.0x | 3.00 | 40 |" in program
    assert "| 3000 | harness | 0.03 (0.03-0.03) | 1.00 (1.00-1.00) | 5.00 (5.00-5.00) |" in report.phases_table(results)
    create, no_change, verify = report.pulumi_tables(results).split("\n\n")
    assert "| 600 | 1.50 (1.00-2.00) | 40.0 | 26.7x | 400 | 3.00 | 2.0x |" in create
    assert "| 3000 | 7.50 (5.00-10.00) | - | - | - | 15.0 | 2.0x |" in create
    assert "| 600 | 0.50 | 19.0 | 38.0x | 1.00 | 30.0 | 2.50 |" in no_change
    assert "| 3000 | 4.50 | 55 | 2.50 |" in verify
    notes = report.notes_block(results)
    assert "- 3000 topics: verify ran on topics created by the floor" in notes
    assert "- 3000 topics: pulumi up: exited 255" in notes and "stdout (tail)" not in notes
    assert "| 600 | 3 | 1 | 1 | 1 | 2 | 1 | 1 | 1 | 1 | 1 | 0 | 0 | 0 | 0 |" in notes


def test_filling_the_document_rewrites_between_markers_and_keeps_the_prose() -> None:
    document = "# Title\n\nProse.\n\n<!-- bench:a -->\nold table\n<!-- /bench:a -->\n\nMore prose.\n<!-- bench:b -->\n<!-- /bench:b -->\n"
    filled = report.fill(document, {"a": "| new |", "b": "two\nlines"})
    assert filled == (
        "# Title\n\nProse.\n\n<!-- bench:a -->\n| new |\n<!-- /bench:a -->\n\nMore prose.\n"
        "<!-- bench:b -->\ntwo\nlines\n<!-- /bench:b -->\n"
    )
    assert report.fill(filled, {"a": "| new |", "b": "two\nlines"}) == filled  # a second run changes nothing
    with pytest.raises(ValueError, match="bench:c"):
        report.fill(document, {"c": "x"})


def test_the_docs_have_every_marker_and_a_render_keeps_their_prose(tmp_path: Path) -> None:
    docs = (REPO / "docs" / "benchmarks.md").read_text()
    markdown_path, png = report.write(fake_results(), tmp_path, REPO / "docs" / "benchmarks.md")
    text = markdown_path.read_text()
    outside = lambda t: re.sub(r"<!-- bench:(\w+) -->\n.*?<!-- /bench:\1 -->", r"<\1>", t, flags=re.S)  # noqa: E731
    assert outside(text) == outside(docs)
    assert "**2 cores, 23.5 GB**" in text and "`python -m bench`: sizes [6, 600, 3000]" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_console_lines_show_median_spread_and_memory() -> None:
    line = report.console_line(600, "eval", fake_results()["sizes"]["600"]["figures"]["eval"])
    assert "6.00 (5.00-7.00) s" in line and "n=3" in line and "peak 190 MB" in line


def test_a_figure_key_with_at_p_is_read_at_the_runs_default_parallel() -> None:
    results = fake_results()
    results["sizes"]["600"]["failures"] = {"up@8": [{"seconds": 1.0, "error": "x"}]}
    assert report.figure(results, 600, "up@P") == results["sizes"]["600"]["figures"]["up@8"]
    assert report.stat(results, 600, "preview@P") == Stat(19.0, 19.0, 19.0, 1)
    assert report.failures(results, 600, "up@P") == [{"seconds": 1.0, "error": "x"}]
    results["settings"]["default_parallel"] = 4
    assert report.figure(results, 600, "up@P") == {} and report.failures(results, 600, "up@P") == []


def test_render_merges_saved_runs_into_the_docs_tables(tmp_path: Path) -> None:
    from bench import cli

    first, second = fake_results(), fake_results()
    second["meta"]["command"] = "python -m bench --sizes 600"
    second["sizes"] = {"600": second["sizes"]["600"]}
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path, run in zip(paths, (first, second), strict=True):
        path.write_text(json.dumps(run))
    assert cli.main(["--render", *map(str, paths), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "benchmarks.md").read_text()
    assert "`python -m bench --sizes 600`: sizes [600]" in text
    assert "| 600 | 0.50 (0.50-0.50) | 19.0 (19.0-19.0) | 38.0x |" in text  # the two runs' previews, merged
    assert (tmp_path / "out" / "benchmarks.png").exists()
