"""docs/monitoring.md says what to do for every alert the rules can raise (a runbook row at the anchor its
`runbook` annotation names) and lists every metric the exporter serves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from k2infra.model.plan import load_plan
from k2infra.observe import alerts, exporter
from k2infra.observe.declaration import Watched
from tests.conftest import REPO

DOC = (REPO / "docs" / "monitoring.md").read_text()


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_alert_links_a_runbook_row_of_docs_monitoring(stack: str) -> None:
    watched = Watched.load(REPO / "config", load_plan(REPO / "config", stack, REPO))
    rules = alerts.rules(watched, datetime(2026, 12, 6, tzinfo=UTC))
    for rule in (r for group in rules["groups"] for r in group["rules"] if "alert" in r):
        page, anchor = rule["annotations"]["runbook"].split("#")
        assert page == "docs/monitoring.md"
        row = next((line for line in DOC.splitlines() if f'<a id="{anchor}"></a>`{rule["alert"]}`' in line), None)
        assert row is not None, f"{rule['alert']}: no runbook row with anchor {anchor}"
        assert len(row.split(" | ")) == 4 and row.split(" | ")[-1].strip(" |"), f"{rule['alert']}: no 'what to do'"


def test_every_metric_the_exporter_serves_has_a_row_in_docs_monitoring() -> None:
    collector = exporter.LagCollector(("tokyo", "prod"))  # a regional stack's: the mirror series too
    for family in collector.collect():
        assert f"| `{family.name}` |" in DOC, family.name
