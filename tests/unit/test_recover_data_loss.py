"""The program never deletes or replaces a topic that holds records unless the stack allows it.

Each path that could lose a topic's data, under Pulumi mocks: a topic removed from the topology (or
renamed, or its exchange left out of k2infra:exchanges), adopted legacy topics no longer managed,
a replication-factor change, and a partition decrease. The preflight's cluster read and the stack's
state (the engine's readStackResourceOutputs) come from the mocks; the record counts from a stub
of the Kafka read. The e2e tests (tests/e2e/test_faults.py) run the same paths for real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest

from devkit.pulumi_mocks import RecordingMocks, run_program
from k2infra.deploy import guards as guard
from k2infra.deploy import preflight
from tests.conftest import set_stack_config
from tests.unit.test_program import PROD_SECRETS

TOPIC = "kafka:index/topic:Topic"
STATE = "pulumi:pulumi:readStackResourceOutputs"
DEV_TOPICS = {
    "market.equities.trades.asx": 3,
    "market.equities.quotes.asx": 3,
    "market.equities.reference_data.asx": 1,
    "market.crypto.trades.binance": 4,
    "market.crypto.quotes.binance": 4,
    "market.crypto.reference_data.binance": 1,
}
BINANCE = [n for n in DEV_TOPICS if n.endswith(".binance")]


@dataclass
class GuardMocks(RecordingMocks):
    """The cluster read with per-topic replication factors; the stack's state holds `state_topics`."""

    live_replication: dict[str, int] = field(default_factory=dict)
    state_topics: list[str] = field(default_factory=list)
    asked_stack: list[str] = field(default_factory=list)

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        if args.token == STATE:
            self.calls.append(args.token)
            self.asked_stack.append(args.args["stackName"])
            urn = "urn:pulumi:dev::k2infra::k2infra:index:TopicPlatform$kafka:index/topic:Topic::"
            return {
                "name": args.args["stackName"],
                "outputs": {
                    **{urn + n: {"type": TOPIC, "outputs": {"name": n, "partitions": 3}} for n in self.state_topics},
                    "urn:pulumi:dev::k2infra::pulumi:pulumi:Stack::k2infra-dev": {
                        "type": "pulumi:pulumi:Stack",
                        "outputs": {},
                    },
                },
            }
        return super().call(args)

    def replication_of(self, topic: str) -> int:
        return self.live_replication.get(topic, 1)


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch) -> dict[str, int | None]:
    """Records per live topic, as the guard's Kafka read would count them; every read is logged."""
    counts: dict[str, int | None] = {}
    reads: list[set[str]] = []

    def read(admin: Any, layouts: Any, timeout: float) -> dict[str, int | None]:
        reads.append(set(layouts))
        return {n: counts.get(n, 0) for n in layouts}

    monkeypatch.setattr(preflight, "count_records", read)
    counts["__reads__"] = reads  # type: ignore[assignment]
    return counts


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = pulumi.log.warn
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: (seen.append(message), original(message, *a, **k)))
    return seen


def only_equities(project_dir: Path) -> None:
    set_stack_config(project_dir, "dev", {"exchanges": ["equities.asx"]})


def refused(project_dir: Path, mocks: GuardMocks, preview: bool = False) -> str:
    with pytest.raises(pulumi.RunError) as caught:
        run_program(project_dir, "dev", live_partitions=DEV_TOPICS, mocks=mocks, preview=preview)
    assert not mocks.of_type(TOPIC), "a topic was registered although the run was refused"
    return str(caught.value)


# -- removal ------------------------------------------------------------------------------------


@pytest.mark.parametrize("preview", [True, False])
def test_removing_topics_that_hold_records_is_refused_naming_each_and_its_records(
    project_dir: Path, records: dict, preview: bool
) -> None:
    only_equities(project_dir)  # the binance topics leave the plan
    records.update({"market.crypto.trades.binance": 1200, "market.crypto.quotes.binance": 7})
    mocks = GuardMocks(state_topics=list(DEV_TOPICS))
    message = refused(project_dir, mocks, preview)
    assert "refusing to delete or replace topics that hold records" in message
    assert "market.crypto.trades.binance: 1200 records; no longer in the plan, so pulumi would delete it" in message
    assert "market.crypto.quotes.binance: 7 records;" in message
    # empty: nothing to lose, so not refused, but listed: the run deletes it with the others
    refusal, _, empty = message.partition("the run would also delete or replace these empty topics (nothing to lose):")
    assert "market.crypto.reference_data.binance" not in refusal
    assert "  market.crypto.reference_data.binance: 0 records; no longer in the plan" in empty
    assert message.endswith(
        "to accept the loss: python -m k2infra allow-data-loss --stack dev "
        "market.crypto.quotes.binance market.crypto.trades.binance"
    )
    assert "k2infra:allowDataLoss" in message
    assert mocks.asked_stack == ["organization/k2infra/dev"]


