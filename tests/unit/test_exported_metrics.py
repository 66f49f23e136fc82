"""Every metric the generated rules and dashboards read is one the exporter serves (or one the rules
record themselves): a rule over a metric nobody exports would never fire, and a panel would say "no data"
forever. The exporter's names are the families its collector yields, not the list in metrics.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from k2infra.model.plan import load_plan
from k2infra.observe import alerts, dashboards, exporter, metrics
from k2infra.observe.declaration import Watched
from tests.conftest import REPO
from tests.unit.promql import metric_names

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
RECORDED = {m.name for m in metrics.RECORDED}


def watched(stack: str) -> Watched:
    return Watched.load(REPO / "config", load_plan(REPO / "config", stack, REPO))


def exported() -> set[str]:
    collector = exporter.LagCollector()
    collector.snapshot = exporter.Snapshot(up=True, read_seconds=0.1)
    return {family.name for family in collector.collect()}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_metric_the_rules_read_is_served_by_the_exporter(stack: str) -> None:
    rules = alerts.rules(watched(stack), NOW)
    read = {name for group in rules["groups"] for rule in group["rules"] for name in metric_names(rule["expr"])}
    assert metrics.FEED_LAST_RECORD_AGE_SECONDS.name in read  # K2FeedSilent's
    assert read - RECORDED <= exported()


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_metric_the_dashboards_read_is_served_by_the_exporter(stack: str) -> None:
    read = {
        name
        for board in dashboards.dashboards(watched(stack))
        for q in dashboards.queries(board)
        for name in metric_names(q)
    }
    assert read - RECORDED <= exported()
