"""A throwaway Kafka broker and Schema Registry in Docker, for dev stacks (`k2infra:localCluster: docker`).

The stack builds the project's own images with pulumi-docker (`RemoteImage` with a `build`):
tools/docker/kafka (one KRaft node) and tools/docker/registry (Apicurio Registry 3.x), from the same
Maven artifacts and versions (tools/versions.env) as tools/platform.sh. It runs them on one
user-defined network, with the broker's data on a named volume, both published on 127.0.0.1 at the
ports the stack's `bootstrapServers` and `schemaRegistryUrl` already name, so the Kafka provider and
the schema subjects reach them exactly as they would reach tools/platform.sh. Both containers carry
a healthcheck (a Kafka Metadata request; the registry's Confluent API) and are created with
wait=True: `pulumi up` moves on to topics and subjects only once both report healthy.

The images run on public bases by default (eclipse-temurin:21-jre, resolved on
maven:3.9-eclipse-temurin-21); K2_DOCKER_JAVA_BASE and K2_DOCKER_MAVEN_BASE name others, such as the
registry-free ones of tools/docker/images.sh. `pulumi destroy` removes containers, network and
volume and keeps the images (the layer cache of the next `pulumi up`).

The registry keeps its schemas in Kafka (Apicurio's kafkasql storage: the journal topics
k2-registry-journal/-snapshots/-events on the broker's volume, as tools/platform.sh does), so a
restarted registry container, or a restarted broker, comes back with every subject, version, ID
and compatibility level. The registry is created once the broker is healthy and creates those
topics itself with Apicurio's required settings (cleanup.policy=delete, infinite retention) and
the broker's defaults (one partition, one replica); they are outside `market.`, so no stack
declares, verifies or deletes them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import pulumi
import pulumi_docker as docker

from k2infra.model.connection import Connections
from k2infra.model.settings import NAMESPACE

JAVA_BASE = "eclipse-temurin:21-jre"
MAVEN_BASE = "maven:3.9-eclipse-temurin-21"
JAVA_BASE_ENV = "K2_DOCKER_JAVA_BASE"
MAVEN_BASE_ENV = "K2_DOCKER_MAVEN_BASE"

KAFKA_PORT = 9092  # inside the container, published on 127.0.0.1:<port of bootstrapServers>
KAFKA_INTERNAL_PORT = 29092  # other containers on the network (and the healthcheck) use kafka:29092
KAFKA_CONTROLLER_PORT = 9093  # KRaft controller, never published
KAFKA_DATA_DIR = "/var/lib/kafka/data"  # the named volume
REGISTRY_PORT = 8080  # Apicurio's HTTP port, published on 127.0.0.1:<port of schemaRegistryUrl>
KAFKA_HOSTNAME = "kafka"
REGISTRY_HOSTNAME = "registry"
# Fixed so that a re-created broker keeps the same identity (and its volume): base64url of a 16-byte UUID.
KAFKA_CLUSTER_ID = "inF_K1OTU_yHbupeakJN0Q"
HEALTHCHECK = "/usr/local/bin/k2-healthcheck"  # tools/docker/healthcheck.sh in both images

T = TypeVar("T", docker.ContainerLabelArgs, docker.NetworkLabelArgs, docker.VolumeLabelArgs)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
REGISTRY_PATHS = ("/apis/ccompat/v7", "/apis/ccompat/v6")  # where Apicurio serves the Confluent API
HEALTH_WAIT_SECONDS = 300  # create to healthy; the images are built before, by their own resources


@dataclass(frozen=True)
class ImageSpec:
    """One image the stack builds: name:tag, Dockerfile (relative to the tools/ context), build args
    and the files the build reads (their hash is the image's trigger: an edit rebuilds it)."""

    name: str
    dockerfile: str
    build_args: dict[str, str]
    sources: tuple[str, ...]


def tools_dir() -> Path:
    """The repository's tools/ directory (the images' build context), found upwards from this file so
    that it does not depend on where in the package the module lives."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "tools"
        if (candidate / "versions.env").is_file() and (candidate / "docker").is_dir():
            return candidate
    raise ValueError(f"localCluster docker: no tools/versions.env and tools/docker/ above {here}")


def read_versions(tools: Path) -> dict[str, str]:
    """tools/versions.env: the component versions tools/platform.sh runs (KEY=VALUE lines)."""
    values: dict[str, str] = {}
    for raw in (tools / "versions.env").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
    return values


def image_specs(tools: Path, java_base: str, maven_base: str) -> tuple[ImageSpec, ImageSpec]:
    versions = read_versions(tools)
    try:
        kafka_version = versions["K2_DEFAULT_KAFKA_VERSION"]
        apicurio_version = versions["K2_DEFAULT_APICURIO_VERSION"]
    except KeyError as exc:
        raise ValueError(f"localCluster docker: {tools / 'versions.env'} does not set {exc.args[0]}") from None
    bases = {"JAVA_BASE": java_base, "MAVEN_IMAGE": maven_base}
    shared = (".dockerignore", "docker/healthcheck.sh")
    kafka = ImageSpec(
        name=f"k2infra/kafka:{kafka_version}",
        dockerfile="docker/kafka/Dockerfile",
        build_args={"KAFKA_VERSION": kafka_version, **bases},
        sources=(*shared, "kafka/pom.xml", *_files(tools, "docker/kafka")),
    )
    registry = ImageSpec(
        name=f"k2infra/apicurio-registry:{apicurio_version}",
        dockerfile="docker/registry/Dockerfile",
        build_args={"APICURIO_VERSION": apicurio_version, **bases},
        sources=(*shared, "registry/pom.xml", *_files(tools, "docker/registry")),
    )
    return kafka, registry


def sources_hash(tools: Path, sources: tuple[str, ...]) -> str:
    """sha256 over the names and contents of the files an image is built from."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + (tools / name).read_bytes() + b"\0")
    return digest.hexdigest()


def _files(tools: Path, directory: str) -> tuple[str, ...]:
    return tuple(sorted(str(p.relative_to(tools)) for p in (tools / directory).rglob("*") if p.is_file()))


def provision_local_cluster(
    mode: Literal["none", "docker"], connections: Connections, parent: pulumi.Resource
) -> list[pulumi.Resource]:
    """When mode (k2infra:localCluster) is 'docker': a docker network, a volume, the two images (built)
    and the two containers, every one parented to `parent`. Returns the containers, which topics and
    subjects must depend on; returns [] when the mode is 'none'. Raises ValueError, naming the
    settings, when the stack's bootstrap servers or registry URL are not something a local container
    can serve."""
    if mode == "none":
        return []
    kafka_port, registry_port = local_ports(connections)
    stack = pulumi.get_stack()
    opts = pulumi.ResourceOptions(parent=parent)
    tools = tools_dir()
    kafka_spec, registry_spec = image_specs(
        tools, os.environ.get(JAVA_BASE_ENV) or JAVA_BASE, os.environ.get(MAVEN_BASE_ENV) or MAVEN_BASE
    )

    network = docker.Network(
        "local-network",
        name=f"k2infra-{stack}",
        driver="bridge",
        labels=_labels(docker.NetworkLabelArgs, stack, "network"),
        opts=opts,
    )
    kafka_data = docker.Volume(
        "local-kafka-data",
        name=f"k2infra-{stack}-kafka-data",
        labels=_labels(docker.VolumeLabelArgs, stack, "kafka"),
        opts=opts,
    )
    kafka_image = _image("local-kafka-image", tools, kafka_spec, opts)
    registry_image = _image("local-registry-image", tools, registry_spec, opts)

    kafka = docker.Container(
        "local-kafka",
        name=f"k2infra-{stack}-kafka",
        image=kafka_image.image_id,
        hostname=KAFKA_HOSTNAME,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=[KAFKA_HOSTNAME])],
        ports=[docker.ContainerPortArgs(internal=KAFKA_PORT, external=kafka_port, ip="127.0.0.1")],
        volumes=[docker.ContainerVolumeArgs(volume_name=kafka_data.name, container_path=KAFKA_DATA_DIR)],
        envs=kafka_env(kafka_port),
        # 127.0.0.1, not localhost: that may name ::1, which a container without IPv6 cannot reach.
        healthcheck=_healthcheck([HEALTHCHECK, "kafka", f"127.0.0.1:{KAFKA_INTERNAL_PORT}"]),
        wait=True,
        wait_timeout=HEALTH_WAIT_SECONDS,
        labels=_labels(docker.ContainerLabelArgs, stack, "kafka"),
        opts=opts,
    )
    registry = docker.Container(
        "local-registry",
        name=f"k2infra-{stack}-registry",
        image=registry_image.image_id,
        hostname=REGISTRY_HOSTNAME,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=[REGISTRY_HOSTNAME])],
        ports=[docker.ContainerPortArgs(internal=REGISTRY_PORT, external=registry_port, ip="127.0.0.1")],
        envs=registry_env(),
        # its storage is the broker: kafka must be healthy (wait=True) before the registry starts
        # The API the program uses, not just the process: ready means subjects can be registered.
        healthcheck=_healthcheck([HEALTHCHECK, "http", str(REGISTRY_PORT), f"{REGISTRY_PATHS[0]}/subjects"]),
        wait=True,
        wait_timeout=HEALTH_WAIT_SECONDS,
        labels=_labels(docker.ContainerLabelArgs, stack, "registry"),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[kafka])),
    )
    return [kafka, registry]


