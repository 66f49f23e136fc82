"""Tables and the plot of benchmark results (bench/results/latest.json, or several runs merged).

docs/benchmarks.md is written by hand; a run (or `python -m bench --render A.json B.json`) only
rewrites what stands between its markers `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, one
pair for each block of `blocks()`, and redraws docs/benchmarks.png. Everything here is a pure
function of the results document, so it is tested on fake numbers.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.measure import Stat
from bench.peers import TOPICCTL_TUNED_SLEEP

PHASE_TITLES = ("create from empty", "no-change run", "add one exchange", "raise partitions", "delete")
PEER_KEYS = ("jikkou_", "topicctl_", "add_up@", "floor_add")  # a size with one of them has peer tables


# -- access and formatting ----------------------------------------------------------------------


def sizes(results: dict[str, Any]) -> list[int]:
    return sorted(int(s) for s in results.get("sizes", {}))


def _of_size(results: dict[str, Any], size: int, part: str, key: str) -> Any:
    """One size's `part` ("figures" or "failures") under `key`, where "@P" stands for the run's
    default --parallel (`parallel`)."""
    key = key.replace("@P", f"@{parallel(results)}")
    return results.get("sizes", {}).get(str(size), {}).get(part, {}).get(key)


def figure(results: dict[str, Any], size: int, key: str) -> dict[str, Any]:
    return _of_size(results, size, "figures", key) or {}


def stat(results: dict[str, Any], size: int, key: str, field: str = "seconds") -> Stat | None:
    return Stat.of(figure(results, size, key).get(field) or [])


def failures(results: dict[str, Any], size: int, key: str) -> list[dict[str, Any]]:
    return _of_size(results, size, "failures", key) or []


def parallel(results: dict[str, Any]) -> int | None:  # of the pulumi figures: the CLI's default
    return results.get("settings", {}).get("default_parallel")


def seconds(value: Stat | None) -> str:
    """'4.43 (4.10-4.60)' for repeated figures, '4.43' for one, '-' for none."""
    if value is None:
        return "-"
    digits = 2 if value.median < 10 else 1 if value.median < 100 else 0
    text = f"{value.median:.{digits}f}"
    return text + (f" ({value.low:.{digits}f}-{value.high:.{digits}f})" if value.n > 1 else "")


def megabytes(value: Stat | None) -> str:
    if value is None:
        return "-"
    spread = f" ({value.low:.0f}-{value.high:.0f})" if value.n > 1 and value.high - value.low >= 1 else ""
    return f"{value.median:.0f}{spread}"


def div(top: Stat | None, bottom: Stat | None) -> float | None:
    return None if top is None or bottom is None or bottom.median <= 0 else top.median / bottom.median


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def ratio(results: dict[str, Any], size: int, key: str, other: str) -> str:
    return times(div(stat(results, size, key), stat(results, size, other)))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def console_line(size: int, key: str, data: dict[str, Any]) -> str:
    value, memory = Stat.of(data.get("seconds") or []), Stat.of(data.get("peak_mb") or [])
    line = f"[{size:>5}] {key:<34} {seconds(value):>24} s  n={value.n if value else 0}"
    return line + (f"  peak {megabytes(memory)} MB" if memory else "")


# -- the tables ----------------------------------------------------------------------------------


def run_lines(results: dict[str, Any]) -> str:
    meta = results.get("meta", {})
    machine = meta.get("machine", {})
    runs = meta.get("runs") or [_run_line(results)]
    lines = [
        f"- machine: {machine.get('cpu') or 'unknown CPU'}, **{machine.get('cores', '?')} cores, "
        f"{machine.get('memory_gb', '?')} GB**, kernel {machine.get('kernel', '?')}",
        f"- platform: {meta.get('platform', '-')}: one Kafka broker (KRaft) and Apicurio Registry, local JVMs",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items() if v),
        f"- the pulumi commands ran at the CLI's default `--parallel` ({parallel(results)})",
        "- runs (`python -m bench --render` merges several):",
    ]
    for run in runs:
        lines.append(
            f"  - `{run.get('command')}`: sizes {run.get('sizes')}, {run.get('started')} to {run.get('finished')}, "
            f"load average at start {run.get('loadavg_start')}, at the end {run.get('loadavg_end')}"
        )
    return "\n".join(lines)


# (target, topics, figure, field, divided by figure or None, limit): "within" a ratio is met at the
# limit, "<" a limit below it. Program evaluation is judged on the lean mode: the harness's extra
# work (every output resolved into plain values) is the unit tests', not the program's.
TARGETS = (
    ("program evaluation of 3000 topics < 3 s (lean, under mocks)", 3000, "eval_lean", "seconds", None, 3),
    ("program evaluation of 3000 topics < 300 MB (lean, under mocks)", 3000, "eval_lean", "peak_mb", None, 300),
    ("`pulumi up` of 600 topics within 5x the batched floor", 600, "up@P", "seconds", "floor_create", 5),
    ("no-change preview of 600 topics < 20 s", 600, "preview@P", "seconds", None, 20),
    ("verify of 3000 topics < 5 s", 3000, "verify", "seconds", None, 5),
    ("create 600 topics within 3x Jikkou, bulk mode", 600, "up_nockpt@P", "seconds", "jikkou_create", 3),
    ("no-change preview of 600 within 2x Jikkou's no-change run", 600, "preview@P", "seconds", "jikkou_no_change", 2),
    ("add one exchange to 3000 topics: `pulumi up` < 15 s", 3000, "add_up@P", "seconds", None, 15),
    ("add one exchange to 3000 topics: `pulumi preview` < 15 s", 3000, "add_preview@P", "seconds", None, 15),
)


def targets(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured median, met | missed | not measured) of every target."""
    out = []
    for name, size, key, field, other, limit in TARGETS:
        value = stat(results, size, key, field)
        unit = " MB" if field == "peak_mb" else " s"
        if value is not None and other is None:
            out.append((name, seconds(value) + unit, "met" if value.median < limit else "missed"))
        elif value is not None and (base := stat(results, size, other)) and (r := div(value, base)) is not None:
            out.append((name, f"{seconds(value)} s / {seconds(base)} s = {r:.1f}x", "met" if r <= limit else "missed"))
        else:
            out.append((name, "-", "not measured"))
    return out


