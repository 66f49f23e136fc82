"""devkit.monitor (`make monitor`): the Prometheus configuration it writes, and a stop that ends only the
processes it started. Started for real in tests/e2e/test_monitoring.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from devkit import monitor
from tests.waiting import wait_for


def test_prometheus_scrapes_the_exporter_loads_the_rules_and_alerts_the_alertmanager() -> None:
    ports = {"exporter": 1, "prometheus": 2, "alertmanager": 3}
    config = yaml.safe_load(monitor.prometheus_config(ports, monitor.Intervals(scrape="1s", evaluation="2s")))
    assert config["global"] == {"scrape_interval": "1s", "evaluation_interval": "2s"}
    assert config["rule_files"] == ["k2-rules.yml"]
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:1"]}]
    assert config["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": ["127.0.0.1:3"]}]


def test_stop_leaves_a_process_whose_command_line_is_not_the_one_it_started(tmp_path: Path) -> None:
    (tmp_path / "exporter.pid").write_text(json.dumps({"pid": os.getpid(), "cmdline": ["something", "else"]}))
    assert monitor.stop(tmp_path)[-1] == "exporter was not running"  # and this test process lives on
    assert not (tmp_path / "exporter.pid").exists()


def test_stop_ends_the_process_it_started(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import time; time.sleep(120)"]
    child = subprocess.Popen(command)
    (tmp_path / "prometheus.pid").write_text(json.dumps({"pid": child.pid, "cmdline": command}))
    # Just after exec, /proc/PID/cmdline reads empty for a moment.
    wait_for("the child's command line in /proc", lambda: Path(f"/proc/{child.pid}/cmdline").read_bytes(), 30)
    try:
        assert monitor.stop(tmp_path)[1] == f"prometheus stopped (pid {child.pid})"
        assert child.wait(30) == -15
    finally:
        child.kill()
