"""`python -m k2infra destroy-check`: would `pulumi destroy` delete topics that hold records?

`pulumi destroy` never runs the program, so the program's data-loss guard cannot stop it. A
protected stack (`k2infra:protect: true`) is refused by the engine itself; an unprotected one
deletes every topic in its state. This check lists those topics with the records each holds now
and refuses (Refused: exit code 1) if any holds records, unless `--allow-data-loss` says the loss is
accepted. `make down` runs it before its `pulumi destroy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from k2infra.live.cluster import LiveReadError
from k2infra.live.records import read_holdings
from k2infra.model.connection import KafkaConnection
from k2infra.model.errors import K2Error, Refused, StateError
from k2infra.ops.pulumi_driver import PulumiCommandError, PulumiDriver
from k2infra.ops.pulumi_stack import TOPIC_TYPE, StackState, topic_name


def run_destroy_check(
    kafka: KafkaConnection,
    stack: str,
    project_dir: Path,
    *,
    allow: bool,
    timeout: float,
    out: TextIO,
    err: TextIO,
    driver: PulumiDriver | None = None,
) -> K2Error | None:
    """The outcome, written already: None (destroy may run), Refused, or what could not be read."""
    try:
        driver = driver or PulumiDriver(project_dir, stack)
        try:
            state = StackState.from_export(driver.export())
        except PulumiCommandError as exc:
            if "no stack named" not in exc.output:
                raise
            print(f"destroy-check: there is no stack {stack}: nothing to destroy", file=out)
            return None
        topics = [r for r in state.resources if r.type == TOPIC_TYPE]
        names = sorted({topic_name(r) for r in topics})
        protected = {topic_name(r) for r in topics if r.protect}
        held = {}
        if names:
            held = read_holdings(kafka.librdkafka(), names, connection=kafka, timeout=timeout)
    except (PulumiCommandError, LiveReadError) as exc:
        print(f"error: {exc}", file=err)
        return exc if isinstance(exc, K2Error) else StateError(str(exc))
    holding = {n: held[n].records for n in names if n in held and held[n].records != 0}
    print(f"destroy-check: stack {stack}: {len(names)} topic(s) in the state", file=out)
    for name, records in holding.items():
        shown = "an unknown number of" if records is None else str(records)
        guard = " (protected: pulumi destroy refuses to delete it)" if name in protected else ""
        print(f"  {name}: {shown} records{guard}", file=out)
    holding = {n: r for n, r in holding.items() if n not in protected}
    if not holding:
        print("destroy-check: pulumi destroy would delete no topic that holds records", file=out)
        return None
    if allow:
        print(f"destroy-check: {len(holding)} topic(s) and their records will be lost (--allow-data-loss)", file=out)
        return None
    print(
        f"error: refusing: pulumi destroy of stack {stack} would delete {len(holding)} topic(s) holding records "
        "(above). To delete them anyway: make down ALLOW_DATA_LOSS=1 (or this check with --allow-data-loss); "
        "to keep them whatever runs, set k2infra:protect: true on the stack.",
        file=err,
    )
    return Refused(f"pulumi destroy of stack {stack} would delete {len(holding)} topic(s) holding records")
