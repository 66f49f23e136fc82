"""`python -m k2infra exporter` as a process of a test: on a free port, its log in a file, scraped
with prometheus_client's parser (the integration test on the local platform and the secured e2e)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from devkit.monitor import free_ports
from tests.conftest import REPO
from tests.waiting import terminate


class ExporterProcess:
    """An exporter of `stack` of the project at `project`, reading every second; `env` over os.environ."""

    def __init__(self, project: Path, stack: str, log: Path, env: Mapping[str, str] | None = None) -> None:
        [self.port] = free_ports(1)
        self.log = log
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "k2infra", "exporter", "--stack", stack, "--project-dir", str(project)),
                *("--port", str(self.port), "--address", "127.0.0.1", "--interval", "1", "--timeout", "5"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )

    def scrape(self) -> dict[str, list[Any]] | None:
        """The samples by metric name, or None while the server does not answer."""
        assert self.process.poll() is None, f"the exporter exited: {self.log.read_text()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as answer:
                text = answer.read().decode()
        except OSError:
            return None
        return {family.name: family.samples for family in text_string_to_metric_families(text)}

    def stop(self, timeout: float) -> None:
        terminate(self.process, "the exporter", timeout)
