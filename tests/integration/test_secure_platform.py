"""The production-shaped local cluster (`tools/platform.sh start --secure`) with real clients.

Three KRaft brokers on SASL_SSL with SCRAM-SHA-512, a three-voter controller quorum, the
StandardAuthorizer with `allow.everyone.if.no.acl.found=false`; Keycloak and an HTTPS Apicurio
Registry that checks HTTP Basic client credentials against Keycloak. Every client here is a real
confluent-kafka (librdkafka) client, `requests`, or Kafka's own CLI; every wait is bounded.

The platform is this module's own, started fresh on free ports and stopped at its end, not the
session's shared one (tests/conftest.py): these tests stop and start broker 3, and on a cluster that
has run the prod e2e modules a restarted node came back without any SCRAM credential (every login to
it refused, the other brokers' replication included; reproduced with tests/e2e/test_prod_faults.py
followed by `tools/platform.sh start-broker 3`, Kafka 4.4.0 and 4.3.1; cause not found, see
docs/runbook.md §13). A platform that cannot start makes these tests ERROR, never skip.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from devkit.local_platform import SecurePlatform
from tests.conftest import REPO

pytestmark = pytest.mark.integration

WAIT = 60.0  # seconds for the cluster to settle a create, an ISR change or a credential
CALL = 30.0  # seconds for one admin call


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurePlatform]:
    """A secure platform of this module's own (overrides the session's, see the module docstring)."""
    running = SecurePlatform.start(tmp_path_factory.mktemp("secure-platform-restarts"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def admin(secure: SecurePlatform) -> AdminClient:
    return AdminClient(secure.admin_config())


@pytest.fixture
def topic_name() -> str:
    return f"market.it{secrets.token_hex(4)}.trades.secure"


@pytest.fixture
def replicated_topic(admin: AdminClient, topic_name: str) -> Iterator[str]:
    """A topic with 3 partitions, replication factor 3 and min.insync.replicas 2; deleted after."""
    create_topic(admin, topic_name, partitions=3, config={"min.insync.replicas": "2"})
    yield topic_name
    delete_topic(admin, topic_name)


def create_topic(admin: AdminClient, name: str, *, partitions: int, config: dict[str, str]) -> None:
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=3, config=config)], request_timeout=CALL
    )
    futures[name].result(timeout=CALL)
    wait_for(lambda: full_isr(admin, name, partitions), f"{name}: every partition with 3 in-sync replicas")


def delete_topic(admin: AdminClient, name: str) -> None:
    admin.delete_topics([name], request_timeout=CALL)[name].result(timeout=CALL)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:.0f}s: {what} (last: {last!r})")


def partitions_of(admin: AdminClient, topic: str) -> dict[int, Any]:
    metadata = admin.list_topics(topic=topic, timeout=CALL)
    described = metadata.topics[topic]
    if described.error is not None:
        return {}
    return dict(described.partitions)


def full_isr(admin: AdminClient, topic: str, partitions: int) -> bool:
    parts = partitions_of(admin, topic)
    return len(parts) == partitions and all(len(p.replicas) == 3 and len(p.isrs) == 3 for p in parts.values())


def under_replicated(admin: AdminClient, topic: str) -> list[int]:
    """Partitions whose in-sync replicas are fewer than their replicas."""
    return sorted(pid for pid, p in partitions_of(admin, topic).items() if len(p.isrs) < len(p.replicas))


def produce(config: dict[str, Any], topic: str, count: int, timeout: float = WAIT) -> list[tuple[Any, Any]]:
    """Produce `count` keyed messages; returns (error, message) per delivery report."""
    reports: list[tuple[Any, Any]] = []
    producer = Producer(config)
    for i in range(count):
        producer.produce(topic, key=f"BHP{i}", value=f"trade {i}", on_delivery=lambda e, m: reports.append((e, m)))
    remaining = producer.flush(timeout)
    assert remaining == 0, f"{remaining} messages still undelivered after {timeout:.0f}s"
    return reports


def consume_count(config: dict[str, Any], topic: str, partitions: int, expected: int) -> int:
    consumer = Consumer(
        {
            **config,
            "group.id": f"it-{secrets.token_hex(4)}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        seen = 0
        deadline = time.monotonic() + WAIT
        while seen < expected and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                seen += 1
        return seen
    finally:
        consumer.close()


def client_errors(config: dict[str, Any]) -> tuple[list[KafkaError], BaseException | None]:
    """Try one metadata request with `config`; the errors librdkafka reported, and what the call raised."""
    errors: list[KafkaError] = []
    admin = AdminClient({**config, "error_cb": errors.append, "socket.timeout.ms": 10000})
    raised: BaseException | None = None
    try:
        admin.list_topics(timeout=15)
    except KafkaException as exc:
        raised = exc
    admin.poll(1)  # serve the error callbacks still queued
    return errors, raised


def new_ca(directory: Path) -> Path:
    """A CA of our own (not the platform's), PEM, made with openssl."""
    key, cert = directory / "other-ca-key.pem", directory / "other-ca.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "1", "-subj", "/CN=not the k2 platform CA", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert


# -- the cluster --------------------------------------------------------------------------------


def test_three_brokers_are_registered_over_sasl_ssl(secure: SecurePlatform, admin: AdminClient) -> None:
    metadata = admin.list_topics(timeout=CALL)
    assert sorted(metadata.brokers) == [1, 2, 3]
    advertised = sorted(f"{b.host}:{b.port}" for b in metadata.brokers.values())
    assert advertised == sorted(secure.brokers)
    assert metadata.cluster_id


def test_the_runbooks_test_record_goes_through_the_console_tools_over_sasl_ssl(secure: SecurePlatform) -> None:
    """docs/runbook.md §9 on the secured cluster: the usual tool names, with the super user's client
    properties (the infra principal's may not write or read records)."""
    assert secure.admin_properties is not None
    topic = f"k2.cli-test.{secrets.token_hex(4)}"
    auth = ["--bootstrap-server", secure.bootstrap_servers, "--command-config", str(secure.admin_properties)]
    made = secure.platform_sh("cli", "kafka-topics", *auth, "--create", "--topic", topic, timeout=180)
    assert made.returncode == 0, made.stdout + made.stderr
    produce = ["kafka-console-producer", *auth, "--topic", topic]
    produce += ["--reader-property", "parse.key=true", "--reader-property", "key.separator=:"]
    produced = subprocess.run(
        ["bash", str(REPO / "tools" / "platform.sh"), "cli", "--state-dir", str(secure.state_dir), *produce],
        input='BHP:{"test":1}\n',
        env=secure.script_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert produced.returncode == 0, produced.stderr
    read = secure.platform_sh(
        "cli",
        "kafka-console-consumer",
        *auth,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        "1",
        "--formatter-property",
        "print.key=true",
        timeout=180,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines()[0] == 'BHP\t{"test":1}'
    groups = secure.platform_sh("cli", "kafka-consumer-groups", *auth, "--list", timeout=180)
    assert groups.returncode == 0, groups.stderr


def test_the_controller_quorum_has_a_leader_and_three_voters(secure: SecurePlatform) -> None:
    """Kafka's own kafka-metadata-quorum, through the client properties file the platform writes."""
    assert secure.client_properties is not None and secure.client_properties.is_file()
    result = secure.platform_sh(
        "cli",
        "kafka-metadata-quorum",
        "--bootstrap-server",
        secure.bootstrap_servers,
        "--command-config",
        str(secure.client_properties),
        "describe",
        "--status",
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    assert int(status["LeaderId"]) in (1, 2, 3)
    voters = re.findall(r'"id":\s*(\d+)', status["CurrentVoters"])
    assert sorted(int(v) for v in voters) == [1, 2, 3]


def test_status_and_env_describe_the_secure_platform(secure: SecurePlatform) -> None:
    if secure.state_dir is None:
        pytest.fail("the secure platform's state dir is unknown (K2_PLATFORM_STATE_DIR unset)")
    status = secure.platform_sh("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for component in ("kafka-1", "kafka-2", "kafka-3", "keycloak", "registry"):
        assert f"{component}: running" in status.stdout
    env = secure.platform_sh("env")
    assert env.returncode == 0, env.stderr
    exported = dict(line.removeprefix("export ").split("=", 1) for line in env.stdout.splitlines())
    assert exported["K2_BOOTSTRAP_SERVERS"] == secure.bootstrap_servers
    assert exported["K2_SASL_PASSWORD"] == secure.sasl_password
    assert exported["K2_SCHEMA_REGISTRY_URL"].startswith("https://")
    assert Path(exported["K2_CA_CERT"]).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_replicated_topic_takes_acks_all_writes(
    secure: SecurePlatform, admin: AdminClient, replicated_topic: str
) -> None:
    config = admin.describe_configs([ConfigResource(ResourceType.TOPIC, replicated_topic)], request_timeout=CALL)
    entries = next(iter(config.values())).result(timeout=CALL)
    assert entries["min.insync.replicas"].value == "2"
    assert all(len(p.replicas) == 3 for p in partitions_of(admin, replicated_topic).values())

    reports = produce(secure.admin_config(acks="all", **{"enable.idempotence": True}), replicated_topic, 30)
    assert [e for e, _ in reports if e is not None] == []
    assert len(reports) == 30
    assert consume_count(secure.admin_config(), replicated_topic, 3, 30) == 30


def test_one_broker_down_acks_all_still_works_and_partitions_are_under_replicated(
    secure: SecurePlatform, admin: AdminClient, replicated_topic: str, topic_name: str
) -> None:
    strict = f"{topic_name}.strict"
    create_topic(admin, strict, partitions=1, config={"min.insync.replicas": "3"})
    secure.stop_broker(3)
    try:
        stranded = wait_for(lambda: under_replicated(admin, replicated_topic), "under-replicated partitions")
        assert stranded == [0, 1, 2]
        assert all(3 not in p.isrs and len(p.isrs) == 2 for p in partitions_of(admin, replicated_topic).values())

        # min.insync.replicas 2 of 3: two in sync are enough for acks=all
        reports = produce(secure.admin_config(acks="all"), replicated_topic, 10)
        assert [e for e, _ in reports if e is not None] == []

        # min.insync.replicas 3: the same write is refused while a replica is out
        wait_for(lambda: under_replicated(admin, strict), f"{strict} under-replicated")
        refused = produce(
            secure.admin_config(acks="all", retries=0, **{"enable.idempotence": False, "message.timeout.ms": 20000}),
            strict,
            1,
        )
        assert [e.code() for e, _ in refused] == [KafkaError.NOT_ENOUGH_REPLICAS]
    finally:
        secure.start_broker(3)
    wait_for(lambda: not under_replicated(admin, replicated_topic), "ISR back to 3 replicas", timeout=120)
    delete_topic(admin, strict)


def test_authorizer_denies_a_principal_without_acls(
    secure: SecurePlatform, admin: AdminClient, replicated_topic: str
) -> None:
    """A SCRAM user that is no super user and has no ACL sees no topic and cannot create one."""
    user, password = f"it-app-{secrets.token_hex(3)}", secrets.token_hex(16)
    upsert = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert], request_timeout=CALL).values():
        future.result(timeout=CALL)
    app = AdminClient(secure.kafka_config(**{"sasl.username": user, "sasl.password": password}))
    metadata = wait_for(lambda: _metadata_or_none(app), f"{user} authenticates")
    assert replicated_topic not in metadata.topics
    created = app.create_topics([NewTopic(f"{replicated_topic}.denied", 1, 3)], request_timeout=CALL)
    with pytest.raises(KafkaException) as denied:
        next(iter(created.values())).result(timeout=CALL)
    assert denied.value.args[0].code() in (
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    )


def test_the_infra_principal_manages_market_topics_and_nothing_else(secure: SecurePlatform, topic_name: str) -> None:
    """User:k2infra is no super user: it may create, alter, describe and delete `market.` topics, and
    is refused a topic outside that prefix (docs/access.md, "k2infra's own principal")."""
    infra = AdminClient(secure.kafka_config())
    mine = f"{topic_name}.infra"
    infra.create_topics([NewTopic(mine, 1, 3)], request_timeout=CALL)[mine].result(timeout=CALL)
    # A topic just created may be unknown to the broker asked for a moment (seen once under load).
    configs = wait_for(lambda: _configs_of(infra, mine), f"the configs of {mine}", CALL)
    assert configs["min.insync.replicas"].value == "2"
    delete_topic(infra, mine)
    outside = f"k2.outside.{secrets.token_hex(4)}"
    refused = infra.create_topics([NewTopic(outside, 1, 3)], request_timeout=CALL)[outside]
    with pytest.raises(KafkaException) as denied:
        refused.result(timeout=CALL)
    assert denied.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    operations = infra.describe_cluster(include_authorized_operations=True, request_timeout=CALL).result()
    assert sorted(o.name for o in operations.authorized_operations) == [
        "ALTER",
        "ALTER_CONFIGS",
        "DESCRIBE",
        "DESCRIBE_CONFIGS",
    ]


def test_the_infra_principal_is_refused_every_consumers_data(secure: SecurePlatform, replicated_topic: str) -> None:
    """Records written (and a group's offsets committed) by others: the infra principal may read neither."""
    assert all(error is None for error, _ in produce(secure.admin_config(), replicated_topic, 3))
    group = f"it-reader-{secrets.token_hex(4)}"
    reader = Consumer({**secure.admin_config(), "group.id": group, "enable.auto.commit": False})
    try:
        reader.commit(offsets=[TopicPartition(replicated_topic, 0, 1)], asynchronous=False)
    finally:
        reader.close()
    errors: list[KafkaError] = []
    consumer = Consumer(
        {**secure.kafka_config(), "group.id": f"it-infra-{secrets.token_hex(4)}", "error_cb": errors.append}
    )
    try:
        consumer.assign([TopicPartition(replicated_topic, p, 0) for p in range(3)])
        deadline, refused = time.monotonic() + WAIT, None
        while refused is None and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            assert message is None or message.error() is not None, "the infra principal read a record"
            if message is not None and message.error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                refused = message.error()
        assert refused is not None, f"no authorization error within {WAIT:.0f}s: {errors}"
    finally:
        consumer.close()
    infra = AdminClient(secure.kafka_config())
    offsets = infra.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=CALL)[group]
    with pytest.raises(KafkaException) as denied:
        offsets.result(timeout=CALL)
    assert denied.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED


def assert_infra_least_rights_on(config: dict[str, Any], servers: str, topic_name: str) -> None:
    """Logged in with `config` on the listener at `servers` as User:k2infra: the same least rights as over
    SCRAM (it may create a `market.` topic, not one outside it), and the brokers it learns are that listener's."""
    infra = AdminClient(config)
    metadata = infra.list_topics(timeout=CALL)
    assert sorted(f"{b.host}:{b.port}" for b in metadata.brokers.values()) == sorted(servers.split(","))
    mine = f"{topic_name}.listener"
    infra.create_topics([NewTopic(mine, 1, 3)], request_timeout=CALL)[mine].result(timeout=CALL)
    delete_topic(infra, mine)
    outside = f"k2.outside.{secrets.token_hex(4)}"
    with pytest.raises(KafkaException) as denied:
        infra.create_topics([NewTopic(outside, 1, 3)], request_timeout=CALL)[outside].result(timeout=CALL)
    assert denied.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_the_mtls_listener_logs_a_client_certificate_in_as_its_cn(secure: SecurePlatform, topic_name: str) -> None:
    """The infra principal's certificate (CN=k2infra) is User:k2infra on the mTLS listener."""
    assert_infra_least_rights_on(secure.mtls_config(), secure.mtls_bootstrap_servers, topic_name)


def test_the_mtls_listener_refuses_a_client_without_a_certificate_or_with_one_of_another_ca(
    secure: SecurePlatform, tmp_path: Path
) -> None:
    bare = {
        k: v for k, v in secure.mtls_config().items() if not k.startswith("ssl.certificate") and k != "ssl.key.location"
    }
    errors, raised = client_errors(bare)
    assert raised is not None and errors, "a client without a certificate got in"
    other_ca = new_ca(tmp_path)  # self-signed: a certificate the platform's CA did not sign
    errors, raised = client_errors(secure.mtls_config(cert=other_ca, key=tmp_path / "other-ca-key.pem"))
    assert raised is not None
    assert any(e.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN) for e in errors), (
        errors
    )


def test_the_oauth_listener_logs_a_keycloak_client_in_as_its_client_id(secure: SecurePlatform, topic_name: str) -> None:
    """The infra principal's Keycloak client (k2infra) is User:k2infra on the OAUTHBEARER listener (the
    token's azp)."""
    assert_infra_least_rights_on(secure.oauth_config(), secure.oauth_bootstrap_servers, topic_name)


def oauth_refusal(config: dict[str, Any]) -> tuple[BaseException | None, list[str]]:
    """One metadata request with `config`: what it raised, and librdkafka's errors and log lines."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger(f"oauth-refusal-{secrets.token_hex(4)}")
    logger.propagate = False
    logger.addHandler(Keep())
    errors, raised = client_errors({**config, "logger": logger})
    return raised, [e.str() for e in errors] + lines


def test_the_oauth_listener_refuses_a_token_without_its_audience(secure: SecurePlatform) -> None:
    """A Keycloak client whose tokens lack the audience the brokers expect (`kafka`) gets a token from
    Keycloak, and the brokers refuse it."""
    wrong = secure.client(f"k2-no-audience-{secrets.token_hex(3)}", "--no-audience")
    raised, texts = oauth_refusal(
        secure.oauth_config(wrong["K2_APP_OAUTH_CLIENT_ID"], wrong["K2_APP_OAUTH_CLIENT_SECRET"])
    )
    assert raised is not None, "a token without the brokers' audience got in"
    assert any("invalid_token" in text for text in texts), texts


def test_a_revoked_keycloak_client_gets_no_token_and_so_no_login(secure: SecurePlatform) -> None:
    name = f"k2-revoked-{secrets.token_hex(3)}"
    app = secure.client(name)
    config = secure.oauth_config(app["K2_APP_OAUTH_CLIENT_ID"], app["K2_APP_OAUTH_CLIENT_SECRET"])
    assert AdminClient(config).list_topics(timeout=CALL).brokers, "the client could not log in before its revocation"
    secure.client(name, "--revoke")
    raised, texts = oauth_refusal(config)
    assert raised is not None, "a revoked client got in"
    assert any("invalid_client" in text and "Failed to retrieve OIDC token" in text for text in texts), texts


def _metadata_or_none(client: AdminClient) -> Any:
    try:
        return client.list_topics(timeout=5)
    except KafkaException:
        return None


def test_wrong_scram_password_is_an_authentication_error(secure: SecurePlatform) -> None:
    errors, raised = client_errors(secure.kafka_config(**{"sasl.password": "not-the-password"}))
    assert raised is not None
    assert KafkaError._AUTHENTICATION in [e.code() for e in errors], errors


def test_client_without_tls_against_the_tls_listener_fails(secure: SecurePlatform) -> None:
    config = secure.kafka_config(**{"security.protocol": "SASL_PLAINTEXT"})
    del config["ssl.ca.location"]
    errors, raised = client_errors(config)
    assert raised is not None, "a plaintext client got metadata from the TLS listener"
    codes = {e.code() for e in errors}
    assert codes & {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._AUTHENTICATION}, errors


def test_unknown_ca_fails_certificate_verification(secure: SecurePlatform, tmp_path: Path) -> None:
    errors, raised = client_errors(secure.kafka_config(**{"ssl.ca.location": str(new_ca(tmp_path))}))
    assert raised is not None
    assert KafkaError._SSL in [e.code() for e in errors], errors
    assert any("certificate verify failed" in e.str() for e in errors), errors


def test_broker_topic_configs_are_the_catalogue_of_its_version(
    secure: SecurePlatform, admin: AdminClient, replicated_topic: str
) -> None:
    """k2infra/model/topic_configs/kafka-<version>.json names exactly what the running broker describes."""
    catalogue = json.loads(
        (REPO / "k2infra" / "model" / "topic_configs" / f"kafka-{secure.kafka_version}.json").read_text()
    )
    described = admin.describe_configs([ConfigResource(ResourceType.TOPIC, replicated_topic)], request_timeout=CALL)
    entries = next(iter(described.values())).result(timeout=CALL)
    assert sorted(entries) == sorted(catalogue["configs"])
    defaults = {name: e.value for name, e in entries.items() if e.is_default}
    for name, value in defaults.items():
        assert catalogue["configs"][name]["default"] == value, name


# -- the registry -------------------------------------------------------------------------------


def test_registry_refuses_no_and_wrong_credentials_and_accepts_the_right_ones(secure: SecurePlatform) -> None:
    subjects = f"{secure.schema_registry_url}/subjects"
    ca = str(secure.ca_path)
    anonymous = requests.get(subjects, verify=ca, timeout=30)
    assert anonymous.status_code == 401
    wrong = requests.get(subjects, auth=(secure.registry_username, "not-the-secret"), verify=ca, timeout=30)
    assert wrong.status_code == 401
    unknown = requests.get(subjects, auth=("no-such-client", secure.registry_password), verify=ca, timeout=30)
    assert unknown.status_code == 401
    right = requests.get(subjects, auth=secure.registry_auth, verify=ca, timeout=30)
    assert right.status_code == 200, right.text
    assert isinstance(right.json(), list)


def test_registry_registers_a_schema_with_the_right_credentials(secure: SecurePlatform) -> None:
    subject = f"market.it{secrets.token_hex(4)}.trades-value"
    schema = {"type": "record", "name": "Trade", "fields": [{"name": "symbol", "type": "string"}]}
    url = f"{secure.schema_registry_url}/subjects/{subject}"
    ca = str(secure.ca_path)
    body = {"schema": json.dumps(schema), "schemaType": "AVRO"}
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
    denied = requests.post(f"{url}/versions", json=body, headers=headers, verify=ca, timeout=30)
    assert denied.status_code == 401
    created = requests.post(
        f"{url}/versions", json=body, headers=headers, auth=secure.registry_auth, verify=ca, timeout=30
    )
    assert created.status_code == 200, created.text
    assert isinstance(created.json()["id"], int)
    try:
        latest = requests.get(f"{url}/versions/latest", auth=secure.registry_auth, verify=ca, timeout=30)
        assert latest.json()["subject"] == subject
    finally:
        for params in ({}, {"permanent": "true"}):
            requests.delete(url, params=params, auth=secure.registry_auth, verify=ca, timeout=30)


def test_registry_credentials_are_checked_by_keycloak(secure: SecurePlatform) -> None:
    """The same client id/secret get a token from Keycloak's token endpoint; a wrong secret does not."""
    issuer = secure.env["K2_OIDC_ISSUER"]
    token_url = f"{issuer}/protocol/openid-connect/token"
    granted = requests.post(token_url, data={"grant_type": "client_credentials"}, auth=secure.registry_auth, timeout=30)
    assert granted.status_code == 200, granted.text
    assert granted.json()["token_type"].lower() == "bearer"
    refused = requests.post(
        token_url, data={"grant_type": "client_credentials"}, auth=(secure.registry_username, "wrong"), timeout=30
    )
    assert refused.status_code == 401


def test_registry_is_https_only_with_the_platform_ca(secure: SecurePlatform, tmp_path: Path) -> None:
    subjects = f"{secure.schema_registry_url}/subjects"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(subjects, auth=secure.registry_auth, verify=str(new_ca(tmp_path)), timeout=30)
    plain = subjects.replace("https://", "http://", 1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain, auth=secure.registry_auth, timeout=30)


def _configs_of(admin: AdminClient, name: str) -> dict[str, Any] | None:
    """The topic's configs, or None while the broker does not know the topic yet."""
    described = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)], request_timeout=CALL)
    try:
        return next(iter(described.values())).result(timeout=CALL)
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise
