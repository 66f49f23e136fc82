"""The prod stack on the secure cluster when things go wrong: bad connection settings, a broker down.

The module deploys the shipped `Pulumi.prod.yaml` (tests/e2e/prod_support.py: only the endpoints,
CAs and secrets differ) on the session's secure cluster, then:

- makes each connection mistake a user can make, with `pulumi config set` on the deployed project
  (restored after each): a wrong SCRAM password, a SASL mechanism the brokers do not offer, TLS off
  against the TLS listener, an unknown CA, a wrong registry password. `pulumi preview` and
  `k2infra verify` must each fail within a bound with the one line k2infra words for the cause
  (k2infra.live.cluster.kafka_failure / registry_failure), and change nothing: the stack's state
  (`pulumi stack export`) and the cluster's topics are the same before and after;
- stops broker 3: `verify` names every prod topic under-replicated and exits 1 within a bound,
  `acks=all` producers still write (ISR 2 of 3), and a new exchange (three RF 3 topics) is refused
  by the program's placement guard (k2infra/deploy/guards.py) with the live broker count and
  the missing node, within a bound, changing nothing;
- starts broker 3 again (always: the class fixture's finally): the same `pulumi up` converges, then
  `verify` exits 0 and `preview --expect-no-changes` passes.

Timings are printed (`pytest -rP` shows them).
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from devkit.certificates import self_signed
from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import REPO, PulumiFailed, PulumiProject
from tests.e2e.prod_support import (
    CALL,
    POLICY,
    VERIFY_BOUND,
    error_lines,
    planned_topics,
    refused,
    run_k2infra,
    secret_env,
    state_of,
    timed,
    topics_of,
)

pytestmark = pytest.mark.e2e

UP_BOUND = 180.0
NEW_EXCHANGE = "nyse"
NEW_TOPICS = [f"market.equities.{dt}.{NEW_EXCHANGE}" for dt in ("quotes", "reference_data", "trades")]


# -- the connection mistakes --------------------------------------------------------------------------


def throwaway_ca(directory: Path) -> str:
    """A self-signed CA certificate (PEM) that signed nothing the cluster presents."""
    now = datetime.now(UTC)
    cert, _ = self_signed("k2 e2e unknown CA", now - timedelta(minutes=5), now + timedelta(days=1), ca=True)
    pem = cert.decode()
    (directory / "unknown-ca.pem").write_text(pem)
    return pem


def mistake_lines(secure: SecurePlatform) -> dict[str, tuple[str, str]]:
    """Per mistake: (the line `pulumi preview` shows, the line `verify` shows)."""
    servers = secure.bootstrap_servers
    url = secure.schema_registry_url
    scram = f"SASL authentication failed for user k2infra (SCRAM-SHA-512) at {servers}: wrong password? "
    registry = f"Schema Registry at {url} refused the credentials of user k2-registry (HTTP 401): wrong password? "
    mechanism = (
        f"the brokers at {servers} do not offer SASL mechanism SCRAM-SHA-256 (k2infra:saslMechanism scram-sha256); "
        "they offer SCRAM-SHA-512: set k2infra:saslMechanism to scram-sha512"
    )
    no_tls = (
        f"the brokers at {servers} closed the connection at its first request: the listener expects TLS? "
        "(k2infra:tls is false: set k2infra:tls to true and k2infra:caCert to the brokers' CA)"
    )
    unknown_ca = (
        f"TLS certificate of the brokers at {servers} could not be verified (certificate verify failed): "
        "k2infra:caCert did not sign it; set k2infra:caCert to the CA of the brokers' certificates"
    )
    return {
        "wrong-scram-password": (
            scram + "(check k2infra:saslPassword and k2infra:saslUsername)",
            scram + "(check K2_SASL_PASSWORD and k2infra:saslUsername)",
        ),
        "wrong-sasl-mechanism": (mechanism, mechanism),
        "tls-off": (no_tls, no_tls),
        "unknown-ca": (unknown_ca, unknown_ca),
        "wrong-registry-password": (
            registry + "(check k2infra:schemaRegistryPassword or k2infra:schemaRegistryToken and "
            "k2infra:schemaRegistryUsername)",
            registry
            + "(check K2_SCHEMA_REGISTRY_PASSWORD or K2_SCHEMA_REGISTRY_TOKEN and k2infra:schemaRegistryUsername)",
        ),
    }


def make_mistake(project: PulumiProject, mistake: str, tmp_path: Path) -> dict[str, str]:
    """Set the wrong value as a user would; returns what `verify` takes from the environment instead."""
    wrong = f"wrong-{secrets.token_hex(8)}"  # random: pulumi masks a secret's value wherever it appears
    if mistake == "wrong-scram-password":
        project.set_secret("saslPassword", wrong)
        return {"K2_SASL_PASSWORD": wrong}
    if mistake == "wrong-sasl-mechanism":
        project.run("config", "set", "k2infra:saslMechanism", "scram-sha256")
    elif mistake == "tls-off":
        project.run("config", "set", "k2infra:tls", "false")
    elif mistake == "unknown-ca":
        # The PEM text, as the stack holds caCert (set in the file: `pulumi config set` takes a
        # value starting with dashes only after `--`, which the project helper cannot place).
        project.configure({"caCert": throwaway_ca(tmp_path)})
    elif mistake == "wrong-registry-password":
        project.set_secret("schemaRegistryPassword", wrong)
        return {"K2_SCHEMA_REGISTRY_PASSWORD": wrong}
    return {}


@pytest.fixture
def restored_stack_file(prod: PulumiProject, tmp_path: Path) -> Iterator[Path]:
    """The deployed stack file as it is now, put back after the test whatever happens."""
    stack_file = prod.dir / "Pulumi.prod.yaml"
    saved = tmp_path / "Pulumi.prod.yaml.saved"
    shutil.copy(stack_file, saved)
    try:
        yield stack_file
    finally:
        shutil.copy(saved, stack_file)


@pytest.mark.parametrize(
    "mistake", ["wrong-scram-password", "wrong-sasl-mechanism", "tls-off", "unknown-ca", "wrong-registry-password"]
)
def test_a_connection_mistake_is_one_clear_line_in_preview_and_verify_and_changes_nothing(
    prod: PulumiProject,
    secure: SecurePlatform,
    secure_admin: AdminClient,
    restored_stack_file: Path,
    tmp_path: Path,
    mistake: str,
) -> None:
    preview_line, verify_line = mistake_lines(secure)[mistake]
    verify_env = dict(secret_env(secure))
    refusal = refused(
        prod, secure_admin, verify_env, mistake, lambda: verify_env.update(make_mistake(prod, mistake, tmp_path))
    )
    assert error_lines(refusal.preview) == [preview_line], refusal.preview
    assert refusal.verify == [f"error: {verify_line}"]


def test_the_stack_file_is_back_as_deployed(prod: PulumiProject) -> None:
    """Each mistake was undone: the deployed stack previews without changes."""
    prod.run("preview", "--expect-no-changes", *POLICY)


# -- make up STACK=prod-local ---------------------------------------------------------------------------


def test_prod_local_configures_the_shipped_prod_stack_for_the_running_secure_cluster(
    pulumi_cli: str, secure: SecurePlatform, tmp_path: Path
) -> None:
    """`make up STACK=prod-local`'s configuration step (devkit/prod_local.configure), on the
    session's cluster: the stack it writes validates and previews under the policy pack. (The whole
    `make up STACK=prod-local` starts a cluster of its own at the default ports; docs/runbook.md §11
    has its measured run.)"""
    from devkit import prod_local

    project = PulumiProject.create(tmp_path / "project", prod_local.STACK, tmp_path / "backend")
    shutil.copy(REPO / "Pulumi.prod.yaml", project.dir)  # the shipped file prod-local is made from
    prod_local.configure(project.dir, secure.env, tmp_path / "state", project.driver)
    validated = run_k2infra(project, "validate", stack=prod_local.STACK, timeout=120)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    preview = project.preview(*POLICY)
    creates = preview.ops()
    assert creates[("create", "kafka:index/topic:Topic")] == len(planned_topics())
    assert creates[("create", "pulumi-python:dynamic/k2infra:SchemaSubject")] == 6
    assert {op for op, _ in creates} == {"create"}


# -- one broker down ----------------------------------------------------------------------------------


def add_new_exchange(project: PulumiProject) -> None:
    """Three new topics (RF 3 in prod) and nothing else: an edit of the project's topology alone."""
    project.edit_topology(
        lambda t: t["asset_classes"]["equities"]["exchanges"].update(
            {
                NEW_EXCHANGE: {
                    "name": "New York Stock Exchange",
                    "partitions": 6,
                    "country": "US",
                    "timezone": "America/New_York",
                }
            }
        )
    )


