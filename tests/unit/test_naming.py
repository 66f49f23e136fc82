"""The app-facing library: names, specs, exchange metadata and subscriptions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from k2infra.client.naming import SubscriptionBuilder, TopicNameBuilder, UnknownTopicError, load_plan
from k2infra.model.outputs import subscriptions
from tests.conftest import REPO


@pytest.fixture(scope="module")
def plan():
    return load_plan(REPO / "config", "prod", REPO)


def test_build_topic_name(plan) -> None:
    assert TopicNameBuilder(plan).build_topic_name("equities", "trades", "asx") == "market.equities.trades.asx"


def test_topic_spec_has_every_field(plan) -> None:
    spec = TopicNameBuilder(plan).get_topic_config("crypto", "quotes", "binance")
    assert spec.name == "market.crypto.quotes.binance"
    assert spec.partitions == 40
    assert spec.replication_factor == 3
    assert spec.schema_subject == "market.crypto.quotes-value"
    assert spec.schema_name == "quote"
    assert spec.partition_key == "symbol"
    assert spec.config["compression.type"] == "lz4"


def test_unknown_parts_list_what_is_known(plan) -> None:
    builder = TopicNameBuilder(plan)
    with pytest.raises(UnknownTopicError, match=r"unknown exchange 'nyse' \(known: asx\)"):
        builder.build_topic_name("equities", "trades", "nyse")
    with pytest.raises(
        UnknownTopicError, match=r"unknown data type 'candles' \(known: quotes, reference_data, trades\)"
    ):
        builder.build_topic_name("crypto", "candles", "binance")
    with pytest.raises(UnknownTopicError, match="unknown asset class 'fx'"):
        builder.build_topic_name("fx", "trades", "asx")


def test_exchange_metadata(plan) -> None:
    asx = TopicNameBuilder(plan).exchange("equities", "asx")
    assert (asx.name, asx.country, asx.timezone) == ("Australian Securities Exchange", "AU", "Australia/Sydney")
    binance = TopicNameBuilder(plan).exchange("crypto", "binance")
    assert (binance.name, binance.country, binance.timezone) == ("Binance", None, "UTC")


def test_subscribe_to_exchange_is_sorted(plan) -> None:
    assert SubscriptionBuilder(plan).subscribe_to_exchange("equities", "asx") == [
        "market.equities.quotes.asx",
        "market.equities.reference_data.asx",
        "market.equities.trades.asx",
    ]


def test_subscribe_to_asset_class_with_filters(plan) -> None:
    builder = SubscriptionBuilder(plan)
    assert builder.subscribe_to_asset_class("crypto") == [
        "market.crypto.quotes.binance",
        "market.crypto.reference_data.binance",
        "market.crypto.trades.binance",
    ]
    assert builder.subscribe_to_asset_class("equities", data_types=["trades", "quotes"], exchanges=["asx"]) == [
        "market.equities.quotes.asx",
        "market.equities.trades.asx",
    ]
    with pytest.raises(UnknownTopicError):
        builder.subscribe_to_asset_class("equities", exchanges=["binance"])


def test_subscribe_to_data_type_across_exchanges(plan) -> None:
    assert SubscriptionBuilder(plan).subscribe_to_data_type("trades") == [
        "market.crypto.trades.binance",
        "market.equities.trades.asx",
    ]


def test_pattern_matches_exactly_the_selected_topics(plan) -> None:
    names = [t.name for t in plan.topics]
    trades = re.compile(SubscriptionBuilder.pattern(data_type="trades"))
    assert sorted(n for n in names if trades.match(n)) == SubscriptionBuilder(plan).subscribe_to_data_type("trades")
    asx = re.compile(SubscriptionBuilder.pattern(asset_class="equities", exchange="asx"))
    assert sorted(n for n in names if asx.match(n)) == SubscriptionBuilder(plan).subscribe_to_exchange(
        "equities", "asx"
    )
    assert not asx.match("market.equities.trades.asx.extra")
    assert not re.match(SubscriptionBuilder.pattern(), "market.equities.trades")


def test_subscriptions_output_groups(plan) -> None:
    out = subscriptions(plan)
    assert set(out) == {"by_exchange", "by_asset_class", "by_data_type"}
    assert out["by_exchange"]["crypto.binance"] == SubscriptionBuilder(plan).subscribe_to_exchange("crypto", "binance")
    assert set(out["by_asset_class"]) == {"equities", "crypto"}
    assert set(out["by_data_type"]) == {"trades", "quotes", "reference_data"}


def test_subscriptions_output_is_what_the_builder_gives_for_every_key(tmp_path: Path) -> None:
    # A topology of many exchanges (the output is grouped in one pass, the builder scans per call).
    from bench import topologies

    topologies.write_config(topologies.synthetic_topology(61), tmp_path / "config")
    many = load_plan(tmp_path / "config")
    builder = SubscriptionBuilder(many)
    out = subscriptions(many)
    assert len(out["by_exchange"]) == len(many.exchanges) > 2
    for exchange in many.exchanges:
        assert out["by_exchange"][exchange.ref] == builder.subscribe_to_exchange(exchange.asset_class, exchange.code)
    assert out["by_asset_class"] == {ac: builder.subscribe_to_asset_class(ac) for ac in ("crypto", "equities")}
    assert list(out["by_asset_class"]) == ["crypto", "equities"]
    assert out["by_data_type"] == {
        dt: builder.subscribe_to_data_type(dt) for dt in ("quotes", "reference_data", "trades")
    }
    assert sum(len(names) for names in out["by_exchange"].values()) == 61


def test_naming_is_importable_without_pulumi() -> None:
    import subprocess
    import sys

    code = "import sys, k2infra.client.naming; sys.exit(1 if 'pulumi' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(REPO)).returncode == 0
