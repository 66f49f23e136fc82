"""tools/docker/healthcheck.sh, the images' readiness probes, against the real local platform.

The probes run in the containers of `localCluster: docker`; here the same script runs on the host
against tools/platform.sh's broker and registry, which speak the same protocols: a Kafka Metadata
request parsed in bash, and an HTTP GET of the registry's Confluent API.
"""

from __future__ import annotations

import socket
import subprocess
from urllib.parse import urlsplit

import pytest

from devkit.pulumi_project import REPO

pytestmark = pytest.mark.integration

PROBE = REPO / "tools" / "docker" / "healthcheck.sh"


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PROBE), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin:/bin", "K2_HEALTH_TIMEOUT": "5"},
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_running_broker_is_ready_with_its_broker_and_controller(platform) -> None:
    server = platform.bootstrap_servers.split(",")[0]
    result = probe("kafka", server)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ready: 1 broker(s), controller 1"


def test_no_broker_is_not_ready() -> None:
    result = probe("kafka", f"127.0.0.1:{closed_port()}")
    assert result.returncode == 1
    assert "not ready: no connection" in result.stderr


def test_a_port_that_does_not_speak_kafka_is_not_ready(platform) -> None:
    registry = urlsplit(platform.schema_registry_url)
    result = probe("kafka", f"127.0.0.1:{registry.port}")
    assert result.returncode == 1
    assert "not ready" in result.stderr


def test_the_registry_api_is_ready(platform) -> None:
    url = urlsplit(platform.schema_registry_url)
    result = probe("http", str(url.port), f"{url.path}/subjects")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ready: HTTP/1.") and " 200" in result.stdout


def test_a_path_the_registry_does_not_serve_is_not_ready(platform) -> None:
    url = urlsplit(platform.schema_registry_url)
    result = probe("http", str(url.port), "/apis/ccompat/v7/no-such-resource")
    assert result.returncode == 1
    assert "404" in result.stderr
