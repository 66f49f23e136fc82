"""`verify` with k2infra:accessControl: live ACLs and SCRAM users against the plan (pure comparison
with a fake LiveState and LiveAccess), the reading through a fake AdminClient, and the rendering."""

from __future__ import annotations

import io
import json
import os
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialsDescription,
)

from k2infra.cli.main import env_secrets, exit_code
from k2infra.live import admin as kafka_admin
from k2infra.live import verify
from k2infra.live.access import QUOTAS_UNCHECKED, LiveAccess, LiveAcl, live_acl, read_live_access
from k2infra.live.cluster import LiveReadError, LiveState, LiveSubject, LiveTopic
from k2infra.live.verify import Kind, compare, run_verify
from k2infra.model.plan import Plan, load_plan
from k2infra.model.stack import Stack, load_stack_file
from tests.conftest import set_stack_config


@pytest.fixture
def plan(project_dir: Path) -> Plan:
    set_stack_config(project_dir, "prod", {"accessControl": True})
    return load_plan(project_dir / "config", "prod", project_dir)


def stack_of(project_dir: Path, name: str = "prod") -> Stack:
    """The stack as the command line loads it: its credentials from the environment, as it is now."""
    return load_stack_file(project_dir / "config", name, project_dir, env_secrets(os.environ))


def matching_state(plan: Plan) -> LiveState:
    topics = {t.name: LiveTopic(t.name, t.partitions, t.replication_factor, 0, 0, dict(t.config)) for t in plan.topics}
    subjects = {s.subject: LiveSubject(s.subject, 1, 1, s.schema, "AVRO", s.compatibility) for s in plan.subjects}
    return LiveState(topics, subjects)


def as_live(plan: Plan) -> set[LiveAcl]:
    return {
        LiveAcl(
            a.principal,
            a.host,
            str(a.operation),
            a.permission,
            str(a.resource_type),
            a.resource_name,
            str(a.pattern_type),
        )
        for app in plan.apps
        for a in app.acls
    }


def matching_access(plan: Plan) -> LiveAccess:
    users = {app.username: {"SCRAM-SHA-512": 4096} for app in plan.apps}
    return LiveAccess(frozenset(as_live(plan)), users)


def access_kinds(report: verify.Report) -> list[tuple[str, str, str | None]]:
    return [(d.kind, d.name, d.detail) for d in report.access]


def test_a_cluster_holding_exactly_the_planned_access_has_no_drift_and_says_quotas_went_unchecked(plan: Plan) -> None:
    report = compare(plan, matching_state(plan), matching_access(plan))
    assert report.ok and report.access == ()
    assert report.access_notes == (QUOTAS_UNCHECKED,)
    assert report.to_dict()["access_notes"] == [QUOTAS_UNCHECKED]


def test_a_clean_verify_with_access_control_says_the_acls_and_users_were_checked(plan: Plan) -> None:
    report = compare(plan, matching_state(plan), matching_access(plan))
    apps = len(plan.apps)
    assert report.summary() == (
        f"verify: {len(plan.topics)} topics, {len(plan.subjects)} subjects, ACLs and SCRAM users of {apps} apps: no drift"
    )


def test_missing_acls_and_users_without_their_credential_are_reported(plan: Plan) -> None:
    acls = as_live(plan)
    dropped = LiveAcl("User:k2-crypto-risk-prod", "*", "Read", "Allow", "Topic", "market.crypto.trades.", "Prefixed")
    acls.remove(dropped)
    users = {app.username: {"SCRAM-SHA-512": 4096} for app in plan.apps}
    del users["k2-equities-analytics-prod"]
    users["k2-reference-data-cache-prod"] = {"SCRAM-SHA-256": 4096}
    report = compare(plan, matching_state(plan), LiveAccess(frozenset(acls), users))
    assert exit_code(report.outcome) == 1
    assert access_kinds(report) == [
        (
            Kind.ACL_MISSING,
            "User:k2-crypto-risk-prod",
            "ACL not on the cluster: Read Topic market.crypto.trades. (Prefixed)",
        ),
        (
            Kind.SCRAM_USER_MISSING,
            "k2-equities-analytics-prod",
            "app equities-analytics's user k2-equities-analytics-prod has no SCRAM credential; "
            "the stack wants SCRAM-SHA-512",
        ),
        (
            Kind.SCRAM_USER_MISSING,
            "k2-reference-data-cache-prod",
            "app reference-data-cache's user k2-reference-data-cache-prod has SCRAM-SHA-256 only; "
            "the stack wants SCRAM-SHA-512",
        ),
    ]
    assert report.summary() == "verify: 3 differences: 1 missing ACL, 2 missing SCRAM users"


