"""The change summary (`python -m k2infra plan`) of two pull requests on the secure cluster, then checked
against what the broker and the registry hold once `pulumi up` has applied them.

The module's `prod` deployment (tests/e2e/conftest.py) is the shipped `Pulumi.prod.yaml` with every
app of config/kafka/apps.yaml on the session's one secure cluster. Two changes, in order:

- **add NYSE** (an exchange added to the topology), summarised as a pipeline does it:
  tools/ci/preview-summary.sh runs `pulumi preview --json` once and renders it with `plan
  --from-preview` as Markdown and JSON. After `up`, the broker holds exactly the topics the summary
  creates, with its partitions, replication factor and configs; the apps it says gain read are
  those whose ACLs on the broker match the new topics; the registry's subjects keep their versions;
- **remove an app** (crypto-risk from apps.yaml), with `plan` running the preview itself through the
  Pulumi driver: refused by protection first (prod protects ACLs and SCRAM users), then, after the
  runbook's unprotect, the ACLs the summary removes are exactly the ones the broker held for the app,
  and after `up` it holds none, nor the app's credential or quota.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable

import pytest
import requests
import yaml
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
)

from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import REPO, PulumiProject
from k2infra.live.access import live_acl
from k2infra.model.apps import ResourceType as AclResource
from k2infra.model.apps import parse_acl_id
from tests.e2e.prod_support import CALL, POLICY, UNPROTECT_APP, run_k2infra, secret_env

pytestmark = pytest.mark.e2e

NYSE = {"name": "New York Stock Exchange", "partitions": 3, "country": "US", "timezone": "America/New_York"}
REMOVED_APP = "crypto-risk"


def market_topics(admin: AdminClient) -> dict[str, int]:
    """Every `market.` topic of the broker: name -> partitions."""
    listed = admin.list_topics(timeout=CALL).topics
    return {name: len(t.partitions) for name, t in listed.items() if name.startswith("market.")}


def replication(admin: AdminClient, topic: str) -> int:
    partitions = admin.list_topics(topic, timeout=CALL).topics[topic].partitions
    return len(partitions[0].replicas)


def topic_configs(admin: AdminClient, topic: str, keys: Iterable[str]) -> dict[str, str]:
    (future,) = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    entries = future.result(timeout=CALL)
    return {key: entries[key].value for key in keys}


def acl_ids(admin: AdminClient, principal: str | None = None) -> set[str]:
    """The broker's ACL bindings (of one principal), spelt as pulumi-kafka names them."""
    every = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, principal, None, AclOperation.ANY, AclPermissionType.ANY
    )
    bindings = admin.describe_acls(every, request_timeout=CALL).result()
    return {acl.id for b in bindings if (acl := live_acl(b)) is not None}


def latest_versions(secure: SecurePlatform) -> dict[str, int]:
    """The registry's `market.` subjects: subject -> latest version."""
    url, ca = secure.schema_registry_url.rstrip("/"), str(secure.ca_path)
    listed = requests.get(f"{url}/subjects", auth=secure.registry_auth, verify=ca, timeout=CALL)
    listed.raise_for_status()
    out = {}
    for subject in (s for s in listed.json() if s.startswith("market.")):
        latest = requests.get(
            f"{url}/subjects/{subject}/versions/latest", auth=secure.registry_auth, verify=ca, timeout=CALL
        )
        latest.raise_for_status()
        out[subject] = latest.json()["version"]
    return out


