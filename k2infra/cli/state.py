"""`python -m k2infra state check|migrate`: the state backend (k2infra.ops.state_migration)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, TextIO


def add_parser(commands: Any) -> None:
    state = commands.add_parser("state", help="the Pulumi state backend: check it, or move a stack to another")
    actions = state.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="say in one line whether the backend can be used, and the fix")
    check.add_argument("--backend", help="the backend URL (default: PULUMI_BACKEND_URL)")
    move = actions.add_parser(
        "migrate", help="copy a stack's state to another backend (stack export/import; the source is kept)"
    )
    move.add_argument("--stack", required=True, help="the stack to move")
    move.add_argument("--to", required=True, help="the target backend URL (postgres://... or file://...)")
    move.add_argument("--from", dest="source", help="the source backend URL (default: PULUMI_BACKEND_URL)")
    move.add_argument("--project-dir", default=".", type=Path, help="the Pulumi project directory (default: .)")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from k2infra.ops.state_migration import migrate, run_check  # pulumi.automation: only for this command

    current = os.environ.get("PULUMI_BACKEND_URL", "")
    if args.action == "check":
        return run_check(args.backend or current, out, err)
    return migrate(args.project_dir, args.stack, args.source or current, args.to, out, err)