def verify_args(project: PulumiProject) -> tuple[str, ...]:
    # verify reads the topology of --config-dir: the project's copy, which a test may have edited.
    return ("verify", "--config-dir", str(project.dir / "config"))


@pytest.fixture(scope="class")
def node_3_down(prod: PulumiProject, secure: SecurePlatform) -> Iterator[None]:
    """Broker 3 stopped (data kept) for the class; started again whatever happens, so that the
    rest of the session finds three brokers."""
    secure.stop_broker(3)
    try:
        yield
    finally:
        secure.start_broker(3)


@pytest.mark.usefixtures("node_3_down")
class TestNodeThreeDown:
    def test_verify_names_every_prod_topic_under_replicated_and_exits_1(
        self, prod: PulumiProject, secure: SecurePlatform
    ) -> None:
        done, seconds = timed(lambda: run_k2infra(prod, *verify_args(prod), env=secret_env(secure)))
        print(f"verify with node 3 down: exit {done.returncode} in {seconds:.1f}s")
        assert done.returncode == 1, done.stdout + done.stderr
        assert seconds < VERIFY_BOUND
        rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("market.")}
        for topic, partitions in planned_topics().items():
            assert f"{partitions} of {partitions} partitions under-replicated" in rows[topic], done.stdout
        assert "brokers: 2 brokers are live (1, 2); node 3 holds replicas but is down or fenced" in done.stdout
        assert done.stdout.rstrip().endswith(f"verify: 6 differences: {len(planned_topics())} under-replicated topics")

    def test_acks_all_producers_still_write_to_every_prod_topic(
        self, prod: PulumiProject, secure: SecurePlatform
    ) -> None:
        producer = Producer(secure.admin_config(acks="all", **{"enable.idempotence": True}))
        failures: list[str] = []
        delivered: list[str] = []

        def report(error: Any, message: Any) -> None:
            (failures if error is not None else delivered).append(f"{message.topic()}: {error}")

        for topic in planned_topics():
            producer.produce(topic, key=b"BHP", value=b"tick", on_delivery=report)
        assert producer.flush(CALL) == 0
        assert failures == []
        assert len(delivered) == len(planned_topics())

    def test_a_new_exchange_is_refused_naming_the_live_brokers_and_changes_nothing(
        self, prod: PulumiProject, secure_admin: AdminClient
    ) -> None:
        state_before, topics_before = state_of(prod), topics_of(secure_admin)
        add_new_exchange(prod)
        start = time.monotonic()
        with pytest.raises(PulumiFailed) as refused:
            prod.up(*POLICY)
        seconds = time.monotonic() - start
        print(f"pulumi up of a new exchange with node 3 down: refused in {seconds:.1f}s")
        assert seconds < UP_BOUND
        output = refused.value.result.stdout + refused.value.result.stderr
        assert error_lines(output)[0] == (
            "refusing to create topics or partitions while brokers are down: replication factor 3 needs 3 live "
            "brokers; 2 brokers are live (1, 2); node 3 holds replicas but is down or fenced. Kafka would still "
            "place replicas on node 3, and the new partitions would start under-replicated. Start node 3 or wait "
            "until it rejoins, then run again; nothing was changed:"
        ), output
        for topic in NEW_TOPICS:
            assert f"{topic}: new topic, replication factor 3" in output
        assert state_of(prod) == state_before
        assert topics_of(secure_admin) == topics_before


def test_with_the_broker_back_the_same_up_converges_then_verify_and_preview_are_clean(
    prod: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient
) -> None:
    """Runs after TestNodeThreeDown (file order): broker 3 is back, the new exchange still planned."""
    assert sorted(secure_admin.list_topics(timeout=CALL).brokers) == [1, 2, 3]
    _, seconds = timed(lambda: prod.up(*POLICY))
    print(f"pulumi up with node 3 back: {seconds:.1f}s")
    topics = topics_of(secure_admin)
    for topic in NEW_TOPICS:
        assert {len(replicas) for _, replicas in topics[topic]} == {3}, topic
    # Node 3 catches up on what it missed: verify exits 0 once every ISR is whole again.
    deadline = time.monotonic() + 180
    while True:
        done = run_k2infra(prod, *verify_args(prod), env=secret_env(secure))
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert done.returncode == 0, done.stdout + done.stderr
    apps = len(yaml.safe_load((REPO / "config" / "kafka" / "apps.yaml").read_text())["apps"])
    assert done.stdout.rstrip().endswith(
        f"verify: {len(planned_topics()) + 3} topics, 6 subjects, ACLs and SCRAM users of {apps} apps: no drift"
    )
    prod.run("preview", "--expect-no-changes", *POLICY)
