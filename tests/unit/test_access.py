"""The plan derives each app's access from its declarations (k2infra.model.apps): exactly the
topics its selectors mean today, Literal or Prefixed so that the broker grants that and no more."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from k2infra.model.apps import AclSpec, Operation, PatternType, ResourceType, who_can
from k2infra.model.plan import Plan, load_plan
from k2infra.model.topology import load_topology
from tests.conftest import set_stack_config

NYSE = {"name": "New York Stock Exchange", "partitions": 100, "country": "US", "timezone": "America/New_York"}
EditTopology = Callable[[Callable[[dict], None]], Path]


def acls(plan: Plan, app: str) -> set[tuple[str, str, str, str]]:
    access = plan.app(app)
    assert access is not None
    return {(a.resource_type, a.resource_name, a.pattern_type, a.operation) for a in access.acls}


def plan_of(project_dir: Path, stack: str | None = "prod") -> Plan:
    return load_plan(project_dir / "config", stack, project_dir)


def add_apps(project_dir: Path, text: str) -> None:
    path = project_dir / "config" / "kafka" / "apps.yaml"
    path.write_text(path.read_text() + text)


def test_the_example_apps_get_exactly_these_acls_in_prod(project_dir: Path) -> None:
    plan = plan_of(project_dir)
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    literal, prefixed = PatternType.LITERAL, PatternType.PREFIXED
    read, write, describe = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    assert acls(plan, "market-data-normaliser") == {
        (topic, name, literal, op)
        for name in (
            "market.equities.trades.asx",
            "market.equities.quotes.asx",
            "market.crypto.trades.binance",
            "market.crypto.quotes.binance",
        )
        for op in (write, describe)
    }
    assert acls(plan, "equities-analytics") == {
        (topic, "market.equities.", prefixed, read),
        (topic, "market.equities.", prefixed, describe),
        (group, "equities-analytics", literal, read),
    }
    assert acls(plan, "crypto-risk") == {
        (topic, "market.crypto.trades.", prefixed, read),
        (topic, "market.crypto.trades.", prefixed, describe),
        (group, "crypto-risk.", prefixed, read),
    }
    assert acls(plan, "reference-data-cache") == {
        (topic, f"market.{ac}.reference_data.", prefixed, op)
        for ac in ("equities", "crypto")
        for op in (read, describe)
    } | {(group, "reference-data-cache", literal, read)}
    for app in plan.apps:
        assert {a.principal for a in app.acls} == {f"User:k2-{app.name}-prod"}
        assert {(a.permission, a.host) for a in app.acls} == {("Allow", "*")}
    assert plan.app("crypto-risk").reads == ("market.crypto.trades.binance",)
    assert plan.app("reference-data-cache").reads == (
        "market.crypto.reference_data.binance",
        "market.equities.reference_data.asx",
    )
    assert plan.app("market-data-normaliser").writes == (
        "market.crypto.quotes.binance",
        "market.crypto.trades.binance",
        "market.equities.quotes.asx",
        "market.equities.trades.asx",
    )
    assert plan.app("market-data-normaliser").reads == ()


def test_the_monitor_gets_exactly_these_acls_in_prod_and_no_write(project_dir: Path) -> None:
    plan = plan_of(project_dir)
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    literal, prefixed = PatternType.LITERAL, PatternType.PREFIXED
    read, describe = Operation.READ, Operation.DESCRIBE
    # Read+Describe on every topic of the stack (one prefix per asset class: each means exactly its
    # topics here), Describe on each declared app's group as that app declares it; nothing else.
    assert acls(plan, "platform-monitor") == {
        (topic, "market.equities.", prefixed, read),
        (topic, "market.equities.", prefixed, describe),
        (topic, "market.crypto.", prefixed, read),
        (topic, "market.crypto.", prefixed, describe),
        (group, "equities-analytics", literal, describe),
        (group, "crypto-risk.", prefixed, describe),
        (group, "reference-data-cache", literal, describe),
    }
    monitor = plan.monitor
    assert monitor is not None and monitor.name == "platform-monitor" and monitor.monitors
    assert monitor.reads == tuple(sorted(t.name for t in plan.topics))
    assert (monitor.writes, monitor.group) == ((), None)
    assert {a.principal for a in monitor.acls} == {"User:k2-platform-monitor-prod"}
    assert not [a for a in monitor.acls if a.operation is Operation.WRITE]
    assert [a.name for a in plan.apps if a.monitors] == ["platform-monitor"]


def test_the_monitor_describes_a_new_apps_group_and_falls_back_to_names_under_a_legacy_topic(
    project_dir: Path, edit_topology: EditTopology
) -> None:
    add_apps(project_dir, "  tape:\n    consumes: [{exchange: equities.asx}]\n    group_prefix: tape.\n")
    edit_topology(lambda t: t["legacy"].update({"market.equities.raw": {"state": "adopt", "partitions": 1}}))
    plan = plan_of(project_dir)
    monitor = acls(plan, "platform-monitor")
    assert (ResourceType.GROUP, "tape.", PatternType.PREFIXED, Operation.DESCRIBE) in monitor
    # market.equities. would reach the legacy market.equities.raw, which no monitor observes: names.
    equities = {name for kind, name, pattern, _ in monitor if kind is ResourceType.TOPIC and "equities" in name}
    assert equities == {
        "market.equities.trades.asx",
        "market.equities.quotes.asx",
        "market.equities.reference_data.asx",
    }
    assert (ResourceType.TOPIC, "market.crypto.", PatternType.PREFIXED, Operation.READ) in monitor


def test_an_asset_class_consumer_gains_a_new_exchange_and_a_single_exchange_one_never_does(
    project_dir: Path, edit_topology: EditTopology
) -> None:
    add_apps(project_dir, "  asx-only:\n    consumes: [{exchange: equities.asx}]\n    group: asx-only\n")
    before = plan_of(project_dir)
    edit_topology(lambda t: t["asset_classes"]["equities"]["exchanges"].update(nyse=NYSE))
    after = plan_of(project_dir)
    # Same bindings: the Prefixed market.equities. already grants the new exchange's topics.
    assert after.app("equities-analytics").acls == before.app("equities-analytics").acls
    assert "market.equities.trades.nyse" in after.app("equities-analytics").reads
    assert [a.name for a, _ in who_can(after.apps, ResourceType.TOPIC, "market.equities.trades.nyse")] == [
        "equities-analytics",
        "equities-analytics",
        "platform-monitor",  # Describe and Read by market.equities. too
        "platform-monitor",
    ]
    # The single-exchange consumer: Literal names only, and nothing of the new exchange.
    assert after.app("asx-only").acls == before.app("asx-only").acls
    assert {a.pattern_type for a in after.app("asx-only").acls} == {PatternType.LITERAL}
    assert not any("nyse" in name for name in after.app("asx-only").reads)


def test_a_legacy_topic_under_the_prefix_makes_the_selector_fall_back_to_literal_names(
    project_dir: Path, edit_topology: EditTopology
) -> None:
    # Kafka matches prefixes by string: `market.equities.` would grant this legacy topic too.
    edit_topology(lambda t: t["legacy"].update({"market.equities.raw": {"state": "adopt", "partitions": 3}}))
    plan = plan_of(project_dir)
    assert acls(plan, "equities-analytics") == {
        (ResourceType.TOPIC, name, PatternType.LITERAL, op)
        for name in ("market.equities.trades.asx", "market.equities.quotes.asx", "market.equities.reference_data.asx")
        for op in (Operation.READ, Operation.DESCRIBE)
    } | {(ResourceType.GROUP, "equities-analytics", PatternType.LITERAL, Operation.READ)}
    assert not who_can([plan.app("equities-analytics")], ResourceType.TOPIC, "market.equities.raw")
    # Other selectors' prefixes do not reach it, so they keep them.
    assert (ResourceType.TOPIC, "market.crypto.trades.", PatternType.PREFIXED, Operation.READ) in acls(
        plan, "crypto-risk"
    )


def test_the_trailing_dot_keeps_a_legacy_name_that_shares_the_words_outside_the_prefix(
    project_dir: Path, edit_topology: EditTopology
) -> None:
    edit_topology(lambda t: t["legacy"].update({"market.crypto.trades": {"state": "adopt", "partitions": 3}}))
    plan = plan_of(project_dir)
    assert (ResourceType.TOPIC, "market.crypto.trades.", PatternType.PREFIXED, Operation.READ) in acls(
        plan, "crypto-risk"
    )
    assert not who_can([plan.app("crypto-risk")], ResourceType.TOPIC, "market.crypto.trades")


def test_a_stack_that_disables_an_exchange_of_the_class_gets_literal_names_of_the_enabled_ones(
    project_dir: Path, edit_topology: EditTopology
) -> None:
    edit_topology(lambda t: t["asset_classes"]["equities"]["exchanges"].update(nyse=NYSE))
    set_stack_config(project_dir, "prod", {"exchanges": ["equities.asx", "crypto.binance"]})
    plan = plan_of(project_dir)
    analytics = plan.app("equities-analytics")
    assert {a.pattern_type for a in analytics.acls if a.resource_type is ResourceType.TOPIC} == {PatternType.LITERAL}
    assert analytics.reads == (
        "market.equities.quotes.asx",
        "market.equities.reference_data.asx",
        "market.equities.trades.asx",
    )
    assert not who_can([analytics], ResourceType.TOPIC, "market.equities.trades.nyse")
    # reference data of nyse is disabled too: the data-type prefix of equities falls back as well.
    cache = plan.app("reference-data-cache")
    assert (ResourceType.TOPIC, "market.equities.reference_data.asx", PatternType.LITERAL, Operation.READ) in acls(
        plan, "reference-data-cache"
    )
    assert (ResourceType.TOPIC, "market.crypto.reference_data.", PatternType.PREFIXED, Operation.READ) in acls(
        plan, "reference-data-cache"
    )
    assert not who_can([cache], ResourceType.TOPIC, "market.equities.reference_data.nyse")


def test_a_selector_that_means_no_topic_of_the_stack_grants_nothing(project_dir: Path) -> None:
    set_stack_config(project_dir, "prod", {"exchanges": ["equities.asx"]})
    plan = plan_of(project_dir)
    risk = plan.app("crypto-risk")
    assert risk.reads == ()
    assert [a for a in risk.acls if a.resource_type is ResourceType.TOPIC] == []
    assert risk.group == "crypto-risk."  # the declared group stays
    normaliser = plan.app("market-data-normaliser")
    assert normaliser.writes == ("market.equities.quotes.asx", "market.equities.trades.asx")
    assert not any("crypto" in a.resource_name for a in normaliser.acls)


def test_legacy_topics_are_granted_by_name_only_where_the_stack_keeps_them(project_dir: Path) -> None:
    add_apps(
        project_dir,
        "  legacy-bridge:\n    consumes: [{legacy: market.trades.raw}]\n    produces: [{legacy: market.quotes.raw}]\n"
        "    group: legacy-bridge\n",
    )
    assert plan_of(project_dir).app("legacy-bridge").acls == (
        AclSpec("User:k2-legacy-bridge-prod", ResourceType.GROUP, "legacy-bridge", PatternType.LITERAL, Operation.READ),
    )
    set_stack_config(project_dir, "prod", {"legacyTopics": True})
    bridge = plan_of(project_dir).app("legacy-bridge")
    assert bridge.reads == ("market.trades.raw",) and bridge.writes == ("market.quotes.raw",)
    assert {(a.resource_name, a.pattern_type, a.operation) for a in bridge.acls if a.resource_type == "Topic"} == {
        ("market.trades.raw", PatternType.LITERAL, Operation.READ),
        ("market.trades.raw", PatternType.LITERAL, Operation.DESCRIBE),
        ("market.quotes.raw", PatternType.LITERAL, Operation.WRITE),
        ("market.quotes.raw", PatternType.LITERAL, Operation.DESCRIBE),
    }


def test_data_type_selectors_and_filters_get_one_prefix_per_asset_class_or_data_type(project_dir: Path) -> None:
    add_apps(
        project_dir,
        """\
  tape:
    consumes:
      - data_type: trades
        asset_classes: [crypto]
      - asset_class: equities
        data_types: [trades, quotes]
    group: tape
  asx-writer:
    produces:
      - asset_class: equities
        exchanges: [asx]
        data_types: [reference_data]
