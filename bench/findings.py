"""The prose of docs/benchmarks.md: method, sweep and profiling sections, written from the results.

Numbers come from the results document only; where a figure is missing the sentence says so.
"""

from __future__ import annotations

from typing import Any

from bench.measure import Stat


def _stat(results: dict[str, Any], size: int, key: str, field: str = "seconds") -> Stat | None:
    entry = results.get("sizes", {}).get(str(size), {}).get("figures", {}).get(key) or {}
    return Stat.of(entry.get(field) or [])


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def method(results: dict[str, Any]) -> str:
    s = results.get("settings", {})
    sizes = ", ".join(str(n) for n in s.get("sizes", []))
    return "\n".join(
        [
            f"- Sizes {sizes} topics: synthetic topologies grown from `config/kafka/topics.yaml` "
            "(`bench/topologies.py`): the same defaults, data types, configs and schemas, with more "
            "exchanges per asset class (asx, binance, then x0001, x0002, ... taking the asset classes in "
            "turn), 1-3 partitions each (reference_data keeps its 1), written to a temp copy of `config/`. "
            "The stack file points at the platform with replicationFactor 1 and minInsyncReplicas 1.",
            "- Program evaluation: `python -m bench.evaluate`, one process per measurement, runs "
            "`k2infra.deploy.program.run` under `pulumi.runtime` mocks, in two modes: through "
            "`devkit/pulumi_mocks.py` (which also resolves every output, as the unit tests do), and "
            "lean (the same mocks; the SDK waits for every registration, outputs are not resolved). "
            "Beside them the SDK floor: not our program, the least the Pulumi Python SDK costs for the "
            "same topics (one component, one Kafka provider, one bare `kafka.Topic` per topic with the "
            "plan's inputs as constants, the same mocks; no plan, guards, subjects or outputs). "
            "Time = the whole process (interpreter start to exit); memory = its peak RSS (`os.wait4` "
            "rusage of that child).",
            "- `python -m k2infra topics --json` and `python -m k2infra verify --stack bench --json`: one "
            "process each, timed the same way; verify runs on the deployed stack and must report no drift "
            "(where no stack of a size was deployed, on the same topics and subjects put there by the floor's "
            "batched create and the registry client: verify reads only the cluster and the registry).",
            "- Pulumi: the real CLI on a temp project with a file backend (as `tests/e2e`): `pulumi up "
            "--skip-preview` from an empty stack, then `pulumi preview --expect-no-changes` (fails if "
            "anything would change), then `pulumi destroy --skip-preview`; memory = the summed RSS of the "
            "CLI's process tree (language host, program, providers), sampled every 0.25 s.",
            "- The floor, same broker, topics and configs, through confluent-kafka's AdminClient "
            "(`bench/floor.py`): batched CreateTopics and waiting until every partition has a leader in "
            "the metadata (what the provider waits for); one Metadata request plus one DescribeConfigs "
            "for every topic (the least a no-change run must read); batched DeleteTopics and waiting "
            "until the topics are gone. Kafka refuses a CreateTopics of more than 10000 metadata records "
            '(POLICY_VIOLATION "Unable to perform excessively large batch operation"; a 3000-topic batch '
            f"is refused), so the floor sends batches of at most {s.get('floor_batch', 1000)} topics and "
            f"{s.get('floor_max_records', 9000)} records together, then waits for all of them.",
            f"- Repetitions: {s.get('repeat')} for the program, the CLI, the floor and verify; "
            f"{s.get('pulumi_repeat')} for the pulumi commands up to {s.get('large_above')} topics and "
            f"{s.get('large_repeat')} above (the exact counts are in the Repetitions table). A pulumi size "
            f"whose `pulumi up` extrapolates beyond {_f(s.get('max_command_seconds'), 0)} s is skipped and "
            "the extrapolation shown as such. No timing is asserted anywhere; this is a measurement.",
        ]
    )