def _image(name: str, tools: Path, spec: ImageSpec, opts: pulumi.ResourceOptions) -> docker.RemoteImage:
    return docker.RemoteImage(
        name,
        name=spec.name,
        build=docker.RemoteImageBuildArgs(
            context=str(tools),
            dockerfile=spec.dockerfile,
            build_args=spec.build_args,
        ),
        # An edit of the Dockerfile, its scripts or the pom rebuilds the image (and so replaces the
        # container); unchanged layers come from the engine's build cache.
        triggers={"sources": sources_hash(tools, spec.sources)},
        # Destroy leaves the image: the next `pulumi up` builds from cache in seconds.
        keep_locally=True,
        opts=opts,
    )


def _healthcheck(command: list[str]) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        tests=["CMD", "/bin/bash", *command],
        # Durations as Go prints them ("3m0s", not "180s"), which is how the provider reads them
        # back: any other spelling is a change at every `pulumi up`.
        interval="2s",
        timeout="10s",
        # JVM start-up on a busy 2-core machine: failures in this window do not count.
        start_period="3m0s",
        retries=5,
    )


def local_ports(connections: Connections) -> tuple[int, int]:
    """(broker host port, registry host port) from the stack's connections, or ValueError naming every
    setting that a local cluster cannot serve."""
    kafka = connections.kafka
    problems: list[str] = []
    kafka_port = registry_port = 0

    servers = f"{NAMESPACE}:bootstrapServers"
    if not kafka.bootstrap_servers:
        problems.append(f"{servers} is required with localCluster docker (e.g. 127.0.0.1:19092)")
    else:
        ports: set[int] = set()
        for server in kafka.bootstrap_servers:
            host, _, port = server.rpartition(":")
            if host.strip("[]").lower() not in LOCAL_HOSTS:
                problems.append(
                    f"{servers} names {server!r}, which a local Docker cluster cannot serve: "
                    "use 127.0.0.1:<port> or localhost:<port>"
                )
            else:
                ports.add(int(port))
        if len(ports) > 1:
            problems.append(
                f"{servers} names several ports ({', '.join(map(str, sorted(ports)))}); "
                "the local cluster is a single broker on one port"
            )
        kafka_port = min(ports) if ports else 0

    url_key = f"{NAMESPACE}:schemaRegistryUrl"
    url = connections.registry.url
    if not url:
        problems.append(f"{url_key} is required with localCluster docker (e.g. http://127.0.0.1:18081/apis/ccompat/v7)")
    elif len(connections.registry.urls) > 1:
        problems.append(f"{url_key} names several registry nodes; the local cluster runs one registry")
    else:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if (parts.hostname or "").lower() not in LOCAL_HOSTS:
            problems.append(
                f"{url_key} is {url!r}, which a local Docker registry cannot serve: "
                "use http://127.0.0.1:<port>/apis/ccompat/v7"
            )
        elif parts.scheme != "http":
            problems.append(f"{url_key} is {url!r}: the local registry serves plain http, not {parts.scheme}")
        elif port is None:
            problems.append(f"{url_key} is {url!r}: give the host port explicitly (e.g. http://127.0.0.1:18081/...)")
        elif parts.path not in REGISTRY_PATHS:
            problems.append(
                f"{url_key} is {url!r}: Apicurio serves the Confluent API at "
                f"{REGISTRY_PATHS[0]}, so the URL must end with it"
            )
        else:
            registry_port = port

    if kafka.tls:
        problems.append(f"{NAMESPACE}:tls is true, but the local broker listens in plaintext")
    if kafka.sasl_mechanism:
        problems.append(f"{NAMESPACE}:saslMechanism is {kafka.sasl_mechanism}, but the local broker has no SASL")
    if kafka_port and kafka_port == registry_port:
        problems.append(f"{servers} and {url_key} both use port {kafka_port}; they need different host ports")

    if problems:
        raise ValueError("localCluster docker: " + "; ".join(problems))
    return kafka_port, registry_port


