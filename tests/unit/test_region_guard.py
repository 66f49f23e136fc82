"""Partitions grow together: the home stack refuses to raise a topic that a region mirrors while the
region's copy has fewer partitions (k2infra.deploy.guards), at preview and up, under mocks
whose engine answers the regional stack's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest

from devkit.pulumi_mocks import RecordingMocks, run_program
from k2infra.deploy import guards
from k2infra.model.stack import load_stack_file
from tests.conftest import set_stack_config
from tests.unit.test_recover_data_loss import DEV_TOPICS, STATE, TOPIC
from tests.unit.test_regions import TOKYO, write_stack

TRADES = "market.crypto.trades.binance"


@dataclass
class RegionMocks(RecordingMocks):
    """The engine answers the state of stack `tokyo` with its copies' partitions (or fails)."""

    region_partitions: dict[str, int] = field(default_factory=dict)
    region_failure: str | None = None
    asked: list[str] = field(default_factory=list)

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        if args.token == STATE:
            self.asked.append(args.args["stackName"])
            if self.region_failure:  # as the engine answers a failed invoke: the SDK raises with its reason
                return {}, [("stackName", self.region_failure)]
            urn = "urn:pulumi:tokyo::k2infra::k2infra:index:TopicPlatform$kafka:index/topic:Topic::"
            return {
                "name": args.args["stackName"],
                "outputs": {
                    urn + n: {"type": TOPIC, "outputs": {"name": n, "partitions": c}}
                    for n, c in self.region_partitions.items()
                },
            }
        return super().call(args)


@pytest.fixture
def raising(project_dir: Path) -> Path:
    """dev raises binance from 4 to 8 partitions; stack tokyo mirrors crypto from dev."""
    write_stack(project_dir, "tokyo", TOKYO)
    set_stack_config(project_dir, "dev", {"partitions": {"crypto.binance": 8}})
    return project_dir


@pytest.mark.parametrize("preview", [True, False])
def test_raising_a_mirrored_topic_ahead_of_its_region_is_refused_naming_the_stack_to_update_first(
    raising: Path, preview: bool
) -> None:
    mocks = RegionMocks(region_partitions={TRADES: 4, "market.crypto.quotes.binance": 4})
    with pytest.raises(pulumi.RunError) as caught:
        run_program(raising, "dev", live_partitions=DEV_TOPICS, mocks=mocks, preview=preview)
    message = str(caught.value)
    assert "Run `pulumi up --stack tokyo` first" in message
    assert f"{TRADES}: 4 -> 8 partitions; stack tokyo (region tokyo) mirrors it with 4" in message
    assert "market.crypto.quotes.binance: 4 -> 8 partitions" in message
    assert "reference_data" not in message  # a data type's fixed count: not raised
    assert mocks.asked == ["organization/k2infra/tokyo"]
    assert not mocks.of_type(TOPIC)


def test_once_the_region_has_grown_the_home_raise_goes_ahead(raising: Path) -> None:
    mocks = RegionMocks(region_partitions={TRADES: 8, "market.crypto.quotes.binance": 8})
    run = run_program(raising, "dev", live_partitions=DEV_TOPICS, mocks=mocks)
    assert {r.name: r.inputs["partitions"] for r in run.mocks.of_type(TOPIC)}[TRADES] == 8


def test_the_regional_plan_already_has_the_homes_new_count(raising: Path) -> None:
    region = load_stack_file(raising / "config", "tokyo", raising)
    assert region.plan.topic(TRADES).partitions == 8  # type: ignore[union-attr]


def test_a_region_whose_state_cannot_be_read_refuses_the_raise_saying_why(raising: Path) -> None:
    mocks = RegionMocks(region_failure="no stack named 'organization/k2infra/tokyo' found")
    with pytest.raises(pulumi.RunError) as caught:
        run_program(raising, "dev", live_partitions=DEV_TOPICS, mocks=mocks, preview=True)
    assert "its state could not be read (" in str(caught.value)
    assert "no stack named 'organization/k2infra/tokyo' found" in str(caught.value)
    assert "deploy it, or take it out of the regions (its k2infra:mirrorFrom)" in str(caught.value)


def test_without_a_raise_the_regions_state_is_not_read(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    mocks = RegionMocks(region_failure="must not be asked")
    run_program(project_dir, "dev", live_partitions=DEV_TOPICS, mocks=mocks, preview=True)
    assert mocks.asked == []


def test_a_region_that_does_not_carry_the_topic_yet_does_not_hold_the_raise_back(raising: Path) -> None:
    stack = load_stack_file(raising / "config", "dev", raising)
    assert guards.region_refusals(stack.plan, DEV_TOPICS, {"tokyo": {}}) == []
    assert guards.region_refusals(stack.plan, DEV_TOPICS, {"tokyo": {TRADES: 4}}) != []


def test_raising_a_topic_no_region_mirrors_reads_no_region(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO | {"mirrorFrom": {"stack": "dev", "select": [{"asset_class": "equities"}]}})
    set_stack_config(project_dir, "dev", {"partitions": {"crypto.binance": 8}})
    stack = load_stack_file(project_dir / "config", "dev", project_dir)
    assert guards.raised(stack.plan, DEV_TOPICS) == {}
