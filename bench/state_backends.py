"""`python -m bench.state_backends` (run by `make bench`): the state backends compared, one run.

With the state on the file backend and in PostgreSQL (tools/postgres.sh, on this machine), at 600
topics: `pulumi up` from empty in the default mode (a checkpoint written after every step) and in the
bulk mode (PULUMI_SKIP_CHECKPOINTS=true: one write at the end), and a no-change `preview`. Then the
state's size at 3,000 topics: the 600-topic checkpoint with its topics repeated to 3,000 (the same
resources under other names: a state of that shape, without creating 3,000 topics), imported into
PostgreSQL (`pulumi stack import`), measured as the checkpoint's bytes and the table's size on disk.
Figures are printed; nothing is asserted. The platform is the one K2_BOOTSTRAP_SERVERS /
K2_SCHEMA_REGISTRY_URL name (without `market.` topics), else one of its own on free ports.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import topologies
from bench.project import BenchProject
from bench.scenarios import BULK, pulumi_timeout
from devkit.state_db import StateDb
from k2infra.ops.pulumi_stack import TOPIC_TYPE

SIZE, LARGE_STATE = 600, 3000
PARALLEL = 8  # the CLI's default --parallel on 2 cores, as the main benchmark runs it


def main(argv: list[str] | None = None) -> int:
    """`--modes default,bulk` (the default): which `pulumi up` modes to measure."""
    from devkit.local_platform import LocalPlatform

    args = sys.argv[1:] if argv is None else argv
    modes = args[1].split(",") if len(args) == 2 and args[0] == "--modes" else ["default", "bulk"]

    work = Path(tempfile.mkdtemp(prefix="k2-bench-state-"))
    platform = LocalPlatform.from_env()
    own = platform is None
    db = StateDb.start()
    try:
        if own:
            platform = LocalPlatform.start(work / "platform")
        topology = topologies.synthetic_topology(SIZE)
        timeout = pulumi_timeout(SIZE)
        for name, url, mode, env in (
            ("postgres", db.url, "default", None),
            ("postgres", db.url, "bulk", BULK),
            ("file", None, "default", None),
            ("file", None, "bulk", BULK),
        ):
            if mode not in modes:
                continue
            project = BenchProject.create(
                work / f"{name}-{mode}", topology, platform.bootstrap_servers, platform.schema_registry_url, url
            )
            say(f"{name}: up of {SIZE} topics, {mode} mode", _seconds(project.up(PARALLEL, timeout=timeout, env=env)))
            if mode == modes[0]:
                say(f"{name}: no-change preview of {SIZE} topics", _seconds(project.preview(PARALLEL, timeout)))
                if name == "postgres":
                    for what, value in _state_size(project, db):
                        say(what, value)
            # The same topic names serve every project: each is destroyed before the next (bulk mode: not measured).
            project.destroy(PARALLEL * 4, timeout, env=BULK)
            problems = project.cleanup(timeout=timeout, destroy=False)
            if problems:
                print(f"cleanup of {name}/{mode}: {problems}", file=sys.stderr, flush=True)
        return 0
    finally:
        db.stop()
        if own and platform is not None:
            platform.stop()
        shutil.rmtree(work, ignore_errors=True)


def say(what: str, value: str) -> None:
    print(f"{what}: {value}", flush=True)


def _seconds(run: Any) -> str:
    return f"{run.seconds:.1f} s" if run.ok else f"failed (exit {run.returncode}): {run.stderr[-300:]}"


def _state_size(project: BenchProject, db: StateDb) -> list[tuple[str, str]]:
    """The checkpoint's bytes at SIZE topics and, imported under another stack name, at LARGE_STATE."""
    state = project.project.driver.export()
    size = len(json.dumps(state))
    # Under the other stack's name: the CLI refuses resources of another stack.
    large = json.loads(json.dumps(_grown(state, LARGE_STATE)).replace("urn:pulumi:bench::", "urn:pulumi:bench-3000::"))
    driver = type(project.project.driver)(project.dir, "bench-3000", env=project.project.env, timeout=900)
    driver.create()
    driver.import_state(large)
    rows = db.psql("SELECT key, octet_length(data::text) FROM pulumi_state WHERE key LIKE '%/bench-3000.json'")
    stored = int(rows.strip().split("|")[1])
    table = db.psql("SELECT pg_size_pretty(pg_total_relation_size('pulumi_state'))").strip()
    driver.remove(force=True)
    return [
        (f"state of {SIZE} topics (pulumi stack export)", f"{size / 1e6:.2f} MB"),
        (f"state of {LARGE_STATE} topics (export)", f"{len(json.dumps(large)) / 1e6:.2f} MB"),
        (f"state of {LARGE_STATE} topics, stored row (base64 in JSON)", f"{stored / 1e6:.2f} MB"),
        ("table pulumi_state on disk after these runs (history included)", table),
    ]


def _grown(state: dict[str, Any], topics: int) -> dict[str, Any]:
    """`state` with its topic resources repeated (renamed) until it holds `topics` of them."""
    grown = copy.deepcopy(state)
    resources = grown["deployment"]["resources"]
    originals = [r for r in resources if r.get("type") == TOPIC_TYPE]
    missing = topics - len(originals)
    for i in range(missing):
        r = originals[i % len(originals)]
        resources.append(json.loads(json.dumps(r).replace(r["id"], f"{r['id']}.copy{i // len(originals) + 1}")))
    return grown


if __name__ == "__main__":
    sys.exit(main())