""",
    )
    plan = plan_of(project_dir)
    assert {name for _, name, pattern, op in acls(plan, "tape") if op == Operation.READ and pattern == "Prefixed"} == {
        "market.crypto.trades.",
        "market.equities.trades.",
        "market.equities.quotes.",
    }
    assert acls(plan, "asx-writer") == {
        (ResourceType.TOPIC, "market.equities.reference_data.asx", PatternType.LITERAL, op)
        for op in (Operation.WRITE, Operation.DESCRIBE)
    }


def test_overlapping_declarations_give_one_binding_each(project_dir: Path) -> None:
    add_apps(
        project_dir,
        """\
  overlap:
    consumes:
      - asset_class: equities
      - exchange: equities.asx
        data_types: [trades]
    produces:
      - exchange: equities.asx
        data_types: [trades]
    group: overlap
""",
    )
    assert acls(plan_of(project_dir), "overlap") == {
        (ResourceType.TOPIC, "market.equities.", PatternType.PREFIXED, Operation.READ),
        (ResourceType.TOPIC, "market.equities.", PatternType.PREFIXED, Operation.DESCRIBE),
        # Describe of the written topic is already granted by the prefix: no second binding.
        (ResourceType.TOPIC, "market.equities.trades.asx", PatternType.LITERAL, Operation.WRITE),
        (ResourceType.GROUP, "overlap", PatternType.LITERAL, Operation.READ),
    }


@pytest.mark.parametrize(
    "variant",
    ["as-shipped", "nyse-added", "legacy-under-prefix", "nyse-disabled", "legacy-managed", "binance-subset"],
)
def test_the_broker_grants_each_app_exactly_the_topics_it_declared(
    project_dir: Path, edit_topology: EditTopology, variant: str
) -> None:
    """For every topic name the cluster could hold (the topology's and the legacy ones), a Read (or
    Write) binding of the app matches it, as the broker matches, exactly when the app reads (writes) it."""
    add_apps(
        project_dir,
        "  legacy-bridge:\n    consumes: [{legacy: market.trades.raw}, {data_type: quotes}]\n"
        "    group: legacy-bridge\n  tape:\n    consumes: [{data_type: trades, asset_classes: [equities]}]\n"
        "    group_prefix: tape.\n",
    )
    if variant in ("nyse-added", "nyse-disabled"):
        edit_topology(lambda t: t["asset_classes"]["equities"]["exchanges"].update(nyse=NYSE))
    if variant == "nyse-disabled":
        set_stack_config(project_dir, "prod", {"exchanges": ["equities.asx", "crypto.binance"]})
    if variant == "legacy-under-prefix":
        edit_topology(lambda t: t["legacy"].update({"market.equities.raw": {"state": "adopt", "partitions": 1}}))
    if variant == "legacy-managed":
        set_stack_config(project_dir, "prod", {"legacyTopics": True})
    if variant == "binance-subset":
        edit_topology(
            lambda t: t["asset_classes"]["crypto"]["exchanges"]["binance"].update(data_types=["trades", "quotes"])
        )
    plan = plan_of(project_dir)
    loaded = load_topology(project_dir / "config")
    names = {t.name for t in loaded.topology.topics()} | set(loaded.topology.legacy)
    checked = 0
    for app in plan.apps:
        for name in sorted(names):
            readable = any(a.operation is Operation.READ and a.matches(ResourceType.TOPIC, name) for a in app.acls)
            writable = any(a.operation is Operation.WRITE and a.matches(ResourceType.TOPIC, name) for a in app.acls)
            described = any(a.operation is Operation.DESCRIBE and a.matches(ResourceType.TOPIC, name) for a in app.acls)
            assert readable == (name in app.reads), (variant, app.name, name)
            assert writable == (name in app.writes), (variant, app.name, name)
            assert described == (name in app.reads or name in app.writes), (variant, app.name, name)
            checked += 1
    assert checked == len(plan.apps) * len(names) > 0


def test_nothing_is_granted_that_no_declaration_asked_for(project_dir: Path) -> None:
    plan = plan_of(project_dir)
    principals = {app.principal for app in plan.apps}
    for app in plan.apps:
        for acl in app.acls:
            assert acl.principal in principals and "*" not in acl.principal and acl.resource_name != "*"
            assert acl.resource_type is ResourceType.GROUP or acl.resource_name.startswith("market.")
    assert [a.name for a in plan.apps if any(x.operation is Operation.WRITE for x in a.acls)] == [
        "market-data-normaliser"
    ]


def test_acl_identities_are_stable_when_an_app_or_an_exchange_is_added(
    project_dir: Path, edit_topology: EditTopology
) -> None:
    before = {a.id for app in plan_of(project_dir).apps for a in app.acls}
    edit_topology(lambda t: t["asset_classes"]["equities"]["exchanges"].update(nyse=NYSE))
    add_apps(project_dir, "  nyse-tape:\n    consumes: [{exchange: equities.nyse}]\n    group: nyse-tape\n")
    after = {a.id for app in plan_of(project_dir).apps for a in app.acls}
    assert before < after
    assert "User:k2-crypto-risk-prod|*|Read|Allow|Topic|market.crypto.trades.|Prefixed" in before


def test_without_a_stack_the_principal_keeps_its_placeholder(project_dir: Path) -> None:
    plan = plan_of(project_dir, None)
    assert plan.app("crypto-risk").principal == "User:k2-crypto-risk-{stack}"
    assert plan.app("nope") is None
