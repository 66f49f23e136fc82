"""Where the time goes: summaries of cProfile stats, the engine's verbose log and a Go CPU profile.

Each summary is plain data (for the results JSON and docs/benchmarks.md):
- `program_summary`: the program under mocks, by phase and by package (own time), plus the
  cumulative time of the k2infra and Pulumi SDK functions that matter;
- `verify_summary`: `python -m k2infra verify`, by step (plan, Kafka metadata, configs, offsets,
  registry, comparison);
- `engine_log_summary`: `pulumi up -v=9 --logtostderr --logflow`: start-up, program, the getTopics
  invoke, per-topic provider Create times, checkpoints written, the tail;
- `go_profile_summary`: `pulumi up --profiling`: the CLI's hottest functions (go tool pprof).
"""

from __future__ import annotations

import json
import pstats
import re
import statistics
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

# (label, file suffix, function name): cumulative times reported for the program.
PROGRAM_FUNCTIONS = (
    ("k2infra: load the plan (YAML, validation, Plan)", "k2infra/deploy/program.py", "load_stack_plan"),
    ("  of which YAML parsing", "k2infra/model/yaml_source.py", "parse_yaml"),
    ("k2infra: TopicPlatform (declare every resource)", "k2infra/deploy/component.py", "__init__"),
    (
        "  of which stack outputs (k2infra.deploy.component.stack_outputs)",
        "k2infra/deploy/component.py",
        "stack_outputs",
    ),
    ("    of which subscriptions (k2infra.model.plan.subscriptions)", "k2infra/model/plan.py", "subscriptions"),
    ("SDK: register_resource (per resource)", "pulumi/runtime/resource.py", "register_resource"),
    ("SDK: stack-trace capture for source positions", "pulumi/runtime/resource.py", "_get_stack_trace"),
    ("SDK: serialize_properties", "pulumi/runtime/rpc.py", "serialize_properties"),
    ("SDK: register_resource_outputs", "pulumi/runtime/resource.py", "do_register_resource_outputs"),
)
VERIFY_FUNCTIONS = (
    ("load the plan", "k2infra/model/plan.py", "load_plan"),
    ("read topics (Kafka)", "k2infra/live/cluster.py", "read_topics"),
    ("  Metadata (list_topics)", "confluent_kafka/admin/__init__.py", "list_topics"),
    ("  DescribeConfigs", "k2infra/live/cluster.py", "_describe_configs"),
    ("  ListOffsets", "k2infra/live/cluster.py", "_end_offsets"),
    ("read subjects (registry)", "k2infra/live/cluster.py", "read_subjects"),
    ("compare (pure)", "k2infra/live/verify.py", "compare"),
    ("after the imports, all of it (k2infra.cli.main.main)", "k2infra/cli/main.py", "main"),
)
PACKAGES = (
    ("k2infra", "/k2infra/"),
    ("pulumi SDK", "/site-packages/pulumi/"),
    ("pulumi_kafka SDK", "/site-packages/pulumi_kafka/"),
    ("grpc / protobuf", "/site-packages/grpc"),
    ("grpc / protobuf", "/site-packages/google/"),
    ("pydantic", "/site-packages/pydantic"),
    ("yaml", "/site-packages/yaml/"),
    ("asyncio", "/asyncio/"),
    ("confluent_kafka", "/site-packages/confluent_kafka/"),
)


def _stats(path: Path) -> pstats.Stats:
    return pstats.Stats(str(path))


def _cumulative(stats: pstats.Stats, suffix: str, name: str) -> float | None:
    best = None
    for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if function == name and (filename.endswith(suffix) or suffix in filename):
            best = ct if best is None else max(best, ct)
    return round(best, 3) if best is not None else None


def _by_package(stats: pstats.Stats) -> dict[str, float]:
    totals: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        label = "other Python / builtins"
        for name, marker in PACKAGES:
            if marker in filename or (filename == "~" and marker.strip("/") in function):
                label = name
                break
        totals[label] = totals.get(label, 0.0) + tt
    return {k: round(v, 2) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def _top(stats: pstats.Stats, count: int = 12) -> list[dict[str, Any]]:
    rows = []
    for (filename, line, function), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tt, nc, ct, _short(filename), line, function))
    rows.sort(reverse=True)
    return [
        {"own_s": round(tt, 2), "calls": nc, "cum_s": round(ct, 2), "where": f"{file}:{line}({function})"}
        for tt, nc, ct, file, line, function in rows[:count]
    ]


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _total(stats: pstats.Stats) -> float:
    return round(stats.total_tt, 2)  # type: ignore[attr-defined]


def program_summary(path: Path) -> dict[str, Any]:
    stats = _stats(path)
    return {
        "profiled_total_s": _total(stats),
        "functions": {label: _cumulative(stats, suffix, name) for label, suffix, name in PROGRAM_FUNCTIONS},
        "by_package": _by_package(stats),
        "top": _top(stats),
    }


def verify_summary(path: Path) -> dict[str, Any]:
    stats = _stats(path)
    return {
        "profiled_total_s": _total(stats),
        "functions": {label: _cumulative(stats, suffix, name) for label, suffix, name in VERIFY_FUNCTIONS},
        "by_package": _by_package(stats),
        "top": _top(stats, 8),
    }


