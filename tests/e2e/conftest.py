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
    failures = []
    for project in made:  # each one, whatever the one before it did
        try:
            tear_down(project, platform)
        except Exception as exc:  # reported once every project is torn down
            failures.append(f"{project.dir}: {exc!r}")
    assert not failures, f"tearing down left state on the shared platform: {failures}"


def tear_down(project: PulumiProject, platform) -> None:
    """Leave the shared platform as the project found it, whatever a failed test left its stack in.

    A failed or killed run may leave a lock (every command then fails), pending operations or
    protected resources: each is cleared before the destroy. The topics and subjects the state
    names (pending creates included) that are still there afterwards (the destroy failed, or a
    create was never recorded) are deleted from the broker and the registry directly, and named in
    the output, so that one module's failure cannot fail another's on the shared platform.
    """
    import json

    import requests

    from k2infra.ops.pulumi_stack import SUBJECT_TYPE, TOPIC_TYPE, StackState, subject_name, topic_name

    project.run("cancel", "--yes", check=False)  # the lock of a killed run (file backend: deleted)
    exported = project.run("stack", "export", check=False)
    state = StackState.from_export(json.loads(exported.stdout)) if exported.returncode == 0 else StackState((), ())
    everything = [*state.resources, *(op.resource for op in state.pending)]
    topics = {topic_name(r) for r in everything if r.type == TOPIC_TYPE}
    subjects = {subject_name(r) for r in everything if r.type == SUBJECT_TYPE}
    project.run("state", "unprotect", "--all", "--yes", check=False)
    destroyed = project.destroy(check=False)

    admin = kafka_admin(platform)
    left_topics = sorted(topics & set(admin.list_topics(timeout=60).topics))
    if left_topics:
        for future in admin.delete_topics(left_topics, operation_timeout=60).values():
            future.result()
    registry = platform.schema_registry_url.rstrip("/")
    listed = requests.get(f"{registry}/subjects", timeout=60)
    listed.raise_for_status()
    left_subjects = sorted(subjects & set(listed.json()))
    for subject in left_subjects:
        requests.delete(f"{registry}/subjects/{subject}", timeout=60).raise_for_status()
        requests.delete(f"{registry}/subjects/{subject}", params={"permanent": "true"}, timeout=60)
    if left_topics or left_subjects:
        print(
            f"teardown of {project.dir} (destroy exit {destroyed.returncode}): deleted directly "
            f"{len(left_topics)} topics {left_topics} and {len(left_subjects)} subjects {left_subjects}"
        )


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
    """An AdminClient of the secure cluster's super user (the brokers' own principal; the infra
    principal User:k2infra has only what k2infra needs, docs/access.md)."""
    from confluent_kafka.admin import AdminClient

    return AdminClient(secure.admin_config())
