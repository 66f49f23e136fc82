"""Regions: a stack's `k2infra:region` and `k2infra:mirrorFrom`, an exchange's home region, and what
they make of the plans of the home and the regional stack (k2infra.model.regions, through the one
loader k2infra.model.stack)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from devkit.pulumi_mocks import run_program
from k2infra.cli.main import main
from k2infra.model.errors import InputError
from k2infra.model.outputs import StackOutputs
from k2infra.model.regions import regions_output
from k2infra.model.stack import Stack, load_stack_file
from tests.conftest import set_stack_config

TOKYO = {
    "region": "tokyo",
    "replicationFactor": 1,
    "minInsyncReplicas": 1,
    "bootstrapServers": "127.0.0.1:29092",
    "schemaRegistryUrl": "http://127.0.0.1:28081/apis/ccompat/v7",
    "mirrorFrom": {
        "stack": "dev",
        "select": [{"asset_class": "crypto"}, {"exchange": "equities.asx", "data_types": ["trades"]}],
    },
}


def write_stack(project_dir: Path, stack: str, settings: dict[str, object]) -> Path:
    path = project_dir / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": {f"k2infra:{k}": v for k, v in settings.items()}}, sort_keys=False))
    return path


def load(project_dir: Path, stack: str) -> Stack:
    return load_stack_file(project_dir / "config", stack, project_dir)


def problems(project_dir: Path, stack: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        load(project_dir, stack)
    return [str(p) for p in caught.value.problems]


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_regional_stack_copies_the_selected_topics_with_the_sources_partitions_and_configs(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO | {"mirrorFrom": TOKYO["mirrorFrom"] | {"stack": "prod"}})
    region, home = load(project_dir, "tokyo"), load(project_dir, "prod")
    mirrored = {t.name: t for t in region.plan.topics}
    assert sorted(mirrored) == [
        "market.crypto.quotes.binance",
        "market.crypto.reference_data.binance",
        "market.crypto.trades.binance",
        "market.equities.trades.asx",
    ]
    for name, copy in mirrored.items():
        source = home.plan.topic(name)
        assert source is not None
        assert copy.partitions == source.partitions  # MirrorMaker 2 keeps a record's partition
        assert copy.replication_factor == 1 and source.replication_factor == 3  # the region's
        assert copy.config["min.insync.replicas"] == "1"  # the region's
        assert {k: v for k, v in copy.config.items() if k != "min.insync.replicas"} == {
            k: v for k, v in source.config.items() if k != "min.insync.replicas"
        }
    assert region.plan.mirror is not None and region.plan.mirror.topics == tuple(sorted(mirrored))
    assert region.plan.mirror.stack == "prod" and region.plan.mirror.source_region == "primary"
    # Registered at home only: the regional registry replays the home registry's journal (docs/regions.md).
    assert region.plan.subjects == ()
    assert region.plan.mirror.subjects == (
        "market.crypto.quotes-value",
        "market.crypto.reference_data-value",
        "market.crypto.trades-value",
        "market.equities.trades-value",
    )
    assert [e.ref for e in region.plan.exchanges] == ["crypto.binance", "equities.asx"]
    # A lowered count is refused naming where the count is written: the source stack's setting.
    assert "Pulumi.prod.yaml" not in region.plan.partition_origins["market.crypto.trades.binance"]
    assert "(stack prod, which this stack mirrors)" in region.plan.partition_origins["market.crypto.trades.binance"]
    assert region.mirror_source is not None
    assert region.mirror_source.kafka.bootstrap_servers == home.connections.kafka.bootstrap_servers


def test_no_app_may_write_a_mirrored_topic_in_a_region_and_readers_keep_their_grants(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    region, home = load(project_dir, "tokyo"), load(project_dir, "dev")
    normaliser = region.plan.app("market-data-normaliser")
    assert normaliser is not None and home.plan.app("market-data-normaliser").writes  # type: ignore[union-attr]
    assert normaliser.writes == ()
    assert not [acl for app in region.plan.apps for acl in app.acls if acl.operation == "Write"]
    risk = region.plan.app("crypto-risk")
    assert risk is not None and risk.reads == ("market.crypto.trades.binance",)


def test_the_home_stack_lists_per_exchange_the_region_clusters_that_carry_it(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    home = load(project_dir, "dev")
    output = regions_output(home.plan.topics, home.plan.carried_by)
    assert output == {
        "crypto.binance": [
            {
                "stack": "tokyo",
                "region": "tokyo",
                "bootstrap_servers": "127.0.0.1:29092",
                "topics": [
                    "market.crypto.quotes.binance",
                    "market.crypto.reference_data.binance",
                    "market.crypto.trades.binance",
                ],
            }
        ],
        "equities.asx": [
            {
                "stack": "tokyo",
                "region": "tokyo",
                "bootstrap_servers": "127.0.0.1:29092",
                "topics": ["market.equities.trades.asx"],
            }
        ],
    }
    assert load(project_dir, "staging").plan.carried_by == ()  # tokyo mirrors dev, not staging


def test_an_exchange_is_produced_only_by_the_stacks_of_its_home_region(
    project_dir: Path, edit_topology: Callable[[Callable[[dict], None]], Path]
) -> None:
    edit_topology(lambda t: t["asset_classes"]["crypto"]["exchanges"]["binance"].update(region="tokyo"))
    write_stack(project_dir, "tokyo", {k: v for k, v in TOKYO.items() if k != "mirrorFrom"})
    assert {t.exchange for t in load(project_dir, "tokyo").plan.topics} == {"binance"}
    assert {t.exchange for t in load(project_dir, "dev").plan.topics} == {"asx"}


def test_every_problem_of_a_mirror_is_reported_at_once_with_file_line_and_field(project_dir: Path) -> None:
    tokyo = write_stack(
        project_dir,
        "tokyo",
        TOKYO
        | {
            "mirrorFrom": {
                "stack": "dev",
                "select": [{"exchange": "crypto.binanse"}, {"asset_class": "equities", "data_types": ["trade"]}],
            },
            "retentionMS": 1,
        },
    )
    found = problems(project_dir, "tokyo")
    select_line = line_of(tokyo, "exchange: crypto.binanse")
    assert (
        f"{tokyo}:{select_line}: k2infra:mirrorFrom.select.0.exchange: unknown exchange 'crypto.binanse' (did you mean 'crypto.binance'?)"
        in found
    )
    assert any(
        p.startswith(f"{tokyo}:") and "k2infra:mirrorFrom.select.1.data_types.0: unknown data type 'trade'" in p
        for p in found
    ), found
    assert any("k2infra:retentionMS: unknown stack setting" in p for p in found), found


def test_an_unknown_source_stack_is_refused_naming_the_stacks_there(project_dir: Path) -> None:
    tokyo = write_stack(
        project_dir, "tokyo", TOKYO | {"mirrorFrom": {"stack": "prdo", "select": [{"asset_class": "crypto"}]}}
    )
    (found,) = problems(project_dir, "tokyo")
    assert found == (
        f"{tokyo}:{line_of(tokyo, 'stack: prdo')}: k2infra:mirrorFrom.stack: "
        "unknown stack 'prdo' (stacks here: dev, prod, staging)"
    )


def test_a_selector_that_means_no_topic_the_source_produces_is_refused(project_dir: Path) -> None:
    set_stack_config(project_dir, "dev", {"exchanges": ["equities.asx"]})
    tokyo = write_stack(
        project_dir, "tokyo", TOKYO | {"mirrorFrom": {"stack": "dev", "select": [{"asset_class": "crypto"}]}}
    )
    (found,) = problems(project_dir, "tokyo")
    assert found == (
        f"{tokyo}:{line_of(tokyo, 'asset_class: crypto')}: k2infra:mirrorFrom.select.0: "
        "selects no topic that stack dev produces (asset_class crypto)"
    )


def test_a_topic_mirrored_into_its_own_home_region_is_a_cycle_naming_its_home(
    project_dir: Path, edit_topology: Callable[[Callable[[dict], None]], Path]
) -> None:
    topology = edit_topology(lambda t: t["asset_classes"]["crypto"]["exchanges"]["binance"].update(region="tokyo"))
    write_stack(
        project_dir, "tokyo", TOKYO | {"mirrorFrom": {"stack": "dev", "select": [{"exchange": "crypto.binance"}]}}
    )
    found = problems(project_dir, "tokyo")
    home_line = line_of(topology, "binance:")
    assert len(found) == 3  # one per topic of binance
    assert all("mirroring it into its home region would make a cycle" in p for p in found), found
    assert any("market.crypto.trades.binance is produced in this region (tokyo, its home: " in p for p in found)
    assert all(f"topics.yaml:{home_line}: asset_classes.crypto.exchanges.binance" in p for p in found), found


def test_mirroring_back_into_the_home_region_is_a_cycle_with_both_ends_named(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    # dev mirrors back from tokyo what tokyo mirrors from dev: a cycle.
    set_stack_config(project_dir, "dev", {"mirrorFrom": {"stack": "tokyo", "select": [{"asset_class": "crypto"}]}})
    dev, tokyo = project_dir / "Pulumi.dev.yaml", project_dir / "Pulumi.tokyo.yaml"
    found = problems(project_dir, "dev")
    assert len(found) == 3, found  # one per topic of binance
    for p in found:
        assert p.startswith(f"{dev}:{line_of(dev, 'asset_class: crypto')}: k2infra:mirrorFrom.select.0: "), p
        assert "is produced in this region (primary, its home: " in p
        assert "topics.yaml:" in p and ": asset_classes.crypto.exchanges.binance)" in p
        assert (
            f"stack tokyo mirrors it from stack dev ({tokyo}:{line_of(tokyo, 'k2infra:mirrorFrom')}: k2infra:mirrorFrom)"
            in p
        )
        assert p.endswith("mirroring it into its home region would make a cycle")
    assert load(project_dir, "tokyo").plan.mirror is not None  # the regional side itself stays valid


def test_mirroring_on_out_of_a_region_that_only_mirrors_is_refused_with_both_ends_named(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    london = write_stack(
        project_dir,
        "london",
        TOKYO
        | {
            "region": "london",
            "mirrorFrom": {"stack": "tokyo", "select": [{"exchange": "equities.asx", "data_types": ["trades"]}]},
        },
    )
    tokyo = project_dir / "Pulumi.tokyo.yaml"
    (found,) = problems(project_dir, "london")
    assert found.startswith(f"{london}:{line_of(london, 'exchange: equities.asx')}: k2infra:mirrorFrom.select.0: ")
    assert "market.equities.trades.asx is produced in region primary (" in found
    assert f"not in region tokyo of stack tokyo; stack tokyo mirrors it from stack dev ({tokyo}:" in found
    assert found.endswith("would make a chain or a cycle; mirror it from a stack of region primary")


def test_a_source_in_the_same_region_is_refused(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO | {"region": "primary"})
    (found,) = problems(project_dir, "tokyo")
    assert "stack dev is in region primary too" in found and "k2infra:mirrorFrom.stack" in found


def test_the_sources_min_insync_replicas_above_the_regions_replication_factor_is_refused(
    project_dir: Path, edit_topology: Callable[[Callable[[dict], None]], Path]
) -> None:
    edit_topology(lambda t: t["defaults"]["config"].update({"min.insync.replicas": 1}))  # prod sets its own 2
    write_stack(
        project_dir,
        "tokyo",
        {k: v for k, v in TOKYO.items() if k != "minInsyncReplicas"}
        | {"mirrorFrom": TOKYO["mirrorFrom"] | {"stack": "prod"}},
    )
    (found,) = problems(project_dir, "tokyo")
    assert "keep min.insync.replicas 2 of stack prod, above this stack's replication factor 1" in found
    assert "set k2infra:minInsyncReplicas" in found


def test_the_regional_program_creates_the_copies_and_registers_no_subject_and_the_home_exports_its_regions(
    project_dir: Path,
) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    region = run_program(project_dir, "tokyo")
    created = {r.name: r.inputs for r in region.mocks.of_type("kafka:index/topic:Topic")}
    assert sorted(created) == list(load(project_dir, "tokyo").plan.mirror.topics)  # type: ignore[union-attr]
    assert created["market.crypto.trades.binance"]["partitions"] == 4  # dev's k2infra:partitions
    assert created["market.crypto.trades.binance"]["replicationFactor"] == 1
    assert region.mocks.of_type("pulumi-python:dynamic/k2infra:SchemaSubject") == []
    assert (
        len(
            home_subjects := run_program(project_dir, "dev").mocks.of_type(
                "pulumi-python:dynamic/k2infra:SchemaSubject"
            )
        )
        == 6
    ), home_subjects
    assert "regions" not in region.outputs
    home = run_program(project_dir, "dev")
    assert [c["stack"] for c in home.outputs["regions"]["crypto.binance"]] == ["tokyo"]
    assert StackOutputs.model_validate(home.outputs).regions["equities.asx"][0].topics == ["market.equities.trades.asx"]


def test_validate_says_a_regional_stacks_counts_are_its_sources(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    out = io.StringIO()
    assert main(["validate", "--stack", "tokyo", "--project-dir", str(project_dir)], stdout=out) == 0
    assert "OK: stack tokyo is valid: 4 topics, 0 schema subjects." in out.getvalue()
    assert "  crypto.binance: quotes 4, reference_data 1, trades 4 (stack dev's, mirrored)" in out.getvalue()