def test_acls_nobody_declared_are_reported_when_they_reach_the_stacks_apps_topics_or_groups(plan: Plan) -> None:
    extra = {
        # an app's principal with more than it declared
        LiveAcl("User:k2-crypto-risk-prod", "*", "Write", "Allow", "Topic", "market.crypto.trades.binance", "Literal"),
        # wildcards that reach market topics
        LiveAcl("User:*", "*", "Read", "Allow", "Topic", "orders", "Literal"),
        LiveAcl("User:bi", "*", "Read", "Allow", "Topic", "*", "Literal"),
        LiveAcl("User:bi", "*", "Read", "Allow", "Topic", "market.", "Prefixed"),
        LiveAcl("User:bi", "*", "Read", "Allow", "Topic", "mar", "Prefixed"),
        LiveAcl("User:bi", "10.0.0.1", "Read", "Deny", "Topic", "market.equities.trades.asx", "Literal"),
        # another principal in an app's groups
        LiveAcl("User:bi", "*", "Read", "Allow", "Group", "equities-analytics", "Literal"),
        LiveAcl("User:bi", "*", "Read", "Allow", "Group", "crypto-risk.eu", "Literal"),
    }
    not_ours = {
        LiveAcl("User:bi", "*", "Read", "Allow", "Topic", "orders", "Literal"),
        LiveAcl("User:bi", "*", "Read", "Allow", "Topic", "orders.", "Prefixed"),
        LiveAcl("User:bi", "*", "Read", "Allow", "Group", "billing", "Literal"),
        LiveAcl("User:k2infra-prod", "*", "All", "Allow", "Cluster", "kafka-cluster", "Literal"),
    }
    live = LiveAccess(frozenset(as_live(plan) | extra | not_ours), matching_access(plan).scram_users)
    report = compare(plan, matching_state(plan), live)
    assert {d.kind for d in report.access} == {Kind.ACL_EXTRA}
    assert sorted(d.detail for d in report.access) == sorted(
        [
            "ACL nobody declared: Write Topic market.crypto.trades.binance (Literal)",
            "ACL nobody declared: Read Topic orders (Literal)",
            "ACL nobody declared: Read Topic * (Literal)",
            "ACL nobody declared: Read Topic market. (Prefixed)",
            "ACL nobody declared: Read Topic mar (Prefixed)",
            "ACL nobody declared: Deny Read Topic market.equities.trades.asx (Literal) from 10.0.0.1",
            "ACL nobody declared: Read Group equities-analytics (Literal)",
            "ACL nobody declared: Read Group crypto-risk.eu (Literal)",
        ]
    )
    assert report.summary() == "verify: 8 differences: 8 undeclared ACLs"


def test_without_access_control_access_is_not_compared(project_dir: Path) -> None:
    plan = load_plan(project_dir / "config", "staging", project_dir)
    report = compare(plan, matching_state(plan), LiveAccess())
    assert report.ok and report.access == () and report.access_notes == ()
    assert "access_notes" not in report.to_dict()


def test_run_verify_reads_access_only_with_access_control_and_renders_it(
    plan: Plan, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "read_live_state", lambda stack, timeout, versions=None: matching_state(stack.plan))
    live = matching_access(plan)
    live = LiveAccess(frozenset(a for a in live.acls if a.resource_type != "Group"), live.scram_users)
    monkeypatch.setattr(verify, "read_live_access", lambda stack, timeout, versions=None: live)
    out = io.StringIO()
    assert exit_code(run_verify(stack_of(project_dir), timeout=1, out=out)) == 1
    text = out.getvalue()
    assert "ACCESS       PRINCIPAL OR USER                  DIFFERS" in text
    assert (
        "acl_missing  User:k2-crypto-risk-prod           ACL not on the cluster: Read Group crypto-risk. (Prefixed)"
        in text
    )
    assert f"note: {QUOTAS_UNCHECKED}" in text
    assert text.endswith("verify: 6 differences: 6 missing ACLs\n")  # and the monitor's 3 Describe Group
    out = io.StringIO()
    assert exit_code(run_verify(stack_of(project_dir), json_output=True, timeout=1, out=out)) == 1
    document = json.loads(out.getvalue())
    assert [d["kind"] for d in document["differences"]] == ["acl_missing"] * 6

    def must_not_read(stack: Stack, timeout: float) -> LiveAccess:
        raise AssertionError("access read without accessControl")

    monkeypatch.setattr(verify, "read_live_access", must_not_read)
    plain = stack_of(project_dir, "dev")
    monkeypatch.setattr(verify, "read_live_state", lambda p, timeout, versions=None: matching_state(plain.plan))
    assert exit_code(run_verify(plain, timeout=1, out=io.StringIO())) == 0


