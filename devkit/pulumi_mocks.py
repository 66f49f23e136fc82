"""Run the real Pulumi program under pulumi.runtime mocks (unit tests and the benchmarks), configured like a stack file.

The engine hands programs their config as strings (JSON for non-strings) plus the list of secret
keys; `configure` does the same from a Pulumi.<stack>.yaml so that tests see what `pulumi up` sees.
"""

from __future__ import annotations

import gc
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: list[pulumi.runtime.MockResourceArgs] = field(default_factory=list)
    live_partitions: dict[str, int] = field(default_factory=dict)  # the topics the preflight's read finds
    live_replication_factor: int = 1  # of every topic the read finds (`replication_of`)
    calls: list[str] = field(default_factory=list)
    cluster_unreachable: bool = False  # the read fails as librdkafka does when nothing listens
    # What the program's preflight (k2infra.deploy.preflight) reads: the brokers the cluster's
    # metadata lists and the nodes holding replicas, or the one line a failure gives.
    live_brokers: tuple[int, ...] = (1, 2, 3)
    replica_nodes: tuple[int, ...] = (1, 2, 3)
    connection_failure: str | None = None
    registry_failure: str | None = None

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ.startswith("pulumi-python:dynamic"):
            # What the registry would answer on create. The id depends on the subject only, not on the
            # order in which the engine happened to register it, so golden outputs cannot flake.
            outputs.update(schema_id=100 + zlib.crc32(args.name.encode()) % 900, version=1)
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any] | tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append(args.token)
        return {}

    def replication_of(self, topic: str) -> int:
        return self.live_replication_factor

    def connect(self, kafka: Any) -> MockAdmin:
        """An admin with the librdkafka config the real one would get, answering from the mocks."""
        return MockAdmin(self, kafka.librdkafka())

    def check_registry_access(self, connection: Any, timeout: float) -> None:
        from k2infra.live.admin import LiveReadError

        self.calls.append("preflight.check_registry_access")
        if self.registry_failure:
            raise LiveReadError(self.registry_failure)

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]


def stack_config(stack_file: Path, secrets: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """The config map and secret keys the engine would pass for this stack file."""
    data = yaml.safe_load(stack_file.read_text()) or {}
    config: dict[str, str] = {}
    for key, value in (data.get("config") or {}).items():
        config[key] = value if isinstance(value, str) else json.dumps(value)
    secret_keys = []
    for key, value in (secrets or {}).items():
        config[f"k2infra:{key}"] = value
        secret_keys.append(f"k2infra:{key}")
    return config, secret_keys


def install_mocks(
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    preview: bool = False,
    live_partitions: dict[str, int] | None = None,
    mocks: RecordingMocks | None = None,
) -> RecordingMocks:
    """Install `mocks` (or new ones) as the engine; the caller keeps them to inspect what ran."""
    from k2infra.deploy import preflight

    mocks = mocks or RecordingMocks()
    mocks.live_partitions.update(live_partitions or {})
    pulumi.runtime.set_mocks(mocks, project="k2infra", stack=stack, preview=preview)
    # The program's own connections (no engine call) are answered by the mocks too, as long as
    # they are installed: no unit test or benchmark reaches for a real cluster.
    preflight.connect = mocks.connect  # type: ignore[assignment]
    preflight.check_registry_access = mocks.check_registry_access  # type: ignore[assignment]
    pulumi.runtime.set_all_config(config, secret_keys)
    return mocks


@dataclass
class MockAdmin:
    """The preflight's KafkaAdmin, answered from the mocks: the cluster read only (record counts and
    offsets are stubbed by the tests that need them)."""

    mocks: RecordingMocks
    config: dict[str, Any]

    def __enter__(self) -> MockAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def cluster(self, *, timeout: float) -> Any:
        from k2infra.live.admin import BrokerView, ClusterLayout, LiveReadError, PartitionLayout, TopicLayout

        self.mocks.calls.append("preflight.read_cluster")
        if self.mocks.connection_failure or self.mocks.cluster_unreachable:
            raise LiveReadError(
                self.mocks.connection_failure
                or "cannot reach Kafka at 127.0.0.1:19092 within 30s (k2infra:bootstrapServers): "
                "sasl_plaintext://127.0.0.1:19092/bootstrap: Connect to ipv4#127.0.0.1:19092 failed: Connection refused"
            )
        topics = {}
        for name, count in self.mocks.live_partitions.items():
            replicas = tuple(range(1, self.mocks.replication_of(name) + 1))
            partitions = tuple(PartitionLayout(i, replicas[0], replicas, replicas) for i in range(count))
            topics[name] = TopicLayout(name, partitions)
        return ClusterLayout(topics, BrokerView(self.mocks.live_brokers, self.mocks.replica_nodes))

    def record_counts(self, partitions: Any, *, timeout: float) -> Any:
        from k2infra.live.admin import LiveReadError

        raise LiveReadError("record counts are not answered by these mocks: stub preflight.count_records")

    def offsets(self, partitions: Any, at: Any, *, timeout: float) -> Any:
        from k2infra.live.admin import LiveReadError

        raise LiveReadError("offsets are not answered by these mocks: stub k2infra.live.retirement.records_since")


@dataclass
class ProgramRun:
    mocks: RecordingMocks
    outputs: dict[str, Any]
    platform: Any

    def resource(self, name: str) -> pulumi.runtime.MockResourceArgs:
        [found] = [r for r in self.mocks.resources if r.name == name]
        return found


def run_program(
    project_dir: Path,
    stack: str,
    secrets: dict[str, str] | None = None,
    preview: bool = False,
    live_partitions: dict[str, int] | None = None,
    cluster_unreachable: bool = False,
    mocks: RecordingMocks | None = None,
) -> ProgramRun:
    """Evaluate k2infra.deploy.program.run for `stack` under mocks and resolve every output.

    Pass `mocks` to inspect what reached the engine when the program fails.
    """
    from k2infra.deploy.program import run

    config, secret_keys = stack_config(project_dir / f"Pulumi.{stack}.yaml", secrets)
    mocks = install_mocks(stack, config, secret_keys, preview, live_partitions, mocks)
    mocks.cluster_unreachable = cluster_unreachable
    holder: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        platform = run(project_dir / "config")
        holder["platform"] = platform
        return pulumi.Output.from_input(platform.outputs).apply(lambda values: holder.__setitem__("outputs", values))

    try:
        program()
    finally:
        # A refused run leaves asyncio futures holding its error. Collected at some later moment,
        # inside another test's ast.parse, their "exception was never retrieved" logging made
        # CPython 3.11.7 fail that parse (SystemError: AST constructor recursion depth mismatch;
        # tests/unit/test_layering.py after test_program.py): collect them while they are ours.
        gc.collect()
    return ProgramRun(mocks, holder["outputs"], holder["platform"])