def kafka_env(host_port: int) -> list[str]:
    """KAFKA_* variables: the broker's whole configuration, which the image's entrypoint
    (tools/docker/kafka/entrypoint.sh) turns back into server.properties."""
    properties = kafka_properties(host_port)
    return [f"CLUSTER_ID={KAFKA_CLUSTER_ID}", *(f"{kafka_env_name(k)}={v}" for k, v in properties.items())]


def kafka_properties(host_port: int) -> dict[str, str]:
    """The broker's server.properties (mirrors tools/kafka/server.properties.in)."""
    return {
        "node.id": "1",
        "process.roles": "broker,controller",
        "controller.quorum.voters": f"1@localhost:{KAFKA_CONTROLLER_PORT}",
        "controller.listener.names": "CONTROLLER",
        # HOST: what the Kafka provider on the host uses (published port, advertised as the host sees it).
        # INTERNAL: inter-broker traffic, the healthcheck and other containers on the network.
        "listeners": f"HOST://0.0.0.0:{KAFKA_PORT},INTERNAL://0.0.0.0:{KAFKA_INTERNAL_PORT},"
        f"CONTROLLER://0.0.0.0:{KAFKA_CONTROLLER_PORT}",
        "advertised.listeners": f"HOST://127.0.0.1:{host_port},INTERNAL://{KAFKA_HOSTNAME}:{KAFKA_INTERNAL_PORT}",
        "listener.security.protocol.map": "HOST:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        "log.dirs": KAFKA_DATA_DIR,
        # Topics are created by Pulumi, never implicitly.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        # Internal topics on a single node.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }


def kafka_env_name(prop: str) -> str:
    """The entrypoint's mapping (apache/kafka's): '.' -> '_', '_' -> '__', '-' -> '___', upper case, KAFKA_ prefix."""
    return "KAFKA_" + "".join({".": "_", "_": "__", "-": "___"}.get(c, c) for c in prop).upper()


# The registry's journal topics (tools/platform.sh names the same ones): never under `market.`.
REGISTRY_TOPICS = ("k2-registry-journal", "k2-registry-snapshots", "k2-registry-events")


def registry_env() -> list[str]:
    journal, snapshots, events = REGISTRY_TOPICS
    return [
        # Schemas in Kafka (kafkasql): a registry restart keeps subjects, versions, IDs and rules.
        "APICURIO_STORAGE_KIND=kafkasql",
        f"APICURIO_KAFKASQL_BOOTSTRAP_SERVERS={KAFKA_HOSTNAME}:{KAFKA_INTERNAL_PORT}",
        f"APICURIO_KAFKASQL_TOPIC={journal}",
        f"APICURIO_KAFKASQL_SNAPSHOTS_TOPIC={snapshots}",
        f"APICURIO_EVENTS_KAFKA_TOPIC={events}",
        "APICURIO_KAFKASQL_CONSUMER_GROUP_PREFIX=k2-registry-",
        # Start-up scans two topics until a poll comes back empty: 1 s, not Apicurio's 5 s, per scan.
        "APICURIO_KAFKASQL_CONSUMER_POLL_TIMEOUT=1000",
        # hardDeleteSubjects (and destroying subjects at all) needs deletes enabled, as tools/platform.sh does.
        "APICURIO_REST_DELETION_GROUP_ENABLED=true",
        "APICURIO_REST_DELETION_ARTIFACT_ENABLED=true",
        "APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED=true",
    ]


def _labels(kind: type[T], stack: str, component: str) -> list[T]:
    """Labels that let `docker ps --filter label=k2infra.stack=dev` find what a stack started."""
    return [kind(label="k2infra.stack", value=stack), kind(label="k2infra.component", value=component)]
