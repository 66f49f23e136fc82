"""The benchmark's comparison with its peers: the changes' topologies, the peers' inputs and outputs,
the merge of runs and the rendering of the peer tables (fake numbers; no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bench import peers, report, topologies
from bench.floor import TopicWanted
from k2infra.client.naming import load_plan

# -- the everyday changes' topologies --------------------------------------------------------------


@pytest.mark.parametrize("size", [6, 600, 3000])
def test_adding_an_exchange_adds_its_three_topics_and_changes_no_other(size: int) -> None:
    a = topologies.synthetic_topology(size)
    b = topologies.with_added_exchange(a)
    added = set(b.topics) - set(a.topics)
    assert len(added) == 3 and b.size == size + 3 and b.exchanges == a.exchanges + 1
    assert len({name.rsplit(".", 1)[1] for name in added}) == 1  # one exchange
    assert all(b.topics[name] == partitions for name, partitions in a.topics.items())


def test_adding_an_exchange_keeps_earlier_raises() -> None:
    b = topologies.with_added_exchange(topologies.synthetic_topology(600))
    c = topologies.with_raised_partitions(b, topologies.exchanges(b)[0])
    d = topologies.with_added_exchange(c)
    assert all(d.topics[name] == partitions for name, partitions in c.topics.items())
    assert len(d.topics) == len(c.topics) + 3


def test_adding_an_exchange_needs_a_whole_number_of_exchanges() -> None:
    with pytest.raises(ValueError, match="whole number of exchanges"):
        topologies.with_added_exchange(topologies.synthetic_topology(7))


def test_raising_an_exchange_raises_its_topics_without_a_fixed_count() -> None:
    a = topologies.synthetic_topology(600)
    asset_class, code = topologies.exchanges(a)[0]
    c = topologies.with_raised_partitions(a, (asset_class, code))
    changed = {name for name in a.topics if a.topics[name] != c.topics[name]}
    # reference_data fixes its own count (1): only trades and quotes follow the exchange.
    assert changed == {f"market.{asset_class}.trades.{code}", f"market.{asset_class}.quotes.{code}"}
    assert all(c.topics[name] == a.topics[name] + 1 for name in changed)
    assert (
        a.data["asset_classes"][asset_class]["exchanges"][code]["partitions"] + 1
        == (c.data["asset_classes"][asset_class]["exchanges"][code]["partitions"])
    )


def test_the_changed_topologies_plan_what_they_say(tmp_path: Path) -> None:
    """The plan of the written config agrees with the topology's own topic list after each change."""
    b = topologies.with_added_exchange(topologies.synthetic_topology(60))
    c = topologies.with_raised_partitions(b, topologies.exchanges(b)[1])
    topologies.write_config(c, tmp_path / "config")
    topologies.write_stack_file(tmp_path, topologies.stack_settings("localhost:9092", "http://localhost:8081"))
    (tmp_path / "Pulumi.yaml").write_text("name: k2infra\nruntime: python\n")
    plan = load_plan(tmp_path / "config", topologies.STACK, tmp_path)
    assert {t.name: t.partitions for t in plan.topics} == c.topics


# -- the peers' inputs and outputs -------------------------------------------------------------------

TOPICS = [
    TopicWanted("market.equities.trades.asx", 2, 1, {"retention.ms": "604800000", "min.insync.replicas": "1"}),
    TopicWanted("market.equities.reference_data.asx", 1, 1, {"cleanup.policy": "compact"}),
]


def test_topicctl_gets_one_document_per_topic_with_its_settings() -> None:
    docs = [d for d in yaml.safe_load_all(peers.topicctl_topics_yaml(TOPICS)) if d]
    assert [d["meta"]["name"] for d in docs] == [t.name for t in TOPICS]
    assert all(d["meta"]["cluster"] == peers.TOPICCTL_CLUSTER for d in docs)
    assert docs[0]["spec"] == {
        "partitions": 2,
        "replicationFactor": 1,
        "placement": {"strategy": "any"},
        "settings": {"min.insync.replicas": "1", "retention.ms": "604800000"},
    }
    cluster = yaml.safe_load(peers.topicctl_cluster_yaml("127.0.0.1:9092, 127.0.0.1:9093"))
    assert cluster["meta"]["name"] == peers.TOPICCTL_CLUSTER
    assert cluster["spec"]["bootstrapAddrs"] == ["127.0.0.1:9092", "127.0.0.1:9093"]


def test_jikkou_gets_every_topic_as_json() -> None:
    assert json.loads(peers.topics_json(TOPICS))[1] == {
        "name": "market.equities.reference_data.asx",
        "partitions": 1,
        "replication_factor": 1,
        "config": {"cleanup.policy": "compact"},
    }