def test_a_rename_in_the_topology_is_a_removal_of_the_old_name(
    project_dir: Path, records: dict, edit_topology: Callable
) -> None:
    def rename(topology: dict) -> None:
        exchanges = topology["asset_classes"]["crypto"]["exchanges"]
        exchanges["bnb"] = exchanges.pop("binance")

    edit_topology(rename)
    apps = project_dir / "config" / "kafka" / "apps.yaml"  # the apps follow the rename (else a clear error)
    apps.write_text(apps.read_text().replace("crypto.binance", "crypto.bnb"))
    set_stack_config(project_dir, "dev", {"partitions": {"equities.asx": 3, "crypto.bnb": 4}})
    records["market.crypto.trades.binance"] = 5
    message = refused(project_dir, GuardMocks(state_topics=list(DEV_TOPICS)))
    assert "market.crypto.trades.binance: 5 records; no longer in the plan" in message


def test_allow_data_loss_lets_the_removal_go_ahead_with_a_warning(
    project_dir: Path, records: dict, warnings: list[str]
) -> None:
    only_equities(project_dir)
    set_stack_config(project_dir, "dev", {"allowDataLoss": ["market.crypto.trades.binance"]})
    records["market.crypto.trades.binance"] = 1200
    run = run_program(project_dir, "dev", live_partitions=DEV_TOPICS, mocks=GuardMocks(state_topics=list(DEV_TOPICS)))
    assert {r.name for r in run.mocks.of_type(TOPIC)} == {n for n in DEV_TOPICS if n.endswith(".asx")}
    assert any(
        "market.crypto.trades.binance: 1200 records; no longer in the plan" in w
        and "Allowed by k2infra:allowDataLoss: the records will be lost" in w
        for w in warnings
    ), warnings


@pytest.mark.parametrize(
    ("preview", "says"),
    [
        (True, "no longer in the plan, so pulumi would delete it"),
        (False, "no longer in the plan (removed or renamed in the topology?): this update deletes it"),
    ],
)
def test_the_allowed_removal_warning_says_what_pulumi_up_is_doing_and_what_a_preview_would_do(
    project_dir: Path, records: dict, warnings: list[str], preview: bool, says: str
) -> None:
    only_equities(project_dir)
    set_stack_config(project_dir, "dev", {"allowDataLoss": ["market.crypto.trades.binance"]})
    records["market.crypto.trades.binance"] = 1200
    mocks = GuardMocks(state_topics=list(DEV_TOPICS))
    run_program(project_dir, "dev", live_partitions=DEV_TOPICS, mocks=mocks, preview=preview)
    (warning,) = [w for w in warnings if w.startswith("market.crypto.trades.binance: 1200 records")]
    assert says in warning
    assert ("would" in warning) is preview


def test_a_topic_this_stack_does_not_manage_is_never_refused_nor_counted(project_dir: Path, records: dict) -> None:
    only_equities(project_dir)
    records.update(dict.fromkeys(BINANCE, 99))
    mocks = GuardMocks(state_topics=[n for n in DEV_TOPICS if n.endswith(".asx")])  # binance: made by someone else
    run_program(project_dir, "dev", live_partitions=DEV_TOPICS, mocks=mocks)
    assert STATE in mocks.calls
    assert records["__reads__"] == []


def test_the_state_is_not_read_when_every_live_topic_is_planned(project_dir: Path, records: dict) -> None:
    mocks = GuardMocks(state_topics=list(DEV_TOPICS))
    run_program(project_dir, "dev", live_partitions=DEV_TOPICS, mocks=mocks)
    assert STATE not in mocks.calls and records["__reads__"] == []


def test_legacy_topics_no_longer_managed_are_guarded_too(project_dir: Path, records: dict) -> None:
    # Adopted earlier, then k2infra:legacyTopics turned off: pulumi would delete them unchecked.
    live = {**DEV_TOPICS, "market.trades.raw": 6}
    records["market.trades.raw"] = 31
    mocks = GuardMocks(state_topics=[*DEV_TOPICS, "market.trades.raw"])
    with pytest.raises(pulumi.RunError) as caught:
        run_program(project_dir, "dev", live_partitions=live, mocks=mocks)
    assert "market.trades.raw: 31 records; no longer in the plan" in str(caught.value)


