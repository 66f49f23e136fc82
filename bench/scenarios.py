"""The benchmark run: sizes x {program evaluation, CLI, floor, pulumi up/preview/destroy, verify}.

Order of a run:
1. the platform: the one K2_BOOTSTRAP_SERVERS / K2_SCHEMA_REGISTRY_URL name (it must hold no
   `market.` topic or subject: the benchmark creates and deletes them), else its own on free ports;
2. the parallelism sweep at one size (pulumi up, no-change preview, destroy at the CLI's default
   --parallel and at each candidate), which picks the tuned --parallel for every size; the sweep's
   runs at the default and the chosen value count as the first repetition at that size;
3. per size, smallest first: program evaluation under mocks and `python -m k2infra topics --json`
   (one process each, repeated), the floor (create, describe, delete; repeated), then per
   parallelism: pulumi up from an empty stack, `verify` (after the first up), a no-change preview
   and destroy; a size whose extrapolated `pulumi up` exceeds the budget is skipped and the
   extrapolation recorded as such;
4. profiling (cProfile of the program and of verify, the engine with checkpoints skipped, with
   verbose logs for per-step provider times, and a Go CPU profile of the CLI);
5. the report: a table on stdout as figures arrive, then docs/benchmarks.md and the PNG.
Everything the run creates (topics, subjects, stacks, temp dirs, the platform it started) goes at
the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import json
import math
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

from bench import environment, floor, peers, profiling, report, topologies
from bench.comparison import ComparisonMixin, peer_versions
from bench.measure import MeasureTimeout, Run, Stat, run_measured
from bench.project import BenchProject
from k2infra.registry.client import RegistryClient

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (6, 60, 300, 600, 3000)
LARGE = 600  # sizes above this get `large_repeat` pulumi repetitions
PREFIX = "market."


@dataclass
class Options:
    sizes: list[int] = field(default_factory=lambda: list(DEFAULT_SIZES))
    repeat: int = 3  # program, CLI, floor and verify figures
    pulumi_repeat: int = 3  # pulumi up/preview/destroy at sizes <= LARGE
    large_repeat: int = 1  # ... above LARGE
    tuned: list[int] | None = None  # candidate --parallel values (default: 4x and 16x the CLI default)
    sweep_size: int | None = None  # default: the largest size <= LARGE
    sweep: bool = True
    pulumi: bool = True
    profile: bool = True
    max_command_seconds: float = 2400.0  # skip a pulumi size whose up would exceed this (extrapolated)
    out_dir: Path = REPO / "docs"
    results_dir: Path = REPO / "bench" / "results"
    work_dir: Path | None = None
    keep_work: bool = False
    standard: bool = True  # program evaluation, CLI, verify and the pulumi rounds
    changes: bool = True  # k2infra's lifecycle with the everyday changes (bench.comparison)
    peers: bool = True  # Jikkou and topicctl (bench.peers), when installed
    topicctl_shipped_topics: int = 60  # topics of topicctl's as-shipped create (2 s a topic)
    program_profile: bool = False  # only py-spy of the program during a preview (bench.comparison)


class BenchFailed(RuntimeError):
    pass


EVAL_KEYS = {"harness": "eval", "lean": "eval_lean", "sdk-floor": "eval_sdk"}


def floor_timeout(size: int) -> float:
    """How long the floor's batched create or delete of `size` topics may take."""
    return max(300.0, size * 0.5)


def figure_key(kind: str, parallel: int | None = None) -> str:
    return f"{kind}@{parallel}" if parallel is not None else kind


