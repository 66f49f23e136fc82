"""The apps' access as Pulumi resources under mocks: kafka.Acl, kafka.Quota, kafka.UserScramCredential,
only with k2infra:accessControl, with secret passwords and the `apps` output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import rpc

from devkit.pulumi_mocks import RecordingMocks, run_program
from k2infra.model.plan import load_plan
from tests.conftest import SHIPPED_APPS, set_stack_config

ACL = "kafka:index/acl:Acl"
QUOTA = "kafka:index/quota:Quota"
SCRAM = "kafka:index/userScramCredential:UserScramCredential"
APPS = SHIPPED_APPS
PASSWORDS = {app: f"{app}-s3cret" for app in APPS}
NYSE = {"name": "New York Stock Exchange", "partitions": 100, "country": "US", "timezone": "America/New_York"}


def secrets(passwords: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "saslPassword": "kafka-s3cret",
        "schemaRegistryPassword": "registry-s3cret",
        "appPasswords": json.dumps(PASSWORDS if passwords is None else passwords),
    }


def secured(project_dir: Path, stack: str = "prod", **settings: object) -> Path:
    set_stack_config(project_dir, stack, {"accessControl": True, **settings})
    return project_dir


def test_every_planned_acl_is_one_kafka_acl_named_by_its_identity(project_dir: Path) -> None:
    run = run_program(secured(project_dir), "prod", secrets())
    plan = load_plan(project_dir / "config", "prod", project_dir)
    declared = {r.name: r.inputs for r in run.mocks.of_type(ACL)}
    planned = {acl.id: acl for app in plan.apps for acl in app.acls}
    assert set(declared) == set(planned) and len(declared) == 8 + 3 + 3 + 5 + 7  # the monitor: 2 prefixes x 2, 3 groups
    for name, inputs in declared.items():
        acl = planned[name]
        assert inputs == {
            "aclPrincipal": acl.principal,
            "aclHost": "*",
            "aclOperation": str(acl.operation),
            "aclPermissionType": "Allow",
            "aclResourceType": str(acl.resource_type),
            "aclResourceName": acl.resource_name,
            "resourcePatternTypeFilter": str(acl.pattern_type),
        }
    assert (
        declared["User:k2-crypto-risk-prod|*|Read|Allow|Topic|market.crypto.trades.|Prefixed"][
            "resourcePatternTypeFilter"
        ]
        == "Prefixed"
    )


def test_each_app_gets_a_user_quota_and_a_scram_credential(project_dir: Path) -> None:
    run = run_program(secured(project_dir, appScramIterations=8192), "prod", secrets())
    quotas = {r.name: r.inputs for r in run.mocks.of_type(QUOTA)}
    assert quotas["quota:k2-market-data-normaliser-prod"] == {
        "entityType": "user",
        "entityName": "k2-market-data-normaliser-prod",
        "config": {"producer_byte_rate": "52428800", "request_percentage": "200"},
    }
    assert quotas["quota:k2-crypto-risk-prod"]["config"] == {"consumer_byte_rate": "10485760"}
    assert len(quotas) == 5
    credentials = {r.name: r.inputs for r in run.mocks.of_type(SCRAM)}
    assert sorted(credentials) == sorted(f"scram:k2-{app}-prod" for app in APPS)
    risk = credentials["scram:k2-crypto-risk-prod"]
    assert (risk["username"], risk["scramMechanism"], risk["scramIterations"]) == (
        "k2-crypto-risk-prod",
        "SCRAM-SHA-512",
        8192,
    )


def test_app_passwords_reach_the_provider_as_secrets_and_nowhere_else(project_dir: Path) -> None:
    run = run_program(secured(project_dir), "prod", secrets())
    for resource in run.mocks.of_type(SCRAM):
        password = resource.inputs["password"]
        # The engine receives it wrapped as a secret: encrypted in the state, masked in output.
        assert isinstance(password, dict) and password.get(rpc._special_sig_key) == rpc._special_secret_sig
        assert password["value"] == PASSWORDS[resource.inputs["username"].removeprefix("k2-").removesuffix("-prod")]
    shown = json.dumps(run.outputs, default=str)
    assert not any(p in shown for p in PASSWORDS.values())
    non_credentials = [r.inputs for r in run.mocks.resources if r.typ != SCRAM]
    assert not any(p in json.dumps(non_credentials, default=str) for p in PASSWORDS.values())


def test_the_passwords_read_from_config_are_secret_outputs(project_dir: Path) -> None:
    from k2infra.deploy.program import read_stack

    run_program(secured(project_dir), "prod", secrets())  # leaves the mocks and the stack's config installed
    flags: list[bool] = []

    @pulumi.runtime.test
    def check() -> pulumi.Output[None]:
        _, credentials = read_stack(project_dir / "config")
        assert sorted(credentials.app_passwords) == sorted(APPS)
        secret = [pulumi.Output.from_input(p.is_secret()) for p in credentials.app_passwords.values()]
        return pulumi.Output.all(*secret).apply(flags.extend)

    check()
    assert flags == [True] * len(APPS)


def test_a_missing_app_password_fails_before_any_resource_and_names_the_command(project_dir: Path) -> None:
    mocks = RecordingMocks()
    partial = {app: pw for app, pw in PASSWORDS.items() if app != "crypto-risk"}
    with pytest.raises(pulumi.RunError) as caught:
        run_program(secured(project_dir), "prod", secrets(partial), mocks=mocks)
    message = str(caught.value)
    assert (
        "k2infra:appPasswords.crypto-risk: the SCRAM password of app crypto-risk (User:k2-crypto-risk-prod) is "
        "required with accessControl: pulumi config set --secret --path 'k2infra:appPasswords.crypto-risk' <password>"
    ) in message
    assert "equities-analytics" not in message
    assert not any(p in message for p in PASSWORDS.values())
    assert mocks.resources == []


def test_app_passwords_in_plaintext_fail_before_any_resource(project_dir: Path) -> None:
    set_stack_config(project_dir, "prod", {"accessControl": True, "appPasswords": PASSWORDS})
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError, match="k2infra:appPasswords: holds credentials and must be secret"):
        run_program(project_dir, "prod", {"saslPassword": "x", "schemaRegistryPassword": "y"}, mocks=mocks)
    assert mocks.resources == []


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_without_access_control_there_are_no_access_resources_and_the_apps_output_is_empty(
    project_dir: Path, stack: str
) -> None:
    run = run_program(
        project_dir, stack, {"saslPassword": "x", "schemaRegistryPassword": "y"} if stack == "staging" else {}
    )
    assert run.mocks.of_type(ACL) == run.mocks.of_type(QUOTA) == run.mocks.of_type(SCRAM) == []
    assert run.outputs["apps"] == {}


def test_access_resources_belong_to_the_component_use_its_provider_and_protect_as_the_stack(project_dir: Path) -> None:
    run = run_program(secured(project_dir), "prod", secrets())
    access = run.platform.access
    children = run.platform._childResources
    every = [*access.acls.values(), *access.quotas.values(), *access.credentials.values()]
    assert len(every) == 26 + 5 + 5
    assert set(every) <= children
    # Deleting an ACL or a SCRAM user cuts an app off: protected like the topics. A quota is not,
    # so that changing one (a replace) is a plain `pulumi up`. Nor is the monitor's Describe on
    # another app's group: it cuts no app off, and goes with the app when the app is removed.
    monitor_groups = {
        name for name in access.acls if name.startswith("User:k2-platform-monitor-prod|") and "|Group|" in name
    }
    assert len(monitor_groups) == 3
    assert all(r._protect for name, r in access.acls.items() if name not in monitor_groups)
    assert all(r._protect for r in access.credentials.values())
    assert not any(access.acls[name]._protect for name in monitor_groups)
    assert not any(r._protect for r in access.quotas.values())
    for typ in (ACL, QUOTA, SCRAM):
        for args in run.mocks.of_type(typ):
            assert args.provider and "pulumi:providers:kafka::kafka::" in args.provider


def test_a_dev_stack_with_access_control_leaves_its_resources_unprotected(project_dir: Path) -> None:
    secured(project_dir, "dev", saslMechanism="scram-sha512", saslUsername="admin")
    run = run_program(project_dir, "dev", {"saslPassword": "x", "appPasswords": json.dumps(PASSWORDS)})
    assert run.platform.access.acls and not any(r._protect for r in run.platform.access.acls.values())
    assert {r.inputs["username"] for r in run.mocks.of_type(SCRAM)} == {f"k2-{app}-dev" for app in APPS}


def test_the_apps_output_says_what_each_app_may_touch_without_secrets(project_dir: Path) -> None:
    run = run_program(secured(project_dir), "prod", secrets())
    apps = run.outputs["apps"]
    assert sorted(apps) == sorted(APPS)
    assert apps["crypto-risk"] == {
        "principal": "User:k2-crypto-risk-prod",
        "username": "k2-crypto-risk-prod",
        "reads": ["market.crypto.trades.binance"],
        "writes": [],
        "acls": [
            {
                "resource_type": "Group",
                "resource_name": "crypto-risk.",
                "pattern_type": "Prefixed",
                "operation": "Read",
                "permission": "Allow",
                "host": "*",
            },
            {
                "resource_type": "Topic",
                "resource_name": "market.crypto.trades.",
                "pattern_type": "Prefixed",
                "operation": "Describe",
                "permission": "Allow",
                "host": "*",
            },
            {
                "resource_type": "Topic",
                "resource_name": "market.crypto.trades.",
                "pattern_type": "Prefixed",
                "operation": "Read",
                "permission": "Allow",
                "host": "*",
            },
        ],
        "group": {"name": "crypto-risk.", "pattern_type": "Prefixed"},
        "quotas": {"consumer_byte_rate": "10485760"},
    }
    assert apps["market-data-normaliser"]["group"] is None
    assert apps["market-data-normaliser"]["writes"] == [
        "market.crypto.quotes.binance",
        "market.crypto.trades.binance",
        "market.equities.quotes.asx",
        "market.equities.trades.asx",
    ]


def test_adding_an_exchange_or_an_app_renames_no_access_resource(
    project_dir: Path, edit_topology: Callable[[Callable[[dict], None]], Path]
) -> None:
    before = {
        r.name
        for typ in (ACL, QUOTA, SCRAM)
        for r in run_program(secured(project_dir), "prod", secrets()).mocks.of_type(typ)
    }
    edit_topology(lambda t: t["asset_classes"]["equities"]["exchanges"].update(nyse=NYSE))
    apps_file = project_dir / "config" / "kafka" / "apps.yaml"
    apps_file.write_text(
        apps_file.read_text()
        + "  nyse-tape:\n    consumes: [{exchange: equities.nyse}]\n    group: nyse-tape\n"
        + "    quotas: {consumer_byte_rate: 1024}\n"
    )
    run = run_program(project_dir, "prod", secrets({**PASSWORDS, "nyse-tape": "tape-s3cret"}))
    after = {r.name for typ in (ACL, QUOTA, SCRAM) for r in run.mocks.of_type(typ)}
    assert before < after
    assert after - before == {
        "User:k2-nyse-tape-prod|*|Read|Allow|Group|nyse-tape|Literal",
        *(
            f"User:k2-nyse-tape-prod|*|{op}|Allow|Topic|market.equities.{dt}.nyse|Literal"
            for op in ("Read", "Describe")
            for dt in ("trades", "quotes", "reference_data")
        ),
        "quota:k2-nyse-tape-prod",
        "scram:k2-nyse-tape-prod",
        # the monitor describes every declared app's group (its topics are under its prefix already)
        "User:k2-platform-monitor-prod|*|Describe|Allow|Group|nyse-tape|Literal",
    }


def test_a_quota_change_deletes_the_old_quota_before_setting_the_new_one(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pulumi-kafka replaces a Quota on any config change without asking for delete-before-replace:
    # create-then-delete would remove the new values of the same user. The program asks the engine
    # itself (the RegisterResource request), so it holds whatever the provider says.
    from pulumi.runtime.mocks import MockMonitor

    requested: dict[str, bool] = {}
    register = MockMonitor.RegisterResource

    def recording(self: MockMonitor, request: object) -> object:
        requested[request.name] = request.deleteBeforeReplace  # type: ignore[attr-defined]
        return register(self, request)

    monkeypatch.setattr(MockMonitor, "RegisterResource", recording)
    run_program(secured(project_dir), "prod", secrets())
    quotas = {name: flag for name, flag in requested.items() if name.startswith("quota:")}
    assert len(quotas) == 5 and all(quotas.values()), quotas
    assert not any(flag for name, flag in requested.items() if name.startswith(("User:", "scram:")))


def test_an_apps_credential_waits_for_its_quota_so_a_refused_removal_keeps_the_quota(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Quotas are unprotected. The engine deletes dependents first, so with the (protected)
    # credential depending on the quota, removing an app from prod is refused at the credential
    # before the quota is deleted; and the limit exists before the user can log in.
    from pulumi.runtime.mocks import MockMonitor

    dependencies: dict[str, list[str]] = {}
    register = MockMonitor.RegisterResource

    def recording(self: MockMonitor, request: object) -> object:
        dependencies[request.name] = list(request.dependencies)  # type: ignore[attr-defined]
        return register(self, request)

    monkeypatch.setattr(MockMonitor, "RegisterResource", recording)
    run_program(secured(project_dir), "prod", secrets())
    credentials = {name: deps for name, deps in dependencies.items() if name.startswith("scram:")}
    assert len(credentials) == 5
    for name, deps in credentials.items():
        user = name.removeprefix("scram:")
        assert any(dep.endswith(f"::quota:{user}") for dep in deps), (name, deps)
