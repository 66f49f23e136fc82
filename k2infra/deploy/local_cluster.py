"""A throwaway Kafka broker and Schema Registry in Docker, for dev stacks (`k2infra:localCluster: docker`).

One user-defined network, a single-node KRaft broker (apache/kafka) and an Apicurio Registry 3.x with
in-memory storage (apicurio/apicurio-registry), both published on 127.0.0.1 at the ports the stack's
`bootstrapServers` and `schemaRegistryUrl` already name, so the Kafka provider and the schema subjects
reach them exactly as they would reach tools/platform.sh. Both containers carry a healthcheck and are
created with wait=True: `pulumi up` moves on to topics and subjects only once both report healthy.

The registry keeps its schemas in memory: a restarted container comes back empty, and
`pulumi refresh` (or `pulumi up --refresh`) puts the subjects back.
"""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import urlsplit

import pulumi
import pulumi_docker as docker

from k2infra.model.settings import NAMESPACE, StackSettings

KAFKA_IMAGE = "apache/kafka:3.9.1"
REGISTRY_IMAGE = "apicurio/apicurio-registry:3.3.3"  # the version tools/platform.sh runs

KAFKA_PORT = 9092  # inside the container, published on 127.0.0.1:<port of bootstrapServers>
KAFKA_INTERNAL_PORT = 29092  # other containers on the network (and the healthcheck) use kafka:29092
KAFKA_CONTROLLER_PORT = 9093  # KRaft controller, never published
REGISTRY_PORT = 8080  # Apicurio's HTTP port, published on 127.0.0.1:<port of schemaRegistryUrl>
KAFKA_HOSTNAME = "kafka"
REGISTRY_HOSTNAME = "registry"
# Fixed so that a re-created broker keeps the same identity: base64url of a 16-byte UUID.
KAFKA_CLUSTER_ID = "inF_K1OTU_yHbupeakJN0Q"

T = TypeVar("T", docker.ContainerLabelArgs, docker.NetworkLabelArgs)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
REGISTRY_PATHS = ("/apis/ccompat/v7", "/apis/ccompat/v6")  # where Apicurio serves the Confluent API
HEALTH_WAIT_SECONDS = 300  # create to healthy; images are pulled before, by their own resources


def provision_local_cluster(settings: StackSettings, parent: pulumi.Resource) -> list[pulumi.Resource]:
    """When settings.local_cluster == 'docker': a docker network, the two images and the two containers,
    every one parented to `parent`. Returns the containers, which topics and subjects must depend on;
    returns [] when local_cluster == 'none'. Raises ValueError, naming the settings, when the stack's
    bootstrap servers or registry URL are not something a local container can serve."""
    if settings.local_cluster == "none":
        return []
    kafka_port, registry_port = local_ports(settings)
    stack = pulumi.get_stack()
    opts = pulumi.ResourceOptions(parent=parent)

    network = docker.Network(
        "local-network",
        name=f"k2infra-{stack}",
        driver="bridge",
        labels=_labels(docker.NetworkLabelArgs, stack, "network"),
        opts=opts,
    )
    kafka_image = docker.RemoteImage("local-kafka-image", name=KAFKA_IMAGE, keep_locally=True, opts=opts)
    registry_image = docker.RemoteImage("local-registry-image", name=REGISTRY_IMAGE, keep_locally=True, opts=opts)

    kafka = docker.Container(
        "local-kafka",
        name=f"k2infra-{stack}-kafka",
        image=kafka_image.image_id,
        hostname=KAFKA_HOSTNAME,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=[KAFKA_HOSTNAME])],
        ports=[docker.ContainerPortArgs(internal=KAFKA_PORT, external=kafka_port, ip="127.0.0.1")],
        envs=kafka_env(kafka_port),
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=[
                "CMD-SHELL",
                "/opt/kafka/bin/kafka-broker-api-versions.sh "
                f"--bootstrap-server localhost:{KAFKA_INTERNAL_PORT} >/dev/null 2>&1",
            ],
            interval="5s",
            timeout="20s",
            start_period="10s",
            retries=30,
        ),
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
        healthcheck=docker.ContainerHealthcheckArgs(
            # The API the program uses, not just the process: ready means subjects can be registered.
            tests=["CMD-SHELL", f"curl -sf http://localhost:{REGISTRY_PORT}/apis/ccompat/v7/subjects >/dev/null"],
            interval="5s",
            timeout="5s",
            start_period="10s",
            retries=30,
        ),
        wait=True,
        wait_timeout=HEALTH_WAIT_SECONDS,
        labels=_labels(docker.ContainerLabelArgs, stack, "registry"),
        opts=opts,
    )
    return [kafka, registry]


def local_ports(settings: StackSettings) -> tuple[int, int]:
    """(broker host port, registry host port) from the stack's settings, or ValueError naming every
    setting that a local cluster cannot serve."""
    problems: list[str] = []
    kafka_port = registry_port = 0

    servers = f"{NAMESPACE}:bootstrapServers"
    if not settings.bootstrap_servers:
        problems.append(f"{servers} is required with localCluster docker (e.g. 127.0.0.1:19092)")
    else:
        ports: set[int] = set()
        for server in settings.bootstrap_servers:
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
    url = settings.schema_registry_url
    if not url:
        problems.append(f"{url_key} is required with localCluster docker (e.g. http://127.0.0.1:18081/apis/ccompat/v7)")
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

    if settings.tls:
        problems.append(f"{NAMESPACE}:tls is true, but the local broker listens in plaintext")
    if settings.sasl_mechanism:
        problems.append(f"{NAMESPACE}:saslMechanism is {settings.sasl_mechanism}, but the local broker has no SASL")
    if kafka_port and kafka_port == registry_port:
        problems.append(f"{servers} and {url_key} both use port {kafka_port}; they need different host ports")

    if problems:
        raise ValueError("localCluster docker: " + "; ".join(problems))
    return kafka_port, registry_port


def kafka_env(host_port: int) -> list[str]:
    """KAFKA_* variables for apache/kafka. Given any of them, the image ignores its bundled
    server.properties, so this is the broker's whole configuration (mirrors tools/kafka/server.properties.in)."""
    properties = {
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
        "log.dirs": "/tmp/kraft-combined-logs",
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
    return [f"CLUSTER_ID={KAFKA_CLUSTER_ID}", *(f"{kafka_env_name(k)}={v}" for k, v in properties.items())]


def kafka_env_name(prop: str) -> str:
    """apache/kafka's mapping: '.' -> '_', '_' -> '__', '-' -> '___', upper case, KAFKA_ prefix."""
    return "KAFKA_" + "".join({".": "_", "_": "__", "-": "___"}.get(c, c) for c in prop).upper()


def registry_env() -> list[str]:
    return [
        # In-memory H2 (3.x's default, said explicitly): nothing to persist on a dev machine.
        "APICURIO_STORAGE_KIND=sql",
        "APICURIO_STORAGE_SQL_KIND=h2",
        # hardDeleteSubjects (and destroying subjects at all) needs deletes enabled, as tools/platform.sh does.
        "APICURIO_REST_DELETION_GROUP_ENABLED=true",
        "APICURIO_REST_DELETION_ARTIFACT_ENABLED=true",
        "APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED=true",
    ]


def _labels(kind: type[T], stack: str, component: str) -> list[T]:
    """Labels that let `docker ps --filter label=k2infra.stack=dev` find what a stack started."""
    return [kind(label="k2infra.stack", value=stack), kind(label="k2infra.component", value=component)]
