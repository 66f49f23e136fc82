"""k2infra.deploy.local_cluster: what the stack declares for `localCluster: docker`, under Pulumi mocks.

Mocks prove the wiring (which resources, built from what, connected how, refused when) and nothing
about Docker: that the images build, the containers become healthy, the ports answer and destroy
leaves nothing behind is tests/e2e/test_docker_cluster.py, with a real engine and the real CLI.
The image entrypoint's env -> server.properties mapping is run here for real (a stand-in `java`).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_docker as docker
import pytest
from pulumi.runtime.mocks import MockMonitor

from k2infra.deploy.local_cluster import (
    JAVA_BASE,
    JAVA_BASE_ENV,
    KAFKA_CLUSTER_ID,
    KAFKA_DATA_DIR,
    MAVEN_BASE,
    MAVEN_BASE_ENV,
    image_specs,
    kafka_env,
    kafka_env_name,
    kafka_properties,
    local_ports,
    provision_local_cluster,
    read_versions,
    sources_hash,
    tools_dir,
)
from k2infra.model.settings import StackSettings
from k2infra.model.stack import connections_of

REPO = Path(__file__).resolve().parents[2]
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
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
            outputs["imageId"] = f"sha256:{args.name}"  # what the provider reports after the build
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
        holder["returned"] = provision_local_cluster(
            stack_settings.local_cluster, connections_of(stack_settings), Parent()
        )

    program()  # returns once every registration has resolved
    return Provisioned(mocks, monitor, holder["returned"])


def env_of(args: pulumi.runtime.MockResourceArgs) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in args.inputs["envs"])


@pytest.fixture(autouse=True)
def public_bases(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults, whatever the shell running the tests exports."""
    monkeypatch.delenv(JAVA_BASE_ENV, raising=False)
    monkeypatch.delenv(MAVEN_BASE_ENV, raising=False)


# -- localCluster: docker ----------------------------------------------------------------------


def test_registers_a_network_a_volume_two_built_images_and_two_containers_wired_together() -> None:
    run = provision(settings())
    assert sorted((r.typ, r.name) for r in run.mocks.resources if r.typ != PARENT) == [
        (CONTAINER, "local-kafka"),
        (CONTAINER, "local-registry"),
        (NETWORK, "local-network"),
        (IMAGE, "local-kafka-image"),
        (IMAGE, "local-registry-image"),
        (VOLUME, "local-kafka-data"),
    ]
    network = run.mocks.named("local-network").inputs["name"]
    assert network == f"k2infra-{STACK}"
    for container, image in (("local-kafka", "local-kafka-image"), ("local-registry", "local-registry-image")):
        inputs = run.mocks.named(container).inputs
        assert inputs["image"] == f"sha256:{image}"  # the id of the image the stack built
        assert [n["name"] for n in inputs["networksAdvanced"]] == [network]
        assert inputs["name"].startswith(f"k2infra-{STACK}-")
    # The broker's data lives on the stack's volume, where its log.dirs points.
    volume = run.mocks.named("local-kafka-data").inputs["name"]
    [mount] = run.mocks.named("local-kafka").inputs["volumes"]
    assert mount == {"volumeName": volume, "containerPath": KAFKA_DATA_DIR}
    assert env_of(run.mocks.named("local-kafka"))["KAFKA_LOG_DIRS"] == KAFKA_DATA_DIR


