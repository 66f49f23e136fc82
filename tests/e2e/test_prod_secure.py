"""The prod stack, deployed for real on the production-shaped local cluster.

`Pulumi.prod.yaml` is used exactly as shipped except for what names the cluster
(`prod_support.prod_overrides`: its endpoints, its CAs, the admin users) and the secrets, which
are set with `pulumi config set --secret` as the stack file's header says. The cluster is `SecurePlatform`: three KRaft brokers on
SASL_SSL/SCRAM-SHA-512 with a private CA and the StandardAuthorizer, and an HTTPS registry behind
HTTP Basic credentials. Then: `pulumi up` under the (mandatory) policy pack; the topics, their
configs and the subjects as the real clients see them; `k2infra verify` finds no drift;
`preview --expect-no-changes`; `destroy` is refused (prod is protected); one app's credentials
read what its ACLs allow and nothing else. At the end the stack is unprotected and destroyed.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest
import requests
import yaml
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import REPO, PulumiFailed, PulumiProject
from tests.e2e.prod_support import (
    CALL,
    DATA_TYPES,
    EXCHANGES,
    POLICY,
    planned_topics,
    prod_overrides,
    run_k2infra,
    secret_env,
)

pytestmark = pytest.mark.e2e


def as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def test_the_shipped_prod_stack_differs_only_in_the_overridden_keys(prod: PulumiProject, secure) -> None:
    shipped = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]
    deployed = yaml.safe_load((prod.dir / "Pulumi.prod.yaml").read_text())["config"]
    overridden = {f"k2infra:{k}" for k in prod_overrides(secure)}
    # `pulumi config set` rewrites the file with every value as a string ('3', 'true').
    assert {k: as_text(v) for k, v in deployed.items() if k in shipped and k not in overridden} == {
        k: as_text(v) for k, v in shipped.items() if k not in overridden
    }
    secret_keys = {"k2infra:saslPassword", "k2infra:schemaRegistryPassword", "k2infra:appPasswords"}
    assert set(deployed) - set(shipped) - overridden == secret_keys
    assert all("secure" in deployed[k] for k in ("k2infra:saslPassword", "k2infra:schemaRegistryPassword"))


def test_topics_are_replicated_configured_and_partitioned_as_prod(
    prod: PulumiProject, secure_admin: AdminClient
) -> None:
    topics = secure_admin.list_topics(timeout=CALL).topics
    planned = planned_topics()
    for name, partitions in planned.items():
        assert name in topics, f"{name} missing"
        parts = topics[name].partitions
        assert len(parts) == partitions, name
        assert {len(p.replicas) for p in parts.values()} == {3}, name
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in planned]
    for resource, future in secure_admin.describe_configs(resources, request_timeout=CALL).items():
        config = {k: v.value for k, v in future.result(timeout=CALL).items()}
        name = resource.name
        assert config["min.insync.replicas"] == "2", name
        assert config["compression.type"] == "lz4", name
        assert config["unclean.leader.election.enable"] == "false", name
        assert config["retention.ms"] == ("259200000" if ".quotes." in name else "604800000"), name
        if ".reference_data." in name:
            assert config["cleanup.policy"] == "compact", name
            assert config["min.compaction.lag.ms"] == "3600000", name
        else:
            assert config["cleanup.policy"] == "delete", name


def test_subjects_are_full_transitive_over_https_with_the_ca(prod: PulumiProject, secure: SecurePlatform) -> None:
    url = secure.schema_registry_url
    assert url.startswith("https://")
    ca = prod_overrides(secure)["schemaRegistryCaCert"]
    listed = requests.get(f"{url}/subjects", auth=secure.registry_auth, verify=ca, timeout=CALL)
    listed.raise_for_status()
    subjects = {f"market.{ac}.{dt}-value" for ac in EXCHANGES for dt in DATA_TYPES}
    assert subjects <= set(listed.json())
    for subject in sorted(subjects):
        level = requests.get(
            f"{url}/config/{subject}",
            params={"defaultToGlobal": "true"},
            auth=secure.registry_auth,
            verify=ca,
            timeout=CALL,
        )
        level.raise_for_status()
        body = level.json()
        assert (body.get("compatibilityLevel") or body.get("compatibility")) == "FULL_TRANSITIVE", subject


def test_verify_reports_no_drift(prod: PulumiProject, secure: SecurePlatform) -> None:
    done = run_k2infra(prod, "verify", env=secret_env(secure))
    assert done.returncode == 0, done.stdout + done.stderr
    # the stack deployed as an infra principal with exactly its least rights, no super user
    line = f"infra principal User:{secure.sasl_username}: exactly the rights k2infra needs (docs/access.md)"
    assert line in done.stdout.splitlines(), done.stdout


def test_preview_expects_no_changes(prod: PulumiProject) -> None:
    prod.run("preview", "--expect-no-changes", *POLICY)


def test_destroy_is_refused_because_prod_is_protected(prod: PulumiProject, secure_admin: AdminClient) -> None:
    with pytest.raises(PulumiFailed) as refused:
        prod.destroy()
    assert "protect" in str(refused.value).lower()
    assert set(planned_topics()) <= set(secure_admin.list_topics(timeout=CALL).topics)


def app_consumer(secure: SecurePlatform, username: str, password: str, group: str) -> Consumer:
    return Consumer(
        secure.kafka_config(
            **{
                "sasl.username": username,
                "sasl.password": password,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
    )


def test_crypto_risk_reads_crypto_trades_and_is_refused_equities(
    prod: PulumiProject, secure: SecurePlatform, app_passwords: dict[str, str]
) -> None:
    readable, forbidden = "market.crypto.trades.binance", "market.equities.trades.asx"
    producer = Producer(secure.admin_config())
    key = secrets.token_hex(6).encode()
    producer.produce(readable, key=key, value=b"tick", partition=0)
    assert producer.flush(CALL) == 0
    user = "k2-crypto-risk-prod"
    consumer = app_consumer(secure, user, app_passwords["crypto-risk"], "crypto-risk.e2e")
    try:
        consumer.assign([TopicPartition(readable, 0, 0)])
        keys: list[bytes] = []
        deadline = time.monotonic() + 60
        while key not in keys and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            keys.append(msg.key())
        assert key in keys
    finally:
        consumer.close()
    consumer = app_consumer(secure, user, app_passwords["crypto-risk"], "crypto-risk.e2e")
    try:
        consumer.subscribe([forbidden])
        error = None
        deadline = time.monotonic() + 60
        while error is None and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is not None:
                error = msg.error()
            elif msg is not None:
                pytest.fail(f"crypto-risk read {forbidden}")
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    finally:
        consumer.close()
