"""`python -m bench.split [--sizes 600,3000]`: where a `pulumi` run's time goes, from its own trace.

Each run is traced by the CLI (`--otel-traces file://...`, OpenTelemetry spans from the engine, the
language host and the Kafka provider plugin) and cut along the program's registrations:
- start-up: the CLI, the state read, the language host, up to the program's start (`run-program`);
- declare: up to the first RegisterResource: the interpreter, the imports, the stack's load and plan,
  and the SDK preparing every resource (the Python SDK sends the registrations once the program's
  synchronous part has declared them all: this phase is what `bench.evaluate` measures under mocks);
- registrations: from the first RegisterResource to the last, the SDK's calls as the engine takes
  them and steps through each resource (Check, Diff, and for `up` the changes); the preflight's reads;
- drain: after the last registration, until the program ends (the engine's remaining steps, outputs);
- finish: after the program, until the CLI ends (the last checkpoint, the summary).
Then the provider calls: how many, their summed time as the engine waits for them (gRPC included) and
as the provider plugin itself spends them; and the per-resource cost of the registrations phase.
Tracing slows a run down, so the no-change preview runs once more untraced, its process tree sampled
from /proc every 20 ms (bench.measure's `cpu_by`): the CPU seconds of each program in it (the CLI and
its engine, the language host, the Python program, the provider plugins), which on 2 cores says who
the wall time waits for.
The SDK floor (the SDK alone registering as many bare topics under mocks) is `make bench`'s eval_sdk.
Runs: a no-change preview, an `up` adding one exchange, an `up` raising one exchange's partitions, on a
stack created in bulk mode. Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import topologies
from bench.cli import positive_ints
from bench.measure import run_measured
from bench.project import BenchProject
from bench.scenarios import BULK, pulumi_timeout
from devkit.local_platform import LocalPlatform

PARALLEL = 8  # the CLI's default on 2 cores, as the main benchmark runs it
PROVIDER_CALLS = ("Check", "Diff", "Create", "Update", "Read", "Delete")


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int  # OpenTelemetry's: 2 server, 3 client
    start: float
    end: float


def spans(trace: Path) -> list[Span]:
    """The trace file's spans (JSON lines of OTLP `resourceSpans`), times in seconds."""
    out = []
    for line in trace.read_text().splitlines():
        for resource in json.loads(line).get("resourceSpans", []) if line.strip() else []:
            attributes = {a["key"]: a["value"] for a in resource["resource"].get("attributes", [])}
            service = attributes.get("service.name", {}).get("stringValue", "?")
            for scope in resource["scopeSpans"]:
                for s in scope["spans"]:
                    start, end = int(s["startTimeUnixNano"]) / 1e9, int(s["endTimeUnixNano"]) / 1e9
                    out.append(Span(service, s["name"], s.get("kind", 0), start, end))
    return out


def split(trace: list[Span]) -> dict[str, Any]:
    """The phases (seconds) and the provider calls of one traced run."""
    first = min(s.start for s in trace)
    program = next(s for s in trace if s.name == "run-program")
    registrations = sorted(s.start for s in trace if s.name.endswith("ResourceMonitor/RegisterResource"))
    end = max(s.end for s in trace)
    calls: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for s in trace:
        method = s.name.rpartition("/")[2]
        if s.name.startswith("pulumirpc.ResourceProvider/") and method in PROVIDER_CALLS:
            side = 1 if s.kind == 3 else 2  # the engine's wait, or the provider's own time
            calls[method][side] += s.end - s.start
            calls[method][0] += s.kind == 3
    return {
        "total": end - first,
        "start-up": program.start - first,
        "declare": registrations[0] - program.start,
        "registrations": registrations[-1] - registrations[0],
        "drain": program.end - registrations[-1],
        "finish": end - program.end,
        "resources": len(registrations),
        "calls": dict(calls),
    }


def role(words: list[str]) -> str:
    """A process's role, from its command line."""
    line = " ".join(words)
    for needle, label in (
        ("pulumi-language-python-exec", "the program (python)"),
        ("pulumi-resource-kafka", "kafka provider"),
        ("pulumi.dynamic", "dynamic provider (python)"),
        ("pulumi-resource-pulumi-python", "dynamic provider (python)"),
        ("-m pip", "pip (language host's package list)"),
        ("pulumi-language-python", "language host"),
    ):
        if needle in line:
            return label
    name = Path(words[0]).name if words and words[0] else ""
    return "pulumi CLI (engine)" if name == "pulumi" else name or "other"


