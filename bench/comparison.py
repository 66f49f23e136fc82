"""k2infra's lifecycle with the everyday changes, and the peers' on the same broker and topics.

At one size, each tool goes through the same phases (bench.peers.PHASES) on the same topics:
A = the synthetic topology of N topics; B = A plus one exchange (its three topics);
C = B with one exchange's partitions raised by one (its two topics whose data type fixes no count).

- k2infra (`_changes`): `pulumi up` from empty (checkpoints on, the default; above LARGE topics in
  the bulk mode, PULUMI_SKIP_CHECKPOINTS=true, as the default would take too long), a no-change
  `preview`, then for B and for C a `preview` and an `up` (checkpoints on, the everyday change),
  `destroy`; at sizes up to LARGE also the bulk mode's `up` and `destroy` from empty.
- the floor (`_floor_changes`): B's new topics in one CreateTopics, C's in one CreatePartitions.
- Jikkou and topicctl (`_peers`): see bench/peers.py for how each is driven.

Figures: `up@P`, `preview@P`, `destroy@P`, `up_nockpt@P`, `destroy_nockpt@P`, `add_preview@P`,
`add_up@P`, `raise_preview@P`, `raise_up@P`; `floor_add`, `floor_raise`; `jikkou_<phase>`,
`jikkou_diff`, `topicctl_<phase>`, `topicctl_check`, `topicctl_<phase>_shipped`. A peer's run that
failed is kept in the size's `failures` (seconds and the error), not among the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import floor, peers, profiling, topologies
from bench.measure import MeasureTimeout, Run, run_measured
from bench.project import BenchProject
from k2infra.client.naming import load_plan

LARGE = 600


class ComparisonMixin:
    """Mixed into bench.scenarios.Bench (uses its _entry, _record, _error, out, work, options...)."""

    # -- topics of a change ------------------------------------------------------------------
    def _change_topologies(self, project: BenchProject) -> dict[str, topologies.SyntheticTopology]:
        a = project.topology
        b = topologies.with_added_exchange(a)
        c = topologies.with_raised_partitions(b, topologies.exchanges(b)[0])
        return {"a": a, "b": b, "c": c}

    def _wanted_of(self, project: BenchProject, topology: topologies.SyntheticTopology, tag: str) -> list:
        """The plan's topics (as the floor's TopicWanted) for a topology, on the project's stack."""
        assert self.work is not None  # type: ignore[attr-defined]
        config = self.work / f"peers-{project.topology.size}" / f"config-{tag}"  # type: ignore[attr-defined]
        topologies.write_config(topology, config)
        plan = load_plan(config, topologies.STACK, project.dir)
        return [floor.TopicWanted(t.name, t.partitions, t.replication_factor, t.config) for t in plan.topics]

    def _use_config(self, project: BenchProject, topology: topologies.SyntheticTopology) -> None:
        topologies.write_config(topology, project.config_dir)
        project.__dict__.pop("plan", None)

    # -- the floor of the everyday changes ----------------------------------------------------
    def _floor_changes(self, project: BenchProject, wanted: dict[str, list]) -> None:
        size = project.topology.size
        admin = self.admin  # type: ignore[attr-defined]
        a, b, c = wanted["a"], wanted["b"], wanted["c"]
        names_a = {t.name for t in a}
        timeout = max(300.0, size * 0.5)
        try:
            floor.create(admin, a, timeout)
            self._record(size, "floor_add", floor.create(admin, [t for t in b if t.name not in names_a], 120))  # type: ignore[attr-defined]
            old = {t.name: t.partitions for t in b}
            raised = {t.name: t.partitions for t in c if old[t.name] != t.partitions}
            self._record(size, "floor_raise", floor.raise_partitions(admin, raised, 120))  # type: ignore[attr-defined]
        except Exception as exc:
            self._error(size, "floor of the changes", repr(exc))  # type: ignore[attr-defined]
        finally:
            left = floor.existing(admin, [t.name for t in b])
            if left:
                floor.delete(admin, left, timeout)

    # -- k2infra ---------------------------------------------------------------------------------
    def _changes(self, project: BenchProject) -> None:
        size = project.topology.size
        parallel = self.default_parallel  # type: ignore[attr-defined]
        tops = self._change_topologies(project)
        timeout = self.options.max_command_seconds * 1.5  # type: ignore[attr-defined]
        bulk_first = size > LARGE
        repeats = self._repeats(size)  # type: ignore[attr-defined]
        key = lambda kind: f"{kind}@{parallel}"  # noqa: E731
        self.out(f"[{size:>5}] k2infra: create, no-change, add one exchange, raise partitions, delete (P={parallel})")  # type: ignore[attr-defined]
        for rep in range(repeats):
            try:
                self._use_config(project, tops["a"])
                if bulk_first:
                    run = project.up(parallel, timeout=timeout, env={"PULUMI_SKIP_CHECKPOINTS": "true"})
                    if not self._recorded(project, key("up_nockpt"), run, "pulumi up (bulk mode)"):  # type: ignore[attr-defined]
                        return
                else:
                    run = project.up(parallel, timeout=timeout)
                    if not self._recorded(project, key("up"), run, "pulumi up"):  # type: ignore[attr-defined]
                        return
                if "verify" not in self._entry(size)["figures"]:  # type: ignore[attr-defined]
                    for _ in range(self.options.repeat):  # type: ignore[attr-defined]
                        self._verify(project)  # type: ignore[attr-defined]
                preview = project.preview(parallel, timeout)
                if preview.ok:
                    self._record(size, key("preview"), preview.seconds, preview.tree_peak_mb)  # type: ignore[attr-defined]
                else:
                    self._error(size, "pulumi preview (no change)", preview.failure())  # type: ignore[attr-defined]
                for change, tag in (("add", "b"), ("raise", "c")):
                    self._use_config(project, tops[tag])
                    run = project.timed("preview", "--parallel", str(parallel), timeout=timeout)
                    if not self._recorded(project, key(f"{change}_preview"), run, f"pulumi preview ({change})"):  # type: ignore[attr-defined]
                        return
                    run = project.up(parallel, timeout=timeout)
                    if not self._recorded(project, key(f"{change}_up"), run, f"pulumi up ({change})"):  # type: ignore[attr-defined]
                        return
                self._check_applied(project, tops["c"])
                if rep == 0 and self.options.profile:  # type: ignore[attr-defined]
                    self._profile_change(project, tops, parallel, timeout)
                if bulk_first:
                    run = project.destroy(parallel, timeout=timeout, env={"PULUMI_SKIP_CHECKPOINTS": "true"})
                    if not self._recorded(project, key("destroy_nockpt"), run, "pulumi destroy (bulk mode)"):  # type: ignore[attr-defined]
                        return
                else:
                    run = project.destroy(parallel, timeout=timeout)
                    if not self._recorded(project, key("destroy"), run, "pulumi destroy"):  # type: ignore[attr-defined]
                        return
                    self._use_config(project, tops["a"])
                    env = {"PULUMI_SKIP_CHECKPOINTS": "true"}
                    run = project.up(parallel, timeout=timeout, env=env)
                    if not self._recorded(project, key("up_nockpt"), run, "pulumi up (bulk mode)"):  # type: ignore[attr-defined]
                        return
                    run = project.destroy(parallel, timeout=timeout, env=env)
                    if not self._recorded(project, key("destroy_nockpt"), run, "pulumi destroy (bulk mode)"):  # type: ignore[attr-defined]
                        return
            except MeasureTimeout as exc:
                self._error(size, "k2infra changes", str(exc))  # type: ignore[attr-defined]
                self._cleanup_project(project)  # type: ignore[attr-defined]
                return
            finally:
                self._use_config(project, tops["a"])

    def _check_applied(self, project: BenchProject, topology: topologies.SyntheticTopology) -> None:
        """After the changes, the cluster holds C's topics with C's partition counts."""
        metadata = self.admin.list_topics(timeout=60)  # type: ignore[attr-defined]
        wrong = [
            name
            for name, partitions in topology.topics.items()
            if name not in metadata.topics or len(metadata.topics[name].partitions) != partitions
        ]
        if wrong:
            self._error(
                project.topology.size, "k2infra changes", f"{len(wrong)} topics not as planned, e.g. {wrong[0]}"
            )  # type: ignore[attr-defined]

    def _profile_change(self, project: BenchProject, tops: dict, parallel: int, timeout: float) -> None:
        """One more add-exchange change, previewed and applied with -v=9 logs: where the time goes."""
        size = project.topology.size
        grown = topologies.with_added_exchange(tops["c"])
        d = topologies.with_raised_partitions(grown, topologies.exchanges(tops["c"])[0])
        self._use_config(project, d)
        prof = self.results["profile"].setdefault("changes", {})  # type: ignore[attr-defined]
        verbose = ("-v=9", "--logtostderr", "--logflow")
        self.out(f"[{size:>5}] profiling: add-exchange preview and up with -v=9 logs")  # type: ignore[attr-defined]
        for kind, argv in (
            ("preview", ("preview", "--parallel", str(parallel), *verbose)),
            ("up", ("up", "--yes", "--skip-preview", "--parallel", str(parallel), *verbose)),
        ):
            run = project.timed(*argv, timeout=timeout)
            self._keep_log(f"change-{kind}-{size}-v9.log", run.stderr)  # type: ignore[attr-defined]
            if run.ok:
                prof[f"{kind}@{size}"] = {"size": size, "parallel": parallel, "seconds": round(run.seconds, 2)}
                prof[f"{kind}@{size}"].update(profiling.engine_log_summary(run.stderr))
            else:
                prof.setdefault("errors", []).append(run.failure(600))
        self._pyspy_change(project, d, parallel, timeout)

    def _pyspy_change(
        self, project: BenchProject, deployed: topologies.SyntheticTopology | None, parallel: int, timeout: float
    ) -> None:
        """py-spy (PyPI, requirements-dev.txt) attached to the Python program during one more
        add-exchange preview (on an empty stack, `deployed` None: a preview of every resource, the
        program's side of the run being the same): where the program's own time goes under the real
        CLI (sampled at 50 Hz, idle included)."""
        import shutil
        import sys

        pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(pyspy).exists():
            return
        size = project.topology.size
        if deployed is not None:
            self._use_config(project, topologies.with_added_exchange(deployed))
        assert self.work is not None  # type: ignore[attr-defined]
        out = self.work / f"pyspy-preview-{size}.txt"  # type: ignore[attr-defined]
        what = "an add-exchange preview" if deployed is not None else "a preview on an empty stack"
        self.out(f"[{size:>5}] profiling: {what} with py-spy attached to the program")  # type: ignore[attr-defined]
        argv = project.argv("preview", "--parallel", str(parallel))
        seconds, error = profiling.pyspy_attached(argv, project.project.env, project.dir, pyspy, out, timeout)
        prof = self.results["profile"].setdefault("changes", {})  # type: ignore[attr-defined]
        if error is None and out.exists():
            prof[f"pyspy_preview@{size}"] = {
                "size": size,
                "seconds": round(seconds, 2),
                "what": what,
                **profiling.pyspy_summary(out.read_text()),
            }
            self._keep_log(f"pyspy-preview-{size}.txt", out.read_text())  # type: ignore[attr-defined]
        else:
            prof.setdefault("errors", []).append(f"py-spy of {what}: {error}")

    # -- the peers ------------------------------------------------------------------------------
    def _peers(self, project: BenchProject, tools: peers.PeerTools) -> None:
        size = project.topology.size
        assert self.work is not None  # type: ignore[attr-defined]
        tops = self._change_topologies(project)
        wanted = {tag: self._wanted_of(project, top, tag) for tag, top in tops.items()}
        self._floor_changes(project, wanted)
        repeats = self._repeats(size)  # type: ignore[attr-defined]
        directory = self.work / f"peers-{size}"  # type: ignore[attr-defined]
        directory.mkdir(parents=True, exist_ok=True)
        if tools.jikkou:
            files = {}
            for tag, topics in wanted.items():
                files[tag] = directory / f"jikkou-{tag}.json"
                files[tag].write_text(peers.topics_json(topics))
            for _ in range(repeats):
                self._jikkou_round(size, tools, files, wanted)
        if tools.topicctl:
            for rep in range(repeats):
                self._topicctl_round(project, tools, tops, wanted, directory, shipped=rep == 0)

    def _peer_run(self, argv: list[str], size: int) -> Run:
        return run_measured(argv, timeout=max(900.0, size * 1.0), sample_tree=False)

    def _failure(self, size: int, key: str, run: Run, error: str) -> None:
        entry = self._entry(size)  # type: ignore[attr-defined]
        entry.setdefault("failures", {}).setdefault(key, []).append({"seconds": round(run.seconds, 3), "error": error})
        self.out(f"[{size:>5}] {key}: FAILED after {run.seconds:.1f} s: {error}")  # type: ignore[attr-defined]

    def _jikkou_round(self, size: int, tools: peers.PeerTools, files: dict[str, Path], wanted: dict) -> None:
        bootstrap = self.platform.bootstrap_servers  # type: ignore[attr-defined]
        admin = self.admin  # type: ignore[attr-defined]

        def jikkou(mode: str, tag: str, key: str) -> bool:
            argv = [tools.jikkou_java or "java", "-cp", tools.jikkou_classpath or "", "JikkouBench"]
            run = self._peer_run([*argv, bootstrap, str(files[tag]), mode], size)
            document = peers.parse_jikkou_output(run.stdout)
            if run.ok:
                self._record(size, key, run.seconds, operations=document.get("operations"))  # type: ignore[attr-defined]
                return True
            self._failure(size, key, run, peers.jikkou_error(document, run.stderr))
            return False

        names_c = [t.name for t in wanted["c"]]
        try:
            if not jikkou("apply", "a", "jikkou_create"):
                # What the broker refused is created by the floor, so the later phases still measure.
                missing = set(t.name for t in wanted["a"]) - set(floor.existing(admin, [t.name for t in wanted["a"]]))
                floor.create(admin, [t for t in wanted["a"] if t.name in missing], max(300.0, size * 0.5))
                self._entry(size)["notes"].append(  # type: ignore[attr-defined]
                    "Jikkou's create failed (see Failures); its later phases ran on the same topics created by the "
                    "floor's batched CreateTopics"
                )
            jikkou("apply", "a", "jikkou_no_change")
            jikkou("diff", "a", "jikkou_diff")
            jikkou("apply", "b", "jikkou_add_exchange")
            jikkou("apply", "c", "jikkou_raise_partitions")
            jikkou("delete", "c", "jikkou_delete")
        finally:
            left = floor.existing(admin, names_c)
            if left:
                floor.delete(admin, left, max(300.0, size * 0.5))

    def _topicctl_round(
        self,
        project: BenchProject,
        tools: peers.PeerTools,
        tops: dict[str, topologies.SyntheticTopology],
        wanted: dict[str, list],
        directory: Path,
        shipped: bool,
    ) -> None:
        size = project.topology.size
        admin = self.admin  # type: ignore[attr-defined]
        cluster = directory / "topicctl-cluster.yaml"
        cluster.write_text(peers.topicctl_cluster_yaml(self.platform.bootstrap_servers))  # type: ignore[attr-defined]
        topicctl = tools.topicctl or "topicctl"

        def write(tag: str, topics: list) -> Path:
            path = directory / f"topicctl-{tag}.yaml"
            path.write_text(peers.topicctl_topics_yaml(topics))
            return path

        def apply(path: Path, key: str, sleep: str) -> bool:
            argv = [topicctl, "apply", "--cluster-config", str(cluster), "--skip-confirm"]
            run = self._peer_run([*argv, "--sleep-loop-duration", sleep, str(path)], size)
            if run.ok:
                self._record(size, key, run.seconds)  # type: ignore[attr-defined]
                return True
            tail = [line for line in (run.stderr + run.stdout).splitlines() if "level=error" in line or "Error" in line]
            self._failure(size, key, run, (tail[-1] if tail else run.stderr[-300:])[:300])
            return False

        files = {tag: write(tag, topics) for tag, topics in wanted.items()}
        names: list[str] = [t.name for t in wanted["c"]]
        try:
            apply(files["a"], "topicctl_create", peers.TOPICCTL_TUNED_SLEEP)
            run = self._peer_run([topicctl, "check", "--cluster-config", str(cluster), str(files["a"])], size)
            if run.ok:
                self._record(size, "topicctl_check", run.seconds)  # type: ignore[attr-defined]
            else:
                self._failure(size, "topicctl_check", run, run.stderr[-300:])
            apply(files["a"], "topicctl_no_change", peers.TOPICCTL_TUNED_SLEEP)
            apply(files["b"], "topicctl_add_exchange", peers.TOPICCTL_TUNED_SLEEP)
            apply(files["c"], "topicctl_raise_partitions", peers.TOPICCTL_TUNED_SLEEP)
            if shipped:
                # As shipped (--sleep-loop-duration 10s): one more exchange, then another exchange's
                # partitions, on top of C.
                grown = topologies.with_added_exchange(tops["c"])
                d = topologies.with_raised_partitions(grown, topologies.exchanges(tops["c"])[0])
                e = topologies.with_raised_partitions(d, topologies.exchanges(tops["c"])[1])
                wanted_d, wanted_e = self._wanted_of(project, d, "d"), self._wanted_of(project, e, "e")
                names = [t.name for t in wanted_e]
                apply(write("d", wanted_d), "topicctl_add_exchange_shipped", peers.TOPICCTL_SHIPPED_SLEEP)
                apply(write("e", wanted_e), "topicctl_raise_partitions_shipped", peers.TOPICCTL_SHIPPED_SLEEP)
        finally:
            left = floor.existing(admin, names)
            if left:
                floor.delete(admin, left, max(300.0, size * 0.5))
        shipped_topics = min(size, self.options.topicctl_shipped_topics)  # type: ignore[attr-defined]
        if shipped and shipped_topics and not self._topicctl_shipped_done:  # type: ignore[attr-defined]
            # As shipped, a create sleeps 2 s per topic: measured once, on the first topics of A.
            self._topicctl_shipped_done = True
            first = wanted["a"][:shipped_topics]
            try:
                if apply(write("shipped", first), "topicctl_create_shipped", peers.TOPICCTL_SHIPPED_SLEEP):
                    self._entry(size)["figures"]["topicctl_create_shipped"].setdefault("topics", []).append(  # type: ignore[attr-defined]
                        len(first)
                    )
            finally:
                left = floor.existing(admin, [t.name for t in first])
                if left:
                    floor.delete(admin, left, 300)


def peer_versions(tools: peers.PeerTools | None) -> dict[str, Any]:
    if tools is None:
        return {}
    return {
        "jikkou": tools.jikkou_version if tools.jikkou else None,
        "jikkou_java": tools.jikkou_java_version,
        "topicctl": tools.topicctl_version if tools.topicctl else None,
    }
