"""`python -m k2infra state check|migrate`: the state backend checked, and a stack moved between backends.

`check` runs before anything else touches a backend (`make up`, `make preview`, recover): a
PostgreSQL URL that cannot be used is said in one line, password masked, with its fix
(k2infra.ops.postgres_state); a file:// one must be a directory that exists or can be made.

`migrate --stack S --to URL [--from URL]` moves one stack's state, in both directions (file ->
PostgreSQL -> file), with the CLI's own means: `pulumi stack export` from the source (secrets stay
encrypted as stored: the stack's passphrase and its salt in Pulumi.<S>.yaml serve both backends),
`pulumi stack init` on the target (refused if the stack there already holds resources), `pulumi
stack import`, then the resources counted on both sides. The source is left as it was: it is the
backup until the new backend is in use (`PULUMI_BACKEND_URL`, or `K2_STATE=postgres` for make).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from k2infra.console import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK
from k2infra.ops import postgres_state, stack_lock
from k2infra.ops.pulumi_driver import PulumiCommandError, PulumiDriver, tail


def check_backend(url: str) -> None:
    """Raise BackendUnusable unless the CLI can use `url` (see the module docstring)."""
    if not url:
        raise postgres_state.BackendUnusable(
            "(none)", "PULUMI_BACKEND_URL is not set", 'eval "$(make env)", or export PULUMI_BACKEND_URL'
        )
    if postgres_state.is_postgres(url):
        postgres_state.check(url)
        return
    folder = stack_lock.backend_dir(url)
    if folder is not None and not folder.is_dir() and not folder.parent.is_dir():
        raise postgres_state.BackendUnusable(url, f"{folder} does not exist", f"mkdir -p {folder}")


def run_check(url: str, out: TextIO, err: TextIO) -> int:
    try:
        check_backend(url)
    except postgres_state.BackendUnusable as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    print(f"state backend {postgres_state.masked(url)}: usable", file=out)
    return EXIT_OK


def resources(document: Mapping[str, Any]) -> int:
    return len((document.get("deployment") or {}).get("resources") or [])


def migrate(
    project_dir: Path,
    stack: str,
    source: str,
    target: str,
    out: TextIO,
    err: TextIO,
    env: Mapping[str, str] | None = None,
) -> int:
    """Copy `stack`'s state from `source` to `target` (backend URLs); 0 done, 1 refused, 2 unusable."""
    base = dict(env if env is not None else os.environ)
    shown_source, shown_target = postgres_state.masked(source), postgres_state.masked(target)
    if source == target:
        print(f"error: --to is the stack's current backend ({shown_target}): nothing to move", file=err)
        return EXIT_BAD_INPUT
    try:
        check_backend(source)
        check_backend(target)
    except postgres_state.BackendUnusable as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    try:
        old = PulumiDriver(project_dir, stack, env={**base, "PULUMI_BACKEND_URL": source})
        if not old.exists():
            print(f"error: stack {stack} does not exist on {shown_source}", file=err)
            return EXIT_BAD_INPUT
        document = old.export()
        new = PulumiDriver(project_dir, stack, env={**base, "PULUMI_BACKEND_URL": target})
        if new.exists():
            there = resources(new.export())
            if there:
                print(
                    f"error: stack {stack} already exists on {shown_target} with {there} resources: nothing was "
                    f"changed. To replace it: PULUMI_BACKEND_URL=<target> pulumi stack rm --force --yes --stack {stack}",
                    file=err,
                )
                return EXIT_DRIFT
        new.create(select_existing=True)
        new.import_state(document)
        copied = resources(new.export())
    except PulumiCommandError as exc:
        print(f"error: pulumi {exc.command} failed:\n{tail(exc.output)}", file=err)
        return EXIT_BAD_INPUT
    if copied != resources(document):
        print(
            f"error: {shown_target} holds {copied} resources of stack {stack}, the source {resources(document)}",
            file=err,
        )
        return EXIT_BAD_INPUT
    print(f"stack {stack}: {copied} resource(s) copied from {shown_source} to {shown_target}", file=out)
    print("the source is left as it was (a backup). Use the new backend: PULUMI_BACKEND_URL=<the --to URL>", file=out)
    print(f"then check: pulumi preview --stack {stack} --expect-no-changes", file=out)
    return EXIT_OK