def sweep(results: dict[str, Any]) -> str:
    data = results.get("sweep")
    if not data:
        return "No sweep in this run."
    rows = ["| --parallel | `pulumi up` (s) |", "|---|---|"]
    for parallel, value in data.get("up_seconds", {}).items():
        mark = " (CLI default)" if int(parallel) == data.get("default") else ""
        mark += " **chosen**" if int(parallel) == data.get("chosen") else ""
        rows.append(f"| {parallel}{mark} | {_f(value)} |")
    default_up = data.get("default_up_seconds")
    chosen_up = data.get("up_seconds", {}).get(str(data.get("chosen")))
    gain = ""
    if default_up and chosen_up and chosen_up < default_up:
        gain = f" It made `pulumi up` {default_up / chosen_up:.2f}x as fast as the default at that size."
    elif default_up and chosen_up:
        gain = (
            f" **No candidate beat the default** ({chosen_up:.1f} s against {default_up:.1f} s): more "
            "parallelism does not help here, because the provider calls are not what limits the run "
            "(see Where the time goes); the chosen value is still measured at every size, for comparison."
        )
    return (
        f"At {data['size']} topics, one `pulumi up` each at the CLI's default `--parallel` "
        f"{data['default']} and at {', '.join(str(c) for c in data['candidates'])} (4x and 16x). The tuned "
        f"value is the candidate with the fastest `pulumi up`: **{data['chosen']}**.{gain} Its runs and the "
        "default's count as the first repetition at that size.\n\n" + "\n".join(rows)
    )


def profile(results: dict[str, Any]) -> str:
    prof = results.get("profile") or {}
    out: list[str] = []
    out += _program(prof.get("program"))
    out += _engine(results, prof)
    out += _verify(prof.get("verify") or {})
    if prof.get("errors"):
        out += ["", "Profiling errors: " + "; ".join(prof["errors"])]
    return "\n".join(out) if out else "No profiling in this run."