def runs(project: BenchProject, traces: Path) -> Iterator[tuple[str, Path, Any]]:
    """(what, trace, Run) of each traced command, on a stack created beforehand in bulk mode."""
    timeout = pulumi_timeout(project.topology.size)
    added = topologies.with_added_exchange(project.topology)
    raised = topologies.with_raised_partitions(added, topologies.exchanges(added)[0])
    for what, topology, args in (
        ("no-change preview", project.topology, ("preview",)),
        ("add one exchange, up", added, ("up", "--yes", "--skip-preview")),
        ("raise partitions, up", raised, ("up", "--yes", "--skip-preview")),
    ):
        topologies.write_config(topology, project.config_dir)
        trace = traces / f"{what.replace(' ', '-').replace(',', '')}.json"
        otel = f"--otel-traces=file://{trace}"
        yield what, trace, project.timed(*args, "--parallel", str(PARALLEL), otel, timeout=timeout)


def table(size: int, measured: list[tuple[str, float, dict[str, Any]]]) -> str:
    phases = ("start-up", "declare", "registrations", "drain", "finish")
    head = ["run", "wall", "traced", *phases, "ms per registration", "provider calls: n, engine waits, provider"]
    lines = [f"### {size} topics", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for what, wall, cut in measured:
        per = 1000 * cut["registrations"] / max(cut["resources"] - 1, 1)
        calls = "; ".join(f"{m} {int(n)}, {c:.2f} s, {p:.2f} s" for m, (n, c, p) in cut["calls"].items())
        row = [what, f"{wall:.2f}", f"{cut['total']:.2f}", *(f"{cut[p]:.2f}" for p in phases), f"{per:.2f}", calls]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _measure(project: BenchProject, root: Path, timeout: float) -> bool:
    """Create the stack in bulk mode, then print the untraced CPU line and the traced phases."""
    size = project.topology.size
    created = project.up(PARALLEL, timeout=timeout, env=BULK)
    if not created.ok:
        print(f"{size}: the bulk create failed: {created.failure()}", file=sys.stderr)
        return False
    argv = project.argv("preview", "--parallel", str(PARALLEL))
    env = project.project.driver.process_env()
    untraced = run_measured(argv, env=env, cwd=project.dir, timeout=timeout, cpu_by=role)
    cpu = sorted((untraced.cpu_by_role or {}).items(), key=lambda kv: -kv[1])
    cpus = ", ".join(f"{label} {seconds:.2f}" for label, seconds in cpu)
    print(
        f"{size} topics, a no-change preview untraced: {untraced.seconds:.2f} s wall; CPU seconds: {cpus}", flush=True
    )
    measured = []
    for what, trace, run in runs(project, root):
        if not run.ok:
            print(f"{size}: {what} failed: {run.failure()}", file=sys.stderr)
            break
        measured.append((what, run.seconds, split(spans(trace))))
    print(table(size, measured) + "\n", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.split", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=positive_ints, default=[600], help="topic counts (default 600)")
    sizes = parser.parse_args(argv).sizes
    work = Path(tempfile.mkdtemp(prefix="k2-bench-split-"))
    platform = LocalPlatform.from_env()
    own = platform is None
    try:
        if own:
            platform = LocalPlatform.start(work / "platform")
        for size in sizes:
            topology = topologies.synthetic_topology(size)
            root = work / str(size)
            project = BenchProject.create(root, topology, platform.bootstrap_servers, platform.schema_registry_url)
            timeout = pulumi_timeout(size)
            try:
                if not _measure(project, root, timeout):
                    return 1
            finally:
                # On a platform of K2_BOOTSTRAP_SERVERS the topics must go whatever happened.
                project.destroy(PARALLEL * 4, timeout, env=BULK)
                for problem in project.cleanup(timeout=timeout):
                    print(f"{size}: clean-up: {problem}", file=sys.stderr)
        return 0
    finally:
        if own and platform is not None:
            platform.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