def program_table(results: dict[str, Any]) -> str:
    header = ["topics", "partitions", "program under mocks, harness (s)", "peak RSS (MB)"]
    header += ["program under mocks, lean (s)", "peak RSS (MB)", "SDK floor (s)", "peak RSS (MB)", "lean / SDK floor"]
    header += ["`topics --json` (s)", "peak RSS (MB)"]
    rows = []
    for size in sizes(results):
        row = [str(size), str(results["sizes"][str(size)].get("partitions", "-"))]
        for key in ("eval", "eval_lean", "eval_sdk", "topics_json"):
            row += [seconds(stat(results, size, key)), megabytes(stat(results, size, key, "peak_mb"))]
            if key == "eval_sdk":
                row.append(ratio(results, size, "eval_lean", "eval_sdk"))
        rows.append(row)
    return markdown_table(header, rows)


def phases_table(results: dict[str, Any]) -> str:
    """Median in-process phases of the program evaluation, per size and mode."""
    names = ("startup", "imports", "plan", "declare", "settle")
    header = ["topics", "mode", "interpreter start", "imports", "plan", "declare", "settle", "process total"]
    rows = []
    for size in sizes(results):
        for key, mode in (("eval", "harness"), ("eval_lean", "lean"), ("eval_sdk", "SDK floor")):
            phases = figure(results, size, key).get("phases") or []
            if phases:
                row = [str(size), mode] + [seconds(Stat.of([p[n] for p in phases if n in p])) for n in names]
                rows.append([*row, seconds(stat(results, size, key))])
    return markdown_table(header, rows)