def test_retiring_legacy_topics_are_left_to_the_retirement_guard(
    project_dir: Path, records: dict, edit_topology: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    from k2infra.live import retirement

    edit_topology(lambda t: t["legacy"]["market.trades.raw"].update(state="retire", quiet_since="2026-11-01T00:00:00Z"))
    set_stack_config(project_dir, "dev", {"legacyTopics": True, "allowRetire": True})
    monkeypatch.setattr(retirement, "records_since", lambda admin, topics, live, timeout=15.0: {"market.trades.raw": 0})
    records["market.trades.raw"] = 500  # old records, none since quiet_since: retiring is allowed
    live = {**DEV_TOPICS, "market.trades.raw": 6, "market.quotes.raw": 6, "market.reference_data": 1}
    run = run_program(project_dir, "dev", live_partitions=live, mocks=GuardMocks(state_topics=list(live)))
    assert "market.trades.raw" not in {r.name for r in run.mocks.of_type(TOPIC)}


# -- replace --------------------------------------------------------------------------------------


def test_a_replication_factor_change_of_a_topic_holding_records_is_refused(project_dir: Path, records: dict) -> None:
    records["market.equities.trades.asx"] = 40
    mocks = GuardMocks(live_replication={"market.equities.trades.asx": 3, "market.equities.quotes.asx": 3})
    message = refused(project_dir, mocks)
    assert "market.equities.trades.asx: 40 records; replication factor planned 1, the cluster has 3" in message
    refusal, _, empty = message.partition("the run would also delete or replace these empty topics (nothing to lose):")
    assert "market.equities.quotes.asx" not in refusal  # empty: a replace loses nothing, but it is listed
    assert "  market.equities.quotes.asx: 0 records; replication factor planned 1, the cluster has 3" in empty


def test_a_replication_factor_change_can_be_allowed(project_dir: Path, records: dict, warnings: list[str]) -> None:
    records["market.equities.trades.asx"] = 40
    set_stack_config(project_dir, "dev", {"allowDataLoss": ["market.equities.trades.asx"]})
    run_program(
        project_dir,
        "dev",
        live_partitions=DEV_TOPICS,
        mocks=GuardMocks(live_replication={"market.equities.trades.asx": 3}),
    )
    assert any("market.equities.trades.asx: 40 records; replication factor" in w for w in warnings)


def test_a_partition_decrease_stays_refused_even_when_data_loss_is_allowed(project_dir: Path, records: dict) -> None:
    set_stack_config(project_dir, "dev", {"allowDataLoss": ["market.equities.trades.asx"]})
    live = {**DEV_TOPICS, "market.equities.trades.asx": 6}
    with pytest.raises(pulumi.RunError) as caught:
        run_program(project_dir, "dev", live_partitions=live, mocks=GuardMocks())
    assert "refusing to lower partition counts" in str(caught.value)


def test_a_stale_allowance_is_warned_about(project_dir: Path, records: dict, warnings: list[str]) -> None:
    set_stack_config(project_dir, "dev", {"allowDataLoss": ["market.crypto.trades.kraken"]})
    run_program(project_dir, "dev", live_partitions=DEV_TOPICS, mocks=GuardMocks())
    assert any("lists market.crypto.trades.kraken, which this run neither deletes nor replaces" in w for w in warnings)


def test_an_unknown_record_count_is_refused_not_taken_for_empty() -> None:
    [refusal], _ = guard.data_loss_judgement([guard.Loss("t", "gone")], {"t": None}, allowed=())
    assert "t: an unknown number of records; gone" in refusal


def test_allow_data_loss_must_be_a_list_of_names(project_dir: Path) -> None:
    from k2infra.client.naming import load_plan
    from k2infra.model.errors import InputError

    set_stack_config(project_dir, "dev", {"allowDataLoss": "market.crypto.trades.binance"})
    with pytest.raises(InputError) as caught:
        load_plan(project_dir / "config", "dev", project_dir)
    assert "k2infra:allowDataLoss" in str(caught.value)


def test_the_guard_keeps_topic_inputs_plain_on_a_stack_with_a_sasl_password(project_dir: Path) -> None:
    run = run_program(project_dir, "prod", PROD_SECRETS, live_partitions={}, mocks=GuardMocks())
    # A secret input reaches the mocks wrapped ({"4dabf...": "1b47...", "value": 30}).
    assert run.resource("market.equities.trades.asx").inputs["partitions"] == 30