def _program(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return []
    phases = data.get("phases", {})
    lines = [
        f"### The program ({data['size']} topics, cProfile, lean mode)",
        "",
        f"One profiled evaluation: {_f(data.get('profiled_total_s'))} s under the profiler (which adds "
        f"overhead); its phases: imports {_f(phases.get('imports'))} s, plan {_f(phases.get('plan'))} s, "
        f"declare {_f(phases.get('declare'))} s, settle {_f(phases.get('settle'))} s. "
        f"{phases.get('resources', '?')} resources registered.",
        "",
        "Cumulative time of the functions that matter:",
        "",
        "| function | cumulative (s) |",
        "|---|---|",
    ]
    lines += [f"| {label} | {_f(value, 2)} |" for label, value in data.get("functions", {}).items()]
    lines += ["", "Own time by package:", "", "| package | own time (s) |", "|---|---|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in data.get("by_package", {}).items()]
    lines += [
        "",
        "Hottest functions (own time):",
        "",
        "| own (s) | calls | cumulative (s) | function |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['own_s']} | {r['calls']} | {r['cum_s']} | `{r['where']}` |" for r in data.get("top", [])]
    lines.append("")
    return lines


def _engine(results: dict[str, Any], prof: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    log = prof.get("engine_log")
    cpu = prof.get("cli_cpu")
    preview_log = prof.get("preview_log")
    preview_cpu = prof.get("preview_cpu")
    present = [x for x in (log, cpu, preview_log, preview_cpu) if x]
    if not present:
        return lines
    size, parallel = present[0]["size"], present[0]["parallel"]
    base = _stat(results, size, f"up@{parallel}")
    floor = _stat(results, size, "floor_create")
    lines += [f"### `pulumi up` ({size} topics, --parallel {parallel})", ""]
    if base:
        lines.append(
            f"- Reference: `pulumi up` median {base.median:.1f} s; the floor (batched create) "
            f"{_f(floor.median if floor else None)} s."
        )
    skip = _stat(results, size, f"up_nockpt@{parallel}")
    skip_destroy = _stat(results, size, f"destroy_nockpt@{parallel}")
    destroy = _stat(results, size, f"destroy@{parallel}")
    if base and skip:
        lines.append(
            f"- Engine checkpoints: with `PULUMI_SKIP_CHECKPOINTS=true` (the file backend writes the state "
            f"once, at the end, instead of after every step) `pulumi up` took {skip.median:.1f} s: "
            f"{100 * (base.median - skip.median) / base.median:.0f}% of the run is the backend rewriting the "
            f"state; `destroy` {_f(destroy.median if destroy else None)} s -> {_f(skip_destroy.median if skip_destroy else None)} s."
        )
    if log and "error" not in log:
        lines += _log_lines(log, "`pulumi up`")
    lines += _cpu_lines(cpu, "`pulumi up`")
    if preview_log or preview_cpu:
        base = _stat(results, size, f"preview@{parallel}")
        describe = _stat(results, size, "floor_describe")
        lines += ["", f"### No-change `pulumi preview` ({size} topics, --parallel {parallel})", ""]
        if base:
            lines.append(
                f"- Reference: no-change preview median {base.median:.1f} s; the floor (batched describe) "
                f"{_f(describe.median if describe else None, 2)} s."
            )
        if preview_log and "error" not in preview_log:
            lines += _log_lines(preview_log, "preview")
        lines += _cpu_lines(preview_cpu, "preview")
    lines.append("")
    return lines


def _log_lines(log: dict[str, Any], what: str) -> list[str]:
    lines = [
        f"- Verbose engine log (`-v=9 --logtostderr --logflow`, which slows the run itself: "
        f"{log['seconds']:.1f} s): the language host starts the program at {_f(log.get('program_started_s'))} s; "
        f"the first topic is registered at {_f(log.get('first_topic_registered_s'))} s (after the getTopics "
        f"invoke of the partition guard, {_invoke(log)}), the last at {_f(log.get('last_topic_registered_s'))} s; "
        f"the program ends at {_f(log.get('program_finished_s'))} s and the log at {_f(log.get('log_span_s'))} s; "
        f"{log.get('checkpoints_written', 0)} checkpoints written.",
    ]
    ops = log.get("ops") or {}
    if ops:
        lines += [
            "",
            f"  Provider calls on topics during the {what} (durations from the engine's side of the gRPC call):",
            "",
            "  | call | count | median (s) | p95 (s) | max (s) | sum (s) | first starts (s) | last ends (s) | "
            "in flight on average |",
            "  |---|---|---|---|---|---|---|---|---|",
        ]
        for op, v in ops.items():
            lines.append(
                f"  | {op} | {v['count']} | {v['median_s']} | {v['p95_s']} | {v['max_s']} | {v['sum_s']} | "
                f"{v['first_start_s']} | {v['last_end_s']} | {_f(v.get('concurrency'), 2)} |"
            )
        lines.append("")
    return lines


def _cpu_lines(cpu: dict[str, Any] | None, what: str) -> list[str]:
    if not cpu:
        return []
    if "error" in cpu:
        return [f"- Go CPU profile of the {what}: {cpu['error']}"]
    flat = cpu.get("flat", {})
    cum = cpu.get("cumulative", {})
    return [
        f"- Go CPU profile of the CLI during the {what} (`--profiling`, {cpu['seconds']:.1f} s run): "
        + "; ".join(flat.get("header", [])),
        "",
        "  Hottest CLI functions by cumulative CPU (flat, flat%, sum%, cum, cum%):",
        "",
        "  ```",
        *[f"  {row}" for row in cum.get("rows", [])[:15]],
        "  ```",
        "",
    ]


def _invoke(log: dict[str, Any]) -> str:
    invokes = log.get("invokes_s") or {}
    found = [f"{value:.2f} s" for tok, value in invokes.items() if "getTopics" in tok]
    return found[0] if found else "time not logged"


def _verify(data: dict[str, Any]) -> list[str]:
    if not data:
        return []
    size = max(data, key=int)
    summary = data[size]
    lines = [
        f"### verify ({size} topics, cProfile)",
        "",
        f"One profiled run: {_f(summary.get('seconds_profiled'))} s (process), "
        f"{_f(summary.get('profiled_total_s'))} s profiled.",
        "",
        "| step | cumulative (s) |",
        "|---|---|",
    ]
    lines += [f"| {label} | {_f(value, 2)} |" for label, value in summary.get("functions", {}).items()]
    lines.append("")
    return lines


def gaps(results: dict[str, Any]) -> str:
    """Each target's gap read from the figures: where the time goes and what would close it."""
    default = results.get("settings", {}).get("default_parallel")
    lines: list[str] = []
    lean, sdk = _stat(results, 3000, "eval_lean"), _stat(results, 3000, "eval_sdk")
    if lean and sdk:
        lines.append(
            f"- **Program evaluation (3000 topics).** The program takes {lean.median:.1f} s under mocks; the "
            f"Pulumi Python SDK alone needs {sdk.median:.1f} s to register the same 3000 topics as bare "
            f"resources ({1000 * sdk.median / 3000:.1f} ms each, the SDK floor). The program adds "
            f"{100 * (lean.median - sdk.median) / sdk.median:.0f}% over that floor (plan, guards, subjects, "
            "outputs). The 3 s target lies below the SDK's own cost: no program that declares one resource "
            "per topic reaches it on this SDK. Closing it would take fewer resources (not this model: each "
            "topic is its own resource so that it can be diffed, imported, protected and retired on its own)."
        )
    up, nockpt, create = (
        _stat(results, 600, f"up@{default}"),
        _stat(results, 600, f"up_nockpt@{default}"),
        _stat(results, 600, "floor_create"),
    )
    if up and nockpt and create:
        log = (results.get("profile") or {}).get("engine_log") or {}
        small = _stat(results, min(int(n) for n in results["sizes"]), f"up@{default}")
        checkpoints = (
            f" ({log['checkpoints_written']} state writes in one run)" if log.get("checkpoints_written") else ""
        )
        lines.append(
            f"- **`pulumi up` (600 topics).** {up.median:.0f} s against a {create.median:.1f} s floor. "
            f"{100 * (up.median - nockpt.median) / up.median:.0f}% of it is the file backend rewriting the "
            f"whole state after every step{checkpoints}: with `PULUMI_SKIP_CHECKPOINTS=true` the same run "
            f"takes {nockpt.median:.0f} s. Those writes are serial, which is why `--parallel` changes "
            "little, and each grows with the state, which is why `up` grows faster than linearly. What is "
            f"left ({nockpt.median / create.median:.0f}x the floor) is start-up (the CLI, the language host "
            "and the program"
            + (
                f": a whole `up` of {min(int(n) for n in results['sizes'])} topics takes {small.median:.1f} s"
                if small and min(int(n) for n in results["sizes"]) < 600
                else ""
            )
            + "), the SDK's registration of every resource and the engine's steps, one per resource (our "
            "provider coalesces the creates in flight into batched CreateTopics requests, but the engine "
            "hands it at most --parallel at a time). What would close "
            "it is not in this repository: a state backend that journals steps instead of rewriting the "
            "state (Pulumi Cloud does; not reachable here), and fewer resources than topics, which the "
            "per-topic model rules out. Ours that were closed: the provider's polling, the state's size "
            "(outputs no longer held twice), the language host's 5 s shutdown wait, the provider's batching."
        )
    preview, describe = _stat(results, 600, f"preview@{default}"), _stat(results, 600, "floor_describe")
    if preview and describe:
        lines.append(
            f"- **No-change preview (600 topics).** {preview.median:.1f} s (target 20 s); the floor reads the "
            f"same state in {describe.median:.2f} s. The rest is the CLI, the program and a Check and a Diff "
            "per resource through the engine."
        )
    verify, floor_describe = _stat(results, 3000, "verify"), _stat(results, 3000, "floor_describe")
    if verify:
        floor_text = (
            f"; the floor's own Metadata and DescribeConfigs of the same topics take {floor_describe.median:.1f} s"
            if floor_describe
            else ""
        )
        lines.append(
            f"- **verify (3000 topics).** {verify.median:.1f} s (target 5 s){floor_text}. Most of it is DescribeConfigs: "
            "Kafka answers all 36 configs of every topic (librdkafka, under confluent-kafka, cannot ask for "
            "fewer: librdkafka#5033), now read in four requests in flight."
        )
    return "\n".join(lines) if lines else "Not enough figures in this run to read the gaps."


def comparison_method(results: dict[str, Any]) -> str:
    """How the peers and the everyday changes were measured (empty when the run had neither)."""
    s = results.get("settings", {})
    if not (s.get("peers") or s.get("changes")):
        return ""
    lines = [
        "- Everyday changes and peers (`bench/comparison.py`, `bench/peers.py`), at each size and on the same "
        "broker: A = the synthetic topology; B = A plus one exchange (three topics); C = B with one exchange's "
        "partitions raised by one (its two topics whose data type fixes no count). Every tool goes through "
        "create A from empty, a no-change run on A, apply B, apply C, delete everything. Figures are whole "
        "processes (JVM, Go or Python start-up included).",
        "- k2infra: `pulumi up --skip-preview` from empty (checkpoints on; above 600 topics in the bulk mode, "
        "`PULUMI_SKIP_CHECKPOINTS=true`, as the default mode would take over ten minutes), "
        "`pulumi preview --expect-no-changes`, then for B and C a `pulumi preview` and a `pulumi up` with "
        "checkpoints on (the everyday change), `pulumi destroy`; up to 600 topics, then also `up` and "
        "`destroy` from empty in the bulk mode. After C the cluster is checked to hold C's topics with C's "
        "partition counts. The floor of the changes: B's new topics in one CreateTopics, C's raise in one "
        "CreatePartitions, each waited for until every partition has a leader.",
    ]
    for name, data in (results.get("peers") or {}).items():
        lines.append(f"- {name} {data.get('version')} ({data.get('source')}): {data.get('driven')}.")
    shipped = s.get("topicctl_shipped_topics")
    if shipped:
        lines.append(
            f"- topicctl as shipped sleeps 2 s after each create (a fifth of its 10 s --sleep-loop-duration): "
            f"its create from empty is measured once on the first {shipped} topics of A and given per topic; "
            "its add-exchange and raise-partitions runs as shipped go on top of C (one more exchange; another "
            "exchange's partitions)."
        )
    return "\n".join(lines)


def runs(results: dict[str, Any]) -> str:
    """The runs a merged document combines (empty for one run)."""
    listed = results.get("meta", {}).get("runs") or []
    if not listed:
        return ""
    lines = ["- This document combines the figures of these runs (`python -m bench --render A.json B.json ...`):"]
    loads = [max(run.get("loadavg_start") or [0]) for run in listed] + [
        max(run.get("loadavg_end") or [0]) for run in listed
    ]
    cores = (results.get("meta", {}).get("machine") or {}).get("cores") or 0
    if cores and max(loads) > 2 * cores:
        lines.insert(
            0,
            f"- **Load.** The machine was shared with other work: load averages up to {max(loads):.0f} on {cores} "
            "cores during these runs. Every figure is slower than on an idle machine (up to several times), "
            "unevenly; ratios between tools measured in the same run, minutes apart, are the steadier reading.",
        )
    for run in listed:
        lines.append(
            f"  - `{run.get('command')}`: sizes {run.get('sizes')}, {run.get('started')} to {run.get('finished')}, "
            f"load average at start {run.get('loadavg_start')}, at the end {run.get('loadavg_end')}"
        )
    return "\n".join(lines)


def changes_profile(results: dict[str, Any]) -> str:
    """Where the time of the everyday change goes: the -v=9 logs of one add-exchange preview and up,
    beside the program's and the SDK's own cost at that size."""
    prof = (results.get("profile") or {}).get("changes") or {}
    entries = {k: v for k, v in prof.items() if isinstance(v, dict) and "size" in v and not k.startswith("pyspy")}
    if not entries:
        return "No profile of the everyday change in this run."
    out: list[str] = []
    for key in sorted(entries, key=lambda k: (entries[k]["size"], k)):
        data = entries[key]
        size, parallel = data["size"], data["parallel"]
        kind = key.split("@")[0]
        out += [f"#### Add one exchange, `pulumi {kind}` ({size} topics, --parallel {parallel})", ""]
        timed = _stat(results, size, f"add_{kind}@{parallel}")
        sdk = _stat(results, size, "eval_sdk")
        lean = _stat(results, size, "eval_lean")
        if timed:
            out.append(f"- Reference: the same change without verbose logs, median {timed.median:.1f} s.")
        if "error" in data:
            out.append(f"- Verbose log: {data['error']}")
            continue
        program = None
        if data.get("program_started_s") is not None and data.get("program_finished_s") is not None:
            program = data["program_finished_s"] - data["program_started_s"]
        start = data.get("program_started_s")
        tail = None
        if data.get("log_span_s") is not None and data.get("program_finished_s") is not None:
            tail = data["log_span_s"] - data["program_finished_s"]
        out.append(
            f"- Split: CLI and language-host start-up until the program starts {_f(start)} s; the program "
            f"runs (evaluation, one RegisterResource per resource, with the engine's steps in parallel) "
            f"{_f(program)} s; after it ends {_f(tail)} s (the last steps, the final state write, shutdown); "
            f"{data.get('checkpoints_written', 0)} state writes."
        )
        if sdk:
            text = (
                f"- The Python SDK's own floor for {size} bare topics under mocks: {sdk.median:.1f} s (whole process)"
            )
            if lean:
                text += f"; our program under the same mocks: {lean.median:.1f} s"
            out.append(text + ".")
        out += _log_lines(data, f"`pulumi {kind}`")
    for key in sorted(k for k in prof if k.startswith("pyspy")):
        out += _pyspy_lines(prof[key])
    return "\n".join(out)


def _pyspy_lines(data: dict[str, Any]) -> list[str]:
    if not data.get("samples"):
        return []
    lines = [
        f"#### The Python program during {data.get('what', 'an add-exchange preview')} ({data['size']} topics, py-spy)",
        "",
        f"py-spy, attached to the program process, sampled it at 50 Hz, idle included ({data['samples']} samples; the preview "
        f"took {_f(data.get('seconds'))} s under it). Share of the samples whose stack holds:",
        "",
        "| frame | share of samples |",
        "|---|---|",
    ]
    lines += [f"| {label} | {100 * share:.0f}% |" for label, share in (data.get("frames") or {}).items()]
    lines += ["", "By the package of the innermost frame:", "", "| package | share |", "|---|---|"]
    lines += [f"| {name} | {100 * share:.0f}% |" for name, share in (data.get("by_package") or {}).items()]
    lines.append("")
    return lines


def comparison_gaps(results: dict[str, Any]) -> str:
    """The comparison's targets, read from the figures: where the time goes and what would close it."""
    p = results.get("settings", {}).get("default_parallel")
    lines: list[str] = []
    bulk, full, jikkou = (
        _stat(results, 600, f"up_nockpt@{p}"),
        _stat(results, 600, f"up@{p}"),
        _stat(results, 600, "jikkou_create"),
    )
    sdk600 = _stat(results, 600, "eval_sdk")
    if bulk and jikkou:
        text = (
            f"- **Create 600 topics against Jikkou.** Bulk mode {bulk.median:.1f} s, Jikkou {jikkou.median:.1f} s "
            f"({bulk.median / jikkou.median:.1f}x)"
        )
        if full:
            text += f"; the default mode {full.median:.1f} s ({full.median / jikkou.median:.1f}x)"
        text += (
            ". Jikkou sends one CreateTopics of every topic from one process; k2infra runs the Pulumi engine: "
            "the CLI, the language host and the program start, the program registers one resource per topic "
            "and subject"
        )
        if sdk600:
            text += f" (the Python SDK alone needs {sdk600.median:.1f} s for 600 bare topics under mocks)"
        text += (
            ", and the engine runs a Check, a Create (batched by our provider with the other creates in flight) "
            "and a state update per resource. The default mode adds the state rewrites after every step. "
            "Closing the gap to Jikkou would take fewer resources than topics (one resource per exchange or "
            "per asset class, giving up per-topic diff, import and protect) or a program in a language whose "
            "SDK registers faster (Go); neither is in this change."
        )
        lines.append(text)
    preview, nc, diff = (
        _stat(results, 600, f"preview@{p}"),
        _stat(results, 600, "jikkou_no_change"),
        _stat(results, 600, "jikkou_diff"),
    )
    if preview and nc:
        text = (
            f"- **No-change run of 600 topics against Jikkou.** `pulumi preview` {preview.median:.1f} s, Jikkou's "
            f"no-change apply {nc.median:.1f} s ({preview.median / nc.median:.1f}x)"
        )
        if diff:
            text += f", its diff {diff.median:.1f} s"
        text += (
            ". Both read the cluster once (k2infra: the guard's getTopics; Jikkou: Metadata and DescribeConfigs); "
            "the rest of the preview is the CLI and program start-up, the SDK's registration of every resource "
            "and one Check and one Diff per resource through the engine (answered without I/O by our provider)."
        )
        lines.append(text)
    for kind in ("up", "preview"):
        value = _stat(results, 3000, f"add_{kind}@{p}")
        if value is None:
            continue
        log = ((results.get("profile") or {}).get("changes") or {}).get(f"{kind}@3000") or {}
        sdk = _stat(results, 3000, "eval_sdk")
        text = f"- **Add one exchange at 3000 topics, `pulumi {kind}`: {value.median:.1f} s** (target 15 s)."
        if log.get("program_started_s") is not None and log.get("program_finished_s") is not None:
            program = log["program_finished_s"] - log["program_started_s"]
            text += (
                f" In the verbose run ({log.get('seconds', 0):.0f} s) the program ran {program:.0f} s of it, "
                f"starting at {log['program_started_s']:.1f} s, ending {log.get('log_span_s', 0) - log['program_finished_s']:.1f} s "
                f"before the end; {log.get('checkpoints_written', 0)} state writes."
            )
        if sdk:
            text += (
                f" The Python SDK alone needs {sdk.median:.1f} s (whole process, under mocks) to register 3000 "
                "bare topics: the program's registration of every resource, which Pulumi needs on every run "
                "even when one exchange changes, is most of the run and by itself above the target."
            )
        text += (
            " What it would take: fewer resources per run (a stack per asset class, or one resource per "
            "exchange), or a faster SDK (Go); `pulumi up --target` still evaluates the whole program."
        )
        lines.append(text)
    return "\n".join(lines)
