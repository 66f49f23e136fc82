"""Faults on real processes, for the fault tests: a platform of one's own whose broker restarts with
its data, a registry that can be cut off at its address, and `pulumi` runs killed mid-way.

* ``FaultPlatform.start(state_dir)`` runs ``tools/platform.sh start`` on free ports in a state dir
  of its own (a broker restart must not disturb other tests' platform);
  ``restart_kafka()`` stops the broker (SIGTERM, as an operator would) and starts the very same
  command line again on the same data directory: topics and records survive, as on a real
  cluster (``platform.sh start`` would format a new one);
* the registry is reached through ``RegistryCut``, a TCP relay on a port of its own: ``cut()``
  closes it (connections refused, open ones dropped), ``restore()`` listens again on the same
  port. The local Apicurio keeps its data in memory, so stopping the process itself would lose
  every subject, which no real registry does; cutting the address keeps that out of the test;
* ``run_until(...)`` streams a ``pulumi`` command and SIGKILLs its whole process group when a line
  matches, after listing the plugin processes of the run;
* ``staying_kafka_plugin(dir)`` writes a stand-in for upstream's pulumi-kafka plugin process, which
  outlives the engine that started it: a wrapper, run by the engine as ``pulumi-resource-kafka``,
  that serves through the installed provider as its own child. A project uses it through the
  ``plugins:`` section of its Pulumi.yaml (``use_kafka_plugin``). Nothing in the product changes.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devkit.local_platform import PlatformError, parse_env_file, run_platform_sh, start_platform_sh
from k2infra.ops.orphans import PluginProcess, plugin_processes


class FaultError(AssertionError):
    pass


# -- the registry behind a relay -----------------------------------------------------------------


class RegistryCut:
    """A TCP relay 127.0.0.1:port -> target that can be cut off and restored on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        if listener is not None:
            listener.close()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._connections |= {client, upstream}
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        try:
            selector.register(a, selectors.EVENT_READ, b)
            selector.register(b, selectors.EVENT_READ, a)
            while True:
                for key, _ in selector.select(timeout=1):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            for end in (a, b):
                with contextlib.suppress(OSError):
                    end.close()
            with self._lock:
                self._connections -= {a, b}


# -- the platform --------------------------------------------------------------------------------


@dataclass
class FaultPlatform:
    state_dir: Path
    bootstrap_servers: str
    direct_registry_url: str  # the registry itself
    registry: RegistryCut
    env: dict[str, str] = field(default_factory=dict)
    _kafka: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, state_dir: Path, timeout: float = 900) -> FaultPlatform:
        try:
            state_dir, env, _ = start_platform_sh([], state_dir, timeout, None)
        except PlatformError as exc:
            raise FaultError(str(exc)) from None
        values = parse_env_file(state_dir / "platform.env")
        registry_url = values["K2_SCHEMA_REGISTRY_URL"]
        host_port = registry_url.split("://", 1)[1].split("/", 1)[0]
        host, _, port = host_port.partition(":")
        return cls(state_dir, values["K2_BOOTSTRAP_SERVERS"], registry_url, RegistryCut(host, int(port)), env)

    @property
    def schema_registry_url(self) -> str:
        """The registry's URL through the relay: what stacks under test use."""
        host_port = self.direct_registry_url.split("://", 1)[1].split("/", 1)[0]
        return self.direct_registry_url.replace(host_port, f"127.0.0.1:{self.registry.port}", 1)

    def stop(self) -> None:
        self.registry.close()
        run_platform_sh(["stop", "--state-dir", str(self.state_dir)], env=self.env, timeout=120)
        if self._kafka is not None:
            self._kafka.wait(timeout=60)

    # -- the broker ----------------------------------------------------------------------------
    def kafka_pid(self) -> int:
        return int((self.state_dir / "kafka" / "kafka.pid").read_text().strip())

    def stop_kafka(self) -> tuple[list[str], str, dict[str, str]]:
        """SIGTERM the broker and wait for it; returns what starts it again."""
        pid = self.kafka_pid()
        proc = Path(f"/proc/{pid}")
        argv = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
        cwd = os.readlink(proc / "cwd")
        environ = dict(
            item.decode().split("=", 1) for item in (proc / "environ").read_bytes().split(b"\0") if b"=" in item
        )
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 30
            time.sleep(0.1)
        if self._kafka is not None:
            self._kafka.wait(timeout=30)
        return argv, cwd, environ

    def start_kafka(self, argv: list[str], cwd: str, environ: Mapping[str, str], timeout: float = 180) -> None:
        """Start the broker with the same command line and data directory, and wait until it serves."""
        with (self.state_dir / "kafka" / "kafka.out").open("ab") as out:
            self._kafka = subprocess.Popen(
                argv,
                cwd=cwd,
                env=dict(environ),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.state_dir / "kafka" / "kafka.pid").write_text(f"{self._kafka.pid}\n")
        wait_for_kafka(self.bootstrap_servers, timeout)

    def restart_kafka(self, down_seconds: float = 3.0) -> None:
        argv, cwd, environ = self.stop_kafka()
        time.sleep(down_seconds)
        self.start_kafka(argv, cwd, environ)