# -- the engine's verbose log --------------------------------------------------------------------

_STEP = re.compile(
    r"^Provider\[[^\]]+\]\.(?P<op>Check|Diff|Create|Delete)\((?P<urn>urn:[^,)]*)[^)]*\):? (?P<what>executing|success|failed)"
)
_INVOKE = re.compile(r"^Provider\[[^\]]+\]\.Invoke\((?P<tok>[^)]*)\) (?P<what>executing|success|failed)")
_RUN = re.compile(r"^langhost\[python\]\.Run\(.*\) (?P<what>executing|success|failed)")
_REGISTER = re.compile(r"^ResourceMonitor\.RegisterResource received: t=(?P<type>[^,]+),")
_CHECKPOINT = re.compile(r"^Saved stack .* checkpoint")
TOPIC_TYPE = "kafka:index/topic:Topic"


def _time(stamp: str) -> float:
    # RFC 3339 with nanoseconds: keep microseconds for datetime.
    main, _, rest = stamp.rstrip("Z").partition(".")
    micro = (rest + "000000")[:6]
    return datetime.fromisoformat(f"{main}.{micro}+00:00").timestamp()


def engine_log_summary(log: str) -> dict[str, Any]:
    """Phases of one `pulumi up` or `preview` from its -v=9 JSON log lines (times from the first line).

    Provider calls on topics (Check, Diff, Create, Delete) are paired by URN into durations."""
    start = end = None
    run_start = run_end = None
    first_topic_register = last_topic_register = None
    pending: dict[tuple[str, str], float] = {}
    durations: dict[str, list[float]] = {}
    spans: dict[str, list[float]] = {}
    invokes: dict[str, float] = {}
    invoke_times: dict[str, float] = {}
    checkpoints = 0
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        stamp, msg = record.get("time"), record.get("msg", "")
        if not stamp:
            continue
        t = _time(stamp)
        start = t if start is None else start
        end = t
        if _CHECKPOINT.match(msg):
            checkpoints += 1
        elif match := _RUN.match(msg):
            if match["what"] == "executing":
                run_start = t
            else:
                run_end = t
        elif match := _REGISTER.match(msg):
            if match["type"] == TOPIC_TYPE:
                first_topic_register = first_topic_register or t
                last_topic_register = t
        elif (match := _STEP.match(msg)) and TOPIC_TYPE in match["urn"]:
            key = (match["op"], match["urn"])
            if match["what"] == "executing":
                pending[key] = t
                span = spans.setdefault(match["op"], [t, t])
                span[0] = min(span[0], t)
            elif key in pending:
                durations.setdefault(match["op"], []).append(t - pending.pop(key))
                spans[match["op"]][1] = max(spans[match["op"]][1], t)
        elif match := _INVOKE.match(msg):
            if match["what"] == "executing":
                invokes[match["tok"]] = t
            elif match["tok"] in invokes:
                invoke_times[match["tok"]] = round(t - invokes.pop(match["tok"]), 3)
    if start is None:
        return {"error": "no log lines"}

    def rel(t: float | None) -> float | None:
        return round(t - start, 2) if t is not None and start is not None else None

    out: dict[str, Any] = {
        "log_span_s": rel(end),
        "program_started_s": rel(run_start),
        "program_finished_s": rel(run_end),
        "first_topic_registered_s": rel(first_topic_register),
        "last_topic_registered_s": rel(last_topic_register),
        "invokes_s": invoke_times,
        "checkpoints_written": checkpoints,
        "ops": {},
    }
    for op, values in durations.items():
        values.sort()
        first, last = spans[op]
        out["ops"][op] = {
            "count": len(values),
            "median_s": round(statistics.median(values), 4),
            "p95_s": round(values[int(0.95 * (len(values) - 1))], 4),
            "max_s": round(values[-1], 3),
            "sum_s": round(sum(values), 2),
            "first_start_s": rel(first),
            "last_end_s": rel(last),
            "concurrency": round(sum(values) / (last - first), 2) if last > first else None,
        }
    create = out["ops"].get("Create")
    out["topic_creates"] = create["count"] if create else 0
    if create:
        out.update(
            first_topic_create_s=create["first_start_s"],
            last_topic_created_s=create["last_end_s"],
            create_median_s=create["median_s"],
            create_p95_s=create["p95_s"],
            create_max_s=create["max_s"],
            create_sum_s=create["sum_s"],
            create_concurrency=create["concurrency"],
        )
    return out


# -- Go CPU profile of the CLI --------------------------------------------------------------------