def test_live_bindings_are_spelt_as_pulumi_kafka_spells_them() -> None:
    def binding(restype: ResourceType, pattern: ResourcePatternType, op: AclOperation) -> AclBinding:
        return AclBinding(restype, "x", pattern, "User:a", "*", op, AclPermissionType.DENY)

    cases = {
        (ResourceType.TOPIC, ResourcePatternType.PREFIXED, AclOperation.READ): ("Topic", "Prefixed", "Read", "Deny"),
        (ResourceType.GROUP, ResourcePatternType.LITERAL, AclOperation.DESCRIBE_CONFIGS): (
            "Group",
            "Literal",
            "DescribeConfigs",
            "Deny",
        ),
        (ResourceType.BROKER, ResourcePatternType.LITERAL, AclOperation.IDEMPOTENT_WRITE): (
            "Cluster",
            "Literal",
            "IdempotentWrite",
            "Deny",
        ),
        (ResourceType.TRANSACTIONAL_ID, ResourcePatternType.LITERAL, AclOperation.CLUSTER_ACTION): (
            "TransactionalID",
            "Literal",
            "ClusterAction",
            "Deny",
        ),
    }
    for (restype, pattern, op), expected in cases.items():
        acl = live_acl(binding(restype, pattern, op))
        assert acl is not None
        assert (acl.resource_type, acl.pattern_type, acl.operation, acl.permission) == expected
    assert live_acl(binding(ResourceType.TOPIC, ResourcePatternType.UNKNOWN, AclOperation.READ)) is None
    acl = live_acl(binding(ResourceType.TOPIC, ResourcePatternType.PREFIXED, AclOperation.READ))
    assert acl is not None and acl.id == "User:a|*|Read|Deny|Topic|x|Prefixed"


class FakeAdmin:
    """What read_live_access asks of confluent-kafka's AdminClient (through KafkaAdmin), answered from memory."""

    def __init__(
        self,
        bindings: list[AclBinding] | KafkaError,
        users: dict[str, list[ScramCredentialInfo]],
        cluster_operations: list[AclOperation] | None = None,
    ) -> None:
        self.bindings, self.users = bindings, users
        self.asked_users: list[str] | None = None
        self.cluster_operations = cluster_operations or []

    def __call__(self, config: dict[str, Any]) -> FakeAdmin:
        return self

    def poll(self, timeout: float) -> int:
        return 0

    def describe_acls(self, acl_filter: Any, request_timeout: float) -> Future:
        future: Future = Future()
        if isinstance(self.bindings, KafkaError):
            future.set_exception(KafkaException(self.bindings))
        else:
            future.set_result(self.bindings)
        return future

    def describe_cluster(self, include_authorized_operations: bool, request_timeout: float) -> Future:
        future: Future = Future()
        future.set_result(SimpleNamespace(authorized_operations=self.cluster_operations))
        return future

    def describe_user_scram_credentials(self, users: list[str], request_timeout: float) -> dict[str, Future]:
        self.asked_users = users
        futures: dict[str, Future] = {}
        for user in users:
            future: Future = Future()
            if user in self.users:
                future.set_result(UserScramCredentialsDescription(user, self.users[user]))
            else:
                future.set_exception(KafkaException(KafkaError(KafkaError.RESOURCE_NOT_FOUND)))
            futures[user] = future
        return futures


def test_reading_turns_bindings_and_credentials_into_live_access(
    plan: Plan, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K2_SASL_PASSWORD", "s3cret")
    bindings = [
        AclBinding(
            ResourceType.TOPIC,
            "market.crypto.trades.",
            ResourcePatternType.PREFIXED,
            "User:k2-crypto-risk-prod",
            "*",
            AclOperation.READ,
            AclPermissionType.ALLOW,
        )
    ]
    info = [ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)]
    admin = FakeAdmin(bindings, {"k2-crypto-risk-prod": info})
    monkeypatch.setattr(kafka_admin, "AdminClient", admin)
    live = read_live_access(stack_of(project_dir), timeout=1)
    assert live.acls == frozenset(
        {LiveAcl("User:k2-crypto-risk-prod", "*", "Read", "Allow", "Topic", "market.crypto.trades.", "Prefixed")}
    )
    assert live.scram_users == {"k2-crypto-risk-prod": {"SCRAM-SHA-512": 8192}}
    assert admin.asked_users == sorted(app.username for app in plan.apps)


