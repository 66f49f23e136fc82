"""The pack's access rules (policy/k2_policies/access_rules.py) without the engine, and their wiring.

The program's own ACLs, quotas and credentials pass every rule; wildcards, writes outside the
asset classes an app declares, undeclared writers and users without a quota are reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationArgs, StackValidationArgs, StackValidationPolicy
from pulumi_policy.policy import PolicyResource
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from devkit.pulumi_mocks import run_program
from k2infra.model.plan import load_plan
from policy.k2_policies import access_rules, pack, rules
from policy.k2_policies.access_rules import (
    ACL_TYPE,
    QUOTA_TYPE,
    SCRAM_TYPE,
    acl_wildcard_violations,
    acl_write_scope_violations,
    app_quota_violations,
    declared_apps,
    stack_of,
)
from policy.k2_policies.config import SETTINGS_BY_POLICY
from tests.conftest import REPO, SHIPPED_APPS, set_stack_config

DEV_CONFIG = REPO / "policy" / "config" / "dev.json"
NEW_POLICIES = ("k2-acl-no-wildcard", "k2-app-writes-declared-asset-classes", "k2-app-has-quota")


def acl(
    principal: str = "User:k2-market-data-normaliser-prod",
    name: str = "market.equities.trades.asx",
    operation: str = "Write",
    pattern: str = "Literal",
    restype: str = "Topic",
    permission: str = "Allow",
) -> dict[str, Any]:
    return {
        "aclPrincipal": principal,
        "aclHost": "*",
        "aclOperation": operation,
        "aclPermissionType": permission,
        "aclResourceType": restype,
        "aclResourceName": name,
        "resourcePatternTypeFilter": pattern,
    }


@pytest.fixture(scope="module")
def prod_apps() -> dict[str, access_rules.DeclaredApp]:
    return declared_apps(REPO / "config", "prod")


# -- the real stack complies ----------------------------------------------------------------------


def test_the_programs_own_access_resources_pass_every_access_rule(project_dir: Path) -> None:
    set_stack_config(project_dir, "prod", {"accessControl": True})
    passwords = json.dumps({app: "pw" for app in SHIPPED_APPS})
    run = run_program(
        project_dir, "prod", {"saslPassword": "x", "schemaRegistryPassword": "y", "appPasswords": passwords}
    )
    declared = declared_apps(project_dir / "config", "prod")
    acls = run.mocks.of_type(ACL_TYPE)
    assert len(acls) == 26
    for resource in acls:
        assert acl_wildcard_violations(resource.inputs, None, resource.name) == []
        assert acl_write_scope_violations(resource.inputs, declared, resource.name) == []
    resources = [
        {"type": r.typ, "urn": f"urn:{r.name}", "name": r.name, "props": r.inputs}
        for r in run.mocks.resources
        if r.typ in (ACL_TYPE, QUOTA_TYPE, SCRAM_TYPE)
    ]
    assert app_quota_violations(resources) == []
    # Without the quotas, every app user is reported once.
    without = [r for r in resources if r["type"] != QUOTA_TYPE]
    assert [v.message.split("'")[1] for v in app_quota_violations(without)] == sorted(
        f"k2-{app}-prod" for app in SHIPPED_APPS
    )


def test_declarations_are_read_per_stack_from_the_apps_file(prod_apps: dict[str, access_rules.DeclaredApp]) -> None:
    normaliser = prod_apps["User:k2-market-data-normaliser-prod"]
    assert (normaliser.name, normaliser.write_asset_classes, normaliser.write_legacy) == (
        "market-data-normaliser",
        frozenset({"equities", "crypto"}),
        frozenset(),
    )
    assert prod_apps["User:k2-crypto-risk-prod"].write_asset_classes == frozenset()
    assert "User:k2-crypto-risk-dev" in declared_apps(REPO / "config", "dev")
    assert stack_of("urn:pulumi:prod::k2infra::kafka:index/acl:Acl::x|y") == "prod"
    assert stack_of("urn:t") is None


# -- k2-acl-no-wildcard ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "messages"),
    [
        (
            {"principal": "User:*", "operation": "Read"},
            [
                "ACL Read Topic 'market.equities.trades.asx' (Literal) for 'User:*': the principal 'User:*' is every user; "
                "grant a declared app's own principal"
            ],
        ),
        (
            {"principal": "*", "operation": "Read"},
            [
                "ACL Read Topic 'market.equities.trades.asx' (Literal) for '*': the principal '*' is every user; "
                "grant a declared app's own principal"
            ],
        ),
        (
            {"name": "*"},
            [
                "ACL Write Topic '*' (Literal) for 'User:k2-market-data-normaliser-prod': the resource '*' is every "
                "topic; name the resources the app declares"
            ],
        ),
        (
            {"name": "", "pattern": "Prefixed", "restype": "Group", "operation": "Read"},
            [
                "ACL Read Group '' (Prefixed) for 'User:k2-market-data-normaliser-prod': an empty prefix is every "
                "group; name the resources the app declares"
            ],
        ),
    ],
)
def test_wildcard_principals_and_resources_are_refused(overrides: dict[str, str], messages: list[str]) -> None:
    assert acl_wildcard_violations(acl(**overrides)) == messages


def test_named_principals_and_resources_pass_and_unknowns_are_skipped() -> None:
    assert acl_wildcard_violations(acl()) == []
    assert acl_wildcard_violations(acl(name="market.equities.", pattern="Prefixed", operation="Read")) == []
    unknown = acl(principal=rules.UNKNOWN, name=rules.UNKNOWN)
    assert acl_wildcard_violations(unknown, None, "r") == []


# -- k2-app-writes-declared-asset-classes ---------------------------------------------------------


def test_a_write_to_a_topic_of_an_asset_class_the_app_does_not_declare_is_refused(config_dir: Path) -> None:
    apps = config_dir / "kafka" / "apps.yaml"
    # The normaliser declares equities only here.
    apps.write_text(
        apps.read_text().replace("      - exchange: crypto.binance\n        data_types: [trades, quotes]\n", "")
    )
    declared = declared_apps(config_dir, "prod")
    assert acl_write_scope_violations(acl(name="market.crypto.trades.binance"), declared) == [
        "ACL Write Topic 'market.crypto.trades.binance' (Literal) for 'User:k2-market-data-normaliser-prod': "
        "'market.crypto.trades.binance' is of asset class 'crypto', but app 'market-data-normaliser' declares it "
        "produces asset classes equities"
    ]
    assert acl_write_scope_violations(acl(name="market.crypto.", pattern="Prefixed", operation="All"), declared) == [
        "ACL All Topic 'market.crypto.' (Prefixed) for 'User:k2-market-data-normaliser-prod': 'market.crypto.' is of "
        "asset class 'crypto', but app 'market-data-normaliser' declares it produces asset classes equities"
    ]
    assert acl_write_scope_violations(acl(name="market.equities.quotes.asx"), declared) == []


def test_writes_by_consumers_undeclared_principals_and_across_asset_classes_are_refused(
    prod_apps: dict[str, access_rules.DeclaredApp],
) -> None:
    assert acl_write_scope_violations(acl(principal="User:k2-equities-analytics-prod"), prod_apps) == [
        "ACL Write Topic 'market.equities.trades.asx' (Literal) for 'User:k2-equities-analytics-prod' "
        "(SCRAM-SHA-512 user k2-equities-analytics-prod): 'market.equities.trades.asx' is of asset class 'equities', but app 'equities-analytics' declares it "
        "produces asset classes none"
    ]
    assert acl_write_scope_violations(acl(principal="User:intruder"), prod_apps) == [
        "ACL Write Topic 'market.equities.trades.asx' (Literal) for 'User:intruder': 'User:intruder' is no declared "
        "app of this stack (config/kafka/apps.yaml); only declared producers write"
    ]
    assert acl_write_scope_violations(acl(name="market.", pattern="Prefixed"), prod_apps) == [
        "ACL Write Topic 'market.' (Prefixed) for 'User:k2-market-data-normaliser-prod' (SCRAM-SHA-512 user "
        "k2-market-data-normaliser-prod): the prefix 'market.' spans asset classes; app 'market-data-normaliser' declares it produces asset classes crypto, equities"
    ]
    assert acl_write_scope_violations(acl(name="market.trades.raw"), prod_apps) == [
        "ACL Write Topic 'market.trades.raw' (Literal) for 'User:k2-market-data-normaliser-prod' (SCRAM-SHA-512 user "
        "k2-market-data-normaliser-prod): 'market.trades.raw' is no topic app 'market-data-normaliser' declares it produces; it declares it produces asset classes "
        "crypto, equities"
    ]
    # The dev principal is not prod's.
    assert acl_write_scope_violations(acl(principal="User:k2-market-data-normaliser-dev"), prod_apps) != []


def test_reads_denies_groups_and_declared_legacy_writes_pass(config_dir: Path) -> None:
    apps = config_dir / "kafka" / "apps.yaml"
    apps.write_text(apps.read_text() + "  legacy-bridge:\n    produces: [{legacy: market.trades.raw}]\n")
    declared = declared_apps(config_dir, "prod")
    assert (
        acl_write_scope_violations(acl(principal="User:k2-legacy-bridge-prod", name="market.trades.raw"), declared)
        == []
    )
    assert acl_write_scope_violations(acl(principal="User:anyone", operation="Read"), declared) == []
    assert acl_write_scope_violations(acl(principal="User:anyone", permission="Deny"), declared) == []
    assert acl_write_scope_violations(acl(principal="User:anyone", restype="Group", name="g"), declared) == []
    assert acl_write_scope_violations(acl(principal=rules.UNKNOWN), declared) == []


# -- k2-app-has-quota -----------------------------------------------------------------------------


def test_users_without_a_user_quota_are_reported_against_their_first_resource() -> None:
    resources = [
        {"type": ACL_TYPE, "urn": "urn:acl-a", "props": acl(principal="User:a")},
        {"type": SCRAM_TYPE, "urn": "urn:scram-a", "props": {"username": "a"}},
        {"type": SCRAM_TYPE, "urn": "urn:scram-b", "props": {"username": "b"}},
        {"type": ACL_TYPE, "urn": "urn:acl-c", "props": acl(principal="User:c")},
        {
            "type": QUOTA_TYPE,
            "urn": "urn:q-b",
            "props": {"entityType": "client-id", "entityName": "b", "config": {"x": "1"}},
        },
        {"type": QUOTA_TYPE, "urn": "urn:q-c", "props": {"entityType": "user", "entityName": "c", "config": {}}},
        {
            "type": QUOTA_TYPE,
            "urn": "urn:q-d",
            "props": {"entityType": "user", "entityName": "d", "config": {"consumer_byte_rate": "1"}},
        },
        {"type": ACL_TYPE, "urn": "urn:acl-d", "props": acl(principal="User:d")},
    ]
    violations = app_quota_violations(resources)
    assert [(v.urn, v.message.split("'")[1]) for v in violations] == [
        ("urn:acl-a", "a"),
        ("urn:scram-b", "b"),  # a client-id quota is not the user's
        ("urn:acl-c", "c"),  # an empty quota is none
    ]
    assert violations[0].message == (
        "user 'a' is granted access or a SCRAM credential but has no quota: set quotas for its app in "
        "config/kafka/apps.yaml (a kafka:index/quota:Quota of entity_type 'user' and entity_name 'a')"
    )
    unknown = [
        *resources,
        {
            "type": QUOTA_TYPE,
            "urn": "urn:q",
            "props": {"entityType": "user", "entityName": rules.UNKNOWN, "config": {}},
        },
    ]
    assert app_quota_violations(unknown) == []


# -- wiring ---------------------------------------------------------------------------------------


def _resource_args(props: dict[str, Any], urn: str, config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        ACL_TYPE, unknown_checking_proxy(props), urn, urn.rsplit("::", 1)[-1], None, None, config
    )


def test_the_pack_runs_the_access_rules_on_acls_with_the_stack_from_the_urn() -> None:
    policies = {p.name: p for p in pack.policies()}
    assert [p.name for p in pack.policies()][-3:] == list(NEW_POLICIES)
    reported: list[str] = []
    urn = "urn:pulumi:prod::k2infra::k2infra:index:TopicPlatform$kafka:index/acl:Acl::x"
    consumer_write = acl(principal="User:k2-crypto-risk-prod", name="market.crypto.trades.binance")
    policies["k2-app-writes-declared-asset-classes"].validate(
        _resource_args(consumer_write, urn), lambda m, u=None: reported.append(m)
    )
    assert len(reported) == 1 and "app 'crypto-risk' declares it produces asset classes none" in reported[0]
    reported.clear()
    normaliser_write = acl(name="market.crypto.trades.binance")
    policies["k2-app-writes-declared-asset-classes"].validate(
        _resource_args(normaliser_write, urn), lambda m, u=None: reported.append(m)
    )
    assert reported == []
    wildcard = acl(principal="User:*", operation="Read")
    policies["k2-acl-no-wildcard"].validate(_resource_args(wildcard, urn), lambda m, u=None: reported.append(m))
    assert len(reported) == 1 and "'User:*' is every user" in reported[0]
    reported.clear()
    unknown = {**acl(), "aclPrincipal": UNKNOWN_STRING_VALUE}
    policies["k2-acl-no-wildcard"].validate(_resource_args(unknown, urn), lambda m, u=None: reported.append(m))
    assert reported == []
    with pytest.raises(Exception, match="unknown config key"):
        policies["k2-acl-no-wildcard"].validate(_resource_args(acl(), urn, {"strict": True}), lambda m, u=None: None)


def test_the_quota_policy_reads_principals_users_and_quotas_but_never_passwords() -> None:
    policy = next(p for p in pack.policies() if p.name == "k2-app-has-quota")
    assert isinstance(policy, StackValidationPolicy)

    def resource(typ: str, props: dict[str, Any], name: str) -> PolicyResource:
        return PolicyResource(typ, unknown_checking_proxy(props), f"urn:{name}", name, None, None, None, [], {})

    class Secret:  # reading it would fail the test
        def __repr__(self) -> str:
            raise AssertionError("the password was read")

    resources = [
        resource(SCRAM_TYPE, {"username": "k2-a-prod", "password": Secret()}, "scram"),
        resource(ACL_TYPE, acl(principal="User:k2-b-prod", operation="Read"), "acl"),
        resource(
            QUOTA_TYPE, {"entityType": "user", "entityName": "k2-b-prod", "config": {"consumer_byte_rate": "1"}}, "q"
        ),
    ]
    reported: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs(resources, None), lambda m, u=None: reported.append((m, u)))
    assert [(m.split("'")[1], u) for m, u in reported] == [("k2-a-prod", "urn:scram")]


def test_the_access_policies_are_mandatory_by_default_and_advisory_in_dev() -> None:
    for name in NEW_POLICIES:
        assert name in SETTINGS_BY_POLICY
        assert SETTINGS_BY_POLICY[name].schema() == {}
    config = json.loads(DEV_CONFIG.read_text())
    assert config["all"] == EnforcementLevel.ADVISORY.value
    assert not any(name in config for name in NEW_POLICIES)  # nothing raises them back to mandatory in dev
    assert pack.DEFAULT_ENFORCEMENT is EnforcementLevel.MANDATORY


def test_the_resource_type_tokens_are_the_sdks() -> None:
    import pulumi_kafka.acl
    import pulumi_kafka.quota
    import pulumi_kafka.user_scram_credential

    assert f"'{ACL_TYPE}'" in Path(pulumi_kafka.acl.__file__).read_text()
    assert f"'{QUOTA_TYPE}'" in Path(pulumi_kafka.quota.__file__).read_text()
    assert f"'{SCRAM_TYPE}'" in Path(pulumi_kafka.user_scram_credential.__file__).read_text()


def test_plan_and_policy_agree_on_who_writes(prod_apps: dict[str, access_rules.DeclaredApp]) -> None:
    plan = load_plan(REPO / "config", "prod", REPO)
    writers = {a.principal for a in plan.apps if a.writes}
    assert writers == {p for p, app in prod_apps.items() if app.write_asset_classes or app.write_legacy}
