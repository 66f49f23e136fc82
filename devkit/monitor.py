"""Prometheus and Alertmanager next to the local platform, scraping the K2 exporter (`make monitor`).

    python -m devkit.monitor start --stack dev      # exporter + Prometheus + Alertmanager, prints the URLs
    python -m devkit.monitor status
    python -m devkit.monitor stop                   # `make monitor-down`

`start` generates the stack's rules (`python -m k2infra alerts`) and console dashboards
(`python -m k2infra dashboards`) into the state dir, writes a prometheus.yml that scrapes the exporter,
loads the rules, serves the consoles and sends alerts to the Alertmanager, then starts the three
processes in the background (their own sessions, pid files, logs in the state dir) and waits until
each answers. The exporter reads the cluster of the stack's `Pulumi.<stack>.yaml` (for `make up`'s
dev stack: the platform on 127.0.0.1:19092). Prometheus and Alertmanager are Debian's
(tools/monitoring/install.sh). `stop` ends exactly the processes its pid files name, after checking
each one's command line is the one it started.

The e2e test (tests/e2e/test_monitoring.py) starts the same thing on free ports with short intervals.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_STATE = REPO / ".state" / "monitor"
# Beside the platform's 19092 / 18081; Prometheus's own defaults (9090, 9093, 9308) stay free.
DEFAULT_PORTS = {"exporter": 19308, "prometheus": 19090, "alertmanager": 19093}
READY_TIMEOUT = 120.0  # seconds for each process to answer, on a loaded 2-core machine
STOP_TIMEOUT = 30.0
COMPONENTS = ("alertmanager", "prometheus", "exporter")  # stopped in reverse order of need


class MonitorError(RuntimeError):
    """A part of the monitoring stack could not be prepared or started; the message says which and why."""


@dataclass(frozen=True)
class Intervals:
    scrape: str = "15s"  # Prometheus durations
    evaluation: str = "15s"
    exporter: float = 15.0  # seconds between the exporter's reads of the cluster


@dataclass(frozen=True)
class Monitor:
    state_dir: Path
    ports: dict[str, int]

    @property
    def exporter_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['exporter']}/metrics"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['alertmanager']}"

    def pid(self, component: str) -> int | None:
        """The component's pid while the process its pid file names still runs the command it was started with."""
        return _running(self.state_dir, component)

    def stop(self) -> list[str]:
        return stop(self.state_dir)

    def consoles(self) -> list[Path]:
        return sorted((self.state_dir / "consoles").glob("*.html"))


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _binary(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        raise MonitorError(f"{name} is not installed: run `make monitoring` (tools/monitoring/install.sh)")
    return found


def _k2infra(python: str, project_dir: Path, *args: str) -> None:
    run = subprocess.run(
        [python, "-m", "k2infra", *args, "--project-dir", str(project_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    if run.returncode != 0:
        raise MonitorError(f"python -m k2infra {' '.join(args)} failed (exit {run.returncode}):\n{run.stderr}")


def prometheus_config(ports: dict[str, int], intervals: Intervals) -> str:
    config = {
        "global": {"scrape_interval": intervals.scrape, "evaluation_interval": intervals.evaluation},
        "rule_files": ["k2-rules.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
        "scrape_configs": [
            {"job_name": "k2-exporter", "static_configs": [{"targets": [f"127.0.0.1:{ports['exporter']}"]}]}
        ],
    }
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML


# Alerts are kept and shown (UI and /api/v2/alerts) but sent nowhere: a local platform has no pager.
# A real one routes by the rules' `severity` label (docs/monitoring.md).
ALERTMANAGER_CONFIG = (
    json.dumps(
        {
            "route": {"receiver": "local", "group_by": ["alertname", "exchange", "app"], "group_wait": "1s"},
            "receivers": [{"name": "local"}],
        },
        indent=2,
    )
    + "\n"
)


def start(
    stack: str,
    *,
    project_dir: Path = REPO,
    state_dir: Path = DEFAULT_STATE,
    ports: dict[str, int] | None = None,
    intervals: Intervals = Intervals(),
    python: str = sys.executable,
    timeout: float = READY_TIMEOUT,
) -> Monitor:
    """Generate the rules and consoles of `stack`, start exporter, Alertmanager and Prometheus, wait for each."""
    state_dir = state_dir.resolve()
    if any(_running(state_dir, c) for c in COMPONENTS):
        raise MonitorError(f"already running from {state_dir}: python -m devkit.monitor stop --state-dir {state_dir}")
    prometheus, alertmanager = _binary("prometheus"), _binary("prometheus-alertmanager")
    ports = dict(ports or DEFAULT_PORTS)
    for component, port in ports.items():
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                raise MonitorError(f"port {port} ({component}) is already in use on 127.0.0.1") from None
    for sub in ("logs", "consoles", "libraries"):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    _k2infra(python, project_dir, "alerts", "--stack", stack, "--output", str(state_dir / "k2-rules.yml"))
    _k2infra(python, project_dir, "dashboards", "--stack", stack, "--output", str(state_dir))
    (state_dir / "prometheus.yml").write_text(prometheus_config(ports, intervals))
    (state_dir / "alertmanager.yml").write_text(ALERTMANAGER_CONFIG)
    monitor = Monitor(state_dir, ports)
    commands = {
        "exporter": [
            *(python, "-m", "k2infra", "exporter", "--stack", stack, "--project-dir", str(project_dir)),
            *("--address", "127.0.0.1", "--port", str(ports["exporter"]), "--interval", f"{intervals.exporter:g}"),
        ],
        "alertmanager": [
            alertmanager,
            f"--config.file={state_dir / 'alertmanager.yml'}",
            f"--storage.path={state_dir / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
            "--cluster.listen-address=",  # one instance: no gossip port (9094) to bind
        ],
        "prometheus": [
            prometheus,
            f"--config.file={state_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={state_dir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            f"--web.console.templates={state_dir / 'consoles'}",
            f"--web.console.libraries={state_dir / 'libraries'}",
        ],
    }
    ready = {
        "exporter": monitor.exporter_url,
        "alertmanager": f"{monitor.alertmanager_url}/-/ready",
        "prometheus": f"{monitor.prometheus_url}/-/ready",
    }
    launched: list[subprocess.Popen[bytes]] = []
    try:
        for component in ("exporter", "alertmanager", "prometheus"):
            launched.append(_launch(state_dir, component, commands[component]))
            _wait_ready(state_dir, component, launched[-1], ready[component], timeout)
    except BaseException:
        for process in reversed(launched):  # by the Popen: a child may not have exec'd yet
            if process.poll() is None:
                _end(process.pid, lambda process=process: process.poll() is None)
        stop(state_dir)
        raise
    (state_dir / "monitor.env").write_text(
        f"K2_EXPORTER_URL={monitor.exporter_url}\nK2_PROMETHEUS_URL={monitor.prometheus_url}\n"
        f"K2_ALERTMANAGER_URL={monitor.alertmanager_url}\n"
    )
    return monitor


def _pid_file(state_dir: Path, component: str) -> Path:
    return state_dir / f"{component}.pid"


def _launch(state_dir: Path, component: str, command: Sequence[str]) -> subprocess.Popen[bytes]:
    log = (state_dir / "logs" / f"{component}.log").open("w")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO, start_new_session=True
    )
    log.close()
    # The pid and the command line: stop() ends the pid only while it still runs that command.
    _pid_file(state_dir, component).write_text(json.dumps({"pid": process.pid, "cmdline": list(command)}) + "\n")
    return process


def _running(state_dir: Path, component: str) -> int | None:
    path = _pid_file(state_dir, component)
    try:
        recorded = json.loads(path.read_text())
        cmdline = Path(f"/proc/{recorded['pid']}/cmdline").read_bytes().decode().split("\0")[:-1]
    except (OSError, ValueError, KeyError):
        return None
    return int(recorded["pid"]) if cmdline == recorded["cmdline"] else None


def _wait_ready(state_dir: Path, component: str, process: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    log = state_dir / "logs" / f"{component}.log"
    deadline = time.monotonic() + timeout
    while True:
        # The Popen, not the pid file: until the child has exec'd, /proc shows this process's command line.
        if process.poll() is not None:
            raise MonitorError(
                f"{component} exited at start (exit {process.returncode}); the end of {log}:\n{_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        if time.monotonic() > deadline:
            raise MonitorError(f"{component} did not answer {url} within {timeout:g}s; the end of {log}:\n{_tail(log)}")
        time.sleep(0.5)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _end(pid: int, alive: Callable[[], bool], timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, then SIGKILL if still `alive` after `timeout`; True when SIGTERM was enough."""
    with contextlib.suppress(ProcessLookupError):  # it may end on its own meanwhile
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not alive():
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return False


def stop(state_dir: Path = DEFAULT_STATE, timeout: float = STOP_TIMEOUT) -> list[str]:
    """SIGTERM each running component (SIGKILL after `timeout`); what was done, one line each."""
    state_dir = state_dir.resolve()
    done = []
    for component in COMPONENTS:
        pid = _running(state_dir, component)
        if pid is None:
            done.append(f"{component} was not running")
        elif _end(pid, lambda component=component: _running(state_dir, component) is not None, timeout):
            done.append(f"{component} stopped (pid {pid})")
        else:
            done.append(f"{component} (pid {pid}) did not stop within {timeout:g}s: killed")
        _pid_file(state_dir, component).unlink(missing_ok=True)
    (state_dir / "monitor.env").unlink(missing_ok=True)
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.monitor", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--stack", default=os.environ.get("STACK", "dev"))
    parser.add_argument("--project-dir", type=Path, default=REPO)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--free-ports", action="store_true", help=f"free ports instead of {DEFAULT_PORTS}")
    args = parser.parse_args(argv)
    if args.command == "stop":
        print("\n".join(f"[monitor] {line}" for line in stop(args.state_dir)))
        return 0
    if args.command == "status":
        states = {c: _running(args.state_dir.resolve(), c) for c in COMPONENTS}
        for component, pid in states.items():
            print(f"[monitor] {component}: {'running, pid ' + str(pid) if pid else 'not running'}")
        return 0 if all(states.values()) else 3
    try:
        ports = dict(zip(DEFAULT_PORTS, free_ports(len(DEFAULT_PORTS)), strict=True)) if args.free_ports else None
        monitor = start(args.stack, project_dir=args.project_dir.resolve(), state_dir=args.state_dir, ports=ports)
    except MonitorError as exc:
        print(f"[monitor] error: {exc}", file=sys.stderr)
        return 1
    state = monitor.state_dir
    print(
        f"[monitor] stack {args.stack}: exporter, Prometheus and Alertmanager running (logs: {state / 'logs'})\n"
        f"  metrics       {monitor.exporter_url}\n"
        f"  prometheus    {monitor.prometheus_url}/alerts\n"
        + "".join(f"  dashboard     {monitor.prometheus_url}/consoles/{page.name}\n" for page in monitor.consoles())
        + f"  alertmanager  {monitor.alertmanager_url}\n"
        + "  stop with     "
        + ("make monitor-down" if state == DEFAULT_STATE else f"python -m devkit.monitor stop --state-dir {state}")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