def pulumi_tables(results: dict[str, Any]) -> str:
    """`pulumi up` against the batched create; the no-change preview against the batched describe;
    destroy against the batched delete; verify."""
    create = ["topics", "floor create", "`up`", "up / floor", "peak MB `up` (tree)", "`up`, bulk mode"]
    create += ["bulk up / floor"]
    no_change = ["topics", "floor describe", "no-change `preview`", "preview / describe", "floor delete"]
    no_change += ["`destroy`", "`destroy`, bulk mode"]
    verify = ["topics", "`verify --json` (s)", "peak RSS (MB)", "floor describe (s)"]
    rows: tuple[list, list, list] = ([], [], [])
    for size in sizes(results):
        s = [seconds(stat(results, size, k)) for k in ("up@P", "up_nockpt@P", "preview@P", "verify")]
        floors = [seconds(stat(results, size, k)) for k in ("floor_create", "floor_describe", "floor_delete")]
        destroys = [seconds(stat(results, size, k)) for k in ("destroy@P", "destroy_nockpt@P")]
        up_mb, verify_mb = (megabytes(stat(results, size, k, "peak_mb")) for k in ("up@P", "verify"))
        up_ratio, bulk_ratio = (ratio(results, size, k, "floor_create") for k in ("up@P", "up_nockpt@P"))
        rows[0].append([str(size), floors[0], s[0], up_ratio, up_mb, s[1], bulk_ratio])
        preview_ratio = ratio(results, size, "preview@P", "floor_describe")
        rows[1].append([str(size), floors[1], s[2], preview_ratio, floors[2], *destroys])
        rows[2].append([str(size), s[3], verify_mb, floors[1]])
    tables = (markdown_table(h, r) for h, r in zip((create, no_change, verify), rows, strict=True))
    return "\n\n".join(tables)


def peer_rows(results: dict[str, Any], size: int) -> list[list[str]]:
    """Per tool: its version, how it was driven and its cell of each phase (PHASE_TITLES)."""
    p = parallel(results)
    versions = results.get("meta", {}).get("versions", {})
    peer = versions.get("peers") or {}
    pulumi = f"pulumi {versions.get('pulumi_cli', '?')}, kafka provider {versions.get('kafka_provider_plugin', '?')}"
    shipped = stat(results, size, "topicctl_create_shipped")
    shipped_n = (figure(results, size, "topicctl_create_shipped").get("topics") or [None])[0]
    per = shipped.median / shipped_n if shipped and shipped_n else 0
    shipped_create = f"{seconds(shipped)} for {shipped_n} topics ({per:.2f} s a topic; ~{per * size:.0f} for {size}, "
    shipped_create = shipped_create + "extrapolated)" if per else "-"

    def c(key: str, also: str = "", label: str = "", main: str = "") -> str:
        """A figure's seconds, its first failure ("failed after X s: why"), and optionally a second figure."""
        parts = []
        value = stat(results, size, key)
        if value is not None:
            parts.append(f"{main}{seconds(value)}")
        for failure in failures(results, size, key)[:1]:
            parts.append(f"**failed** after {failure['seconds']:.1f} s: {failure['error'][:160]}")
        other = stat(results, size, also) if also else None
        if other is not None:
            parts.append(f"{label}{seconds(other)}")
        return "; ".join(parts) if parts else "-"

    def phases(tool: str, read_only: str, delete: str) -> list[str]:
        """A peer's cells; its no-change run measured as an apply and as its read-only command."""
        no_change = c(f"{tool}_no_change", f"{tool}_{read_only}", f"{read_only} ", "apply ")
        return [c(f"{tool}_create"), no_change, c(f"{tool}_add_exchange"), c(f"{tool}_raise_partitions"), delete]

    no_delete = "n/a (no topic delete)"
    rows = [
        (
            "floor",
            f"confluent-kafka {versions.get('confluent-kafka (pip)', '?')}",
            "AdminClient, batched requests (bench/floor.py)",
            [c(k) for k in ("floor_create", "floor_describe", "floor_add", "floor_raise", "floor_delete")],
        ),
        (
            "k2infra, default mode",
            pulumi,
            f"`pulumi up`/`preview`/`destroy`, checkpoints on, --parallel {p}",
            [
                c("up@P"),
                c("preview@P", main="preview "),
                c("add_up@P", "add_preview@P", "preview ", "up "),
                c("raise_up@P", "raise_preview@P", "preview ", "up "),
                c("destroy@P"),
            ],
        ),
        (
            "k2infra, bulk mode",
            pulumi,
            f"the same with PULUMI_SKIP_CHECKPOINTS=true, --parallel {p}",
            [c("up_nockpt@P"), "-", "-", "-", c("destroy_nockpt@P")],
        ),
        (
            "Jikkou",
            f"{peer.get('jikkou') or '?'} (library, Maven Central)",
            "its engine via bench/jikkou/JikkouBench.java: one batch",
            phases("jikkou", "diff", c("jikkou_delete")),
        ),
        (
            "topicctl, tuned",
            f"{peer.get('topicctl') or '?'} (Go module proxy)",
            f"`apply`, one topic at a time, --sleep-loop-duration {TOPICCTL_TUNED_SLEEP}",
            phases("topicctl", "check", no_delete),
        ),
        (
            "topicctl, as shipped",
            f"{peer.get('topicctl') or '?'}",
            "`apply`, one topic at a time, --sleep-loop-duration 10s (default)",
            [
                shipped_create,
                "as tuned (no sleep without a change)",
                c("topicctl_add_exchange_shipped"),
                c("topicctl_raise_partitions_shipped"),
                no_delete,
            ],
        ),
    ]
    return [[tool, version, how, *cells] for tool, version, how, cells in rows]