def test_a_cluster_without_an_authorizer_is_one_clear_error(
    plan: Plan, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K2_SASL_PASSWORD", "s3cret")
    monkeypatch.setattr(kafka_admin, "AdminClient", FakeAdmin(KafkaError(KafkaError.SECURITY_DISABLED), {}))
    stack = stack_of(project_dir)
    with pytest.raises(LiveReadError) as caught:
        read_live_access(stack, timeout=1)
    servers = ",".join(stack.connections.kafka.bootstrap_servers)
    assert str(caught.value) == (
        f"Kafka at {servers} has no authorizer, so it holds no ACLs, but k2infra:accessControl is true: "
        "configure the brokers' authorizer or turn accessControl off for this stack"
    )
    monkeypatch.setattr(kafka_admin, "AdminClient", FakeAdmin(KafkaError(KafkaError.CLUSTER_AUTHORIZATION_FAILED), {}))
    with pytest.raises(LiveReadError, match="refused to list ACLs to k2infra:saslUsername"):
        read_live_access(stack, timeout=1)


# -- k2infra's own principal ---------------------------------------------------------------------


def infra_binding(resource: ResourceType, name: str, pattern: ResourcePatternType, op: AclOperation) -> AclBinding:
    return AclBinding(resource, name, pattern, "User:k2infra-prod", "*", op, AclPermissionType.ALLOW)


TOPIC_OPS = [AclOperation.CREATE, AclOperation.ALTER, AclOperation.ALTER_CONFIGS]
TOPIC_OPS += [AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS, AclOperation.DELETE]
CLUSTER_OPS = [AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.ALTER_CONFIGS, AclOperation.DESCRIBE_CONFIGS]
EXACT = [infra_binding(ResourceType.TOPIC, "market.", ResourcePatternType.PREFIXED, op) for op in TOPIC_OPS] + [
    infra_binding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, op) for op in CLUSTER_OPS
]


def infra_report(project_dir: Path, monkeypatch: pytest.MonkeyPatch, admin: FakeAdmin) -> verify.Report:
    monkeypatch.setenv("K2_SASL_PASSWORD", "s3cret")
    monkeypatch.setattr(kafka_admin, "AdminClient", admin)
    stack = stack_of(project_dir)
    live = read_live_access(stack, timeout=1)
    return compare(stack.plan, LiveState(topics={}, subjects={}), live)


def test_the_infra_principal_with_exactly_its_rights_is_one_line_and_its_bindings_are_no_drift(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = infra_report(project_dir, monkeypatch, FakeAdmin(EXACT, {}, CLUSTER_OPS))
    assert report.infra is not None and report.infra.exact
    assert not [d for d in report.access if d.kind is Kind.ACL_EXTRA]
    out = io.StringIO()
    verify.render_table(report, out)
    assert "infra principal User:k2infra-prod: exactly the rights k2infra needs (docs/access.md)\n" in out.getvalue()
    assert report.to_dict()["infra_principal"] == {
        "principal": "User:k2infra-prod",
        "exact": True,
        "missing": [],
        "excess": [],
    }


def test_a_super_user_infra_principal_is_reported_as_more_than_it_needs_without_changing_the_exit_code(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = [*CLUSTER_OPS, AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.IDEMPOTENT_WRITE]
    report = infra_report(project_dir, monkeypatch, FakeAdmin([], {}, everything))
    assert report.infra is not None
    line = report.infra.line()
    assert line == (
        "infra principal User:k2infra-prod: more than it needs: a super user (ClusterAction, Create, IdempotentWrite"
        " on the Cluster without an ACL of its own) (docs/access.md)"
    )
    assert not [d for d in report.access if d.kind is Kind.ACL_EXTRA]


def test_an_infra_principal_that_may_read_data_or_lacks_a_right_is_named(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindings = [b for b in EXACT if b.operation != AclOperation.DELETE]
    bindings.append(infra_binding(ResourceType.TOPIC, "market.", ResourcePatternType.PREFIXED, AclOperation.READ))
    report = infra_report(project_dir, monkeypatch, FakeAdmin(bindings, {}, CLUSTER_OPS))
    assert report.infra is not None
    assert report.infra.line() == (
        "infra principal User:k2infra-prod: more than it needs: Read Topic market. (Prefixed) and less than it needs, "
        "lacks: Delete Topic market. (Prefixed) (docs/access.md)"
    )
