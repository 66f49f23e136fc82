"""MirrorMaker 2's principal in each stack's access (k2infra.model.mirror_access): what the regional
stack grants it on its own cluster, what the home stack grants it for each region that carries its
topics, and that both match what `mirror-config` makes MirrorMaker 2 do."""

from __future__ import annotations

import json
import re
from pathlib import Path

from devkit.pulumi_mocks import run_program
from k2infra.model.apps import AclSpec, AppAccess
from k2infra.model.mirrormaker import mirror_groups_pattern
from k2infra.model.stack import Stack
from policy.k2_policies.access_rules import acl_write_scope_violations, declared_apps, region_copies
from tests.unit.test_mirrormaker import render
from tests.unit.test_regions import TOKYO, load, write_stack

SECURED_TOKYO = TOKYO | {
    "mirrorFrom": TOKYO["mirrorFrom"] | {"stack": "prod"},
    "accessControl": True,
    "tls": True,
    "saslMechanism": "scram-sha512",
    "saslUsername": "k2infra-tokyo",
}


def mirror_of(stack: Stack) -> AppAccess:
    [mirror] = [app for app in stack.plan.apps if app.username == "k2-mirror-tokyo"]
    return mirror


def grants(app: AppAccess) -> set[tuple[str, str, str, str]]:
    return {(str(a.resource_type), a.resource_name, str(a.pattern_type), str(a.operation)) for a in app.acls}


def topic(name: str, pattern: str, *operations: str) -> set[tuple[str, str, str, str]]:
    return {("Topic", name, pattern, op) for op in operations}


def test_the_region_lets_mirrormaker_write_the_copies_and_its_own_topics_and_commit_the_synced_groups(
    project_dir: Path,
) -> None:
    write_stack(project_dir, "tokyo", SECURED_TOKYO)
    mirror = mirror_of(load(project_dir, "tokyo"))
    assert mirror.principal == "User:k2-mirror-tokyo"
    expected = (
        topic("market.crypto.", "Prefixed", "Read", "Write", "Describe")
        | topic("market.equities.trades.asx", "Literal", "Read", "Write", "Describe")
        | topic("k2-registry-journal", "Literal", "Read", "Write", "Describe")
        | topic("mm2-", "Prefixed", "Create", "Read", "Write", "Describe", "DescribeConfigs")
        | topic("prod.checkpoints.internal", "Literal", "Create", "Read", "Write", "Describe", "DescribeConfigs")
        | {("Group", "prod-mm2", "Literal", "Read")}
    )
    groups = {g for g in grants(mirror) if g[0] == "Group"} - {("Group", "prod-mm2", "Literal", "Read")}
    assert grants(mirror) - groups == expected
    assert groups and {g[3] for g in groups} == {"Read"}
    assert mirror.writes == load(project_dir, "tokyo").plan.mirror.topics  # type: ignore[union-attr]
    assert mirror.quotas is not None and mirror.quotas.config()


