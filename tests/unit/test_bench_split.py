"""bench/split.py: a traced `pulumi` run cut into phases along the program's registrations."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from bench import measure
from bench.measure import run_measured
from bench.split import role, spans, split, table


def otlp_line(service: str, *named: tuple[str, int, float, float]) -> str:
    """One JSON line of the CLI's trace file: `resourceSpans` of one service."""
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [
                        {
                            "scope": {"name": "pulumi-cli"},
                            "spans": [
                                {
                                    "name": n,
                                    "kind": k,
                                    "startTimeUnixNano": str(int(s * 1e9)),
                                    "endTimeUnixNano": str(int(e * 1e9)),
                                }
                                for n, k, s, e in named
                            ],
                        }
                    ],
                }
            ]
        }
    )


def test_a_run_is_cut_at_the_program_start_its_first_and_last_registration_and_the_ends(tmp_path: Path) -> None:
    trace = tmp_path / "trace.json"
    register = "pulumirpc.ResourceMonitor/RegisterResource"
    cli = otlp_line(
        "kafka",
        ("pulumi", 1, 100.0, 110.0),
        ("run-program", 1, 101.0, 109.0),
        (register, 2, 103.0, 103.5),
        (register, 2, 104.0, 104.2),
        (register, 2, 107.0, 108.0),
        ("pulumirpc.ResourceProvider/Check", 3, 103.1, 103.3),
        ("pulumirpc.ResourceProvider/Diff", 3, 103.3, 103.4),
        ("pulumirpc.ResourceProvider/Check", 3, 104.1, 104.2),
        ("pulumirpc.ResourceProvider/Configure", 3, 102.0, 102.5),
    )
    provider = otlp_line("kafka", ("pulumirpc.ResourceProvider/Check", 2, 103.15, 103.2))
    trace.write_text(cli + "\n" + provider + "\n")

    cut = split(spans(trace))

    phases = {k: round(v, 3) for k, v in cut.items() if isinstance(v, float)}
    assert phases == {
        "total": 10.0,
        "start-up": 1.0,
        "declare": 2.0,
        "registrations": 4.0,
        "drain": 2.0,
        "finish": 1.0,
    }
    assert cut["resources"] == 3
    check, diff = cut["calls"]["Check"], cut["calls"]["Diff"]
    assert (check[0], round(check[1], 3), round(check[2], 3)) == (2, 0.3, 0.05)
    assert (diff[0], round(diff[1], 3)) == (1, 0.1)
    assert "Configure" not in cut["calls"]
    row = table(600, [("no-change preview", 10.5, cut)]).splitlines()[-1]
    assert row.startswith("| no-change preview | 10.50 | 10.00 | 1.00 | 2.00 | 4.00 | 2.00 | 1.00 | 2000.00 |")
    assert "Check 2, 0.30 s, 0.05 s" in row


def test_the_cpu_of_each_program_in_the_tree_is_sampled_by_its_role(tmp_path: Path, monkeypatch) -> None:
    # The sampler sees a process's CPU only while it runs, so on a loaded machine a child that exits
    # right after its work may outrun the last sample. This child burns 0.3 s of CPU, then waits
    # (at most 60 s) until the sampler has seen that much, so the sum is checked, not the scheduler.
    seen_enough = tmp_path / "seen"
    busy = (
        "import os, time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
        f"deadline = time.monotonic() + 60\nwhile not os.path.exists({str(seen_enough)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
    )
    script = tmp_path / "pulumi-language-python-exec"
    script.write_text(busy)
    sample = measure._sample_cpu

    def watching(root: int, by: Callable[[list[str]], str], seen: dict[int, tuple[str, float]]) -> None:
        sample(root, by, seen)
        if any(r == "the program (python)" and cpu >= 0.25 for r, cpu in seen.values()):
            seen_enough.touch()

    monkeypatch.setattr(measure, "_sample_cpu", watching)
    run = run_measured(
        ["sh", "-c", f'"{sys.executable}" "{script}"'], env=dict(os.environ), cwd=tmp_path, timeout=120, cpu_by=role
    )
    assert run.ok and run.seconds >= 0.3
    assert seen_enough.exists(), f"the sampler never saw the child's 0.3 s of CPU: {run.cpu_by_role}"
    assert run.cpu_by_role is not None and run.cpu_by_role["the program (python)"] >= 0.25, run.cpu_by_role


def test_a_process_is_named_for_its_role_in_a_pulumi_run() -> None:
    assert role(["/x/pulumi", "preview"]) == "pulumi CLI (engine)"
    assert role(["python", "-u", "/x/bin/pulumi-language-python-exec", "--"]) == "the program (python)"
    assert role(["/x/pulumi-resource-kafka", "127.0.0.1:1"]) == "kafka provider"
    assert role(["/x/pulumi-language-python", "127.0.0.1:1"]) == "language host"
    assert role(["python", "-m", "pip", "list"]) == "pip (language host's package list)"
