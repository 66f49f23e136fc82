"""The Prometheus rules generated from the declaration (`k2infra.observe.alerts`); promtool runs them in
tests/integration/test_alert_rules.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from k2infra.model.plan import load_plan
from k2infra.observe import alerts, metrics
from k2infra.observe.declaration import Watched
from tests.conftest import REPO, set_stack_config
from tests.unit.promql import metric_names

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def generated(config_dir: Path = REPO / "config", stack: str | None = "prod", project_dir: Path = REPO) -> dict:
    plan = load_plan(config_dir, stack, project_dir)
    return alerts.rules(Watched.load(config_dir, plan), NOW)


def every_rule(rules: dict) -> list[dict[str, Any]]:
    return [rule for group in rules["groups"] for rule in group["rules"]]


def alerts_named(rules: dict, name: str) -> list[dict[str, Any]]:
    return [rule for rule in every_rule(rules) if rule.get("alert") == name]


def test_the_metric_name_scanner_sees_metrics_and_not_functions_labels_or_keywords() -> None:
    expr = (
        'sum by (app) (rate(k2_a_total{app="x",b=~"y|z"}[5m])) > 3 and on(exchange) '
        "min_over_time(exchange:k2_b:bool[1m]) == bool 1  # k2_in_a_comment\n+ vector(time() + 3600)"
    )
    assert metric_names(expr) == {"k2_a_total", "exchange:k2_b:bool"}


def test_every_rule_reads_only_metrics_the_exporter_or_the_rules_define() -> None:
    rules = generated()
    used = {name for rule in every_rule(rules) for name in metric_names(rule["expr"])}
    assert used <= metrics.NAMES
    recorded = {rule["record"] for rule in every_rule(rules) if "record" in rule}
    assert recorded == {m.name for m in metrics.RECORDED}


def test_each_consumer_app_gets_a_lag_rule_at_its_own_slo_and_for() -> None:
    lagging = {rule["labels"]["app"]: rule for rule in alerts_named(generated(), "K2ConsumerLagging")}
    assert sorted(lagging) == ["crypto-risk", "equities-analytics", "reference-data-cache"]  # not the producer
    assert lagging["crypto-risk"]["expr"] == 'k2_consumer_lag_seconds{app="crypto-risk"} > 30\n'
    assert lagging["crypto-risk"]["for"] == "2m"
    assert lagging["equities-analytics"]["expr"] == 'k2_consumer_lag_seconds{app="equities-analytics"} > 60\n'
    assert (lagging["reference-data-cache"]["for"], lagging["reference-data-cache"]["expr"]) == (
        "5m",
        'k2_consumer_lag_seconds{app="reference-data-cache"} > 300\n',
    )
    stalled = {rule["labels"]["app"]: rule for rule in alerts_named(generated(), "K2ConsumerStalled")}
    assert stalled["crypto-risk"]["expr"] == 'k2_consumer_state{app="crypto-risk",state="stalled"} == 1\n'


def test_silence_is_watched_per_exchange_within_its_hours_and_never_on_reference_data() -> None:
    silent = {rule["labels"]["exchange"]: rule for rule in alerts_named(generated(), "K2FeedSilent")}
    assert sorted(silent) == ["asx", "binance"]
    assert silent["asx"]["expr"] == (
        'k2_feed_last_record_age_seconds{asset_class="equities",exchange="asx",data_type=~"quotes|trades"} > 300\n'
        "and on(asset_class, exchange) "
        'min_over_time(exchange:k2_trading_hours:bool{asset_class="equities",exchange="asx"}[5m]) == 1\n'
    )
    assert "for" not in silent["asx"]  # the limit is the wait


def test_an_exchange_without_a_silence_limit_gets_no_silence_alert(config_dir: Path) -> None:
    path = config_dir / "kafka" / "topics.yaml"
    path.write_text(path.read_text().replace("    silence_limit: 5m ", "    # no limit ", 1))
    silent = alerts_named(generated(config_dir, None, config_dir.parent), "K2FeedSilent")
    assert [rule["labels"]["exchange"] for rule in silent] == ["binance"]


def test_a_stack_watches_only_its_enabled_exchanges(project_dir: Path) -> None:
    set_stack_config(project_dir, "prod", {"exchanges": ["crypto.binance"]})
    rules = generated(project_dir / "config", "prod", project_dir)
    assert {r["labels"]["exchange"] for r in every_rule(rules) if "exchange" in r.get("labels", {})} == {"binance"}
    lagging = {rule["labels"]["app"] for rule in alerts_named(rules, "K2ConsumerLagging")}
    assert lagging == {"crypto-risk", "reference-data-cache"}  # equities-analytics reads nothing here


def test_the_utc_offsets_split_at_each_daylight_saving_transition() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    periods = alerts.offset_periods("Australia/Sydney", start, end)
    assert [(p.start, p.end, p.offset) for p in periods] == [
        (None, datetime(2026, 4, 4, 16, 0, tzinfo=UTC), 11 * 3600),  # 03:00 AEDT -> 02:00 AEST
        (datetime(2026, 4, 4, 16, 0, tzinfo=UTC), datetime(2026, 10, 3, 16, 0, tzinfo=UTC), 10 * 3600),
        (datetime(2026, 10, 3, 16, 0, tzinfo=UTC), None, 11 * 3600),
    ]
    assert [(p.start, p.end, p.offset) for p in alerts.offset_periods("Asia/Kolkata", start, end)] == [
        (None, None, 19800)
    ]


def test_an_exchange_without_daylight_saving_needs_no_calendar(config_dir: Path) -> None:
    path = config_dir / "kafka" / "topics.yaml"
    path.write_text(path.read_text().replace("timezone: Australia/Sydney", "timezone: Asia/Tokyo"))
    [local] = [
        r
        for r in every_rule(generated(config_dir, None, config_dir.parent))
        if r.get("record") == metrics.EXCHANGE_LOCAL_TIME.name
    ]
    assert local["expr"] == "vector(time() + 32400)"


def test_the_rules_say_when_their_calendar_ends() -> None:
    [ending] = alerts_named(generated(), "K2TradingCalendarEnding")
    assert ending["expr"] == f"vector(time()) > {int(datetime(2028, 12, 2, tzinfo=UTC).timestamp())}\n"
    assert "2029-01-01" in ending["annotations"]["summary"]


def test_the_rules_file_is_yaml_with_a_header_naming_its_source() -> None:
    plan = load_plan(REPO / "config", "prod", REPO)
    text = alerts.render(Watched.load(REPO / "config", plan), NOW)
    assert text.startswith("# Generated by `python -m k2infra alerts --stack prod`")
    assert yaml.safe_load(text) == alerts.rules(Watched.load(REPO / "config", plan), NOW)
    assert "&id" not in text