def test_jikkou_output_is_its_last_json_line_and_its_first_error_explains_a_failure() -> None:
    stdout = 'log line\n{"not": "this"}\n{"mode":"apply","topics":3000,"failed":3000,"errors":["Unable to perform'
    stdout += ' excessively large batch operation."],"operations":{"CREATE":3000}}\n'
    document = peers.parse_jikkou_output(stdout)
    assert document["operations"] == {"CREATE": 3000}
    assert peers.jikkou_error(document) == (
        "3000 of 3000 changes failed: Unable to perform excessively large batch operation."
    )
    assert peers.parse_jikkou_output("no json here") == {}
    assert peers.jikkou_error({}, "Exception in thread main\njava.lang.OutOfMemoryError\n") == (
        "java.lang.OutOfMemoryError"
    )


def test_the_install_scripts_env_file_is_read_with_quotes_and_spaces(tmp_path: Path) -> None:
    (tmp_path / "peers").mkdir()
    (tmp_path / "peers" / peers.PEERS_ENV).write_text(
        "TOPICCTL='/t/topicctl'\nTOPICCTL_VERSION='v1.17.0'\nJIKKOU_VERSION='0.34.0'\n"
        "JIKKOU_CLASSPATH='/j/classes:/j/lib/*'\nJIKKOU_JAVA='/jdk/bin/java'\n"
        "JIKKOU_JAVA_VERSION='openjdk version \"25.0.3\" 2026-04-21 LTS'\n"
    )
    tools = peers.locate(tmp_path)
    assert tools is not None and tools.jikkou
    assert tools.jikkou_classpath == "/j/classes:/j/lib/*"
    assert tools.jikkou_java_version == 'openjdk version "25.0.3" 2026-04-21 LTS'
    assert peers.locate(tmp_path / "nothing") is None
    assert peers.versions(tools) == {
        "jikkou": "0.34.0",
        "jikkou_java": 'openjdk version "25.0.3" 2026-04-21 LTS',
        "topicctl": "v1.17.0",
    }


# -- merging runs and rendering the comparison --------------------------------------------------------


def fig(*seconds: float) -> dict:
    return {"seconds": list(seconds), "peak_mb": []}


def comparison_run() -> dict:
    return {
        "meta": {
            "started": "2026-01-02 00:00:00 UTC",
            "finished": "2026-01-02 00:30:00 UTC",
            "command": "python -m bench --only comparison --sizes 600",
            "machine": {"cores": 2, "loadavg": [3.0, 2.0, 1.0]},
            "loadavg_end": [4.0, 3.0, 2.0],
            "versions": {"pulumi_cli": "v3.0.0", "peers": {"jikkou": "0.34.0", "topicctl": "v1.17.0"}},
        },
        "settings": {
            "sizes": [600],
            "default_parallel": 8,
            "peers": True,
            "changes": True,
            "topicctl_shipped_topics": 60,
        },
        "peers": {"jikkou": {"version": "0.34.0", "source": "Maven Central", "driven": "one batch"}},
        "sizes": {
            "600": {
                "topics": 600,
                "figures": {
                    "floor_create": fig(0.5),
                    "floor_describe": fig(0.4),
                    "floor_add": fig(0.05),
                    "floor_raise": fig(0.04),
                    "floor_delete": fig(2.0),
                    "up@8": fig(60.0, 80.0),
                    "up_nockpt@8": fig(24.0),
                    "preview@8": fig(10.0),
                    "add_preview@8": fig(9.0),
                    "add_up@8": fig(12.0),
                    "raise_preview@8": fig(9.5),
                    "raise_up@8": fig(11.0),
                    "destroy@8": fig(80.0),
                    "destroy_nockpt@8": fig(20.0),
                    "jikkou_create": fig(4.0),
                    "jikkou_no_change": fig(4.0),
                    "jikkou_diff": fig(3.0),
                    "jikkou_add_exchange": fig(3.0),
                    "jikkou_raise_partitions": fig(3.0),
                    "jikkou_delete": fig(4.0),
                    "topicctl_create": fig(40.0),
                    "topicctl_check": fig(0.5),
                    "topicctl_no_change": fig(2.5),
                    "topicctl_add_exchange": fig(1.0),
                    "topicctl_raise_partitions": fig(1.0),
                    "topicctl_create_shipped": {"seconds": [120.0], "peak_mb": [], "topics": [60]},
                },
                "notes": [],
                "errors": [],
                "extrapolated": {},
            },
            "3000": {
                "topics": 3000,
                "figures": {"add_up@8": fig(30.0), "add_preview@8": fig(14.0), "jikkou_no_change": fig(9.0)},
                "failures": {"jikkou_create": [{"seconds": 6.5, "error": "Unable to perform excessively large batch"}]},
                "notes": [],
                "errors": [],
                "extrapolated": {},
            },
        },
        "profile": {
            "changes": {
                "up@3000": {
                    "size": 3000,
                    "parallel": 8,
                    "seconds": 40.0,
                    "program_started_s": 2.0,
                    "program_finished_s": 30.0,
                    "log_span_s": 38.0,
                    "checkpoints_written": 5,
                    "ops": {
                        "Diff": {
                            "count": 3000,
                            "median_s": 0.001,
                            "p95_s": 0.002,
                            "max_s": 0.1,
                            "sum_s": 3.0,
                            "first_start_s": 3.0,
                            "last_end_s": 29.0,
                            "concurrency": 0.1,
                        }
                    },
                }
            }
        },
    }