def peer_table(results: dict[str, Any], size: int) -> str:
    header = ["tool", "version", "how driven", *(f"{t} ({size})" for t in PHASE_TITLES)]
    return markdown_table(header, peer_rows(results, size))


# (phase, k2infra's figure, Jikkou's, topicctl's (None: it has no such command), the floor's)
RATIO_PHASES = (
    ("create, default mode", "up@P", "jikkou_create", "topicctl_create", "floor_create"),
    ("create, bulk mode", "up_nockpt@P", "jikkou_create", "topicctl_create", "floor_create"),
    ("no-change (preview)", "preview@P", "jikkou_no_change", "topicctl_no_change", "floor_describe"),
    ("no-change (preview) vs read-only peers", "preview@P", "jikkou_diff", "topicctl_check", "floor_describe"),
    ("add one exchange (up)", "add_up@P", "jikkou_add_exchange", "topicctl_add_exchange", "floor_add"),
    ("add one exchange (preview)", "add_preview@P", "jikkou_diff", "topicctl_check", "floor_describe"),
    ("raise partitions (up)", "raise_up@P", "jikkou_raise_partitions", "topicctl_raise_partitions", "floor_raise"),
    ("delete, default mode", "destroy@P", "jikkou_delete", None, "floor_delete"),
    ("delete, bulk mode", "destroy_nockpt@P", "jikkou_delete", None, "floor_delete"),
)


def ratio_rows(results: dict[str, Any], size: int) -> list[list[str]]:
    """k2infra's figure per phase against Jikkou, topicctl (tuned) and the floor: k2infra / other."""
    rows = []
    for title, ours, jikkou, topicctl, floor_key in RATIO_PHASES:
        mine = stat(results, size, ours)
        if mine is None:
            continue
        j = stat(results, size, jikkou)
        j_text = times(div(mine, j)) if j else ("Jikkou failed" if failures(results, size, jikkou) else "-")
        t_text = times(div(mine, stat(results, size, topicctl))) if topicctl else "n/a"
        rows.append([title, seconds(mine), j_text, t_text, times(div(mine, stat(results, size, floor_key)))])
    return rows


def peers_block(results: dict[str, Any]) -> str:
    """The tables of every size with a peer's figure or failure, or a change measured."""
    header = ["phase (k2infra)", "k2infra (s)", "k2infra / Jikkou", "k2infra / topicctl (tuned)", "k2infra / floor"]
    parts = []
    for size in sizes(results):
        entry = results["sizes"][str(size)]
        if entry.get("failures") or any(k.startswith(PEER_KEYS) for k in entry.get("figures", {})):
            parts += [
                f"### {size} topics",
                peer_table(results, size),
                markdown_table(header, ratio_rows(results, size)),
            ]
    return "\n\n".join(parts) or "Not measured in these runs."


def change_table(results: dict[str, Any]) -> str:
    """The everyday changes at every size measured: preview and up, checkpoints on."""
    p = parallel(results)
    header = ["topics", "change", "--parallel", "`pulumi preview`", "`pulumi up`"]
    header += ["SDK floor (bare topics under mocks)", "floor (the same change)", "up / floor"]
    rows = []
    for size in sizes(results):
        for title, kind in (("add one exchange", "add"), ("raise partitions", "raise")):
            preview, up = stat(results, size, f"{kind}_preview@P"), stat(results, size, f"{kind}_up@P")
            if preview or up:
                f, sdk = stat(results, size, f"floor_{kind}"), stat(results, size, "eval_sdk")
                rows.append([str(size), title, str(p), seconds(preview), seconds(up), seconds(sdk), seconds(f)])
                rows[-1].append(times(div(up, f)))
    return markdown_table(header, rows)