def wait_for_kafka(bootstrap: str, timeout: float) -> None:
    from k2infra.live.admin import KafkaAdmin

    deadline = time.monotonic() + timeout
    admin = KafkaAdmin({"bootstrap.servers": bootstrap}).client
    while True:
        try:
            metadata = admin.list_topics(timeout=5)
            if metadata.brokers and all(p.leader >= 0 for t in metadata.topics.values() for p in t.partitions.values()):
                return
        except Exception:  # not up yet
            pass
        if time.monotonic() > deadline:
            raise FaultError(f"Kafka at {bootstrap} did not come back within {timeout:g}s")
        time.sleep(1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# -- killing a pulumi run ------------------------------------------------------------------------


@dataclass
class KilledRun:
    output: str
    plugins: list[PluginProcess]  # the run's plugin processes just before the kill
    seconds: float


def run_until(
    argv: list[str],
    env: Mapping[str, str],
    project_dir: Path,
    trigger: Callable[[str], bool],
    timeout: float = 600,
    on_trigger: Callable[[], None] | None = None,
) -> KilledRun:
    """Run `argv`; when `trigger(line)` first holds, SIGKILL its process group (the CLI's)."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    timer.start()
    try:
        for line in process.stdout:
            lines.append(line)
            if trigger(line):
                plugins = plugin_processes(project_dir)
                if on_trigger is not None:
                    on_trigger()
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return KilledRun("".join(lines), plugins, time.monotonic() - started)
    finally:
        timer.cancel()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    raise FaultError(f"the run ended before the kill could land (exit {process.returncode}):\n{''.join(lines)[-4000:]}")


# -- upstream's plugin process, which outlives its engine ---------------------------------------

STAYING_PLUGIN = """\
#!{python}
# A test double of upstream's pulumi-kafka plugin process (devkit/faults.py): the engine runs this
# as pulumi-resource-kafka; it serves through the installed provider, its child, whose parent (this
# wrapper) outlives the engine, so neither notices the engine's death. Upstream's plugin does not
# watch its engine either: killed with the CLI, both stay, re-parented to pid 1.
import signal, subprocess, sys
child = subprocess.Popen([{real!r}, *sys.argv[1:]], stdin=subprocess.DEVNULL)  # the port line: our stdout
for signum in (signal.SIGINT, signal.SIGTERM):  # how the engine (SIGINT) or anyone else stops it
    signal.signal(signum, lambda received, _: child.send_signal(received))
sys.exit(child.wait())
"""


def installed_kafka_plugin() -> Path:
    """The pulumi-resource-kafka the engine would run: on PATH, or under PULUMI_HOME's plugins."""
    found = shutil.which("pulumi-resource-kafka")
    if found:
        return Path(found)
    home = Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi"))
    plugins = sorted(home.glob("plugins/resource-kafka-v*/pulumi-resource-kafka"))
    if not plugins:
        raise FaultError(f"pulumi-resource-kafka is neither on PATH nor under {home}/plugins: run `make tools`")
    return plugins[-1]


def staying_kafka_plugin(directory: Path) -> Path:
    """Write the stand-in plugin into `directory`; returns the directory (what Pulumi.yaml names)."""
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "pulumi-resource-kafka"
    wrapper.write_text(STAYING_PLUGIN.format(python=sys.executable, real=str(installed_kafka_plugin())))
    wrapper.chmod(0o755)
    return directory


def use_kafka_plugin(project_dir: Path, plugin_dir: Path) -> None:
    """Make the project's engine run the Kafka plugin found in `plugin_dir` (Pulumi.yaml `plugins:`)."""
    manifest_path = project_dir / "Pulumi.yaml"
    manifest = yaml.safe_load(manifest_path.read_text())
    manifest.setdefault("plugins", {})["providers"] = [{"name": "kafka", "path": str(plugin_dir)}]
    manifest_path.write_text(yaml.safe_dump(manifest, sort_keys=False))


def wait_until_gone(project_dir: Path, timeout: float = 20) -> list[PluginProcess]:
    """Wait for every plugin process of the project to exit; returns those still running at the end."""
    deadline = time.monotonic() + timeout
    while True:
        left = plugin_processes(project_dir)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.25)


def counter(pattern: str, count: int) -> Callable[[str], bool]:
    """A trigger that holds on the `count`-th line matching `pattern`."""
    regex = re.compile(pattern)
    seen = [0]

    def trigger(line: str) -> bool:
        if regex.search(line):
            seen[0] += 1
        return seen[0] >= count

    return trigger