def test_merge_appends_repetitions_and_lists_the_runs() -> None:
    first = comparison_run()
    second = comparison_run()
    second["meta"]["command"] = "python -m bench --only changes --sizes 3000"
    second["sizes"]["600"]["figures"] = {"up@8": fig(70.0)}
    merged = report.merge([first, second])
    assert merged["sizes"]["600"]["figures"]["up@8"]["seconds"] == [60.0, 80.0, 70.0]
    assert len(merged["sizes"]["3000"]["failures"]["jikkou_create"]) == 2
    assert [r["command"] for r in merged["meta"]["runs"]] == [first["meta"]["command"], second["meta"]["command"]]
    assert first["sizes"]["600"]["figures"]["up@8"]["seconds"] == [60.0, 80.0]  # inputs untouched
    assert "`python -m bench --only changes --sizes 3000`: sizes [600, 3000]" in report.run_lines(merged)


def test_peer_table_shows_versions_figures_and_failures() -> None:
    results = comparison_run()
    table = report.peer_table(results, 600)
    assert "| Jikkou | 0.34.0 (library, Maven Central) |" in table
    assert "| 70.0 (60.0-80.0) |" in table  # k2infra's default-mode create
    assert "apply 4.00; diff 3.00" in table
    assert "120 for 60 topics (2.00 s a topic; ~1200 for 600, extrapolated)" in table
    assert "n/a (no topic delete)" in table
    failed = report.peer_table(results, 3000)
    assert "**failed** after 6.5 s: Unable to perform excessively large batch" in failed


def test_ratio_table_divides_k2infra_by_each_peer_and_the_floor() -> None:
    rows = {row[0]: row for row in report.ratio_rows(comparison_run(), 600)}
    assert rows["create, default mode"][2:] == ["17.5x", "1.8x", "140.0x"]
    assert rows["create, bulk mode"][2:] == ["6.0x", "0.6x", "48.0x"]
    assert rows["no-change (preview)"][2:] == ["2.5x", "4.0x", "25.0x"]
    assert rows["delete, default mode"][3] == "n/a"
    failed = {row[0]: row for row in report.ratio_rows(comparison_run(), 3000)}
    assert failed["add one exchange (up)"][2] == "-"


def test_comparison_targets_from_fake_numbers() -> None:
    by_name = {name: (measured, status) for name, measured, status in report.targets(comparison_run())}
    assert by_name["create 600 topics within 3x Jikkou, bulk mode"] == ("24.0 s / 4.00 s = 6.0x", "missed")
    assert by_name["no-change preview of 600 within 2x Jikkou's no-change run"] == ("10.0 s / 4.00 s = 2.5x", "missed")
    assert by_name["add one exchange to 3000 topics: `pulumi up` < 15 s"] == ("30.0 s", "missed")
    assert by_name["add one exchange to 3000 topics: `pulumi preview` < 15 s"] == ("14.0 s", "met")
    assert by_name["verify of 3000 topics < 5 s"] == ("-", "not measured")


def test_the_peer_sections_and_the_everyday_change_fill_their_markers(tmp_path: Path) -> None:
    template = tmp_path / "template.md"
    template.write_text("".join(f"<!-- bench:{name} -->\n<!-- /bench:{name} -->\n" for name in report.blocks({})))
    markdown_path, png = report.write(comparison_run(), tmp_path / "out", template)
    text = markdown_path.read_text()
    assert "### 600 topics" in text and "### 3000 topics" in text
    assert "| 3000 | add one exchange | 8 | 14.0 | 30.0 | - | - | - |" in text
    assert "| create, default mode | 70.0 (60.0-80.0) | 17.5x | 1.8x | 140.0x |" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
