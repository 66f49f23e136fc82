"""`python -m k2infra plan --stack S`: what a preview of the stack changes for K2, for review.

Runs `pulumi preview --json` through the one Pulumi driver (or reads a saved one,
`--from-preview FILE`), reads what the preview does not hold (records of the topics it deletes or
replaces, the registry's verdict on new schemas) and prints the change summary
(k2infra.review): Markdown for a pull-request comment, or JSON for automation (docs/review.md).

Exit codes: 0 the change is summarised (there may be none: JSON `status`), 1 a guard refuses it
(the summary says which and why), 2 nothing to summarise: the preview or its file cannot be read,
does not match this checkout, or failed for another reason (an unreachable cluster, bad input).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from k2infra.console import EXIT_BAD_INPUT
from k2infra.model.stack import Stack

if TYPE_CHECKING:
    from k2infra.review.preview import Preview


def add_parser(commands: Any, project_args: Any) -> None:
    parser = commands.add_parser(
        "plan",
        help="what a preview of the stack changes: topics, subjects, apps' access, guards (Markdown or JSON)",
        description="Summarise what `pulumi preview` of the stack means for K2, for a reviewer (docs/review.md).",
    )
    project_args(parser)
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown", help="default: markdown")
    parser.add_argument(
        "--from-preview",
        type=Path,
        metavar="FILE",
        help="read a saved `pulumi preview --json` of this checkout (- for stdin) instead of running one",
    )
    parser.add_argument(
        "--preview-exit-code",
        type=int,
        default=0,
        metavar="N",
        help="with --from-preview: the exit code of the pulumi preview that wrote it (a failure its document omits)",
    )
    parser.add_argument(
        "--from-event-log",
        type=Path,
        metavar="FILE",
        help="with --from-preview: the preview's `--event-log FILE`, where the policy packs' violations are",
    )
    parser.add_argument(
        "--policy-pack", action="append", default=[], metavar="DIR", help="run the preview with this policy pack"
    )
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the cluster and registry")


def run(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    # Imported here: the other commands need neither the Pulumi SDK nor the Kafka client.
    from k2infra.ops.pulumi_driver import PulumiCommandError
    from k2infra.review.facts import read_facts
    from k2infra.review.markdown import render_markdown
    from k2infra.review.preview import PreviewUnreadable
    from k2infra.review.summary import PreviewMismatch, needs, summarise

    try:
        preview = _preview(args, err)
        allowed = stack.safety.allow_data_loss
        summary = summarise(preview, stack.plan, allowed_data_loss=allowed)
    except (PreviewUnreadable, PreviewMismatch, OSError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    except PulumiCommandError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    topics, schemas = needs(summary)
    if not preview.failed and (topics or schemas):
        facts = read_facts(stack, topics, schemas, timeout=args.timeout)
        summary = summarise(preview, stack.plan, facts, allowed_data_loss=allowed)
    if args.format == "json":
        json.dump(summary.to_dict(), out, indent=2)
        out.write("\n")
    else:
        out.write(render_markdown(summary))
    return summary.exit_code


def _preview(args: argparse.Namespace, err: TextIO) -> Preview:
    from k2infra.ops.pulumi_driver import PulumiCommandError, PulumiDriver
    from k2infra.review.preview import PreviewUnreadable, parse_preview, policy_violations, read_event_log

    if args.from_preview is not None:
        text = sys.stdin.read() if str(args.from_preview) == "-" else args.from_preview.read_text()
        events = read_event_log(args.from_event_log.read_text()) if args.from_event_log is not None else []
        return parse_preview(text, exit_code=args.preview_exit_code, violations=policy_violations(events))
    print(f"plan: pulumi preview --json of stack {args.stack} in {args.project_dir}", file=err)
    driver = PulumiDriver(args.project_dir, args.stack)
    events: list[Any] = []  # the engine's, for the policy packs' violations
    try:
        result = driver.preview(json=True, policy_packs=args.policy_pack, on_event=events.append)
    except PulumiCommandError as exc:
        # A failed preview still prints its document (the refusal is in its diagnostics); a CLI that
        # could not preview at all (no stack, no backend) prints none: that error is the message.
        try:
            return parse_preview(exc.stdout, exit_code=exc.code or 1, violations=policy_violations(events))
        except PreviewUnreadable:
            raise exc from None
    return parse_preview(result.stdout, violations=policy_violations(events))
