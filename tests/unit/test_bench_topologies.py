"""The benchmark's synthetic topologies and its report rendering (fake numbers; no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bench import floor, profiling, report, topologies
from bench.measure import Stat
from bench.scenarios import extrapolate, write_report
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


# -- floor batching and extrapolation -------------------------------------------------------------


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


def test_extrapolation_is_a_power_law_never_better_than_linear() -> None:
    guess = extrapolate([(60, 10.0), (300, 40.0), (600, 160.0)], 3000)
    assert guess is not None
    assert guess["from"] == [300, 600]
    assert guess["exponent"] == 2.0
    assert guess["seconds"] == pytest.approx(160.0 * 25)
    sublinear = extrapolate([(300, 40.0), (600, 50.0)], 3000)
    assert sublinear is not None and sublinear["exponent"] == 1.0
    assert extrapolate([], 3000) is None


def test_stat_median_and_spread() -> None:
    value = Stat.of([3.0, 1.0, 2.0, 10.0])
    assert value == Stat(median=2.5, low=1.0, high=10.0, n=4)
    assert value.spread() == 9.0
    assert Stat.of([]) is None


# -- report rendering on fake numbers -------------------------------------------------------------


def fake_results() -> dict:
    def fig(*seconds: float, mb: float | None = None) -> dict:
        return {"seconds": list(seconds), "peak_mb": [mb] * len(seconds) if mb else []}

    sizes = {}
    for n, scale in ((6, 1.0), (600, 10.0), (3000, 50.0)):
        figures = {
            "eval": fig(0.5 * scale, 0.6 * scale, 0.7 * scale, mb=60 * scale**0.5),
            "eval_lean": fig(0.4 * scale, mb=50.0),
            "eval_sdk": fig(0.2 * scale, mb=45.0),
            "topics_json": fig(0.3 * scale, mb=40.0),
            "floor_create": fig(0.1 * scale, 0.2 * scale),
            "floor_describe": fig(0.05 * scale),
            "floor_delete": fig(0.1 * scale),
            "verify": fig(0.09 * scale, mb=55.0),
        }
        if n != 3000:
            figures |= {
                "up@8": fig(4.0 * scale, mb=400.0),
                "preview@8": fig(2.0 * scale),
                "destroy@8": fig(3.0 * scale),
                "up@32": fig(0.7 * scale),
                "preview@32": fig(1.9 * scale),
                "destroy@32": fig(2.0 * scale),
                "up_nockpt@8": fig(0.3 * scale),
                "destroy_nockpt@8": fig(0.25 * scale),
            }
        sizes[str(n)] = {"topics": n, "partitions": n * 2, "figures": figures, "notes": [], "errors": []}
        sizes[str(n)]["extrapolated"] = {}
    sizes["3000"]["notes"] = ["pulumi at --parallel 8 skipped: over budget"]
    sizes["3000"]["extrapolated"] = {"up@8": {"seconds": 1234.0, "from": [6, 600], "exponent": 1.1}}
    return {
        "meta": {
            "started": "2026-01-01 00:00:00 UTC",
            "finished": "2026-01-01 02:03:00 UTC",
            "duration_s": 7380.0,
            "machine": {"cores": 2, "memory_gb": 23.5, "cpu": "Fake CPU", "kernel": "6.1", "loadavg": [1, 1, 1]},
            "versions": {"pulumi_cli": "v3.0.0", "kafka": "3.9.2"},
            "platform": "fake",
        },
        "settings": {"sizes": [6, 600, 3000], "repeat": 3, "default_parallel": 8, "candidates": [32, 128]},
        "sweep": {
            "size": 600,
            "default": 8,
            "candidates": [32, 128],
            "up_seconds": {"8": 40.0, "32": 7.0, "128": 9.0},
            "chosen": 32,
            "default_up_seconds": 40.0,
        },
        "sizes": sizes,
        "profile": {
            "program": {
                "size": 3000,
                "phases": {"imports": 1.0, "plan": 0.5, "declare": 5.0, "settle": 20.0, "resources": 3008},
                "profiled_total_s": 30.0,
                "functions": {"k2infra: TopicPlatform (declare every resource)": 5.0},
                "by_package": {"pulumi SDK": 12.0},
                "top": [{"own_s": 1.0, "calls": 10, "cum_s": 2.0, "where": "x.py:1(f)"}],
            },
            "engine_log": {"size": 600, "parallel": 8, "seconds": 45.0, "checkpoints_written": 1222},
        },
    }


def test_targets_met_and_missed_from_fake_numbers() -> None:
    by_name = {t.name.split(" ")[0] + t.name.split(" ")[1]: t for t in report.targets(fake_results())}
    assert by_name["programevaluation"].status == "missed"  # 30 s at 3000
    assert by_name["`pulumiup`"].status == "met"  # P=32: 7 s against a 1.5 s floor = 4.7x
    assert "4.7x" in by_name["`pulumiup`"].measured
    assert by_name["no-changepreview"].status == "met"  # 19 s < 20 s with P=32
    assert by_name["verifyof"].status == "met"  # 4.5 s
    results = fake_results()
    del results["sizes"]["3000"]["figures"]["verify"]
    verify = next(t for t in report.targets(results) if t.name.startswith("verify"))
    assert verify.status == "not measured"


def test_tables_and_markdown_render_fake_numbers(tmp_path: Path) -> None:
    results = fake_results()
    table = report.pulumi_table(results)
    assert "| 600 | 1.50 (1.00-2.00) | 40.0 | 7.00 | 26.7x | 4.7x | 400 | - | 3.00 | 2.0x |" in table
    no_change = report.no_change_table(results)
    assert "| 600 | 0.50 | 20.0 | 19.0 | 40.0x | 38.0x | 1.00 | 30.0 | 20.0 | 2.50 |" in no_change
    assert "~1234 (extrapolated)" in table
    program = report.program_table(results)
    assert "| 600 | 1200 | 6.00 (5.00-7.00) | 190 | 4.00 | 50 | 2.00 | 45 | 2.0x | 3.00 | 40 |" in program

    markdown_path, png = write_report(results, tmp_path)
    text = markdown_path.read_text()
    assert "![time against size, log-log](benchmarks.png)" in text
    assert "**2 cores, 23.5 GB**" in text
    assert "**extrapolated** to ~1234 s" in text
    # The gaps, read from the figures: 20 s lean against a 10 s SDK floor at 3000; 40 s up against 3 s
    # without checkpoints at 600.
    assert "The program adds 100% over that floor" in text
    assert "92% of it is the file backend rewriting" in text and "takes 3 s" in text
    assert "**chosen**" in text
    assert "| program evaluation of 3000 topics < 3 s and < 300 MB |" in text
    # up@8 40 s, up_nockpt@8 3 s at 600: the backend's share of the run, from the figures.
    assert "`PULUMI_SKIP_CHECKPOINTS=true`" in text and "92% of the run is the backend" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_console_lines_show_median_spread_and_ratios() -> None:
    results = fake_results()
    line = report.console_line(600, "eval", results["sizes"]["600"]["figures"]["eval"])
    assert "6.00 (5.00-7.00) s" in line and "n=3" in line and "peak 190 MB" in line
    row = report.console_row(results, 600)
    assert "26.7x floor" in row and "4.7x floor" in row


def test_engine_log_summary_pairs_provider_creates() -> None:
    def line(t: str, msg: str) -> str:
        return json.dumps({"time": f"2026-01-01T00:00:{t}Z", "level": "INFO", "msg": msg})

    urn = "urn:pulumi:b::k2infra::k2infra:index:TopicPlatform$kafka:index/topic:Topic::market.a.b.c"
    log = "\n".join(
        [
            line("00.000000000", "start"),
            line("01.000000000", "langhost[python].Run(pwd=/x) executing"),
            line("02.000000000", "Provider[0x1].Invoke(kafka:index:getTopics) executing (#args=0)"),
            line("02.500000000", "Provider[0x1].Invoke(kafka:index:getTopics) success (#ret=2)"),
            line("03.000000000", "ResourceMonitor.RegisterResource received: t=kafka:index/topic:Topic, name=x"),
            line("03.100000000", f"Provider[0x1].Create({urn}) executing (#props=4)"),
            line("03.400000000", "Saved stack organization/k2infra/b checkpoint to: x"),
            line("03.600000000", f"Provider[0x1].Create({urn}) success: id=x"),
            line("03.700000000", f"Provider[0x1].Diff({urn},market.a.b.c): executing (#oldInputs=4)"),
            line("03.710000000", f"Provider[0x1].Diff({urn},market.a.b.c) success: changes=1 #replaces=[]"),
            line("04.000000000", "langhost[python].Run(pwd=/x) success"),
            "not json",
        ]
    )
    summary = profiling.engine_log_summary(log)
    assert summary["program_started_s"] == 1.0
    assert summary["invokes_s"] == {"kafka:index:getTopics": 0.5}
    assert summary["topic_creates"] == 1
    assert summary["create_median_s"] == 0.5
    assert summary["checkpoints_written"] == 1
    assert summary["ops"]["Diff"]["count"] == 1
    assert summary["ops"]["Diff"]["median_s"] == pytest.approx(0.01)
    assert summary["log_span_s"] == 4.0