def notes_block(results: dict[str, Any]) -> str:
    p = parallel(results)
    keys = ["eval", "eval_lean", "eval_sdk", "topics_json", "floor_create", "verify"]
    keys += [f"{kind}@{p}" for kind in ("up", "preview", "destroy", "up_nockpt", "add_up", "raise_up")]
    keys += ["jikkou_create", "topicctl_create"]
    counts = [[str(s)] + [str(len(figure(results, s, k).get("seconds") or [])) for k in keys] for s in sizes(results)]
    lines = ["Repetitions (figures measured per size):", "", markdown_table(["topics", *keys], counts)]
    entries = [(s, results["sizes"][str(s)]) for s in sizes(results)]
    notes = [f"- {s} topics: {note}" for s, entry in entries for note in entry.get("notes", [])]
    errors = [f"- {s} topics: {e.splitlines()[0][:300]}" for s, entry in entries for e in entry.get("errors", [])]
    errors += [f"- cleanup: {p}" for p in results.get("meta", {}).get("cleanup_problems") or []]
    if notes:
        lines += ["", "Notes:", "", *notes]
    if errors:
        lines += ["", "Errors:", "", *errors]
    return "\n".join(lines)


# -- the document and several runs ----------------------------------------------------------------


def blocks(results: dict[str, Any]) -> dict[str, str]:
    """The document's generated parts, by marker name."""
    return {
        "run": run_lines(results),
        "targets": markdown_table(
            ["target", "measured (median)", "status"], [[n, m, f"**{s}**"] for n, m, s in targets(results)]
        ),
        "peers": peers_block(results),
        "changes": change_table(results),
        "program": program_table(results) + "\n\n" + phases_table(results),
        "pulumi": pulumi_tables(results),
        "notes": notes_block(results),
    }


def fill(document: str, generated: dict[str, str]) -> str:
    """`document` with what stands between each pair of markers replaced by its block; the text
    outside the markers (the hand-written prose) is kept as it is. A missing marker is an error."""
    for name, text in generated.items():
        pattern = re.compile(rf"(<!-- bench:{name} -->\n)(.*?\n)?(<!-- /bench:{name} -->)", re.S)
        if not pattern.search(document):
            raise ValueError(f"no <!-- bench:{name} --> ... <!-- /bench:{name} --> markers in the document")
        document = pattern.sub(lambda m, text=text: m.group(1) + text + "\n" + m.group(3), document, count=1)
    return document


def write(results: dict[str, Any], out_dir: Path, template: Path) -> tuple[Path, Path]:
    """out_dir/benchmarks.md: `template` (docs/benchmarks.md) with its tables filled; and the plot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / "benchmarks.md"
    markdown.write_text(fill(template.read_text(), blocks(results)))
    return markdown, plot(results, out_dir / "benchmarks.png")


def merge(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One results document from several runs: the first run's meta and settings, every run's
    figures (a later run's repetitions appended), notes, errors and failures; the runs listed
    under meta.runs."""
    merged = copy.deepcopy(runs[0])
    merged.setdefault("meta", {})["runs"] = [_run_line(run) for run in runs]
    for run in runs[1:]:
        for size, entry in run.get("sizes", {}).items():
            target = merged.setdefault("sizes", {}).setdefault(
                size, {"topics": int(size), "figures": {}, "notes": [], "errors": []}
            )
            for key in ("partitions", "exchanges"):
                if key in entry:
                    target.setdefault(key, entry[key])
            for key, data in entry.get("figures", {}).items():
                into = target.setdefault("figures", {}).setdefault(key, {})
                for field, values in data.items():
                    into.setdefault(field, []).extend(values)
            for field in ("notes", "errors"):
                target.setdefault(field, []).extend(e for e in entry.get(field, []) if e not in target[field])
            for key, values in (entry.get("failures") or {}).items():
                target.setdefault("failures", {}).setdefault(key, []).extend(values)
        known = merged["meta"].setdefault("versions", {})
        for key, value in run.get("meta", {}).get("versions", {}).items():
            if value and (not known.get(key) or str(known[key]).startswith("unknown") or key == "peers"):
                known[key] = value
        settings = merged.setdefault("settings", {})
        settings["sizes"] = sorted(set(settings.get("sizes") or []) | set(run.get("settings", {}).get("sizes") or []))
        settings.update({k: v for k, v in run.get("settings", {}).items() if k not in settings})
    return merged


