"""Shared fixtures: a private copy of the repository's config that a test may edit."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# The apps of the shipped config/kafka/apps.yaml (the tests that need a password for each).
SHIPPED_APPS = (
    "market-data-normaliser",
    "equities-analytics",
    "crypto-risk",
    "reference-data-cache",
    "platform-monitor",
)
# The platform of today in prod: topic -> partitions.
PROD_TOPICS = {
    "market.equities.trades.asx": 30,
    "market.equities.quotes.asx": 30,
    "market.equities.reference_data.asx": 1,
    "market.crypto.trades.binance": 40,
    "market.crypto.quotes.binance": 40,
    "market.crypto.reference_data.binance": 1,
}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of config/ (topology and schemas) in a temp dir."""
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    return target


@pytest.fixture
def project_dir(tmp_path: Path, config_dir: Path) -> Path:
    """A temp project: config/ plus the stack files, so tests may edit both."""
    for stack_file in REPO.glob("Pulumi.*.yaml"):
        shutil.copy(stack_file, tmp_path / stack_file.name)
    return tmp_path


def set_stack_config(project_dir: Path, stack: str, settings: dict[str, object]) -> None:
    """Set `k2infra:` keys in Pulumi.<stack>.yaml, as `pulumi config set` would."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text())
    data.setdefault("config", {}).update({f"k2infra:{key}": value for key, value in settings.items()})
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def edit_topology(config_dir: Path) -> Callable[[Callable[[dict], None]], Path]:
    """Apply an edit to the parsed topology and write it back; returns the file."""

    def edit(change: Callable[[dict], None]) -> Path:
        path = config_dir / "kafka" / "topics.yaml"
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return edit


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory):
    """The real local platform (Kafka broker + Schema Registry), one per test session.

    The one the environment names (K2_BOOTSTRAP_SERVERS and K2_SCHEMA_REGISTRY_URL), left running,
    or else one started by tools/platform.sh on free ports and stopped at the end. A platform that
    cannot start makes the tests that need it ERROR: they are never skipped for want of one.
    """
    from devkit.local_platform import LocalPlatform

    running = LocalPlatform.from_env() or LocalPlatform.start(tmp_path_factory.mktemp("platform"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def secure(tmp_path_factory: pytest.TempPathFactory):
    """The production-shaped local cluster (tools/platform.sh start --secure), one per session.

    Three SASL_SSL brokers, Keycloak and the HTTPS registry take 1-2 minutes to start and ~1.2 GB,
    so the integration and end-to-end modules share one. The one the environment names
    (K2_PROFILE=secure, see `tools/platform.sh env --secure`) is used and left running. A module
    that stops a broker starts it again before it ends, so the next module finds three; the one
    that restarts a broker after others have run (tests/integration/test_secure_platform.py) has
    its own instead (docs/runbook.md §13, a restarted node that lost its credentials).
    """
    from devkit.local_platform import SecurePlatform

    running = SecurePlatform.from_env() or SecurePlatform.start(tmp_path_factory.mktemp("secure-platform"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def state_db():
    """A PostgreSQL cluster for the state backend (tools/postgres.sh), one per session."""
    from devkit.state_db import StateDb

    running = StateDb.start()
    try:
        yield running
    finally:
        running.stop()