def plan_json(project: PulumiProject, secure: SecurePlatform) -> tuple[int, dict]:
    """`python -m k2infra plan --format json`, the preview run by the command itself."""
    started = time.monotonic()
    done = run_k2infra(project, "plan", "--format", "json", *POLICY, env=secret_env(secure), timeout=900)
    print(f"\nplan (its own preview) took {time.monotonic() - started:.1f} s")
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_the_summary_of_adding_nyse_is_what_the_broker_and_registry_then_hold(
    prod: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient, tmp_path
) -> None:
    before_topics = market_topics(secure_admin)
    before_versions = latest_versions(secure)
    prod.edit_topology(lambda t: t["asset_classes"]["equities"]["exchanges"].__setitem__("nyse", NYSE))
    out = tmp_path / "summary"
    started = time.monotonic()
    script = str(REPO / "tools" / "ci" / "preview-summary.sh")
    ci = subprocess.run(
        ["bash", script, "--stack", "prod", "--project-dir", str(prod.dir), "--out-dir", str(out), *POLICY],
        cwd=REPO,
        env={**prod.env, **secret_env(secure), "PYTHON": str(REPO / ".venv" / "bin" / "python")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(f"\ntools/ci/preview-summary.sh took {time.monotonic() - started:.1f} s")
    assert ci.returncode == 0, ci.stdout + ci.stderr
    assert ci.stdout == (out / "summary.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    print((out / "summary.md").read_text())
    assert summary["headline"] == "add 3 topics, 3 apps gain read; no data loss"
    assert "**add 3 topics, 3 apps gain read; no data loss**" in ci.stdout
    created = {t["name"]: t for t in summary["topics"] if t["change"] == "create"}
    assert len(created) == len(summary["topics"]) == 3 and not summary["subjects"] and not summary["refusals"]

    prod.up(*POLICY)
    after_topics = market_topics(secure_admin)
    # The broker gained exactly the topics the summary creates, as it describes them.
    assert set(after_topics) - set(before_topics) == set(created)
    for name, topic in created.items():
        assert after_topics[name] == topic["partitions"]["to"], name
        assert replication(secure_admin, name) == topic["replication_factor"]["to"], name
        wanted = {c["key"]: c["to"] for c in topic["config"]}
        assert topic_configs(secure_admin, name, wanted) == wanted, name
    # The apps that gain read are the principals whose ACLs on the broker match a new topic.
    broker_acls = [acl for acl in map(parse_acl_id, acl_ids(secure_admin)) if acl is not None]
    readers: dict[str, set[str]] = {}
    for acl in broker_acls:
        for name in created:
            if acl.operation == "Read" and acl.matches(AclResource.TOPIC, name):
                readers.setdefault(acl.principal, set()).add(name)
    assert {a["principal"]: set(a["read"]["gained"]) for a in summary["apps"]} == readers
    assert all(not a["acls"]["added"] and not a["acls"]["removed"] for a in summary["apps"])
    # No subject changed: the registry holds the versions it held (NYSE shares the equities subjects).
    assert latest_versions(secure) == before_versions


def test_the_summary_of_removing_an_app_is_refused_by_protection_then_removes_exactly_its_acls(
    prod: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient
) -> None:
    app = next(a for a in prod.outputs()["apps"].items() if a[0] == REMOVED_APP)[1]
    principal, username = app["principal"], app["username"]
    held = acl_ids(secure_admin, principal)
    assert held
    path = prod.dir / "config" / "kafka" / "apps.yaml"
    apps = yaml.safe_load(path.read_text())
    del apps["apps"][REMOVED_APP]
    path.write_text(yaml.safe_dump(apps, sort_keys=False))

    # Prod protects an app's ACLs and SCRAM user: the preview is refused, and the summary says by what.
    code, refused = plan_json(prod, secure)
    assert (code, refused["status"]) == (1, "refused"), refused
    assert refused["headline"] == "refused by protection (k2infra:protect)"
    assert {r["guard"] for r in refused["refusals"]} == {"protect"}, [r["message"] for r in refused["refusals"]]
    protected = " ".join(r["message"] for r in refused["refusals"])
    assert f"scram:{username}" in protected and all(acl in protected for acl in held)

    # The runbook's procedure: unprotect exactly that app's resources; the preview then goes through.
    done = subprocess.run(
        ["bash", "-c", UNPROTECT_APP],
        cwd=prod.dir,
        env={**prod.env, "K2_APP_USER": username},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    code, summary = plan_json(prod, secure)
    assert (code, summary["status"]) == (0, "changes"), summary
    assert summary["headline"] == "1 app removed; no data loss"
    # The app, and the monitor's Describe on its group, which goes with it (unprotected: docs/access.md).
    monitor = prod.outputs()["apps"]["platform-monitor"]["principal"]
    by_principal = {a["principal"]: a for a in summary["apps"]}
    assert sorted(by_principal) == sorted([principal, monitor])
    assert by_principal[monitor]["acls"] == {
        "added": [],
        "removed": [f"{monitor}|*|Describe|Allow|Group|crypto-risk.|Prefixed"],
    }
    removed = by_principal[principal]
    assert (removed["principal"], removed["declared"], removed["credential"]) == (principal, False, "removed")
    assert removed["read"] == {"gained": [], "lost": ["market.crypto.trades.binance"]}
    assert removed["groups"]["lost"] == ["crypto-risk. (Prefixed)"]
    assert removed["quota"] == {"from": app["quotas"], "to": None}
    # The ACLs it removes are exactly the ones the broker holds for the app.
    assert set(removed["acls"]["removed"]) == held and not removed["acls"]["added"]

    prod.up(*POLICY)
    assert acl_ids(secure_admin, principal) == set()
    described = secure_admin.describe_user_scram_credentials([username], request_timeout=CALL)
    with pytest.raises(KafkaException) as gone:
        described[username].result(timeout=CALL)
    assert gone.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
