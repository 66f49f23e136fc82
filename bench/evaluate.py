"""Child process: evaluate the Pulumi program of a stack under mocks, once, and report its phases.

    python -m bench.evaluate --project-dir DIR --stack bench --result out.json [--mode lean|sdk-floor]

The parent measures this process's wall time and peak RSS; this side splits the time into phases
(imports, plan, declare, settle) and runs one of the modes harness (devkit/pulumi_mocks.py, as the
unit tests), lean (the outputs left to the SDK, as under `pulumi up`) or sdk-floor (not our program:
one bare kafka.Topic per topic of --topics, the parent's JSON of their inputs). What each phase and
mode holds: docs/benchmarks.md, "Program evaluation".
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluate")
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--stack", default="bench")
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--mode", choices=("harness", "lean", "sdk-floor"), default="harness")
    parser.add_argument("--topics", type=Path, help="sdk-floor: JSON list of the topics' inputs")
    args = parser.parse_args(argv)
    imports_start = time.perf_counter()
    import pulumi

    from devkit.pulumi_mocks import install_mocks, run_program, stack_config

    if args.mode == "sdk-floor":
        import pulumi_kafka  # noqa: F401  (its import is part of the SDK's cost)
    else:
        import k2infra.deploy.program as program
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

    if args.mode != "sdk-floor":
        program.read_stack = timed("plan", program.read_stack)  # type: ignore[assignment]
        program.TopicPlatform = timed("declare", program.TopicPlatform)  # type: ignore[assignment,misc]

    def mocked() -> Any:
        config, secret_keys = stack_config(args.project_dir / f"Pulumi.{args.stack}.yaml")
        return install_mocks(args.stack, config, secret_keys)

    # The SDK floor is the SDK's registrations alone: its mocks and its topic list are made before
    # the timed span (installing the mocks imports k2infra's preflight, a quarter of a second).
    if args.mode == "sdk-floor":
        mocks, floor_topics = mocked(), json.loads(args.topics.read_text())
    run_start = time.perf_counter()
    if args.mode == "harness":
        result = run_program(args.project_dir, args.stack)
        resources, topics = len(result.mocks.resources), len(result.outputs.get("topics", {}))
    else:
        if args.mode == "lean":
            mocks = mocked()
            pulumi.runtime.test(lambda: program.run(args.project_dir / "config"))()
        else:
            pulumi.runtime.test(timed("declare", bare_topics))(floor_topics)
        resources, topics = len(mocks.resources), len(mocks.of_type("kafka:index/topic:Topic"))
    run_seconds = time.perf_counter() - run_start
    report = {
        "startup": imports_start - START,
        "imports": imports,
        **phases,
        "settle": run_seconds - phases["plan"] - phases["declare"],
        "run": run_seconds,
        "mode": args.mode,
        "resources": resources,
        "topics": topics,
    }
    args.result.write_text(json.dumps(report))
    return 0


def bare_topics(topics: list[dict]) -> None:
    """The SDK floor: one component, one provider, one kafka.Topic per topic, constant inputs."""
    import pulumi
    import pulumi_kafka as kafka

    parent = pulumi.ComponentResource("k2infra:index:TopicPlatform", "k2")
    provider = kafka.Provider("kafka", bootstrap_servers=["127.0.0.1:9092"], opts=pulumi.ResourceOptions(parent=parent))
    opts = pulumi.ResourceOptions(parent=parent, provider=provider)
    for topic in topics:
        kafka.Topic(topic["name"], opts=opts, **topic)
    parent.register_outputs({})


if __name__ == "__main__":
    sys.exit(main())
