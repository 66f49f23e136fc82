"""k2infra's own principal: the least rights it needs, and the judgement of what it holds."""

from __future__ import annotations

from k2infra.model.infra_access import infra_grants, judge


def test_the_topics_under_market_and_a_legacy_name_outside_it_get_the_six_topic_operations() -> None:
    grants = infra_grants(["market.trades.raw", "trades_raw"], access_control=False)
    by_name: dict[str, set[str]] = {}
    for grant in grants:
        by_name.setdefault(f"{grant.resource_type} {grant.resource_name} {grant.pattern_type}", set()).add(
            grant.operation
        )
    six = {"Create", "Alter", "AlterConfigs", "Describe", "DescribeConfigs", "Delete"}
    assert by_name == {"Topic market. Prefixed": six, "Topic trades_raw Literal": six}


def test_the_cluster_operations_come_with_access_control_only_and_never_read_or_write() -> None:
    cluster = {g.operation for g in infra_grants([], access_control=True) if g.resource_type == "Cluster"}
    assert cluster == {"Alter", "Describe", "AlterConfigs", "DescribeConfigs"}
    assert not {"Read", "Write"} & {g.operation for g in infra_grants([], access_control=True)}


def test_cluster_rights_granted_by_an_acl_are_named_as_excess_without_calling_it_a_super_user() -> None:
    needed = infra_grants([], access_control=False)
    held = [g.key for g in needed] + [("Cluster", "kafka-cluster", "Literal", "All")]
    judged = judge("User:k2infra", needed, held, ["All", "Alter", "Create"], access_control=False)
    assert judged.missing == ()
    assert judged.excess[0] == "All, Alter, Create on the Cluster"
    assert "All Cluster kafka-cluster (Literal)" in judged.excess
