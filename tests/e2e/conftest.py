"""End-to-end fixtures: the real local platform and the real Pulumi CLI with the Kafka plugin.

Missing tools are an error, never a skip: `make test` builds them (tools/install-pulumi.sh).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from devkit.pulumi_project import PulumiProject

KAFKA_PLUGIN_VERSION = "3.13.3"


@pytest.fixture(scope="session")
def pulumi_cli() -> str:
    path = shutil.which("pulumi")
    if path is None:
        pytest.fail("the Pulumi CLI is not on PATH: run `make tools` (or `source tools/env.sh`)")
    plugins = subprocess.run(["pulumi", "plugin", "ls", "--json"], capture_output=True, text=True, check=True).stdout
    if '"name": "kafka"' not in plugins or KAFKA_PLUGIN_VERSION not in plugins:
        pytest.fail(f"the Kafka provider plugin {KAFKA_PLUGIN_VERSION} is not installed: run `make tools`")
    return path


def base_settings(platform) -> dict[str, object]:
    """A dev-like stack on the local platform, small and fast."""
    return {
        "replicationFactor": 1,
        "minInsyncReplicas": 1,
        "partitions": {"equities.asx": 3, "crypto.binance": 4},
        "bootstrapServers": platform.bootstrap_servers,
        "tls": False,
        "schemaRegistryUrl": platform.schema_registry_url,
        "schemaCompatibility": "BACKWARD",
    }


@pytest.fixture
def new_project(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str, platform) -> Iterator:
    """Factory of fresh projects (own backend) on the platform; destroys what they created."""
    yield from _projects(tmp_path_factory, platform)


def kafka_admin(platform):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": platform.bootstrap_servers})


@pytest.fixture(scope="session")
def admin(platform):
    return kafka_admin(platform)


@pytest.fixture(scope="module")
def new_module_project(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str, platform) -> Iterator:
    """new_project for a stack that a module's tests share: one `pulumi up` serves them all."""
    yield from _projects(tmp_path_factory, platform)


@pytest.fixture(scope="session", autouse=True)
def k2infra_importable_by_app_programs() -> Iterator[None]:
    """App programs (examples/app-deploy) import k2infra.client as an installed package, as an app's
    own virtualenv would have it (`pip install k2infra[kafka]`). The repository's .venv does not
    install the repository itself, so the Pulumi runs of these tests find it on PYTHONPATH."""
    import os

    from devkit.pulumi_project import REPO

    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), before) if p)
    yield
    if before is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = before


def _projects(tmp_path_factory: pytest.TempPathFactory, platform) -> Iterator:
    """Yields a factory of projects on the platform; destroys what they created when resumed."""
    made: list[PulumiProject] = []

    def make(stack: str = "e2e", settings: dict[str, object] | None = None, **kwargs) -> PulumiProject:
        root = tmp_path_factory.mktemp(f"project-{stack}")
        project = PulumiProject.create(root / "project", stack, root / "backend", **kwargs)
        project.configure({**base_settings(platform), **(settings or {})})
        made.append(project)
        return project

    yield make
    for project in made:
        project.run("state", "unprotect", "--all", "--yes", check=False)
        project.destroy(check=False)


@pytest.fixture(scope="module")
def app_passwords() -> dict[str, str]:
    """A new SCRAM password per declared app, for the module's prod deployment."""
    from tests.e2e.prod_support import new_app_passwords

    return new_app_passwords()


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str, secure, app_passwords) -> Iterator:
    """The shipped prod stack deployed on the secure cluster (tests/e2e/prod_support.py), one per module."""
    from tests.e2e.prod_support import deployed_prod

    yield from deployed_prod(tmp_path_factory.mktemp("project-prod"), secure, app_passwords)


@pytest.fixture(scope="module")
def secure_admin(secure):
    """An AdminClient of the secure cluster's super user (User:k2infra)."""
    from confluent_kafka.admin import AdminClient

    return AdminClient(secure.kafka_config())
