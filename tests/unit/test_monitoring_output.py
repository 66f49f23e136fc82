"""The `monitoring` stack output says where a stack is observed: the exporter's port, the user it logs in
as, and the uids of exactly the dashboards `python -m k2infra dashboards` generates."""

from __future__ import annotations

import pytest

from k2infra.model.outputs import EXPORTER_PORT, monitoring
from k2infra.model.plan import load_plan
from k2infra.observe import dashboards
from k2infra.observe.declaration import Watched
from tests.conftest import REPO


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_output_names_every_generated_dashboard_and_no_other(stack: str) -> None:
    plan = load_plan(REPO / "config", stack, REPO)
    named = monitoring(plan)["dashboards"]
    generated = {board.slug for board in dashboards.dashboards(Watched.load(REPO / "config", plan))}
    assert {*named["exchanges"].values(), *named["apps"].values()} == generated
    assert sorted(named["exchanges"]) == sorted(e.ref for e in plan.exchanges)


def test_the_monitor_user_is_named_where_access_control_is_on() -> None:
    prod, dev = (monitoring(load_plan(REPO / "config", s, REPO)) for s in ("prod", "dev"))
    assert prod["monitor_username"] == "k2-platform-monitor-prod"
    assert dev["monitor_username"] is None  # no access control: the observe commands log in as the stack's user
    assert prod["exporter_port"] == dev["exporter_port"] == EXPORTER_PORT == 9308