class Bench(ComparisonMixin):
    def __init__(self, options: Options, out: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.out = out or (lambda line: print(line, flush=True))
        self.results: dict[str, Any] = {"meta": {}, "settings": {}, "sweep": None, "sizes": {}, "profile": {}}
        self.platform: Any = None
        self.work: Path | None = None
        self.projects: list[BenchProject] = []
        self.admin: Any = None
        self.default_parallel = 0
        self.tuned_parallel: int | None = None
        self.peer_tools: peers.PeerTools | None = None
        self._topicctl_shipped_done = False
        self.started = time.perf_counter()

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        environment.use_toolchain()
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        self.work = Path(self.options.work_dir or tempfile.mkdtemp(prefix="k2bench-"))
        self.work.mkdir(parents=True, exist_ok=True)
        try:
            self._prepare()
            sizes = sorted(set(self.options.sizes))
            if self.options.pulumi and self.options.sweep:
                self._sweep(sizes)
            elif self.options.pulumi:
                self.tuned_parallel = (self.options.tuned or [4 * self.default_parallel])[0]
            for size in sizes:
                self._size(size)
            if self.options.profile and self.options.standard:
                self._profile(sizes)
        finally:
            problems = self._cleanup()
            signal.signal(signal.SIGTERM, previous)
            self.results["meta"]["finished"] = _now()
            self.results["meta"]["duration_s"] = round(time.perf_counter() - self.started, 1)
            self.results["meta"]["loadavg_end"] = environment.loadavg()
            self.results["meta"]["cleanup_problems"] = problems
            self._save()
        return self.results

    def _prepare(self) -> None:
        from devkit.local_platform import LocalPlatform

        o = self.options
        self.default_parallel = environment.default_parallelism()
        candidates = o.tuned or [4 * self.default_parallel, 16 * self.default_parallel]
        self.results["settings"] = {
            "sizes": sorted(set(o.sizes)),
            "repeat": o.repeat,
            "pulumi_repeat": o.pulumi_repeat,
            "large_repeat": o.large_repeat,
            "large_above": LARGE,
            "default_parallel": self.default_parallel,
            "candidates": candidates,
            "max_command_seconds": o.max_command_seconds,
            "floor_batch": floor.BATCH,
            "floor_max_records": floor.MAX_RECORDS,
            "standard": o.standard,
            "changes": o.changes and o.pulumi,
            "peers": o.peers,
            "topicctl_shipped_topics": o.topicctl_shipped_topics,
        }
        self.results["meta"] = {
            "started": _now(),
            "machine": environment.machine(),
            "command": " ".join(["python -m bench", *sys.argv[1:]]),
        }
        self.platform = LocalPlatform.from_env()
        if self.platform is None:
            self.out(f"starting a platform of our own in {self.work / 'platform'} (free ports)")
            self.platform = LocalPlatform.start(self.work / "platform")
            self.results["meta"]["platform"] = "started by the benchmark (tools/platform.sh, free ports)"
        else:
            self.results["meta"]["platform"] = "from K2_BOOTSTRAP_SERVERS / K2_SCHEMA_REGISTRY_URL"
        self.results["meta"]["bootstrap_servers"] = self.platform.bootstrap_servers
        self.results["meta"]["versions"] = environment.versions(self.platform.env)
        if o.peers:
            self.peer_tools = peers.locate()
            if self.peer_tools is None:
                self.out("peers: not installed (run tools/bench/install-peers.sh); measuring without them")
            self.results["meta"]["versions"]["peers"] = peer_versions(self.peer_tools)
            self.results["peers"] = peers.describe(self.peer_tools)
        self.admin = floor.admin_client(self.platform.bootstrap_servers)
        self._check_empty()
        v = self.results["meta"]["versions"]
        m = self.results["meta"]["machine"]
        self.out(
            f"machine: {m['cores']} cores, {m['memory_gb']} GB, load {m['loadavg']}; pulumi {v['pulumi_cli']}, "
            f"kafka plugin {v['kafka_provider_plugin']}, Kafka {v['kafka']}, Apicurio {v['apicurio']}; "
            f"default --parallel {self.default_parallel}"
        )
        self.out(report.console_header())

    def _check_empty(self) -> None:
        """The benchmark creates and deletes `market.` topics and subjects: none may be there."""
        topics = [n for n in self.admin.list_topics(timeout=30).topics if n.startswith(PREFIX)]
        subjects = [s for s in _registry_subjects(self.platform.schema_registry_url) if s.startswith(PREFIX)]
        if topics or subjects:
            raise BenchFailed(
                f"the platform at {self.platform.bootstrap_servers} already holds {len(topics)} `market.` topics and "
                f"{len(subjects)} subjects; the benchmark needs a platform without them (unset K2_BOOTSTRAP_SERVERS "
                "and K2_SCHEMA_REGISTRY_URL to let it start its own)"
            )

    # -- one size --------------------------------------------------------------------------
    def _entry(self, size: int) -> dict[str, Any]:
        return self.results["sizes"].setdefault(
            str(size), {"topics": size, "figures": {}, "notes": [], "errors": [], "extrapolated": {}}
        )

    def _project(self, size: int) -> BenchProject:
        for project in self.projects:
            if project.topology.size == size:
                return project
        topology = topologies.synthetic_topology(size)
        assert self.work is not None
        project = BenchProject.create(
            self.work / f"size-{size}", topology, self.platform.bootstrap_servers, self.platform.schema_registry_url
        )
        self.projects.append(project)
        entry = self._entry(size)
        entry.update(partitions=topology.partitions, exchanges=topology.exchanges)
        return project

    def _size(self, size: int) -> None:
        project = self._project(size)
        entry = self._entry(size)
        entry["loadavg_start"] = environment.loadavg()
        self.out(
            f"[{size:>5}] {size} topics, {project.topology.partitions} partitions, {project.topology.exchanges} exchanges"
        )
        if self.options.program_profile:
            self._pyspy_change(project, None, self.default_parallel, self.options.max_command_seconds)
            self._save()
            return
        for _ in range(self.options.repeat if self.options.standard else 0):
            self._evaluate(project)
        for _ in range(self.options.repeat if self.options.standard else 0):
            self._evaluate(project, mode="lean")
        for _ in range(self.options.repeat):
            self._evaluate(project, mode="sdk-floor")
        for _ in range(self.options.repeat if self.options.standard else 0):
            self._topics_json(project)
        for _ in range(self.options.repeat):
            self._floor(project)
        if self.options.pulumi and self.options.changes:
            self._changes(project)
        if self.options.peers and self.peer_tools is not None:
            self._peers(project, self.peer_tools)
        if self.options.pulumi and self.options.standard:
            parallels = [self.default_parallel]
            if self.tuned_parallel and self.tuned_parallel != self.default_parallel:
                parallels.append(self.tuned_parallel)
            for parallel in parallels:
                self._pulumi_rounds(project, parallel)
            if not self.options.changes:  # the changes' lifecycle measured the bulk mode already
                self._pulumi_without_checkpoints(project, self.default_parallel)
            if "verify" not in self._entry(size)["figures"]:
                self._verify_on_floor(project)
        self.out(report.console_row(self.results, size))
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

    # -- program and CLI -------------------------------------------------------------------
    def _python(self, *args: str, timeout: float, profile_to: Path | None = None) -> Run:
        argv = [sys.executable]
        if profile_to is not None:
            argv += ["-m", "cProfile", "-o", str(profile_to)]
        argv += list(args)
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
        for key in ("K2_SASL_PASSWORD", "K2_SCHEMA_REGISTRY_PASSWORD", "K2_SCHEMA_REGISTRY_TOKEN"):
            env.pop(key, None)
        return run_measured(argv, env=env, cwd=REPO, timeout=timeout)

    def _evaluate(
        self, project: BenchProject, profile: Path | None = None, mode: str = "harness"
    ) -> dict[str, Any] | None:
        size = project.topology.size
        assert self.work is not None
        key = EVAL_KEYS[mode]
        result_file = self.work / f"evaluate-{size}-{mode}.json"
        args = ["-m", "bench.evaluate", "--project-dir", str(project.dir), "--stack", topologies.STACK]
        args += ["--mode", mode, "--result", str(result_file)]
        if mode == "sdk-floor":
            args += ["--topics", str(self._topic_inputs(project))]
        if profile is not None:
            args += ["--profile", str(profile)]
        try:
            run = self._python(*args, timeout=1800)
        except MeasureTimeout as exc:
            self._error(size, f"program evaluation ({mode})", str(exc))
            return None
        if not run.ok:
            self._error(size, f"program evaluation ({mode})", run.failure())
            return None
        phases = json.loads(result_file.read_text())
        if phases.get("topics") != size:
            self._error(size, f"program evaluation ({mode})", f"{phases.get('topics')} topics, expected {size}")
        if profile is None:
            self._record(size, key, run.seconds, run.peak_rss_mb, phases=phases)
        return phases

    def _topic_inputs(self, project: BenchProject) -> Path:
        """The planned topics' inputs as JSON, for the SDK floor (read there without k2infra)."""
        path = project.dir / "topic-inputs.json"
        if not path.exists():
            # The floor's topics are kafka.Topic's inputs, field for field.
            path.write_text(json.dumps([dataclasses.asdict(t) for t in self._wanted(project)]))
        return path

    def _topics_json(self, project: BenchProject) -> None:
        size = project.topology.size
        args = ["-m", "k2infra", "topics", "--json", "--stack", topologies.STACK]
        args += ["--config-dir", str(project.config_dir), "--project-dir", str(project.dir)]
        try:
            run = self._python(*args, timeout=600)
        except MeasureTimeout as exc:
            self._error(size, "topics --json", str(exc))
            return
        if not run.ok:
            self._error(size, "topics --json", run.failure())
            return
        listed = len(json.loads(run.stdout)["topics"])
        if listed != size:
            self._error(size, "topics --json", f"listed {listed} topics, expected {size}")
        self._record(size, "topics_json", run.seconds, run.peak_rss_mb)

    def _verify(self, project: BenchProject, profile_to: Path | None = None) -> Run | None:
        size = project.topology.size
        args = ["-m", "k2infra", "verify", "--stack", topologies.STACK, "--json", "--timeout", "300"]
        args += ["--config-dir", str(project.config_dir), "--project-dir", str(project.dir)]
        try:
            run = self._python(*args, timeout=900, profile_to=profile_to)
        except MeasureTimeout as exc:
            self._error(size, "verify", str(exc))
            return None
        if not run.ok:
            self._error(size, "verify", run.failure())
            return None
        document = json.loads(run.stdout[run.stdout.find("{") :])
        rows = len(document.get("topics", []))
        if not document.get("ok") or rows != size:
            self._error(size, "verify", f"ok={document.get('ok')}, {rows} topic rows for {size} topics")
            return None
        if profile_to is None:
            self._record(size, "verify", run.seconds, run.peak_rss_mb)
        return run

    # -- the floor -------------------------------------------------------------------------
    @staticmethod
    def _wanted(project: BenchProject) -> list[floor.TopicWanted]:
        return [floor.TopicWanted(t.name, t.partitions, t.replication_factor, t.config) for t in project.plan.topics]

    def _floor(self, project: BenchProject) -> None:
        size = project.topology.size
        wanted = self._wanted(project)
        names = [t.name for t in wanted]
        timeout = floor_timeout(size)
        admin = floor.admin_client(self.platform.bootstrap_servers)
        try:
            batches = len(list(floor.batches(wanted)))
            self._record(size, "floor_create", floor.create(admin, wanted, timeout), batches=batches)
            self._record(size, "floor_describe", floor.describe(admin, names, timeout))
            self._record(size, "floor_delete", floor.delete(admin, names, timeout))
        except Exception as exc:  # reported, then cleaned up
            self._error(size, "floor", repr(exc))
            left = floor.existing(self.admin, names)
            if left:
                floor.delete(self.admin, left, timeout)

    def _verify_on_floor(self, project: BenchProject) -> None:
        """verify where `pulumi up` was skipped (or failed): the same topics and subjects, put there
        by the floor's batched create and the registry client. verify reads the cluster and the
        registry, never Pulumi's state, so what it measures is the same; the docs say which it was."""
        size = project.topology.size
        plan = project.plan
        wanted = self._wanted(project)
        names = [t.name for t in wanted]
        registry = RegistryClient(self.platform.schema_registry_url)
        self.out(f"[{size:>5}] verify on topics created by the floor (no stack of this size was deployed)")
        try:
            floor.create(self.admin, wanted, floor_timeout(size))
            for subject in plan.subjects:
                registry.set_compatibility(subject.subject, subject.compatibility)
                registry.register(subject.subject, subject.schema)
            for _ in range(self.options.repeat):
                self._verify(project)
            if self.options.profile:
                self._profile_verify(project)
            self._entry(size)["notes"].append(
                "verify ran on topics created by the floor's batched CreateTopics and subjects registered "
                "through the registry client, as no `pulumi up` deployed this size"
            )
        except Exception as exc:  # reported, then cleaned up
            self._error(size, "verify on the floor's topics", repr(exc))
        finally:
            left = floor.existing(self.admin, names)
            if left:
                floor.delete(self.admin, left, floor_timeout(size))
            for subject in plan.subjects:
                registry.delete_subject(subject.subject, permanent=True)

    # -- pulumi ----------------------------------------------------------------------------
    def _repeats(self, size: int) -> int:
        return self.options.pulumi_repeat if size <= LARGE else self.options.large_repeat

    def _predict(self, size: int, key: str) -> dict[str, Any] | None:
        """Power-law extrapolation of a figure from the two largest smaller sizes measured."""
        points = []
        for other, entry in self.results["sizes"].items():
            stat = Stat.of(entry["figures"].get(key, {}).get("seconds", []))
            if int(other) < size and stat is not None:
                points.append((int(other), stat.median))
        return extrapolate(points, size)

    def _pulumi_rounds(self, project: BenchProject, parallel: int) -> None:
        size = project.topology.size
        key = figure_key("up", parallel)
        done = len(self._entry(size)["figures"].get(key, {}).get("seconds", []))
        wanted = self._repeats(size)
        if done >= wanted:
            return
        predicted = self._predict(size, key)
        default_guess = self._predict(size, figure_key("up", self.default_parallel))
        if predicted and default_guess and default_guess["seconds"] > predicted["seconds"]:
            # The larger sizes are paced by the serial state writes, not by parallelism, so a tuned
            # value's flatter curve from two points would promise too much: take the slower guess.
            predicted = {**predicted, "seconds": default_guess["seconds"]}
        if predicted and predicted["seconds"] > self.options.max_command_seconds:
            entry = self._entry(size)
            for kind in ("up", "preview", "destroy"):
                guess = self._predict(size, figure_key(kind, parallel))
                if guess:
                    entry["extrapolated"][figure_key(kind, parallel)] = guess
            entry["notes"].append(
                f"pulumi at --parallel {parallel} skipped: `pulumi up` extrapolated to {predicted['seconds']:.0f} s, "
                f"over the {self.options.max_command_seconds:.0f} s budget per command"
            )
            self.out(f"[{size:>5}] SKIP pulumi --parallel {parallel}: up extrapolated to {predicted['seconds']:.0f} s")
            return
        guess = predicted["seconds"] if predicted else None
        timeout = self.options.max_command_seconds * 1.5
        if guess:
            timeout = min(timeout, max(900.0, 5 * guess))
        for _ in range(done, wanted):
            verify = "verify" not in self._entry(size)["figures"]
            if not self._pulumi_round(project, parallel, timeout, verify=verify):
                break

    def _pulumi_without_checkpoints(self, project: BenchProject, parallel: int) -> None:
        """One `pulumi up` and `destroy` with PULUMI_SKIP_CHECKPOINTS=true: the engine and provider
        without the file backend rewriting the whole state after every step (it writes it once, at
        the end). What the backend costs is the gap to up@P; what is left is ours and the engine's."""
        size = project.topology.size
        up_key, destroy_key = figure_key("up_nockpt", parallel), figure_key("destroy_nockpt", parallel)
        if self._entry(size)["figures"].get(up_key):
            return
        predicted = self._predict(size, up_key)
        if predicted and predicted["seconds"] > self.options.max_command_seconds:
            self._entry(size)["extrapolated"][up_key] = predicted
            return
        timeout = self.options.max_command_seconds * 1.5
        env = {"PULUMI_SKIP_CHECKPOINTS": "true"}
        try:
            up = project.up(parallel, timeout=timeout, env=env)
            if self._recorded(project, up_key, up, f"pulumi up --parallel {parallel} (no checkpoints)"):
                destroy = project.destroy(parallel, timeout=timeout, env=env)
                self._recorded(project, destroy_key, destroy, f"pulumi destroy --parallel {parallel} (no checkpoints)")
        except MeasureTimeout as exc:
            self._error(size, f"pulumi --parallel {parallel} (no checkpoints)", str(exc))
            self._cleanup_project(project)

    def _recorded(self, project: BenchProject, key: str, run: Run, what: str) -> bool:
        """Record a pulumi command's figure; a failed one is reported and the project cleaned up."""
        size = project.topology.size
        if not run.ok:
            self._error(size, what, run.failure())
            self._cleanup_project(project)
            return False
        self._record(size, key, run.seconds, run.tree_peak_mb)
        return True

    def _pulumi_round(self, project: BenchProject, parallel: int, timeout: float, verify: bool) -> bool:
        """up, [verify], no-change preview, destroy; False when something failed (and was cleaned up)."""
        size = project.topology.size
        try:
            up = project.up(parallel, timeout=timeout)
            if not self._recorded(project, figure_key("up", parallel), up, f"pulumi up --parallel {parallel}"):
                return False
            if verify:
                for _ in range(self.options.repeat):
                    self._verify(project)
                if self.options.profile:
                    self._profile_verify(project)
            preview = project.preview(parallel, timeout=timeout)
            if preview.ok:
                self._record(size, figure_key("preview", parallel), preview.seconds, preview.tree_peak_mb)
            else:
                self._error(size, f"pulumi preview --parallel {parallel}", preview.failure())
            destroy = project.destroy(parallel, timeout=timeout)
            if not self._recorded(
                project, figure_key("destroy", parallel), destroy, f"pulumi destroy --parallel {parallel}"
            ):
                return False
            left = floor.existing(self.admin, project.topology.topics)
            if left:
                self._error(size, "destroy", f"{len(left)} topics left on the cluster, e.g. {left[0]}")
                floor.delete(self.admin, left, 600)
            return preview.ok
        except MeasureTimeout as exc:
            self._error(size, f"pulumi --parallel {parallel}", str(exc))
            self._cleanup_project(project)
            return False

    def _cleanup_project(self, project: BenchProject) -> None:
        problems = project.cleanup()
        left = floor.existing(self.admin, project.topology.topics)
        if left:
            floor.delete(self.admin, left, 900)
        for problem in problems:
            self.out(f"cleanup of {project.topology.size}: {problem}")

    def _sweep(self, sizes: list[int]) -> None:
        candidates = self.results["settings"]["candidates"]
        size = self._sweep_size(sizes)
        project = self._project(size)
        self.out(f"[{size:>5}] parallelism sweep: --parallel {self.default_parallel} (default) vs {candidates}")
        timings: dict[str, float | None] = {}
        for parallel in [self.default_parallel, *candidates]:
            verify = "verify" not in self._entry(size)["figures"]
            ok = self._pulumi_round(project, parallel, self.options.max_command_seconds * 1.5, verify=verify)
            stat = Stat.of(self._entry(size)["figures"].get(figure_key("up", parallel), {}).get("seconds", []))
            timings[str(parallel)] = stat.median if ok and stat else None
        measured = {int(p): t for p, t in timings.items() if t is not None and int(p) != self.default_parallel}
        if not measured:
            raise BenchFailed("the parallelism sweep measured no candidate")
        chosen = min(measured, key=lambda p: measured[p])
        default_time = timings.get(str(self.default_parallel))
        self.tuned_parallel = chosen
        self.results["sweep"] = {
            "size": size,
            "default": self.default_parallel,
            "candidates": candidates,
            "up_seconds": timings,
            "chosen": chosen,
            "default_up_seconds": default_time,
        }
        # The sweep's runs at the other candidates are kept in the sweep only.
        figures = self._entry(size)["figures"]
        for parallel in candidates:
            if parallel != chosen:
                for kind in ("up", "preview", "destroy"):
                    self.results["sweep"].setdefault("figures", {})[figure_key(kind, parallel)] = figures.pop(
                        figure_key(kind, parallel), None
                    )
        self.out(f"[{size:>5}] sweep: up seconds by --parallel {timings}; tuned --parallel = {chosen}")

    # -- profiling -------------------------------------------------------------------------
    def _sweep_size(self, sizes: list[int]) -> int:
        return self.options.sweep_size or max([s for s in sizes if s <= LARGE] or [min(sizes)])

    def _profile(self, sizes: list[int]) -> None:
        assert self.work is not None
        prof = self.results["profile"]
        largest = max(sizes)
        self.out(f"profiling: cProfile of the program under mocks at {largest} topics")
        path = self.work / f"evaluate-{largest}.pstats"
        phases = self._evaluate(self._project(largest), profile=path, mode="lean")
        if phases is not None and path.exists():
            prof["program"] = {"size": largest, "phases": phases, **profiling.program_summary(path)}
        if not self.options.pulumi:
            return
        # The sweep's size, or (no sweep) the size it would have used.
        size = (self.results.get("sweep") or {}).get("size") or self._sweep_size(sizes)
        project = self._project(size)
        parallel = self.default_parallel
        timeout = self.options.max_command_seconds * 1.5
        try:
            self.out(f"profiling: pulumi up at {size} topics, --parallel {parallel}, -v=9 logs (per-step times)")
            run = project.up(parallel, "-v=9", "--logtostderr", "--logflow", timeout=timeout)
            self._keep_log("up-v9.log", run.stderr)
            if run.ok:
                prof["engine_log"] = {"size": size, "parallel": parallel, "seconds": round(run.seconds, 2)}
                prof["engine_log"].update(profiling.engine_log_summary(run.stderr))
            self._destroy_or_cleanup(project, parallel, timeout)

            go = shutil.which("go") is not None
            if go:
                self.out(f"profiling: pulumi up at {size} topics, --parallel {parallel}, --profiling (Go CPU profile)")
                run = project.up(parallel, "--profiling", str(self.work / "cli-up"), timeout=timeout)
                if run.ok:
                    prof["cli_cpu"] = {"size": size, "parallel": parallel, "seconds": round(run.seconds, 2)}
                    prof["cli_cpu"].update(profiling.go_profile_summary(self.work, "cli-up"))
            else:
                run = project.up(parallel, timeout=timeout)
            if run.ok:
                # The no-change preview, taken apart the same two ways.
                self.out(f"profiling: no-change preview at {size} topics, --parallel {parallel}, -v=9 logs")
                preview = project.preview(parallel, timeout, "-v=9", "--logtostderr", "--logflow")
                self._keep_log("preview-v9.log", preview.stderr)
                if preview.ok:
                    prof["preview_log"] = {"size": size, "parallel": parallel, "seconds": round(preview.seconds, 2)}
                    prof["preview_log"].update(profiling.engine_log_summary(preview.stderr))
                if go:
                    self.out(f"profiling: no-change preview at {size} topics, --profiling (Go CPU profile)")
                    preview = project.preview(parallel, timeout, "--profiling", str(self.work / "cli-preview"))
                    if preview.ok:
                        prof["preview_cpu"] = {"size": size, "parallel": parallel, "seconds": round(preview.seconds, 2)}
                        prof["preview_cpu"].update(profiling.go_profile_summary(self.work, "cli-preview"))
            self._destroy_or_cleanup(project, parallel, timeout)
        except MeasureTimeout as exc:
            prof.setdefault("errors", []).append(str(exc))
            self._cleanup_project(project)

    def _profile_verify(self, project: BenchProject) -> None:
        assert self.work is not None
        size = project.topology.size
        path = self.work / f"verify-{size}.pstats"
        run = self._verify(project, profile_to=path)
        if run is not None and path.exists():
            summary = {"seconds_profiled": round(run.seconds, 2), **profiling.verify_summary(path)}
            self.results["profile"].setdefault("verify", {})[str(size)] = summary

    def _keep_log(self, name: str, text: str) -> None:
        """Raw verbose logs go next to the results (bench/results/, not in git) for a closer look."""
        self.options.results_dir.mkdir(parents=True, exist_ok=True)
        (self.options.results_dir / name).write_text(text)

    def _destroy_or_cleanup(self, project: BenchProject, parallel: int, timeout: float) -> None:
        run = project.destroy(parallel, timeout=timeout)
        if not run.ok:
            self._cleanup_project(project)

    # -- the end ---------------------------------------------------------------------------
    def _cleanup(self) -> list[str]:
        problems: list[str] = []
        # A platform the run started is stopped and deleted below: destroying stacks on it first
        # (thousands of topics, one by one) would only make an interrupted run slow to end.
        owned = self.platform is not None and self.platform.owned
        for project in self.projects:
            try:
                problems += project.cleanup(destroy=not owned)
                if self.admin is not None:
                    left = floor.existing(self.admin, project.topology.topics)
                    if left:
                        floor.delete(self.admin, left, 900)
            except Exception as exc:  # keep cleaning the rest
                problems.append(f"size {project.topology.size}: {exc!r}")
        self.admin = None  # librdkafka would log connection failures once the platform is gone
        if self.platform is not None and self.platform.owned:
            try:
                self.platform.stop()
            except Exception as exc:
                problems.append(f"platform stop: {exc!r}")
        if self.work is not None and not self.options.keep_work:
            shutil.rmtree(self.work, ignore_errors=True)
        for problem in problems:
            self.out(f"cleanup: {problem}")
        return problems

    def _save(self) -> None:
        self.options.results_dir.mkdir(parents=True, exist_ok=True)
        (self.options.results_dir / "latest.json").write_text(json.dumps(self.results, indent=1))


def extrapolate(points: list[tuple[int, float]], size: int) -> dict[str, Any] | None:
    """t = a * n^k through the two largest measured sizes (k >= 1: never better than linear)."""
    points = sorted(p for p in points if p[1] > 0)
    if not points:
        return None
    if len(points) == 1:
        n, t = points[0]
        return {"seconds": t * size / n, "from": [n], "exponent": 1.0}
    (n1, t1), (n2, t2) = points[-2], points[-1]
    exponent = max(1.0, math.log(t2 / t1) / math.log(n2 / n1))
    return {"seconds": t2 * (size / n2) ** exponent, "from": [n1, n2], "exponent": round(exponent, 2)}


def _registry_subjects(url: str) -> list[str]:
    import requests

    response = requests.get(f"{url.rstrip('/')}/subjects", timeout=30)
    response.raise_for_status()
    return list(response.json())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def write_report(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / "benchmarks.png"
    report.plot(results, png)
    markdown = out_dir / "benchmarks.md"
    markdown.write_text(report.markdown(results, png.name))
    return markdown, png
