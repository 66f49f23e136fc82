"""Helpers of the policy pack end-to-end test: the real Pulumi CLI, a file backend in a temp dir
and a temp copy of the project. The broker and registry to preview against are the session's
`platform` fixture (tests/conftest.py).

The CLI and its plugins come from the toolchain tools/install-pulumi.sh builds (tools/env.sh
locates it). The backend is chosen with PULUMI_BACKEND_URL rather than `pulumi login`, which would
rewrite the credentials file of the PULUMI_HOME that other runs share.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

REPO = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO / "policy"
DEV_POLICY_CONFIG = POLICY_DIR / "config" / "dev.json"
VENV = REPO / ".venv"
KAFKA_PROVIDER_VERSION = "3.13.3"
PASSPHRASE = "k2-policy-e2e"


def tools_dir() -> Path:
    return Path(os.environ.get("K2_TOOLS_DIR", Path.home() / ".cache" / "k2infra" / "tools"))


def pulumi_home() -> Path:
    return Path(os.environ.get("PULUMI_HOME", tools_dir() / "pulumi-home"))


def base_env() -> dict[str, str]:
    """What tools/env.sh sets: the toolchain on PATH, its PULUMI_HOME, no update check."""
    env = dict(os.environ)
    env["PATH"] = f"{tools_dir() / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PULUMI_HOME"] = str(pulumi_home())
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = "true"
    return env


def missing_tools() -> str | None:
    """Why the end-to-end test cannot run here, or None."""
    env = base_env()
    pulumi = shutil.which("pulumi", path=env["PATH"])
    if pulumi is None:
        return f"the Pulumi CLI is not installed in {tools_dir() / 'bin'} (run tools/install-pulumi.sh)"
    if shutil.which("pulumi-analyzer-policy-python", path=env["PATH"]) is None:
        return "pulumi-analyzer-policy-python (the Python policy pack launcher) is not on PATH"
    if not (VENV / "bin" / "python").exists():
        return f"the project virtualenv {VENV} does not exist (run `make venv`)"
    listed = subprocess.run(
        [pulumi, "plugin", "ls", "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    try:
        plugins = json.loads(listed.stdout or "[]") or []
    except json.JSONDecodeError:
        plugins = []
    if (
        not any(
            p.get("name") == "kafka"
            and p.get("kind") == "resource"
            # 3.13.3+k2infra (built from source) has the precedence of 3.13.3
            and str(p.get("version", "")).removeprefix("v").split("+")[0] == KAFKA_PROVIDER_VERSION
            for p in plugins
        )
        and shutil.which("pulumi-resource-kafka", path=env["PATH"]) is None
    ):
        return f"the Kafka provider plugin {KAFKA_PROVIDER_VERSION} is not installed (`pulumi plugin ls`)"
    return None


# -- the platform ------------------------------------------------------------------------------


class Platform(Protocol):
    """What the tests need of the session's platform (tests/conftest.py `platform`)."""

    bootstrap_servers: str
    schema_registry_url: str


# -- a temp copy of the project ---------------------------------------------------------------


def stack_config(stack: str, platform: Platform, **overrides: Any) -> dict[str, Any]:
    """The repository's Pulumi.<stack>.yaml config pointed at the local platform.

    Plaintext and unauthenticated like the local platform: TLS off, no SASL, no registry user
    (their passwords would be secrets this test does not have), no access control (the plain
    broker has no authorizer). A None override removes the key.
    """
    data = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text()) or {}
    config = dict(data.get("config") or {})
    for key in ("saslMechanism", "saslUsername", "schemaRegistryUsername", "caCert", "tlsSkipVerify", "accessControl"):
        config.pop(f"k2infra:{key}", None)
    config["k2infra:tls"] = False
    config["k2infra:bootstrapServers"] = platform.bootstrap_servers
    config["k2infra:schemaRegistryUrl"] = platform.schema_registry_url
    for key, value in overrides.items():
        if value is None:
            config.pop(f"k2infra:{key}", None)
        else:
            config[f"k2infra:{key}"] = value
    return config


def make_project(
    target: Path,
    stack: str,
    config: dict[str, Any],
    edit_topology: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """A copy of the program (Pulumi.yaml with the absolute virtualenv, __main__.py, k2infra/,
    config/) and one stack file."""
    target.mkdir(parents=True)
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    project["runtime"]["options"]["virtualenv"] = str(VENV)
    (target / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    shutil.copy(REPO / "__main__.py", target / "__main__.py")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "k2infra", target / "k2infra", ignore=ignore)
    shutil.copytree(REPO / "config", target / "config", ignore=ignore)
    if edit_topology is not None:
        path = target / "config" / "kafka" / "topics.yaml"
        data = yaml.safe_load(path.read_text())
        edit_topology(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    (target / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return target


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    seconds: float


class PulumiCli:
    """The real CLI on a file backend of its own."""

    def __init__(self, backend_dir: Path) -> None:
        backend_dir.mkdir(parents=True, exist_ok=True)
        self.env = base_env()
        self.env["PULUMI_BACKEND_URL"] = f"file://{backend_dir}"
        self.env["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
        self.env.pop("PULUMI_ACCESS_TOKEN", None)
        self.env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)

    def run(self, project: Path, *args: str, timeout: float = 600) -> Run:
        start = time.monotonic()
        done = subprocess.run(
            ["pulumi", *args, "--non-interactive", "--color", "never"],
            cwd=project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(done.returncode, done.stdout, time.monotonic() - start)

    def preview(self, project: Path, stack: str, policy_config: Path | None = None) -> Run:
        init = self.run(project, "stack", "init", stack)
        if init.returncode != 0:
            raise RuntimeError(f"pulumi stack init {stack} failed:\n{init.output}")
        args = ["preview", "--stack", stack, "--policy-pack", str(POLICY_DIR)]
        if policy_config is not None:
            args += ["--policy-pack-config", str(policy_config)]
        return self.run(project, *args)


HAND_WRITTEN_PROGRAM = '''"""Kafka topics declared by hand, outside k2infra (and its validation)."""

import pulumi_kafka as kafka
import pulumi

config = pulumi.Config()
provider = kafka.Provider("kafka", bootstrap_servers=[config.require("bootstrapServers")], tls_enabled=False)
for name in config.require_object("topics"):
    kafka.Topic(
        name,
        name=name,
        partitions=3,
        replication_factor=3,
        config={"min.insync.replicas": "2", "retention.ms": "604800000"},
        opts=pulumi.ResourceOptions(provider=provider),
    )
'''


def make_hand_written_project(target: Path, stack: str, bootstrap_servers: str, topics: list[str]) -> Path:
    """A minimal program of raw pulumi_kafka topics: what the k2infra program could never declare."""
    target.mkdir(parents=True)
    project = {
        "name": "handwritten",
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": str(VENV)}},
    }
    (target / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (target / "__main__.py").write_text(HAND_WRITTEN_PROGRAM)
    config = {"handwritten:bootstrapServers": bootstrap_servers, "handwritten:topics": topics}
    (target / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return target