def go_profile_summary(directory: Path, prefix: str, count: int = 15) -> dict[str, Any]:
    """`go tool pprof -top` of the CLI's CPU profile (`pulumi up --profiling DIR/PREFIX`)."""
    profiles = sorted(directory.glob(f"{prefix}.*.cpu"), key=lambda p: p.stat().st_size, reverse=True)
    if not profiles:
        return {"error": "no CPU profile written"}
    out: dict[str, Any] = {}
    for label, flags in (("flat", []), ("cumulative", ["-cum"])):
        try:
            result = subprocess.run(
                ["go", "tool", "pprof", "-top", f"-nodecount={count}", *flags, str(profiles[0])],
                capture_output=True,
                text=True,
                timeout=300,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {"error": f"go tool pprof: {exc}"}
        if result.returncode != 0:
            return {"error": f"go tool pprof: {result.stderr[-500:]}"}
        out[label] = _pprof_lines(result.stdout)
    return out


def _pprof_lines(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    header = [line for line in lines if line.startswith(("Duration", "Showing nodes"))]
    rows = []
    started = False
    for line in lines:
        if line.strip().startswith("flat"):
            started = True
            continue
        if started and line.strip():
            rows.append(line.strip())
    return {"header": header, "rows": rows}


# -- py-spy of the program under the real CLI -------------------------------------------------------

# (label, substring of a frame "function (file:line)"): cumulative shares reported for the program.
PYSPY_FRAMES = (
    ("k2infra: the program (k2infra.deploy.program.run)", "run (k2infra/deploy/program.py"),
    ("  k2infra: load the plan", "load_stack_plan (k2infra/deploy/program.py"),
    ("  k2infra: TopicPlatform (declare every resource)", "__init__ (k2infra/deploy/component.py"),
    ("SDK: register_resource (per resource)", "register_resource (pulumi/runtime/resource.py"),
    ("SDK: stack-trace capture for source positions", "_get_stack_trace (pulumi/runtime/resource.py"),
    ("SDK: serialize_properties", "serialize_properties (pulumi/runtime/rpc.py"),
    ("SDK: deserialize_properties", "deserialize_properties (pulumi/runtime/rpc.py"),
    ("SDK: Output.apply", "apply (pulumi/output.py"),
    ("gRPC calls (the engine's answers, waited for)", "grpc/"),
    ("asyncio event loop idle (select)", "select (selectors.py"),
)


def pyspy_summary(collapsed: str) -> dict[str, Any]:
    """Shares of the program's samples from py-spy's raw (collapsed) output: one line per stack,
    frames separated by ';', then the sample count. Idle samples are included (py-spy --idle)."""
    total = 0
    counts = dict.fromkeys((label for label, _ in PYSPY_FRAMES), 0)
    by_package: dict[str, int] = {}
    for line in collapsed.splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        total += samples
        for label, needle in PYSPY_FRAMES:
            if needle in stack:
                counts[label] += samples
        leaf = stack.rsplit(";", 1)[-1]
        by_package[_frame_package(leaf)] = by_package.get(_frame_package(leaf), 0) + samples
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "frames": {label: round(count / total, 3) for label, count in counts.items()},
        "by_package": {k: round(v / total, 3) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])[:8]},
    }


def _frame_package(frame: str) -> str:
    """The package of a frame "function (path:line)": k2infra, pulumi SDK, grpc, asyncio, ..."""
    where = frame[frame.find("(") + 1 : frame.rfind(")")] if "(" in frame else frame
    for needle, name in (
        ("k2infra/", "k2infra"),
        ("pulumi_kafka/", "pulumi_kafka SDK"),
        ("pulumi/", "pulumi SDK"),
        ("grpc/", "grpc"),
        ("google/protobuf", "protobuf"),
        ("asyncio/", "asyncio"),
        ("selectors.py", "asyncio (idle in select)"),
    ):
        if needle in where:
            return name
    return "other (stdlib, interpreter)"


PROGRAM_MARK = "pulumi-language-python-exec"


def pyspy_attached(
    argv: list[str], env: dict[str, str], cwd: Path, pyspy: str, out: Path, timeout: float
) -> tuple[float, str | None]:
    """Run `argv` (a pulumi command) and attach py-spy to its Python program process once the
    language host started it (py-spy cannot follow the Go CLI's children itself). Returns the
    command's seconds and an error, or None."""
    import os
    import time

    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    spy = None
    try:
        deadline = start + min(timeout, 300)
        while spy is None and proc.poll() is None and time.perf_counter() < deadline:
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                except OSError:
                    continue
                if PROGRAM_MARK.encode() in cmdline and _descends(int(entry.name), proc.pid):
                    spy = subprocess.Popen(
                        [pyspy, "record", "--pid", entry.name, "--idle", "-r", "50", "-f", "raw", "-o", str(out)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    break
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=timeout)
        seconds = time.perf_counter() - start
        if spy is not None:
            spy.communicate(timeout=60)
        if proc.returncode != 0:
            return seconds, f"exited {proc.returncode}: {stderr[-300:]}"
        if spy is None:
            return seconds, "the program process was not found"
        return seconds, None
    finally:
        for child in (proc, spy):
            if child is not None and child.poll() is None:
                child.kill()


def _descends(pid: int, ancestor: int) -> bool:
    """Whether `pid` is `ancestor` or one of its descendants (from /proc/PID/stat)."""
    for _ in range(64):
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            return False
        pid = int(stat[stat.rfind(b")") + 2 :].split()[1])
    return False
