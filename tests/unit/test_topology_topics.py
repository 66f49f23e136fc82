"""Topology.topics: the one enumeration of hierarchical topics (done once at load, LoadedTopology.topics), and
StackSettings.enabled: the one selection of a stack's exchanges and their topics, which plan and settings share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from k2infra.model.plan import load_plan
from k2infra.model.settings import Enabled, StackSettings
from k2infra.model.topology import LoadedTopology, load_topology
from tests.conftest import PROD_TOPICS


def add_nyse(topology: dict) -> None:
    topology["asset_classes"]["equities"]["exchanges"]["nyse"] = {
        "name": "New York Stock Exchange",
        "partitions": 6,
        "timezone": "America/New_York",
        "data_types": ["trades"],
    }


def test_every_topic_of_the_topology_in_its_order_asset_class_exchange_data_type(config_dir: Path) -> None:
    topology = load_topology(config_dir).topology
    assert [t.name for t in topology.topics()] == [
        "market.equities.trades.asx",
        "market.equities.quotes.asx",
        "market.equities.reference_data.asx",
        "market.crypto.trades.binance",
        "market.crypto.quotes.binance",
        "market.crypto.reference_data.binance",
    ]
    assert {t.name for t in topology.topics()} == set(PROD_TOPICS)
    assert topology.exchange_refs() == ["equities.asx", "crypto.binance"]
    assert load_topology(config_dir).topics == tuple(topology.topics())


def enabled(loaded: LoadedTopology, exchanges: list[str] | None) -> Enabled:
    return StackSettings(exchanges=exchanges).enabled(loaded)


def test_only_the_enabled_exchanges_and_only_the_data_types_an_exchange_carries(
    config_dir: Path, edit_topology: Callable
) -> None:
    edit_topology(add_nyse)
    loaded = load_topology(config_dir)
    assert [t.name for t in enabled(loaded, ["equities.nyse", "crypto.binance"]).topics] == [
        "market.equities.trades.nyse",
        "market.crypto.trades.binance",
        "market.crypto.quotes.binance",
        "market.crypto.reference_data.binance",
    ]
    assert list(enabled(loaded, ["equities.nyse"]).exchanges) == [("equities", "nyse")]
    assert list(enabled(loaded, []).topics) == []
    assert enabled(loaded, None).topics == loaded.topics


def test_the_plan_holds_exactly_the_enumerated_topics_of_its_enabled_exchanges(
    project_dir: Path, edit_topology: Callable
) -> None:
    edit_topology(add_nyse)
    (project_dir / "Pulumi.two.yaml").write_text("config:\n  k2infra:exchanges: [equities.nyse, crypto.binance]\n")
    loaded = load_topology(project_dir / "config")
    plan = load_plan(project_dir / "config", "two", project_dir)
    assert [t.name for t in plan.topics] == sorted(
        t.name for t in enabled(loaded, ["equities.nyse", "crypto.binance"]).topics
    )
    assert [e.ref for e in plan.exchanges] == ["crypto.binance", "equities.nyse"]
