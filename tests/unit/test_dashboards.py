"""Dashboards from the declaration (`k2infra.observe.dashboards`): one per exchange and one per consumer
app, as Grafana JSON and Prometheus console templates, every query over the metrics of metrics.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from k2infra.model.plan import load_plan
from k2infra.observe import dashboards, metrics
from k2infra.observe.declaration import Watched
from tests.conftest import REPO, set_stack_config
from tests.unit.promql import metric_names


def watched(stack: str = "prod") -> Watched:
    return Watched.load(REPO / "config", load_plan(REPO / "config", stack, REPO))


def board(slug: str) -> dashboards.Dashboard:
    return next(b for b in dashboards.dashboards(watched()) if b.slug == slug)


def test_there_is_one_dashboard_per_exchange_and_per_consumer_app() -> None:
    assert [b.slug for b in dashboards.dashboards(watched())] == [
        "k2-exchange-crypto-binance",
        "k2-exchange-equities-asx",
        "k2-app-equities-analytics",
        "k2-app-crypto-risk",
        "k2-app-reference-data-cache",
    ]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_panel_query_reads_only_metrics_of_metrics_py(stack: str) -> None:
    for b in dashboards.dashboards(watched(stack)):
        for expr in dashboards.queries(b):
            assert metric_names(expr), f"{b.slug}: {expr} reads no metric"
            assert metric_names(expr) <= metrics.NAMES, f"{b.slug}: {expr}"


def test_the_grafana_json_holds_exactly_the_dashboard_queries() -> None:
    files = dashboards.files(watched())
    for b in dashboards.dashboards(watched()):
        grafana = json.loads(files[f"grafana/{b.slug}.json"])
        assert grafana["uid"] == b.slug and grafana["title"] == b.title
        exprs = [t["expr"] for p in grafana["panels"] for t in p["targets"]]
        assert exprs == dashboards.queries(b)
        assert all(metric_names(e) <= metrics.NAMES for e in exprs)
        assert [v["name"] for v in grafana["templating"]["list"]] == ["datasource"]


def test_the_console_templates_query_exactly_the_dashboard_queries() -> None:
    files = dashboards.files(watched())
    for b in dashboards.dashboards(watched()):
        template = files[f"consoles/{b.slug}.html"]
        assert re.findall(r"range query `([^`]*)`", template) == dashboards.queries(b)


def test_the_exchange_dashboard_shows_its_feeds_and_the_lag_of_the_apps_consuming_it() -> None:
    asx = board("k2-exchange-equities-asx")
    titles = [p.title for p in asx.panels]
    assert titles == [
        "In trading hours",
        "Newest record age",
        "Records per second",
        "Hottest partition's share",
        "Lag of equities-analytics",
        "Lag of reference-data-cache",
        "Lag in records, every consumer",
    ]
    lag = next(p for p in asx.panels if p.title == "Lag of equities-analytics")
    assert [q.expr for q in lag.queries] == [
        'k2_consumer_lag_seconds{app="equities-analytics",asset_class="equities",exchange="asx",'
        'data_type=~"quotes|reference_data|trades"}'
    ]
    assert "60s" in lag.description
    skew = next(p for p in asx.panels if p.title == "Hottest partition's share")
    assert skew.queries[0].expr == (
        'k2_partition_skew_ratio{topic=~"market\\\\.equities\\\\.quotes\\\\.asx|'
        'market\\\\.equities\\\\.reference_data\\\\.asx|market\\\\.equities\\\\.trades\\\\.asx"}'
    )


def test_an_app_dashboard_shows_its_lag_its_state_and_the_feeds_it_reads() -> None:
    risk = board("k2-app-crypto-risk")
    assert [p.title for p in risk.panels] == [
        "Lag in seconds",
        "Lag in records",
        "Not OK",
        "Newest record age of what it reads",
    ]
    feeds = risk.panels[-1]
    assert [q.expr for q in feeds.queries] == [
        'k2_feed_last_record_age_seconds{asset_class="crypto",exchange="binance",data_type=~"trades"}'
    ]
    assert "an alert after 2m" in risk.panels[0].description


def test_dashboards_follow_the_stack_enabled_exchanges(project_dir: Path) -> None:
    set_stack_config(project_dir, "prod", {"exchanges": ["crypto.binance"]})
    plan = load_plan(project_dir / "config", "prod", project_dir)
    slugs = [b.slug for b in dashboards.dashboards(Watched.load(project_dir / "config", plan))]
    assert slugs == ["k2-exchange-crypto-binance", "k2-app-crypto-risk", "k2-app-reference-data-cache"]