def test_no_principal_but_mirrormakers_may_write_a_copy_in_the_region(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", SECURED_TOKYO)
    region = load(project_dir, "tokyo")
    copies = set(region.plan.mirror.topics)  # type: ignore[union-attr]
    writers = {
        acl.principal
        for app in region.plan.apps
        for acl in app.acls
        if str(acl.operation) == "Write" and any(acl.matches(acl.resource_type, name) for name in copies)
    }
    assert writers == {"User:k2-mirror-tokyo"}


def test_the_home_lets_mirrormaker_only_read_what_the_region_carries_and_describe_its_groups(
    project_dir: Path,
) -> None:
    write_stack(project_dir, "tokyo", SECURED_TOKYO)
    home = load(project_dir, "prod")
    mirror = mirror_of(home)
    carried = next(c for c in home.plan.carried_by if c.stack == "tokyo").topics
    assert {g for g in grants(mirror) if g[0] == "Topic"} == {
        ("Topic", name, "Literal", op) for name in (*carried, "k2-registry-journal") for op in ("Read", "Describe")
    }
    groups = {g for g in grants(mirror) if g[0] == "Group"}
    assert groups and {g[3] for g in groups} == {"Describe"}
    assert mirror.writes == () and mirror.reads == carried


def test_the_groups_granted_on_both_sides_are_those_mirrormaker_syncs(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", SECURED_TOKYO)
    region, home = load(project_dir, "tokyo"), load(project_dir, "prod")
    pattern = re.compile(mirror_groups_pattern(region))

    def synced(acls: tuple[AclSpec, ...]) -> set[str]:
        return {a.resource_name for a in acls if str(a.resource_type) == "Group"} - {"prod-mm2"}

    for name in synced(mirror_of(region).acls) | synced(mirror_of(home).acls):
        assert pattern.fullmatch(name), (name, pattern.pattern)
    assert synced(mirror_of(region).acls) == synced(mirror_of(home).acls)


def test_the_internal_topics_granted_are_the_ones_the_properties_make_mirrormaker_use(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", SECURED_TOKYO)
    props = render(project_dir)
    assert props["clusters"] == "prod, tokyo"  # so `prod.checkpoints.internal` and the worker group `prod-mm2`
    assert props["offset-syncs.topic.location"] == "target"  # so the home cluster is only read
    assert "k2-mirror-tokyo" in props["prod.sasl.jaas.config"] and "k2-mirror-tokyo" in props["tokyo.sasl.jaas.config"]


def test_without_access_control_no_mirror_principal_is_declared(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    assert not [app for app in load(project_dir, "tokyo").plan.apps if app.username.startswith("k2-mirror-")]
    assert not [app for app in load(project_dir, "dev").plan.apps if app.username.startswith("k2-mirror-")]


def test_the_regional_program_declares_the_mirror_principals_acls_quota_and_scram_user(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", SECURED_TOKYO)
    region = load(project_dir, "tokyo")
    passwords = {app.name: f"pw-{app.name}" for app in region.plan.apps}
    secrets = {"saslPassword": "infra", "appPasswords": json.dumps(passwords)}
    run = run_program(project_dir, "tokyo", secrets=secrets)
    acls = {r.name for r in run.mocks.of_type("kafka:index/acl:Acl")}
    assert {a.id for a in mirror_of(region).acls} <= acls
    users = {r.inputs["username"] for r in run.mocks.of_type("kafka:index/userScramCredential:UserScramCredential")}
    assert "k2-mirror-tokyo" in users
    quotas = {r.inputs["entityName"] for r in run.mocks.of_type("kafka:index/quota:Quota")}
    assert "k2-mirror-tokyo" in quotas
    assert run.outputs["apps"]["k2-mirror-tokyo"]["writes"] == list(region.plan.mirror.topics)  # type: ignore[union-attr]


# -- the policy pack ------------------------------------------------------------------------------


def write_acl(principal: str, name: str, pattern: str = "Literal") -> dict[str, str]:
    return {
        "aclPrincipal": principal,
        "aclHost": "*",
        "aclOperation": "Write",
        "aclPermissionType": "Allow",
        "aclResourceType": "Topic",
        "aclResourceName": name,
        "resourcePatternTypeFilter": pattern,
    }


def test_the_pack_lets_mirrormaker_write_the_regions_copies_and_its_own_topics(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", SECURED_TOKYO)
    region = load(project_dir, "tokyo")
    copies = region_copies(project_dir / "config", "tokyo")
    assert copies is not None and copies.principal == "User:k2-mirror-tokyo" and copies.source == "prod"
    declared = declared_apps(project_dir / "config", "tokyo")
    for spec in mirror_of(region).acls:
        assert acl_write_scope_violations(spec_inputs(spec), declared, spec.id, copies) == []


def test_the_pack_refuses_any_other_write_on_a_copy_a_declared_producers_included(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", SECURED_TOKYO)
    copies = region_copies(project_dir / "config", "tokyo")
    declared = declared_apps(project_dir / "config", "tokyo")
    normaliser = next(p for p, app in declared.items() if app.name == "market-data-normaliser")
    for name, pattern in [
        ("market.crypto.trades.binance", "Literal"),  # a copy
        ("market.crypto.trades.kraken", "Literal"),  # a copy to come under the mirrored prefix
        ("market.crypto.", "Prefixed"),
        ("market.", "Prefixed"),  # reaches the copies too
        ("k2-registry-journal", "Literal"),
    ]:
        [message] = acl_write_scope_violations(write_acl(normaliser, name, pattern), declared, "x", copies)
        assert "only MirrorMaker 2 (User:k2-mirror-tokyo) writes a copy" in message and "stack prod" in message
    # A topic that is no copy is judged as in any stack.
    assert acl_write_scope_violations(write_acl(normaliser, "market.equities.quotes.asx"), declared, "x", copies) == []
    # MirrorMaker 2 outside the copies and its own topics.
    [message] = acl_write_scope_violations(
        write_acl("User:k2-mirror-tokyo", "market.equities.quotes.asx"), declared, "x", copies
    )
    assert "MirrorMaker 2 writes only the copies of stack prod" in message


def test_the_pack_refuses_mirrormaker_writing_at_home(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", SECURED_TOKYO)
    assert region_copies(project_dir / "config", "prod") is None
    assert region_copies(project_dir / "config", "no-such-stack") is None  # not known to be a region
    declared = declared_apps(project_dir / "config", "prod")
    [message] = acl_write_scope_violations(write_acl("User:k2-mirror-tokyo", "market.crypto.trades.binance"), declared)
    assert "no declared app" in message


def spec_inputs(spec: AclSpec) -> dict[str, str]:
    return write_acl(spec.principal, spec.resource_name, str(spec.pattern_type)) | {"aclOperation": str(spec.operation)}
