"""Child process: evaluate the Pulumi program of a stack under mocks, once, and report phases.

    python -m bench.evaluate --project-dir DIR --stack bench --result out.json [--mode lean] [--profile out.pstats]

The parent (bench.scenarios) measures this process's wall time and peak RSS; this side splits the
time into phases: imports (pulumi, the SDKs, k2infra), plan (topology + stack settings -> Plan),
declare (the TopicPlatform constructor: one RegisterResource per topic and subject) and settle
(the SDK's asyncio work until every resource and output is resolved by the mocks).

Three modes:
- harness (default): through devkit/pulumi_mocks.py, exactly as the unit tests run it; the
  harness also resolves every stack output into plain values (Output.from_input over them all);
- lean: the same mocks and config, but the program's outputs are left to the SDK, which waits for
  every registration (and the component's register_outputs) as it does under `pulumi up`;
- sdk-floor: not our program at all, the least the Pulumi SDK costs for the same topics: one
  component, one Kafka provider and one bare kafka.Topic per topic of --topics (a JSON list of
  their inputs, written by the parent), constant inputs, same mocks; no plan, no guards, no
  subjects, no outputs. The gap between lean and this is what the program adds.
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluate")
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--stack", default="bench")
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--mode", choices=("harness", "lean", "sdk-floor"), default="harness")
    parser.add_argument("--topics", type=Path, help="sdk-floor: JSON list of the topics' inputs")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the whole evaluation here")
    args = parser.parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))

    if args.mode == "sdk-floor":
        return sdk_floor(args)
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    imports_start = time.perf_counter()
    import pulumi

    import k2infra.deploy.program as program
    from devkit.pulumi_mocks import install_mocks, run_program, stack_config

    imports = time.perf_counter() - imports_start
    phases = {"plan": 0.0, "declare": 0.0}

    def timed(phase: str, function):  # type: ignore[no-untyped-def]
        def wrapper(*a, **kw):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return function(*a, **kw)
            finally:
                phases[phase] += time.perf_counter() - t0

        return wrapper

    program.load_stack_plan = timed("plan", program.load_stack_plan)  # type: ignore[assignment]
    program.TopicPlatform = timed("declare", program.TopicPlatform)  # type: ignore[assignment,misc]
    run_start = time.perf_counter()
    if args.mode == "harness":
        result = run_program(args.project_dir, args.stack)
        resources = len(result.mocks.resources)
        topics = len(result.outputs.get("topics", {}))
    else:
        config, secret_keys = stack_config(args.project_dir / f"Pulumi.{args.stack}.yaml")
        mocks = install_mocks(args.stack, config, secret_keys)

        @pulumi.runtime.test
        def lean() -> None:
            program.run(args.project_dir / "config")

        lean()
        resources = len(mocks.resources)
        topics = len(mocks.of_type("kafka:index/topic:Topic"))
    run_seconds = time.perf_counter() - run_start
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(args.profile))
    write_result(args, imports_start, imports, phases["plan"], phases["declare"], run_seconds, resources, topics)
    return 0


def sdk_floor(args: argparse.Namespace) -> int:
    imports_start = time.perf_counter()
    import pulumi
    import pulumi_kafka as kafka

    from devkit.pulumi_mocks import install_mocks, stack_config

    imports = time.perf_counter() - imports_start
    topics = json.loads(args.topics.read_text())
    config, secret_keys = stack_config(args.project_dir / f"Pulumi.{args.stack}.yaml")
    mocks = install_mocks(args.stack, config, secret_keys)
    declare = 0.0

    @pulumi.runtime.test
    def bare() -> None:
        nonlocal declare
        t0 = time.perf_counter()
        parent = pulumi.ComponentResource("k2infra:index:TopicPlatform", "k2")
        provider = kafka.Provider(
            "kafka", bootstrap_servers=["127.0.0.1:9092"], opts=pulumi.ResourceOptions(parent=parent)
        )
        opts = pulumi.ResourceOptions(parent=parent, provider=provider)
        for topic in topics:
            kafka.Topic(topic["name"], opts=opts, **topic)
        parent.register_outputs({})
        declare = time.perf_counter() - t0

    run_start = time.perf_counter()
    bare()
    run_seconds = time.perf_counter() - run_start
    topic_count = len(mocks.of_type("kafka:index/topic:Topic"))
    write_result(args, imports_start, imports, 0.0, declare, run_seconds, len(mocks.resources), topic_count)
    return 0


def write_result(
    args: argparse.Namespace,
    imports_start: float,
    imports: float,
    plan: float,
    declare: float,
    run_seconds: float,
    resources: int,
    topics: int,
) -> None:
    """The phases the parent reads (`settle` is what the run took beyond plan and declare)."""
    report = {
        "startup": imports_start - START,
        "imports": imports,
        "plan": plan,
        "declare": declare,
        "settle": run_seconds - plan - declare,
        "run": run_seconds,
        "mode": args.mode,
        "resources": resources,
        "topics": topics,
    }
    args.result.write_text(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
