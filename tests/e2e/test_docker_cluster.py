"""`k2infra:localCluster: docker` for real: a Docker engine, the Pulumi CLI, the docker and Kafka
provider plugins and the confluent-kafka client; no mock and no tools/platform.sh platform.

The tests of this module run in order on one stack, as a developer would: `pulumi up` from nothing
(images built, network, volume and containers created, topics and subjects in them), a record
through a topic, `python -m k2infra verify`, a second `pulumi up` that changes nothing, and
`pulumi destroy` leaving no container, network or volume behind.

The engine is tools/docker/engine.sh's (the one that answers, or one started for the session and
stopped after it); the images build on the registry-free bases of tools/docker/images.sh. A missing
engine, base or plugin makes the tests fail, never skip.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import fastavro
import pytest
import requests
import yaml
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from devkit.pulumi_project import REPO, PulumiProject
from tests.e2e.registry_support import registry_state, wait_for_state

pytestmark = pytest.mark.e2e

STACK = "e2edocker"  # container names k2infra-e2edocker-*, labels k2infra.stack=e2edocker
ENGINE_SH = REPO / "tools" / "docker" / "engine.sh"
IMAGES_SH = REPO / "tools" / "docker" / "images.sh"
DOCKER_PLUGIN_VERSION = "5.2.0"
TOPICS = sorted(
    f"market.{ac}.{dt_}.{ex}"
    for ac, ex in (("equities", "asx"), ("crypto", "binance"))
    for dt_ in ("trades", "quotes", "reference_data")
)
SUBJECTS = sorted(
    f"market.{ac}.{dt_}-value" for ac in ("equities", "crypto") for dt_ in ("trades", "quotes", "reference_data")
)
# Bounds: first `pulumi up` builds both images (Maven resolution inside the build) and waits for
# two JVMs to report healthy; everything after runs on the build cache.
FIRST_UP_TIMEOUT = 1500
STEP_TIMEOUT = 600
DOCKER_TIMEOUT = 60


def timed(label: str, durations: dict[str, float], action, *args, **kwargs):
    start = time.monotonic()
    try:
        return action(*args, **kwargs)
    finally:
        durations[label] = round(time.monotonic() - start, 1)
        print(f"[docker e2e] {label}: {durations[label]}s", file=sys.stderr)


def run_script(script: Path, *args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{script.name} {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def docker(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, timeout=DOCKER_TIMEOUT, check=False
    )
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout


def labelled(kind: str, env: dict[str, str]) -> list[str]:
    """Names of the containers / networks / volumes the stack's labels mark."""
    listing, fmt = {
        "container": (["ps", "-a"], "{{.Names}}"),
        "network": (["network", "ls"], "{{.Name}}"),
        "volume": (["volume", "ls"], "{{.Name}}"),
    }[kind]
    out = docker(*listing, "--filter", f"label=k2infra.stack={STACK}", "--format", fmt, env=env)
    return sorted(line for line in out.splitlines() if line)


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def engine_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of a Docker engine that answers, with the local bases named in it."""
    state = tmp_path_factory.mktemp("engine")
    env = dict(os.environ)
    run_script(ENGINE_SH, "start", "--state-dir", str(state), env=env, timeout=600)
    try:
        for line in run_script(ENGINE_SH, "env", "--state-dir", str(state), env=env, timeout=60).stdout.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        # No image registry here: the Dockerfiles run on bases built from Debian's mirror.
        run_script(IMAGES_SH, "base", env=env, timeout=1200)
        for line in run_script(IMAGES_SH, "env", env=env, timeout=60).stdout.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        yield env
    finally:
        # Stops the engine only if this fixture started it (engine.sh keeps track).
        run_script(ENGINE_SH, "stop", "--state-dir", str(state), env=env, timeout=120)


@pytest.fixture(scope="module")
def durations() -> Iterator[dict[str, float]]:
    measured: dict[str, float] = {}
    yield measured
    print(f"[docker e2e] durations: {json.dumps(measured)}", file=sys.stderr)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str, engine_env: dict[str, str]):
    plugins = json.loads(subprocess.run(["pulumi", "plugin", "ls", "--json"], capture_output=True, text=True).stdout)
    if not any(p["name"] == "docker" and p["version"].startswith(DOCKER_PLUGIN_VERSION) for p in plugins):
        pytest.fail(f"the docker provider plugin {DOCKER_PLUGIN_VERSION} is not installed: run `make tools-docker`")
    # A run killed before its teardown leaves this module's objects (and their fixed names) behind.
    remove_labelled(engine_env, "left by an earlier run")
    kafka_port, registry_port = free_ports(2)
    root = tmp_path_factory.mktemp("docker-cluster")
    project = PulumiProject.create(root / "project", STACK, root / "backend")
    project.env.update({k: engine_env[k] for k in ("DOCKER_HOST", "K2_DOCKER_JAVA_BASE", "K2_DOCKER_MAVEN_BASE")})
    project.configure(
        {
            "localCluster": "docker",
            "replicationFactor": 1,
            "minInsyncReplicas": 1,
            "partitions": {"equities.asx": 3, "crypto.binance": 4},
            "bootstrapServers": f"127.0.0.1:{kafka_port}",
            "tls": False,
            "schemaRegistryUrl": f"http://127.0.0.1:{registry_port}/apis/ccompat/v7",
            "schemaCompatibility": "BACKWARD",
            "hardDeleteSubjects": True,
        }
    )
    yield project
    project.run("destroy", "--yes", "--skip-preview", check=False, timeout=STEP_TIMEOUT)
    remove_labelled(engine_env, "left by a failed test")


def remove_labelled(env: dict[str, str], why: str) -> None:
    """Remove this module's containers, networks and volumes (by its stack label only: nothing else
    on the engine is touched)."""
    for kind, remove in (("container", ["rm", "-f"]), ("network", ["network", "rm"]), ("volume", ["volume", "rm"])):
        names = labelled(kind, env)
        if names:
            print(f"[docker e2e] removing {kind}s {why}: {names}", file=sys.stderr)
            docker(*remove, *names, env=env)


def inspect(name: str, env: dict[str, str]) -> dict:
    [info] = json.loads(docker("inspect", name, env=env))
    return info


def test_1_up_from_nothing_builds_runs_and_deploys_into_healthy_containers(
    cluster: PulumiProject, engine_env: dict[str, str], durations: dict[str, float]
) -> None:
    preview = cluster.preview()
    created = {step["urn"].rsplit("::", 1)[1] for step in preview.steps if step["op"] == "create"}
    assert {"local-kafka", "local-registry", "local-network", "local-kafka-data"} <= created, preview.raw

    timed(
        "first pulumi up (image builds + containers + topics/subjects)",
        durations,
        cluster.run,
        "up",
        "--yes",
        "--skip-preview",
        timeout=FIRST_UP_TIMEOUT,
    )

    assert labelled("container", engine_env) == [f"k2infra-{STACK}-kafka", f"k2infra-{STACK}-registry"]
    assert labelled("network", engine_env) == [f"k2infra-{STACK}"]
    assert labelled("volume", engine_env) == [f"k2infra-{STACK}-kafka-data"]
    outputs = cluster.outputs()
    bootstrap, registry_url = outputs["bootstrap_servers"], outputs["schema_registry_url"]
    for name, url_port in (
        ("kafka", bootstrap.rsplit(":", 1)[1]),
        ("registry", registry_url.split(":")[2].split("/")[0]),
    ):
        info = inspect(f"k2infra-{STACK}-{name}", engine_env)
        assert info["State"]["Running"] and info["State"]["Health"]["Status"] == "healthy"
        [binding] = [b for bindings in info["HostConfig"]["PortBindings"].values() for b in bindings]
        assert binding == {"HostIp": "127.0.0.1", "HostPort": url_port}
    kafka_info = inspect(f"k2infra-{STACK}-kafka", engine_env)
    assert [m["Name"] for m in kafka_info["Mounts"]] == [f"k2infra-{STACK}-kafka-data"]

    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=15)
    live = {n: len(t.partitions) for n, t in metadata.topics.items() if n.startswith("market.")}
    assert live == {n: 1 if "reference_data" in n else (3 if "asx" in n else 4) for n in TOPICS}
    subjects = requests.get(f"{registry_url}/subjects", timeout=10).json()
    assert sorted(s for s in subjects if s.startswith("market.")) == SUBJECTS


def test_2_an_avro_record_round_trips_through_a_topic(cluster: PulumiProject) -> None:
    outputs = cluster.outputs()
    bootstrap, registry_url = outputs["bootstrap_servers"], outputs["schema_registry_url"]
    topic, subject = "market.equities.trades.asx", "market.equities.trades-value"
    schema_id = outputs["schemas"][subject]["id"]
    # The writer's schema as the registry holds it under the id the stack exported.
    schema = fastavro.parse_schema(
        json.loads(requests.get(f"{registry_url}/schemas/ids/{schema_id}", timeout=10).json()["schema"])
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=123456)
    trade = {
        "symbol": "BHP",
        "exchange": "asx",
        "isin": "AU000000BHP4",
        "venue": "XASX",
        "trade_id": f"e2e-{uuid.uuid4().hex[:8]}",
        "price": decimal.Decimal("45.120000"),
        "quantity": 1200,
        "currency": "AUD",
        "aggressor_side": "BUY",
        "conditions": [],
        "event_timestamp": now,
        "ingest_timestamp": now,
        "sequence_number": 42,
    }
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema, trade)
    value = b"\x00" + struct.pack(">I", schema_id) + body.getvalue()  # Confluent wire format

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    delivered: list = []
    producer.produce(topic, key=b"BHP", value=value, on_delivery=lambda err, msg: delivered.append((err, msg)))
    assert producer.flush(30) == 0
    [(error, message)] = delivered
    assert error is None, error

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"e2e-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    try:
        consumer.subscribe([topic])
        received = None
        deadline = time.monotonic() + 60
        while received is None and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None and msg.value() == value:
                received = msg
    finally:
        consumer.close()
    assert received is not None, "the record did not come back within 60 s"
    assert received.key() == b"BHP" and received.partition() == message.partition()
    raw = received.value()
    assert raw[0] == 0 and struct.unpack(">I", raw[1:5])[0] == schema_id
    decoded = fastavro.schemaless_reader(io.BytesIO(raw[5:]), schema, schema)
    assert decoded == trade


def test_3_verify_finds_no_drift(cluster: PulumiProject) -> None:
    result = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "python"),
            "-m",
            "k2infra",
            "verify",
            "--stack",
            STACK,
            "--project-dir",
            str(cluster.dir),
            "--config-dir",
            str(cluster.dir / "config"),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["differences"] == []
    assert len(report["topics"]) == len(TOPICS) and len(report["subjects"]) == len(SUBJECTS)


def test_4_a_second_up_changes_nothing(cluster: PulumiProject, durations: dict[str, float]) -> None:
    timed(
        "second pulumi up --expect-no-changes",
        durations,
        cluster.run,
        "up",
        "--yes",
        "--expect-no-changes",
        timeout=STEP_TIMEOUT,
    )


def test_4b_a_restarted_registry_container_keeps_every_subject_version_and_id(
    cluster: PulumiProject, engine_env: dict[str, str]
) -> None:
    config = yaml.safe_load((cluster.dir / f"Pulumi.{STACK}.yaml").read_text())["config"]
    url = config["k2infra:schemaRegistryUrl"]
    before = registry_state(url)
    assert set(SUBJECTS) <= set(before["subjects"])
    docker("restart", f"k2infra-{STACK}-registry", env=engine_env)
    wait_for_state(url, before)  # the schemas come back from the broker's journal
    cluster.run("preview", "--expect-no-changes", timeout=STEP_TIMEOUT)


def test_5_destroy_leaves_no_container_network_or_volume(
    cluster: PulumiProject, engine_env: dict[str, str], durations: dict[str, float]
) -> None:
    images = [inspect(f"k2infra-{STACK}-{name}", engine_env)["Config"]["Image"] for name in ("kafka", "registry")]
    timed("pulumi destroy", durations, cluster.run, "destroy", "--yes", "--skip-preview", timeout=STEP_TIMEOUT)
    assert labelled("container", engine_env) == []
    assert labelled("network", engine_env) == []
    assert labelled("volume", engine_env) == []
    # The images stay (keep_locally): the next `pulumi up` builds from cache.
    for image in images:
        docker("image", "inspect", image, env=engine_env)
