"""Apps in a stack that reaches Kafka by mutual TLS or SASL/OAUTHBEARER: their principal is the declared one,
proven by their certificate's CN or their OAuth client id; k2infra creates their ACLs and quotas, no SCRAM
user, and needs no appPasswords. `access`, verify and the policy pack say which mode proves a principal."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from devkit.certificates import self_signed
from devkit.pulumi_mocks import run_program
from k2infra.cli.main import main
from k2infra.cli.observe import MONITOR_CERT, MONITOR_KEY, MONITOR_PASSWORD, observer_connection
from k2infra.live.access import LiveAccess, access_differences
from k2infra.live.verify import Report
from k2infra.model.apps import AppAuth
from k2infra.model.errors import ConnectionFailed, InputError
from k2infra.model.stack import Stack, load_stack_file
from policy.k2_policies.access_rules import acl_write_scope_violations, declared_apps
from tests.conftest import SHIPPED_APPS

ACL = "kafka:index/acl:Acl"
QUOTA = "kafka:index/quota:Quota"
SCRAM = "kafka:index/userScramCredential:UserScramCredential"
TOKEN_URL = "https://idp.k2.internal/realms/k2/protocol/openid-connect/token"


def edit_prod(project_dir: Path, drop: tuple[str, ...] = (), **settings: object) -> None:
    """Pulumi.prod.yaml with `settings` set and the keys `drop` removed, as `pulumi config set/rm` would."""
    path = project_dir / "Pulumi.prod.yaml"
    data = yaml.safe_load(path.read_text())
    config = data["config"]
    for key in drop:
        config.pop(f"k2infra:{key}", None)
    config.update({f"k2infra:{key}": value for key, value in settings.items()})
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def mtls_prod(project_dir: Path) -> str:
    """The prod stack on mutual TLS as k2infra's own certificate (CN k2infra-prod); its key's PEM text."""
    now = datetime.now(UTC)
    cert, key = self_signed("k2infra-prod", now - timedelta(days=1), now + timedelta(days=30))
    (project_dir / "k2infra.pem").write_bytes(cert)
    edit_prod(project_dir, ("saslMechanism", "saslUsername"), clientCert=str(project_dir / "k2infra.pem"))
    return key.decode()


def oauth_prod(project_dir: Path) -> None:
    edit_prod(project_dir, saslMechanism="oauthbearer", saslTokenUrl=TOKEN_URL)


def load(project_dir: Path, secrets: dict[str, str] | None = None) -> Stack:
    return load_stack_file(project_dir / "config", "prod", project_dir, secrets)


def set_principal(project_dir: Path, app: str, principal: str) -> None:
    path = project_dir / "config" / "kafka" / "apps.yaml"
    data = yaml.safe_load(path.read_text())
    data["apps"][app]["principals"] = {"prod": principal}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# -- the mode and the principals ------------------------------------------------------------------


def test_the_apps_mode_is_the_stacks_own_connection(project_dir: Path) -> None:
    assert load(project_dir).plan.app_auth is AppAuth.SCRAM
    assert load_stack_file(project_dir / "config", "dev", project_dir).plan.app_auth is None
    key = mtls_prod(project_dir)
    assert load(project_dir, {"clientKey": key}).plan.app_auth is AppAuth.MTLS
    edit_prod(project_dir, ("clientCert",), saslMechanism="oauthbearer", saslUsername="k2infra-prod")
    edit_prod(project_dir, saslTokenUrl=TOKEN_URL)
    plan = load(project_dir).plan
    assert plan.app_auth is AppAuth.OAUTHBEARER
    risk = plan.app("crypto-risk")
    assert risk is not None and risk.principal == "User:k2-crypto-risk-prod"  # the declared principal, unchanged
    assert plan.credential(risk) == "OAuth client id k2-crypto-risk-prod"
    assert not plan.creates_app_credentials


def test_a_user_name_too_long_for_a_certificates_cn_is_refused_at_its_line(project_dir: Path) -> None:
    name = "k2-" + "r" * 62  # 65 characters: a valid Kafka user, not a valid CN
    set_principal(project_dir, "crypto-risk", f"User:{name}")
    load(project_dir)  # SCRAM users have no such limit
    key = mtls_prod(project_dir)
    with pytest.raises(InputError) as caught:
        load(project_dir, {"clientKey": key})
    [problem] = caught.value.problems
    assert problem.file.endswith("config/kafka/apps.yaml") and problem.path == "apps.crypto-risk.principals.prod"
    assert problem.line is not None
    assert problem.message == (
        f"principal 'User:{name}' of app 'crypto-risk' in stack prod: its user name has 65 characters and a "
        "certificate's CN holds at most 64 (stack prod authenticates apps by mtls); give the app a shorter one in "
        "apps.crypto-risk.principals.prod"
    )
    oauth_prod(project_dir)  # a client id takes 255
    edit_prod(project_dir, ("clientCert",), saslUsername="k2infra-prod")
    assert load(project_dir).plan.app("crypto-risk").principal == f"User:{name}"  # type: ignore[union-attr]
    set_principal(project_dir, "crypto-risk", "User:" + "c" * 256)
    with pytest.raises(InputError, match="an OAuth client id holds at most 255"):
        load(project_dir)


# -- the program under mocks ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["mtls", "oauthbearer"])
def test_apps_get_acls_and_quotas_but_no_scram_user_and_need_no_passwords(project_dir: Path, mode: str) -> None:
    secrets = {"schemaRegistryPassword": "registry-s3cret"}  # and no appPasswords
    if mode == "mtls":
        secrets["clientKey"] = mtls_prod(project_dir)
    else:
        oauth_prod(project_dir)
        secrets["saslPassword"] = "client-s3cret"
    run = run_program(project_dir, "prod", secrets)
    plan = load(project_dir, {"clientKey": secrets.get("clientKey", "")} if mode == "mtls" else None).plan
    assert {r.name for r in run.mocks.of_type(ACL)} == {acl.id for app in plan.apps for acl in app.acls}
    assert {r.inputs["entityName"] for r in run.mocks.of_type(QUOTA)} == {f"k2-{app}-prod" for app in SHIPPED_APPS}
    assert run.mocks.of_type(SCRAM) == []
    assert run.outputs["kafka_security"]["client_auth"] == mode
    assert run.outputs["apps"]["crypto-risk"]["principal"] == "User:k2-crypto-risk-prod"


# -- verify, access, the policy pack --------------------------------------------------------------


def test_verify_wants_no_scram_user_of_an_app_that_brings_its_certificate(project_dir: Path) -> None:
    scram_plan = load(project_dir).plan
    assert [d.kind for d in access_differences(scram_plan, LiveAccess())].count("scram_user_missing") == 5
    key = mtls_prod(project_dir)
    plan = load(project_dir, {"clientKey": key}).plan
    live = LiveAccess(acls=frozenset())
    assert {d.kind for d in access_differences(plan, live)} == {"acl_missing"}
    clean = Report("prod", 6, 4, (), (), access_apps=5, access_scram=plan.creates_app_credentials)
    assert clean.summary() == "verify: 6 topics, 4 subjects, ACLs of 5 apps: no drift"


def access(project_dir: Path, *argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    args = ["access", "--stack", "prod", *argv, "--config-dir", str(project_dir / "config")]
    code = main([*args, "--project-dir", str(project_dir)], out, err)
    assert (code, err.getvalue()) == (0, "")
    return out.getvalue()


def test_access_shows_the_principal_and_what_proves_it_in_each_mode(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = mtls_prod(project_dir)
    monkeypatch.setenv("K2_CLIENT_KEY", key)
    assert access(project_dir, "--app", "crypto-risk").splitlines()[0] == (
        "app crypto-risk: User:k2-crypto-risk-prod (mTLS certificate CN=k2-crypto-risk-prod), group crypto-risk. "
        "(Prefixed), quotas consumer_byte_rate=10485760"
    )
    assert access(project_dir).splitlines()[-1] == (
        "principals: each app presents an mTLS certificate whose CN is its principal's user name (the brokers map "
        "CN=<name> to User:<name>); the stack creates no credential"
    )
    document = json.loads(access(project_dir, "--app", "crypto-risk", "--json"))
    assert (document["app_auth"], document["credential"]) == ("mtls", "mTLS certificate CN=k2-crypto-risk-prod")
    monkeypatch.delenv("K2_CLIENT_KEY")
    edit_prod(project_dir, ("clientCert",), saslMechanism="oauthbearer", saslUsername="k2infra-prod")
    oauth_prod(project_dir)
    topic = access(project_dir, "--topic", "market.crypto.trades.binance")
    assert "principals: each app logs in with the OAuth client whose client id is its principal's user name" in topic


def test_the_policy_pack_names_what_proves_a_declared_apps_principal(project_dir: Path) -> None:
    mtls_prod(project_dir)
    declared = declared_apps(project_dir / "config", "prod")
    assert declared["User:k2-crypto-risk-prod"].credential == "mTLS certificate CN=k2-crypto-risk-prod"
    acl = {
        "aclPrincipal": "User:k2-crypto-risk-prod",
        "aclHost": "*",
        "aclOperation": "Write",
        "aclPermissionType": "Allow",
        "aclResourceType": "Topic",
        "aclResourceName": "market.crypto.trades.binance",
        "resourcePatternTypeFilter": "Literal",
    }
    assert acl_write_scope_violations(acl, declared) == [
        "ACL Write Topic 'market.crypto.trades.binance' (Literal) for 'User:k2-crypto-risk-prod' (mTLS certificate "
        "CN=k2-crypto-risk-prod): 'market.crypto.trades.binance' is of asset class 'crypto', but app 'crypto-risk' "
        "declares it produces asset classes none"
    ]
    oauth_prod(project_dir)
    edit_prod(project_dir, ("clientCert",), saslUsername="k2infra-prod")
    declared = declared_apps(project_dir / "config", "prod")
    assert declared["User:k2-crypto-risk-prod"].credential == "OAuth client id k2-crypto-risk-prod"


# -- the observe commands' monitor ----------------------------------------------------------------


def test_the_monitor_logs_in_with_its_certificate_or_its_oauth_client(project_dir: Path, tmp_path: Path) -> None:
    key = mtls_prod(project_dir)
    stack = load(project_dir, {"clientKey": key})
    with pytest.raises(ConnectionFailed) as caught:
        observer_connection(stack, {MONITOR_PASSWORD: "a password is no certificate"})
    assert str(caught.value) == (
        "stack prod has access control: lag, feeds, capacity and the exporter log in as its monitor app "
        "platform-monitor (User:k2-platform-monitor-prod); set K2_MONITOR_CERT and K2_MONITOR_KEY to its "
        "certificate (CN=k2-platform-monitor-prod) and key, PEM text or paths"
    )
    now = datetime.now(UTC)
    cert, monitor_key = self_signed("k2-platform-monitor-prod", now - timedelta(days=1), now + timedelta(days=30))
    connection = observer_connection(stack, {MONITOR_CERT: cert.decode(), MONITOR_KEY: monitor_key.decode()})
    settings = connection.librdkafka()
    assert (settings["ssl.certificate.pem"], settings["ssl.key.pem"]) == (cert.decode(), monitor_key.decode())
    assert connection.principal == "User:k2-platform-monitor-prod" and "sasl.mechanism" not in settings
    other, other_key = self_signed("k2-crypto-risk-prod", now - timedelta(days=1), now + timedelta(days=30))
    with pytest.raises(ConnectionFailed, match="is User:k2-crypto-risk-prod's \\(its CN\\), not the monitor's"):
        observer_connection(stack, {MONITOR_CERT: other.decode(), MONITOR_KEY: other_key.decode()})

    oauth_prod(project_dir)
    edit_prod(project_dir, ("clientCert",), saslUsername="k2infra-prod")
    stack = load(project_dir)
    with pytest.raises(ConnectionFailed, match="set K2_MONITOR_PASSWORD to the secret of its OAuth client"):
        observer_connection(stack, {})
    settings = observer_connection(stack, {MONITOR_PASSWORD: "monitor-s3cret", "K2_SASL_PASSWORD": "x"}).librdkafka()
    assert (
        settings["sasl.oauthbearer.client.id"],
        settings["sasl.oauthbearer.client.secret"],
        settings["sasl.oauthbearer.token.endpoint.url"],
    ) == ("k2-platform-monitor-prod", "monitor-s3cret", TOKEN_URL)
