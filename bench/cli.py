"""Command line of the benchmarks (`python -m bench`, `make bench`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bench import report
from bench.scenarios import DEFAULT_SIZES, REPO, Bench, BenchFailed, Options

DOCS = REPO / "docs"


def positive_ints(value: str) -> list[int]:
    numbers = [int(part) for part in value.split(",") if part.strip().isdigit() and int(part) > 0]
    if not numbers or len(numbers) != len(value.split(",")):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {value!r}")
    return numbers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="k2infra benchmarks: program evaluation, CLI, pulumi up/preview/destroy, the everyday changes "
        "and verify against the batched Kafka floor and the peers (Jikkou, topicctl), at growing topology sizes. "
        "The full run (the default) fills the tables of docs/benchmarks.md and redraws docs/benchmarks.png; "
        "other runs write to bench/results/ unless --out is given.",
    )
    parser.add_argument(
        "--sizes", type=positive_ints, help=f"topic counts (default {','.join(map(str, DEFAULT_SIZES))})"
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3; pulumi above 600 topics: 1)")
    parser.add_argument("--no-pulumi", action="store_true", help="skip the pulumi commands")
    parser.add_argument(
        "--only",
        choices=("peers", "changes", "comparison", "observe"),
        help="only the peers (Jikkou, topicctl), only k2infra's lifecycle with the everyday changes, or both "
        "(comparison), with the floor and the SDK floor; or only the monitoring read (observe: bench/observe.py)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip Jikkou and topicctl")
    parser.add_argument("--no-changes", action="store_true", help="skip the everyday changes")
    parser.add_argument(
        "--topicctl-shipped-topics",
        type=int,
        default=60,
        help="topics of topicctl's as-shipped create (2 s a topic; default 60, 0 to skip)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 topics, once")
    parser.add_argument("--out", type=Path, help="where benchmarks.md and benchmarks.png go")
    parser.add_argument("--results-dir", type=Path, help="where latest.json goes (default bench/results)")
    parser.add_argument("--work-dir", type=Path, help="temp dir of the run (default: a new one, removed)")
    parser.add_argument("--keep-work", action="store_true", help="keep the work dir (projects, configs)")
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        metavar="RESULTS_JSON",
        help="only fill the docs' tables and redraw the plot from results (several runs are merged)",
    )
    return parser


def options_from(args: argparse.Namespace) -> Options:
    sizes = args.sizes or ([6] if args.quick else list(DEFAULT_SIZES))
    return Options(
        sizes=sizes,
        repeat=1 if args.quick else max(1, args.repeat),
        pulumi=not args.no_pulumi,
        standard=args.only is None,
        peers=not args.no_peers and args.only in (None, "peers", "comparison"),
        changes=not args.no_changes and args.only in (None, "changes", "comparison"),
        topicctl_shipped_topics=max(0, args.topicctl_shipped_topics),
        results_dir=args.results_dir or REPO / "bench" / "results",
        work_dir=args.work_dir,
        keep_work=args.keep_work,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.render:
        results = report.merge([json.loads(path.read_text()) for path in args.render])
        markdown, png = report.write(results, args.out or DOCS, DOCS / "benchmarks.md")
        print(f"wrote {markdown} and {png}")
        return 0
    if args.only == "observe":
        from bench import observe

        results = observe.run(tuple(args.sizes) if args.sizes else observe.SIZES)
        target = (args.results_dir or REPO / "bench" / "results") / "observe.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {target}")
        return 0
    options = options_from(args)
    full = sorted(set(options.sizes)) == sorted(DEFAULT_SIZES) and not args.quick and options.standard
    out = args.out or (DOCS if full else REPO / "bench" / "results")
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
    markdown, png = report.write(results, out, DOCS / "benchmarks.md")
    for name, block in report.blocks(results).items():
        print(f"\n## {name}\n{block}")
    print(
        f"\ntotal {results['meta'].get('duration_s')} s; wrote {markdown}, {png} and {options.results_dir}/latest.json"
    )
    errors = [e for entry in results["sizes"].values() for e in entry.get("errors", [])]
    if errors:
        print(f"bench: {len(errors)} errors (see the Errors in {markdown})")
        return 1
    return 0
