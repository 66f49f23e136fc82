"""k2infra.deploy.local_cluster under Pulumi mocks (no Docker engine is needed, and none is used)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_docker as docker
import pytest
from pulumi.runtime.mocks import MockMonitor

from k2infra.deploy.local_cluster import (
    KAFKA_CLUSTER_ID,
    KAFKA_IMAGE,
    REGISTRY_IMAGE,
    kafka_env_name,
    local_ports,
    provision_local_cluster,
)
from k2infra.model.settings import StackSettings

NETWORK = "docker:index/network:Network"
IMAGE = "docker:index/remoteImage:RemoteImage"
CONTAINER = "docker:index/container:Container"
PARENT = "test:index:Parent"
STACK = "dev"

DEV = {
    "bootstrapServers": ["127.0.0.1:19092"],
    "schemaRegistryUrl": "http://127.0.0.1:18081/apis/ccompat/v7",
    "localCluster": "docker",
}


@dataclass
class Mocks(pulumi.runtime.Mocks):
    resources: list[pulumi.runtime.MockResourceArgs] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == IMAGE:
            outputs["imageId"] = f"sha256:{args.name}"  # what the provider reports after the pull
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def named(self, name: str) -> pulumi.runtime.MockResourceArgs:
        [found] = [r for r in self.resources if r.name == name]
        return found


class Parent(pulumi.ComponentResource):
    def __init__(self) -> None:
        super().__init__(PARENT, "parent")


@dataclass
class Provisioned:
    mocks: Mocks
    monitor: MockMonitor
    returned: list[pulumi.Resource]


def settings(**overrides: Any) -> StackSettings:
    return StackSettings.model_validate({**DEV, **overrides})


def provision(stack_settings: StackSettings) -> Provisioned:
    mocks = Mocks()
    monitor = MockMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="k2infra", stack=STACK, preview=False, monitor=monitor)
    holder: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> None:
        holder["returned"] = provision_local_cluster(stack_settings, Parent())

    program()  # returns once every registration has resolved
    return Provisioned(mocks, monitor, holder["returned"])


def env_of(args: pulumi.runtime.MockResourceArgs) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in args.inputs["envs"])


# -- localCluster: docker ----------------------------------------------------------------------


def test_registers_a_network_two_pinned_images_and_two_containers() -> None:
    run = provision(settings())
    assert sorted((r.typ, r.name) for r in run.mocks.resources if r.typ != PARENT) == [
        (CONTAINER, "local-kafka"),
        (CONTAINER, "local-registry"),
        (NETWORK, "local-network"),
        (IMAGE, "local-kafka-image"),
        (IMAGE, "local-registry-image"),
    ]
    assert run.mocks.named("local-kafka-image").inputs["name"] == "apache/kafka:3.9.1" == KAFKA_IMAGE
    assert run.mocks.named("local-registry-image").inputs["name"] == REGISTRY_IMAGE
    assert REGISTRY_IMAGE.startswith("apicurio/apicurio-registry:3.")
    assert ":latest" not in REGISTRY_IMAGE
    # Each container runs the image its RemoteImage pulled, on the stack's network.
    network = run.mocks.named("local-network").inputs["name"]
    assert network == f"k2infra-{STACK}"
    for container, image in (("local-kafka", "local-kafka-image"), ("local-registry", "local-registry-image")):
        inputs = run.mocks.named(container).inputs
        assert inputs["image"] == f"sha256:{image}"
        assert [n["name"] for n in inputs["networksAdvanced"]] == [network]
        assert inputs["name"].startswith(f"k2infra-{STACK}-")


def test_returns_the_two_containers_for_topics_and_subjects_to_depend_on() -> None:
    run = provision(settings())
    assert all(isinstance(r, docker.Container) for r in run.returned)
    assert len(run.returned) == 2
    # The returned objects are the registered kafka and registry containers.
    registered = run.monitor.get_registered_resources()
    containers = {urn.rsplit("::", 1)[1] for urn in registered if "container:Container" in urn}
    assert containers == {"local-kafka", "local-registry"}


def test_every_resource_is_parented_to_the_given_parent() -> None:
    run = provision(settings())
    docker_urns = [urn for urn in run.monitor.get_registered_resources() if "docker:index/" in urn]
    assert len(docker_urns) == 5
    for urn in docker_urns:
        assert f"::{PARENT}$docker:index/" in urn, urn


def test_ports_are_the_host_ports_of_the_stack_urls_bound_to_loopback() -> None:
    run = provision(settings())
    assert run.mocks.named("local-kafka").inputs["ports"] == [{"internal": 9092, "external": 19092, "ip": "127.0.0.1"}]
    assert run.mocks.named("local-registry").inputs["ports"] == [
        {"internal": 8080, "external": 18081, "ip": "127.0.0.1"}
    ]


def test_other_ports_follow_the_settings() -> None:
    run = provision(
        settings(bootstrapServers="localhost:29999", schemaRegistryUrl="http://localhost:28081/apis/ccompat/v7")
    )
    [kafka_port] = run.mocks.named("local-kafka").inputs["ports"]
    [registry_port] = run.mocks.named("local-registry").inputs["ports"]
    assert (kafka_port["external"], registry_port["external"]) == (29999, 28081)
    assert env_of(run.mocks.named("local-kafka"))["KAFKA_ADVERTISED_LISTENERS"].startswith("HOST://127.0.0.1:29999,")


def test_kafka_is_a_single_kraft_node_advertising_the_host_port() -> None:
    env = env_of(provision(settings()).mocks.named("local-kafka"))
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_NODE_ID"] == "1"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@localhost:9093"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert listeners["HOST"] == "0.0.0.0:9092"  # the published container port
    assert advertised["HOST"] == "127.0.0.1:19092"  # what clients on the host are told to use
    assert "CONTROLLER" not in advertised
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols) == set(listeners) and set(protocols.values()) == {"PLAINTEXT"}
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in listeners
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    # The image refuses to start in KRaft mode without one; it must be a base64url 16-byte UUID.
    assert env["CLUSTER_ID"] == KAFKA_CLUSTER_ID
    assert len(base64.urlsafe_b64decode(KAFKA_CLUSTER_ID + "==")) == 16
    assert not KAFKA_CLUSTER_ID.startswith("-")


def test_registry_uses_in_memory_storage_and_allows_deletes() -> None:
    env = env_of(provision(settings()).mocks.named("local-registry"))
    assert env["APICURIO_STORAGE_KIND"] == "sql"
    assert env["APICURIO_STORAGE_SQL_KIND"] == "h2"
    assert env["APICURIO_REST_DELETION_ARTIFACT_ENABLED"] == "true"
    assert env["APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED"] == "true"


@pytest.mark.parametrize("name", ["local-kafka", "local-registry"])
def test_containers_have_a_healthcheck_and_are_waited_for(name: str) -> None:
    inputs = provision(settings()).mocks.named(name).inputs
    check = inputs["healthcheck"]
    assert check["tests"][0] == "CMD-SHELL" and len(check["tests"]) == 2
    assert check["retries"] > 0 and check["interval"] and check["timeout"]
    assert inputs["wait"] is True
    # Long enough for the broker and the registry JVMs to come up.
    assert inputs["waitTimeout"] >= 120


def test_healthchecks_probe_the_services_the_program_uses() -> None:
    run = provision(settings())
    kafka_check = run.mocks.named("local-kafka").inputs["healthcheck"]["tests"][1]
    registry_check = run.mocks.named("local-registry").inputs["healthcheck"]["tests"][1]
    assert "kafka-broker-api-versions.sh" in kafka_check
    assert "localhost:8080/apis/ccompat/v7/subjects" in registry_check


# -- localCluster: none ------------------------------------------------------------------------


def test_none_registers_nothing_and_returns_no_dependencies() -> None:
    run = provision(settings(localCluster="none"))
    assert run.returned == []
    assert [r.typ for r in run.mocks.resources] == [PARENT]


def test_none_accepts_any_remote_cluster() -> None:
    run = provision(
        settings(
            localCluster="none",
            bootstrapServers="kafka-1.prod.internal:9093",
            schemaRegistryUrl="https://registry.prod.internal",
            tls=True,
        )
    )
    assert run.returned == []


def test_none_is_the_default() -> None:
    assert StackSettings.model_validate({}).local_cluster == "none"


# -- what a local cluster cannot serve --------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "setting", "detail"),
    [
        ({"bootstrapServers": ["kafka.internal:9092"]}, "k2infra:bootstrapServers", "'kafka.internal:9092'"),
        (
            {"bootstrapServers": ["127.0.0.1:19092", "10.0.0.7:19092"]},
            "k2infra:bootstrapServers",
            "'10.0.0.7:19092'",
        ),
        ({"bootstrapServers": ["127.0.0.1:19092", "127.0.0.1:19093"]}, "k2infra:bootstrapServers", "19092, 19093"),
        ({"bootstrapServers": []}, "k2infra:bootstrapServers", "required"),
        (
            {"schemaRegistryUrl": "http://registry.internal:8081/apis/ccompat/v7"},
            "k2infra:schemaRegistryUrl",
            "registry.internal",
        ),
        ({"schemaRegistryUrl": "https://127.0.0.1:18081/apis/ccompat/v7"}, "k2infra:schemaRegistryUrl", "https"),
        ({"schemaRegistryUrl": "http://127.0.0.1/apis/ccompat/v7"}, "k2infra:schemaRegistryUrl", "port"),
        ({"schemaRegistryUrl": "http://127.0.0.1:18081"}, "k2infra:schemaRegistryUrl", "/apis/ccompat/v7"),
        ({"schemaRegistryUrl": None}, "k2infra:schemaRegistryUrl", "required"),
        ({"schemaRegistryUrl": "http://127.0.0.1:19092/apis/ccompat/v7"}, "k2infra:schemaRegistryUrl", "19092"),
        ({"tls": True}, "k2infra:tls", "plaintext"),
        ({"saslMechanism": "plain", "saslUsername": "u"}, "k2infra:saslMechanism", "SASL"),
    ],
)
def test_settings_a_local_cluster_cannot_serve_raise_a_value_error_naming_them(
    overrides: dict[str, Any], setting: str, detail: str
) -> None:
    with pytest.raises(ValueError, match="localCluster docker") as caught:
        provision(settings(**overrides))
    assert setting in str(caught.value)
    assert detail in str(caught.value)


def test_nothing_is_registered_when_the_settings_are_refused() -> None:
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="k2infra", stack=STACK, preview=False)

    @pulumi.runtime.test
    def program() -> None:
        with pytest.raises(ValueError):
            provision_local_cluster(settings(bootstrapServers="kafka.internal:9092"), Parent())

    program()
    assert [r.typ for r in mocks.resources] == [PARENT]


def test_every_problem_is_reported_at_once() -> None:
    bad = settings(bootstrapServers="kafka.internal:9092", schemaRegistryUrl="http://registry.internal:8081")
    with pytest.raises(ValueError) as caught:
        local_ports(bad)
    assert "k2infra:bootstrapServers" in str(caught.value) and "k2infra:schemaRegistryUrl" in str(caught.value)


def test_local_ports_of_the_dev_stack() -> None:
    assert local_ports(settings()) == (19092, 18081)
    assert local_ports(settings(bootstrapServers="localhost:19092,127.0.0.1:19092")) == (19092, 18081)


@pytest.mark.parametrize(
    ("prop", "env"),
    [
        ("offsets.topic.replication.factor", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"),
        ("abc-def", "KAFKA_ABC___DEF"),
        ("abc_def", "KAFKA_ABC__DEF"),
    ],
)
def test_kafka_env_names_follow_the_image_convention(prop: str, env: str) -> None:
    assert kafka_env_name(prop) == env