def test_images_are_built_from_the_repository_dockerfiles_at_the_versions_platform_sh_runs() -> None:
    run = provision(settings())
    versions = read_versions(REPO / "tools")
    kafka = run.mocks.named("local-kafka-image").inputs
    registry = run.mocks.named("local-registry-image").inputs
    assert kafka["name"] == f"k2infra/kafka:{versions['K2_DEFAULT_KAFKA_VERSION']}"
    assert registry["name"] == f"k2infra/apicurio-registry:{versions['K2_DEFAULT_APICURIO_VERSION']}"
    for image, arg, key in ((kafka, "KAFKA_VERSION", "kafka"), (registry, "APICURIO_VERSION", "registry")):
        build = image["build"]
        assert Path(build["context"]) == REPO / "tools"
        assert (Path(build["context"]) / build["dockerfile"]).is_file()
        assert build["dockerfile"] == f"docker/{key}/Dockerfile"
        assert build["buildArgs"][arg] == image["name"].rsplit(":", 1)[1]
        assert build["buildArgs"]["JAVA_BASE"] == JAVA_BASE == "eclipse-temurin:21-jre"
        assert build["buildArgs"]["MAVEN_IMAGE"] == MAVEN_BASE
        assert image["keepLocally"] is True
        assert len(image["triggers"]["sources"]) == 64
    # platform.sh reads the same file for its defaults.
    assert '. "$TOOLS_SRC/versions.env"' in (REPO / "tools" / "platform.sh").read_text()


def test_the_bases_come_from_the_environment_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(JAVA_BASE_ENV, "k2infra/jre-base:local")
    monkeypatch.setenv(MAVEN_BASE_ENV, "k2infra/maven-base:local")
    run = provision(settings())
    for name in ("local-kafka-image", "local-registry-image"):
        args = run.mocks.named(name).inputs["build"]["buildArgs"]
        assert (args["JAVA_BASE"], args["MAVEN_IMAGE"]) == ("k2infra/jre-base:local", "k2infra/maven-base:local")


