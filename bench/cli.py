"""Command line of the benchmarks (`python -m bench`, `make bench`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bench import report
from bench.scenarios import DEFAULT_SIZES, REPO, Bench, BenchFailed, Options, write_report


def _ints(value: str) -> list[int]:
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None
    if not numbers or any(n < 1 for n in numbers):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {value!r}")
    return numbers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="k2infra benchmarks: program evaluation, CLI, pulumi up/preview/destroy and verify against "
        "the batched Kafka floor, at growing topology sizes. The full run (the default) writes "
        "docs/benchmarks.md and docs/benchmarks.png; other runs write to bench/results/ unless --out is given.",
    )
    parser.add_argument("--sizes", type=_ints, help=f"topic counts (default {','.join(map(str, DEFAULT_SIZES))})")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each figure (default 3)")
    parser.add_argument(
        "--pulumi-repeat", type=int, help="repetitions of the pulumi commands up to 600 topics (default: --repeat)"
    )
    parser.add_argument(
        "--large-repeat", type=int, default=1, help="repetitions of the pulumi commands above 600 topics (default 1)"
    )
    parser.add_argument(
        "--parallel", type=_ints, help="candidate tuned --parallel values (default: 4x and 16x the CLI's default)"
    )
    parser.add_argument("--no-sweep", action="store_true", help="no sweep: the first --parallel candidate is tuned")
    parser.add_argument("--no-pulumi", action="store_true", help="skip the pulumi commands and verify")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiling runs")
    parser.add_argument(
        "--max-command-seconds",
        type=float,
        default=2400.0,
        help="skip a size whose `pulumi up` extrapolates beyond this (default 2400)",
    )
    parser.add_argument(
        "--only",
        choices=("peers", "changes", "comparison", "program-profile"),
        help="only the peers (Jikkou, topicctl), only k2infra's everyday changes, or both (comparison), "
        "the floor and the SDK floor measured with them; or only py-spy of the program during a preview "
        "on an empty stack (program-profile)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip Jikkou and topicctl")
    parser.add_argument("--no-changes", action="store_true", help="skip k2infra's everyday-change lifecycle")
    parser.add_argument(
        "--topicctl-shipped-topics",
        type=int,
        default=60,
        help="topics of topicctl's as-shipped create (2 s a topic; default 60, 0 to skip)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 topics, once, no sweep, no profiling")
    parser.add_argument("--out", type=Path, help="where benchmarks.md and benchmarks.png go")
    parser.add_argument(
        "--results-dir", type=Path, help="where latest.json and the verbose logs go (default bench/results)"
    )
    parser.add_argument("--work-dir", type=Path, help="temp dir of the run (default: a new one, removed)")
    parser.add_argument("--keep-work", action="store_true", help="keep the work dir (projects, profiles)")
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        metavar="RESULTS_JSON",
        help="only re-render the docs from results; several runs are merged (figures of later runs added)",
    )
    return parser


def options_from(args: argparse.Namespace) -> Options:
    sizes = args.sizes or list(DEFAULT_SIZES)
    repeat, pulumi_repeat, large_repeat = args.repeat, args.pulumi_repeat, args.large_repeat
    sweep, profile = not args.no_sweep, not args.no_profile
    if args.quick:
        sizes = args.sizes or [6]
        repeat = pulumi_repeat = large_repeat = 1
        sweep, profile = False, False
    standard = args.only is None
    peers = not args.no_peers and args.only in (None, "peers", "comparison")
    changes = not args.no_changes and args.only in (None, "changes", "comparison")
    program_profile = args.only == "program-profile"
    full = sorted(set(sizes)) == sorted(DEFAULT_SIZES) and not args.quick and standard
    out = args.out or (REPO / "docs" if full else REPO / "bench" / "results")
    return Options(
        sizes=sizes,
        repeat=max(1, repeat),
        pulumi_repeat=max(1, pulumi_repeat if pulumi_repeat is not None else repeat),
        large_repeat=max(1, large_repeat),
        tuned=args.parallel,
        sweep=sweep and standard,
        pulumi=not args.no_pulumi,
        profile=profile,
        max_command_seconds=args.max_command_seconds,
        out_dir=out,
        work_dir=args.work_dir,
        keep_work=args.keep_work,
        results_dir=args.results_dir or REPO / "bench" / "results",
        standard=standard,
        peers=peers,
        changes=changes,
        topicctl_shipped_topics=max(0, args.topicctl_shipped_topics),
        program_profile=program_profile,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.render:
        results = report.merge([json.loads(path.read_text()) for path in args.render])
        markdown, png = write_report(results, args.out or REPO / "docs")
        print(f"wrote {markdown} and {png}")
        return 0
    options = options_from(args)
    bench = Bench(options)
    try:
        bench.run()
    except BenchFailed as exc:
        print(f"bench: {exc}")
        return 2
    except KeyboardInterrupt:
        latest = options.results_dir / "latest.json"
        print(f"bench: interrupted; partial results in {latest} (docs left as they were; render with --render)")
        return 130
    results = bench.results
    if not results.get("sizes"):
        return 1
    markdown, png = write_report(results, options.out_dir)
    print()
    for title, table in (
        ("Program evaluation and CLI", report.program_table(results)),
        ("pulumi up against the floor", report.pulumi_table(results)),
        ("No-change preview and destroy against the floor", report.no_change_table(results)),
        ("verify", report.verify_table(results)),
        ("Targets", report.targets_table(results)),
    ):
        print(f"## {title}\n{table}\n")
    print(
        f"total {results['meta'].get('duration_s')} s; wrote {markdown}, {png} and {options.results_dir / 'latest.json'}"
    )
    errors = [e for entry in results["sizes"].values() for e in entry.get("errors", [])]
    if errors:
        print(f"bench: {len(errors)} errors (see the docs' Errors section)")
        return 1
    return 0