def _run_line(run: dict[str, Any]) -> dict[str, Any]:
    meta = run.get("meta", {})
    return {
        "command": meta.get("command"),
        "started": meta.get("started"),
        "finished": meta.get("finished"),
        "loadavg_start": (meta.get("machine") or {}).get("loadavg"),
        "loadavg_end": meta.get("loadavg_end"),
        "sizes": sorted(int(s) for s in run.get("sizes", {})),
    }


# -- the plot -----------------------------------------------------------------------------------

K2, K2_BULK, JIKKOU, TOPICCTL, FLOOR = "tab:red", "tab:orange", "navy", "darkgreen", "black"


# (question, [(figure key, label, colour, line style)], [(topics, seconds, target label)])
PANELS = [
    (
        "Create N topics from empty: k2infra's two modes against the peers and the floor",
        [
            ("up@P", "k2infra `pulumi up`, default mode", K2, "-"),
            ("up_nockpt@P", "k2infra `pulumi up`, bulk mode", K2_BULK, "-"),
            ("jikkou_create", "Jikkou (one batch)", JIKKOU, "-"),
            ("topicctl_create", "topicctl (tuned, one topic at a time)", TOPICCTL, "-"),
            ("floor_create", "floor: batched CreateTopics", FLOOR, "-"),
        ],
        [],
    ),
    (
        "A run with nothing to change: what reading N topics costs",
        [
            ("preview@P", "k2infra `pulumi preview`", K2, "-"),
            ("verify", "k2infra `verify --json`", K2_BULK, "--"),
            ("jikkou_no_change", "Jikkou apply", JIKKOU, "-"),
            ("jikkou_diff", "Jikkou diff", JIKKOU, "--"),
            ("topicctl_check", "topicctl check", TOPICCTL, "--"),
            ("floor_describe", "floor: Metadata + DescribeConfigs", FLOOR, "-"),
        ],
        [(600, 20.0, "target: preview of 600 < 20 s"), (3000, 5.0, "target: verify of 3000 < 5 s")],
    ),
    (
        "Add one exchange (3 topics) to N topics",
        [
            ("add_up@P", "k2infra `pulumi up`", K2, "-"),
            ("add_preview@P", "k2infra `pulumi preview`", K2, "--"),
            ("jikkou_add_exchange", "Jikkou", JIKKOU, "-"),
            ("topicctl_add_exchange", "topicctl (tuned)", TOPICCTL, "-"),
            ("floor_add", "floor: one CreateTopics", FLOOR, "-"),
        ],
        [(3000, 15.0, "target: < 15 s at 3000")],
    ),
    (
        "The Python program alone, under mocks (no engine, no cluster)",
        [
            ("eval", "program, test harness", K2, "--"),
            ("eval_lean", "program, lean", K2, "-"),
            ("eval_sdk", "SDK floor: bare kafka.Topic per topic", FLOOR, "-"),
            ("topics_json", "`python -m k2infra topics --json`", K2_BULK, "-"),
        ],
        [(3000, 3.0, "target: 3000 < 3 s")],
    ),
]


def plot(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 10), dpi=100)
    for ax, (question, series, marks) in zip(axes.flat, PANELS, strict=True):
        for key, label, color, style in series:
            points = [(n, s) for n in sizes(results) if (s := stat(results, n, key)) is not None]
            if points:
                xs, ys = [n for n, _ in points], [s.median for _, s in points]
                spread = [[s.median - s.low for _, s in points], [s.high - s.median for _, s in points]]
                ax.errorbar(xs, ys, yerr=spread, label=label, color=color, linestyle=style, marker="o", capsize=3)
            for n in sizes(results):
                for failure in failures(results, n, key)[:1]:
                    ax.plot([n], [failure["seconds"]], marker="X", markersize=10, color=color, linestyle="none")
                    where = {"textcoords": "offset points", "xytext": (-10, 4), "fontsize": 7, "ha": "right"}
                    ax.annotate(f"{label}: failed", (n, failure["seconds"]), **where)
        for x, y, text in marks:
            ax.plot([x], [y], marker="*", markersize=13, color="gold", markeredgecolor="black", linestyle="none")
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(-10, -12), fontsize=7, ha="right")
        ax.set(xscale="log", yscale="log", xlabel="topics", ylabel="seconds (median; bars: min-max)")
        ax.set_title(question, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", color="gray")
    fig.suptitle("k2infra benchmarks (whole processes, wall time, log-log); stars: targets", fontsize=12)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