def test_an_edit_of_any_file_an_image_is_built_from_changes_its_trigger(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    shutil.copytree(REPO / "tools", tools, ignore=shutil.ignore_patterns("pulumi", "*-provider"))
    kafka, registry = image_specs(tools, JAVA_BASE, MAVEN_BASE)
    assert {"kafka/pom.xml", "docker/healthcheck.sh", "docker/kafka/Dockerfile", "docker/kafka/entrypoint.sh"} <= set(
        kafka.sources
    )
    assert {"registry/pom.xml", "docker/registry/Dockerfile"} <= set(registry.sources)
    before = {spec.name: sources_hash(tools, spec.sources) for spec in (kafka, registry)}
    with (tools / "docker" / "kafka" / "entrypoint.sh").open("a") as script:
        script.write("\n# edited\n")
    after = {spec.name: sources_hash(tools, spec.sources) for spec in (kafka, registry)}
    assert after[kafka.name] != before[kafka.name]
    assert after[registry.name] == before[registry.name]  # the registry image is not rebuilt


def test_returns_the_two_containers_for_topics_and_subjects_to_depend_on() -> None:
    run = provision(settings())
    assert len(run.returned) == 2 and all(isinstance(r, docker.Container) for r in run.returned)
    registered = run.monitor.get_registered_resources()
    containers = {urn.rsplit("::", 1)[1] for urn in registered if "container:Container" in urn}
    assert containers == {"local-kafka", "local-registry"}


def test_every_resource_is_parented_to_the_given_parent() -> None:
    run = provision(settings())
    docker_urns = [urn for urn in run.monitor.get_registered_resources() if "docker:index/" in urn]
    assert len(docker_urns) == 6
    for urn in docker_urns:
        assert f"::{PARENT}$docker:index/" in urn, urn


@pytest.mark.parametrize("name", ["local-kafka", "local-registry"])
def test_containers_are_created_only_once_their_healthcheck_passes(name: str) -> None:
    inputs = provision(settings()).mocks.named(name).inputs
    assert inputs["healthcheck"]["tests"][:3] == ["CMD", "/bin/bash", "/usr/local/bin/k2-healthcheck"]
    assert inputs["wait"] is True and inputs["waitTimeout"] >= 120


def test_ports_are_the_host_ports_of_the_stack_urls_bound_to_loopback() -> None:
    run = provision(
        settings(bootstrapServers="localhost:29999", schemaRegistryUrl="http://localhost:28081/apis/ccompat/v7")
    )
    assert run.mocks.named("local-kafka").inputs["ports"] == [{"internal": 9092, "external": 29999, "ip": "127.0.0.1"}]
    assert run.mocks.named("local-registry").inputs["ports"] == [
        {"internal": 8080, "external": 28081, "ip": "127.0.0.1"}
    ]
    assert env_of(run.mocks.named("local-kafka"))["KAFKA_ADVERTISED_LISTENERS"].startswith("HOST://127.0.0.1:29999,")


def test_kafka_is_a_single_kraft_node_advertising_the_host_port() -> None:
    props = kafka_properties(19092)
    assert props["process.roles"] == "broker,controller"
    listeners = dict(item.split("://") for item in props["listeners"].split(","))
    advertised = dict(item.split("://") for item in props["advertised.listeners"].split(","))
    assert listeners["HOST"] == "0.0.0.0:9092"  # the published container port
    assert advertised["HOST"] == "127.0.0.1:19092"  # what clients on the host are told to use
    assert "CONTROLLER" not in advertised
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    assert set(protocols) == set(listeners) and set(protocols.values()) == {"PLAINTEXT"}
    assert props["auto.create.topics.enable"] == "false"
    assert len(base64.urlsafe_b64decode(KAFKA_CLUSTER_ID + "==")) == 16


def test_the_image_entrypoint_turns_the_stack_env_back_into_the_same_server_properties(tmp_path: Path) -> None:
    """tools/docker/kafka/entrypoint.sh, run for real with a stand-in `java` that records its calls."""
    home = tmp_path / "kafka"
    (home / "config").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "java-calls"
    fake_java = bin_dir / "java"
    fake_java.write_text(f'#!/bin/sh\necho "$*" >>{calls}\n')
    fake_java.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "KAFKA_HOME": str(home)}
    env.update(entry.split("=", 1) for entry in kafka_env(19092))
    result = subprocess.run(
        ["bash", str(REPO / "tools" / "docker" / "kafka" / "entrypoint.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    written = dict(
        line.split("=", 1) for line in (home / "config" / "server.properties").read_text().splitlines() if line
    )
    assert written == kafka_properties(19092)
    format_call, run_call = calls.read_text().splitlines()
    assert "kafka.tools.StorageTool format --ignore-formatted" in format_call
    assert f"-t {KAFKA_CLUSTER_ID}" in format_call
    assert run_call.endswith(f"kafka.Kafka {home}/config/server.properties")


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
            bad = settings(bootstrapServers="kafka.internal:9092")
            provision_local_cluster(bad.local_cluster, connections_of(bad), Parent())

    program()
    assert [r.typ for r in mocks.resources] == [PARENT]


def test_every_problem_is_reported_at_once() -> None:
    bad = settings(bootstrapServers="kafka.internal:9092", schemaRegistryUrl="http://registry.internal:8081")
    with pytest.raises(ValueError) as caught:
        local_ports(connections_of(bad))
    assert "k2infra:bootstrapServers" in str(caught.value) and "k2infra:schemaRegistryUrl" in str(caught.value)


def test_local_ports_of_the_dev_stack() -> None:
    assert local_ports(connections_of(settings())) == (19092, 18081)
    both = settings(bootstrapServers="localhost:19092,127.0.0.1:19092")
    assert local_ports(connections_of(both)) == (19092, 18081)


def test_the_build_context_is_found_from_the_module_wherever_it_lives() -> None:
    assert tools_dir() == REPO / "tools"


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


def test_the_registry_keeps_its_schemas_in_the_brokers_journal_topics_outside_market() -> None:
    env = env_of(provision(settings()).mocks.named("local-registry"))
    assert env["APICURIO_STORAGE_KIND"] == "kafkasql"  # not the in-memory H2 a restart empties
    assert env["APICURIO_KAFKASQL_BOOTSTRAP_SERVERS"] == "kafka:29092"  # the broker's network listener
    topics = [
        env["APICURIO_KAFKASQL_TOPIC"],
        env["APICURIO_KAFKASQL_SNAPSHOTS_TOPIC"],
        env["APICURIO_EVENTS_KAFKA_TOPIC"],
    ]
    assert len(set(topics)) == 3 and not any(t.startswith("market.") for t in topics)
