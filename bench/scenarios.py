"""The benchmark run: per size, the program, the CLI, the floor, k2infra's lifecycle and the peers.

Sizes smallest first, and those steps in that order (the floor of the everyday changes with the
peers). What each measures, and the figures' keys in the results: docs/benchmarks.md, "What is
measured". The platform is the one K2_BOOTSTRAP_SERVERS / K2_SCHEMA_REGISTRY_URL name
(holding no `market.` topic or subject: the run creates and deletes them), else its own on free
ports. Everything the run created goes at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import environment, floor, peers, report, topologies
from bench.measure import MeasureTimeout, Run, run_measured
from bench.project import BenchProject
from k2infra.client.naming import load_plan
from k2infra.registry.client import RegistryClient

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (6, 60, 300, 600, 3000)
LARGE = 600  # above: one repetition of the pulumi commands, create and destroy in the bulk mode only
PREFIX = "market."
BULK = {"PULUMI_SKIP_CHECKPOINTS": "true"}


@dataclass
class Options:
    sizes: list[int] = field(default_factory=lambda: list(DEFAULT_SIZES))
    repeat: int = 3  # every figure; the pulumi commands above LARGE once
    pulumi: bool = True
    standard: bool = True  # program evaluation, the CLI, verify, k2infra's lifecycle
    changes: bool = True  # the everyday changes within k2infra's lifecycle
    peers: bool = True  # Jikkou and topicctl (bench.peers), when installed
    topicctl_shipped_topics: int = 60  # topics of topicctl's as-shipped create (2 s a topic)
    results_dir: Path = REPO / "bench" / "results"
    work_dir: Path | None = None
    keep_work: bool = False


class BenchFailed(RuntimeError):
    pass


def floor_timeout(size: int) -> float:
    return max(300.0, size * 0.5)


def pulumi_timeout(size: int) -> float:
    return max(900.0, size * 2.0)


class Bench:
    def __init__(self, options: Options, out: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.out = out or (lambda line: print(line, flush=True))
        self.results: dict[str, Any] = {"meta": {}, "settings": {}, "sizes": {}}
        self.platform: Any = None
        self.work = Path(options.work_dir or tempfile.mkdtemp(prefix="k2bench-"))
        self.projects: list[BenchProject] = []
        self.admin: Any = None
        self.parallel = 0
        self.peer_tools: peers.PeerTools | None = None
        self.topicctl_shipped_done = False
        self.started = time.perf_counter()

    def run(self) -> dict[str, Any]:
        environment.use_toolchain()
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        self.work.mkdir(parents=True, exist_ok=True)
        try:
            self._prepare()
            for size in sorted(set(self.options.sizes)):
                self._size(size)
        finally:
            problems = self._cleanup()
            signal.signal(signal.SIGTERM, previous)
            self.results["meta"].update(
                finished=_now(),
                duration_s=round(time.perf_counter() - self.started, 1),
                loadavg_end=environment.loadavg(),
                cleanup_problems=problems,
            )
            self._save()
        return self.results

    def _prepare(self) -> None:
        from devkit.local_platform import LocalPlatform

        o = self.options
        self.parallel = environment.default_parallelism()
        flags = ("repeat", "pulumi", "standard", "changes", "peers", "topicctl_shipped_topics")
        self.results["settings"] = {name: getattr(o, name) for name in flags}
        self.results["settings"].update(sizes=sorted(set(o.sizes)), large_above=LARGE, default_parallel=self.parallel)
        meta = self.results["meta"]
        meta.update(started=_now(), machine=environment.machine(), command=" ".join(["python -m bench", *sys.argv[1:]]))
        self.platform = LocalPlatform.from_env()
        if self.platform is None:
            self.out(f"starting a platform of our own in {self.work / 'platform'} (free ports)")
            self.platform = LocalPlatform.start(self.work / "platform")
            meta["platform"] = "started by the benchmark (tools/platform.sh, free ports)"
        else:
            meta["platform"] = "from K2_BOOTSTRAP_SERVERS / K2_SCHEMA_REGISTRY_URL"
        meta["bootstrap_servers"] = self.platform.bootstrap_servers
        meta["versions"] = environment.versions(self.platform.env)
        if o.peers:
            self.peer_tools = peers.locate()
            if self.peer_tools is None:
                self.out("peers: not installed (run tools/bench/install-peers.sh); measuring without them")
            meta["versions"]["peers"] = peers.versions(self.peer_tools)
        self.admin = floor.admin_client(self.platform.bootstrap_servers)
        topics = [n for n in self.admin.list_topics(timeout=30).topics if n.startswith(PREFIX)]
        subjects = [
            s for s in RegistryClient(self.platform.schema_registry_url).list_subjects() if s.startswith(PREFIX)
        ]
        if topics or subjects:
            raise BenchFailed(
                f"the platform at {self.platform.bootstrap_servers} already holds {len(topics)} `market.` topics and "
                f"{len(subjects)} subjects; the benchmark needs a platform without them (unset K2_BOOTSTRAP_SERVERS "
                "and K2_SCHEMA_REGISTRY_URL to let it start its own)"
            )
        described = {**meta["machine"], **meta["versions"], "default --parallel": self.parallel}
        self.out(", ".join(f"{key} {value}" for key, value in described.items()))
        self.out("figures: median (min-max) seconds over the repetitions so far, peak memory in MB")

    # -- one size --------------------------------------------------------------------------
    def _entry(self, size: int) -> dict[str, Any]:
        return self.results["sizes"].setdefault(str(size), {"topics": size, "figures": {}, "notes": [], "errors": []})

    def _size(self, size: int) -> None:
        o = self.options
        t = topologies.synthetic_topology(size)
        project = BenchProject.create(
            self.work / f"size-{size}", t, self.platform.bootstrap_servers, self.platform.schema_registry_url
        )
        self.projects.append(project)
        self._entry(size).update(partitions=t.partitions, exchanges=t.exchanges, loadavg_start=environment.loadavg())
        self.out(f"[{size:>5}] {size} topics, {t.partitions} partitions, {t.exchanges} exchanges")
        for mode in ("harness", "lean", "sdk-floor") if o.standard else ("sdk-floor",):
            for _ in range(o.repeat):
                self._evaluate(project, mode)
        for _ in range(o.repeat if o.standard else 0):
            self._topics_json(project)
        for _ in range(o.repeat):
            self._floor(project)
        if o.pulumi and (o.standard or o.changes):
            self._lifecycle(project)
        if o.peers and self.peer_tools is not None:
            self._peers(project, self.peer_tools)
        self._save()

    def _record(self, size: int, key: str, seconds: float, peak_mb: float | None = None, **extra: Any) -> None:
        figure = self._entry(size)["figures"].setdefault(key, {"seconds": [], "peak_mb": []})
        figure["seconds"].append(round(seconds, 3))
        if peak_mb is not None:
            figure["peak_mb"].append(round(peak_mb, 1))
        for name, value in extra.items():
            figure.setdefault(name, []).append(value)
        self.out(report.console_line(size, key, figure))
        self._save()  # a long run killed part-way keeps what it measured

    def _error(self, size: int, what: str, detail: str) -> None:
        self._entry(size)["errors"].append(f"{what}: {detail[-2000:]}")
        self.out(f"[{size:>5}] ERROR {what}: {detail[-600:]}")

    def _failure(self, size: int, key: str, run: Run, error: str) -> None:
        failures = self._entry(size).setdefault("failures", {}).setdefault(key, [])
        failures.append({"seconds": round(run.seconds, 3), "error": error})
        self.out(f"[{size:>5}] {key}: FAILED after {run.seconds:.1f} s: {error}")

    # -- program and CLI -------------------------------------------------------------------
    def _checked(self, size: int, what: str, *args: str, timeout: float) -> Run | None:
        """A measured `python` child that must succeed (else an error is recorded and None returned)."""
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
        for key in ("K2_SASL_PASSWORD", "K2_SCHEMA_REGISTRY_PASSWORD", "K2_SCHEMA_REGISTRY_TOKEN"):
            env.pop(key, None)
        try:
            run = run_measured([sys.executable, *args], env=env, cwd=REPO, timeout=timeout)
        except MeasureTimeout as exc:
            self._error(size, what, str(exc))
            return None
        if not run.ok:
            self._error(size, what, run.failure())
            return None
        return run

    def _evaluate(self, project: BenchProject, mode: str) -> None:
        size = project.topology.size
        result = self.work / f"evaluate-{size}-{mode}.json"
        args = ["-m", "bench.evaluate", "--project-dir", str(project.dir), "--stack", topologies.STACK]
        args += ["--mode", mode, "--result", str(result)]
        if mode == "sdk-floor":
            args += ["--topics", str(self._topic_inputs(project))]
        what = f"program evaluation ({mode})"
        run = self._checked(size, what, *args, timeout=1800)
        if run is not None:
            phases = json.loads(result.read_text())
            if phases.get("topics") != size:
                self._error(size, what, f"{phases.get('topics')} topics, expected {size}")
            key = {"harness": "eval", "lean": "eval_lean", "sdk-floor": "eval_sdk"}[mode]
            self._record(size, key, run.seconds, run.peak_rss_mb, phases=phases)

    def _topic_inputs(self, project: BenchProject) -> Path:
        """The planned topics' inputs as JSON (kafka.Topic's, field for field), for the SDK floor."""
        path = project.dir / "topic-inputs.json"
        if not path.exists():
            path.write_text(peers.topics_json(_wanted(project.plan)))
        return path

    def _cli_args(self, project: BenchProject, *args: str) -> list[str]:
        dirs = ["--config-dir", str(project.config_dir), "--project-dir", str(project.dir)]
        return ["-m", "k2infra", *args, "--stack", topologies.STACK, *dirs]

    def _topics_json(self, project: BenchProject) -> None:
        size = project.topology.size
        run = self._checked(size, "topics --json", *self._cli_args(project, "topics", "--json"), timeout=600)
        if run is not None:
            listed = len(json.loads(run.stdout)["topics"])
            if listed != size:
                self._error(size, "topics --json", f"listed {listed} topics, expected {size}")
            self._record(size, "topics_json", run.seconds, run.peak_rss_mb)

    def _verify(self, project: BenchProject) -> None:
        size = project.topology.size
        args = self._cli_args(project, "verify", "--json", "--timeout", "300")
        run = self._checked(size, "verify", *args, timeout=900)
        if run is not None:
            document = json.loads(run.stdout[run.stdout.find("{") :])
            rows = len(document.get("topics", []))
            if document.get("ok") and rows == size:
                self._record(size, "verify", run.seconds, run.peak_rss_mb)
            else:
                self._error(size, "verify", f"ok={document.get('ok')}, {rows} topic rows for {size} topics")

    # -- the floor -------------------------------------------------------------------------
    def _floor(self, project: BenchProject) -> None:
        size = project.topology.size
        wanted = _wanted(project.plan)
        names = [t.name for t in wanted]
        timeout = floor_timeout(size)
        # A new client per measurement: the floor's create includes its first connection, as every
        # figure it is compared with starts its own client.
        admin = floor.admin_client(self.platform.bootstrap_servers)
        try:
            batches = len(list(floor.batches(wanted)))
            self._record(size, "floor_create", floor.create(admin, wanted, timeout), batches=batches)
            self._record(size, "floor_describe", floor.describe(admin, names, timeout))
            self._record(size, "floor_delete", floor.delete(admin, names, timeout))
        except Exception as exc:  # reported, then cleaned up
            self._error(size, "floor", repr(exc))
            floor.remove(self.admin, names, timeout)

    # -- k2infra through the CLI ---------------------------------------------------------------
    def _repeats(self, size: int) -> int:
        return self.options.repeat if size <= LARGE else 1

    def _changed(self, project: BenchProject) -> dict[str, topologies.SyntheticTopology]:
        a = project.topology
        b = topologies.with_added_exchange(a)
        return {"a": a, "b": b, "c": topologies.with_raised_partitions(b, topologies.exchanges(b)[0])}

    def _use_config(self, project: BenchProject, topology: topologies.SyntheticTopology) -> None:
        topologies.write_config(topology, project.config_dir)
        project.__dict__.pop("plan", None)

    def _step(self, project: BenchProject, key: str, run: Run) -> bool:
        """Record a pulumi command's figure; a failed one is reported and the project cleaned up."""
        if run.ok:
            self._record(project.topology.size, key, run.seconds, run.tree_peak_mb)
            return True
        self._error(project.topology.size, key, run.failure())
        self._cleanup_project(project)
        return False

    def _lifecycle(self, project: BenchProject) -> None:
        size, p = project.topology.size, self.parallel
        timeout = pulumi_timeout(size)
        mode, env = ("_nockpt", BULK) if size > LARGE else ("", None)
        tops = self._changed(project) if self.options.changes else {"a": project.topology}
        # (configuration, figure, command): a failed command is reported and ends the lifecycle.
        steps = [
            ("a", f"up{mode}@{p}", lambda: project.up(p, timeout=timeout, env=env)),
            ("a", f"preview@{p}", lambda: project.preview(p, timeout)),
        ]
        for change, tag in (("add", "b"), ("raise", "c")) if self.options.changes else ():
            preview = lambda: project.timed("preview", "--parallel", str(p), timeout=timeout)  # noqa: E731
            steps += [
                (tag, f"{change}_preview@{p}", preview),
                (tag, f"{change}_up@{p}", lambda: project.up(p, timeout=timeout)),
            ]
        steps.append((None, f"destroy{mode}@{p}", lambda: project.destroy(p, timeout=timeout, env=env)))
        if size <= LARGE:
            steps.append(("a", f"up_nockpt@{p}", lambda: project.up(p, timeout=timeout, env=BULK)))
            steps.append((None, f"destroy_nockpt@{p}", lambda: project.destroy(p, timeout=timeout, env=BULK)))
        self.out(f"[{size:>5}] k2infra: create, no-change, add one exchange, raise partitions, delete (P={p})")
        for _ in range(self._repeats(size)):
            try:
                for tag, key, command in steps:
                    if tag is not None:
                        self._use_config(project, tops[tag])
                    if not self._step(project, key, command()):
                        return
                    if key.startswith("up") and "verify" not in self._entry(size)["figures"]:
                        for _ in range(self.options.repeat):
                            self._verify(project)
                    if key.startswith("raise_up"):
                        self._check_applied(size, tops["c"])
                    if key.startswith("destroy") and (
                        left := floor.existing(self.admin, tops.get("c", tops["a"]).topics)
                    ):
                        self._error(size, "destroy", f"{len(left)} topics left on the cluster, e.g. {left[0]}")
                        floor.delete(self.admin, left, floor_timeout(size))
            except MeasureTimeout as exc:
                self._error(size, "k2infra lifecycle", str(exc))
                self._cleanup_project(project)
                return
            finally:
                self._use_config(project, tops["a"])

    def _check_applied(self, size: int, topology: topologies.SyntheticTopology) -> None:
        """After the changes, the cluster holds C's topics with C's partition counts."""
        metadata = self.admin.list_topics(timeout=60).topics
        wrong = [n for n, p in topology.topics.items() if n not in metadata or len(metadata[n].partitions) != p]
        if wrong:
            self._error(size, "k2infra changes", f"{len(wrong)} topics not as planned, e.g. {wrong[0]}")

    # -- the peers ------------------------------------------------------------------------------
    def _peers(self, project: BenchProject, tools: peers.PeerTools) -> None:
        """Jikkou and topicctl through the phases of A, B and C; topicctl as shipped (a 10 s sleep
        loop, 2 s a created topic) also on D (C plus one more exchange) and E (D with another
        exchange's partitions raised), and its create once on the first topics of A."""
        size = project.topology.size
        tops = self._changed(project)
        exchanges = topologies.exchanges(tops["c"])
        tops["d"] = topologies.with_raised_partitions(topologies.with_added_exchange(tops["c"]), exchanges[0])
        tops["e"] = topologies.with_raised_partitions(tops["d"], exchanges[1])
        directory = self.work / f"peers-{size}"
        wanted = {}
        for tag, topology in tops.items():
            topologies.write_config(topology, directory / f"config-{tag}")
            wanted[tag] = _wanted(load_plan(directory / f"config-{tag}", topologies.STACK, project.dir))
        wanted["shipped"] = wanted["a"][: min(size, self.options.topicctl_shipped_topics)]
        self._floor_changes(size, wanted)
        bootstrap = self.platform.bootstrap_servers
        (directory / "cluster.yaml").write_text(peers.topicctl_cluster_yaml(bootstrap))
        for tag, topics in wanted.items():
            (directory / f"{tag}.json").write_text(peers.topics_json(topics))
            (directory / f"{tag}.yaml").write_text(peers.topicctl_topics_yaml(topics))

        def jikkou(mode: str, tag: str, key: str) -> bool:
            argv = [tools.jikkou_java or "java", "-cp", tools.jikkou_classpath or "", "JikkouBench", bootstrap]
            return self._peer(size, key, [*argv, str(directory / f"{tag}.json"), mode], _jikkou_error)

        def topicctl(tag: str, key: str, sleep: str = peers.TOPICCTL_TUNED_SLEEP, command: str = "apply") -> bool:
            argv = [tools.topicctl or "topicctl", command, "--cluster-config", str(directory / "cluster.yaml")]
            argv += ["--skip-confirm", "--sleep-loop-duration", sleep] if command == "apply" else []
            return self._peer(size, key, [*argv, str(directory / f"{tag}.yaml")], _topicctl_error)

        for _ in range(self._repeats(size) if tools.jikkou else 0):
            try:
                if not jikkou("apply", "a", "jikkou_create"):
                    # What the broker refused is created by the floor, so the later phases still measure.
                    there = set(floor.existing(self.admin, [t.name for t in wanted["a"]]))
                    floor.create(self.admin, [t for t in wanted["a"] if t.name not in there], floor_timeout(size))
                    self._entry(size)["notes"].append(
                        "Jikkou's create failed (see Failures); its later phases ran on the same topics created by "
                        "the floor's batched CreateTopics"
                    )
                jikkou("apply", "a", "jikkou_no_change")
                jikkou("diff", "a", "jikkou_diff")
                jikkou("apply", "b", "jikkou_add_exchange")
                jikkou("apply", "c", "jikkou_raise_partitions")
                jikkou("delete", "c", "jikkou_delete")
            finally:
                floor.remove(self.admin, [t.name for t in wanted["c"]], floor_timeout(size))
        shipped = peers.TOPICCTL_SHIPPED_SLEEP
        for rep in range(self._repeats(size) if tools.topicctl else 0):
            try:
                topicctl("a", "topicctl_create")
                topicctl("a", "topicctl_check", command="check")
                topicctl("a", "topicctl_no_change")
                topicctl("b", "topicctl_add_exchange")
                topicctl("c", "topicctl_raise_partitions")
                if rep == 0:
                    topicctl("d", "topicctl_add_exchange_shipped", shipped)
                    topicctl("e", "topicctl_raise_partitions_shipped", shipped)
            finally:
                floor.remove(self.admin, [t.name for t in wanted["e"]], floor_timeout(size))
            if rep == 0 and wanted["shipped"] and not self.topicctl_shipped_done:
                # As shipped, a create sleeps 2 s per topic: measured once, on the first topics of A.
                self.topicctl_shipped_done = True
                try:
                    if topicctl("shipped", "topicctl_create_shipped", shipped):
                        figure = self._entry(size)["figures"]["topicctl_create_shipped"]
                        figure.setdefault("topics", []).append(len(wanted["shipped"]))
                finally:
                    floor.remove(self.admin, [t.name for t in wanted["shipped"]], 300)

    def _peer(self, size: int, key: str, argv: list[str], why: Callable[[Run], str]) -> bool:
        run = run_measured(argv, timeout=max(900.0, size * 1.0))
        if run.ok:
            self._record(size, key, run.seconds)
        else:
            self._failure(size, key, run, why(run))
        return run.ok

    def _floor_changes(self, size: int, wanted: dict[str, list]) -> None:
        """The floor of the everyday changes: B's new topics in one CreateTopics, C's raise in one
        CreatePartitions, each waited for until every partition has a leader."""
        a, b, c = wanted["a"], wanted["b"], wanted["c"]
        try:
            floor.create(self.admin, a, floor_timeout(size))
            names_a = {t.name for t in a}
            self._record(size, "floor_add", floor.create(self.admin, [t for t in b if t.name not in names_a], 120))
            old = {t.name: t.partitions for t in b}
            raised = {t.name: t.partitions for t in c if old[t.name] != t.partitions}
            self._record(size, "floor_raise", floor.raise_partitions(self.admin, raised, 120))
        except Exception as exc:
            self._error(size, "floor of the changes", repr(exc))
        finally:
            floor.remove(self.admin, [t.name for t in b], floor_timeout(size))

    # -- the end ---------------------------------------------------------------------------
    def _cleanup_project(self, project: BenchProject) -> None:
        for problem in project.cleanup():
            self.out(f"cleanup of {project.topology.size}: {problem}")
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Every `market.` topic is the run's (the platform held none at the start)."""
        floor.remove(self.admin, [n for n in self.admin.list_topics(timeout=30).topics if n.startswith(PREFIX)], 900)

    def _cleanup(self) -> list[str]:
        problems: list[str] = []
        # A platform the run started is thrown away below: destroying stacks on it first
        # (thousands of topics, one by one) would only make an interrupted run slow to end.
        owned = self.platform is not None and self.platform.owned
        for project in self.projects:
            try:
                problems += project.cleanup(destroy=not owned)
            except Exception as exc:  # keep cleaning the rest
                problems.append(f"size {project.topology.size}: {exc!r}")
        try:
            if self.admin is not None and not owned:
                self._remove_leftovers()
        except Exception as exc:
            problems.append(f"topics left: {exc!r}")
        self.admin = None  # librdkafka would log connection failures once the platform is gone
        if owned:
            try:
                self.platform.stop()
            except Exception as exc:
                problems.append(f"platform stop: {exc!r}")
        if not self.options.keep_work:
            shutil.rmtree(self.work, ignore_errors=True)
        for problem in problems:
            self.out(f"cleanup: {problem}")
        return problems

    def _save(self) -> None:
        self.options.results_dir.mkdir(parents=True, exist_ok=True)
        (self.options.results_dir / "latest.json").write_text(json.dumps(self.results, indent=1))


def _wanted(plan: Any) -> list[floor.TopicWanted]:
    return [floor.TopicWanted(t.name, t.partitions, t.replication_factor, t.config) for t in plan.topics]


def _jikkou_error(run: Run) -> str:
    return peers.jikkou_error(peers.parse_jikkou_output(run.stdout), run.stderr)


def _topicctl_error(run: Run) -> str:
    tail = [line for line in (run.stderr + run.stdout).splitlines() if "level=error" in line or "Error" in line]
    return (tail[-1] if tail else run.stderr[-300:])[:300]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
