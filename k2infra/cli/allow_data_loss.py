"""`python -m k2infra allow-data-loss --stack S TOPIC...`: list topics in `k2infra:allowDataLoss`.

The data-loss guard (k2infra/deploy/guards.py) refuses a run that would delete or replace
a topic holding records unless the stack file lists the topic. `pulumi config set --path
'k2infra:allowDataLoss[0]' ...` would do it, but it rewrites the whole file through the CLI's own
YAML writer, which turns `replicationFactor: 1` into `"1"` and drops nothing but changes types.
This command edits only that key, with ruamel.yaml's round trip: every other value keeps its type,
its place and its comments.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from k2infra.console import EXIT_BAD_INPUT, EXIT_OK
from k2infra.model.settings import NAMESPACE
from k2infra.model.topology import TOPIC_PREFIX

KEY = f"{NAMESPACE}:allowDataLoss"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "allow-data-loss",
        help="list topics in k2infra:allowDataLoss of the stack file (or --remove them once done)",
        description="Let the next pulumi up delete or replace these topics although they hold records "
        "(their records are lost), by listing them in k2infra:allowDataLoss of Pulumi.<STACK>.yaml.",
    )
    parser.add_argument("--stack", required=True, help="the stack whose Pulumi.<STACK>.yaml is edited")
    parser.add_argument("--project-dir", default=".", type=Path, help="where Pulumi.<STACK>.yaml is (default: .)")
    parser.add_argument("--remove", action="store_true", help="take the topics off the list instead")
    parser.add_argument("topics", nargs="+", metavar="TOPIC", help="full topic names, e.g. market.crypto.trades.bnb")


def _yaml() -> Any:
    from ruamel.yaml import YAML  # the round-trip editor: imported only by this command

    yaml = YAML()  # round trip: comments, key order, quoting and scalar types stay as written
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line (bootstrap server lists, PEM text)
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def edit_allow_list(text: str, topics: Sequence[str], *, remove: bool) -> tuple[str, list[str]]:
    """The stack file's text with `topics` added to (or removed from) the list; and the list after."""
    yaml = _yaml()
    document = yaml.load(text) if text.strip() else None
    if document is None:
        from ruamel.yaml.comments import CommentedMap

        document = CommentedMap()
    config = document.get("config")
    if config is None:
        from ruamel.yaml.comments import CommentedMap

        config = document["config"] = CommentedMap()
    current = config.get(KEY)
    listed = [str(t) for t in current] if isinstance(current, list) else []
    if remove:
        after = [t for t in listed if t not in topics]
    else:
        after = listed + [t for t in dict.fromkeys(topics) if t not in listed]
    if after == listed and (current is not None or remove):
        return text, listed  # nothing to change: the file stays byte for byte
    if not after:
        del config[KEY]
    elif isinstance(current, list):
        current[:] = after  # the same sequence node: its place and comments stay
    else:
        from ruamel.yaml.comments import CommentedSeq

        keys = list(config)
        if keys and config.ca.items.get(keys[-1]):
            # A comment after the last key is the next top-level key's (Pulumi.dev.yaml's on the
            # encryption salt): ruamel keeps it on that key, so the new one goes before it.
            config.insert(len(keys) - 1, KEY, CommentedSeq(after))
        else:
            config[KEY] = CommentedSeq(after)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue(), after


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    stack_file = args.project_dir / f"Pulumi.{args.stack}.yaml"
    if not stack_file.is_file():
        print(f"error: {stack_file} does not exist (is --stack {args.stack} right?)", file=err)
        return EXIT_BAD_INPUT
    odd = [t for t in args.topics if not t.startswith(f"{TOPIC_PREFIX}.")]
    if odd:
        print(f"error: not a K2 topic name (they start with {TOPIC_PREFIX}.): {', '.join(odd)}", file=err)
        return EXIT_BAD_INPUT
    text = stack_file.read_text()
    new_text, after = edit_allow_list(text, args.topics, remove=args.remove)
    if new_text != text:
        stack_file.write_text(new_text)
    shown = ", ".join(after) if after else "(none: the key is removed)"
    print(f"{stack_file.name}: {KEY}: {shown}", file=out)
    if after and not args.remove:
        print(
            f"The next `pulumi up --stack {args.stack}` may delete or replace these topics and lose their records "
            "(the preview warns about each). Once it is done, take them off the list:\n"
            f"  python -m k2infra allow-data-loss --stack {args.stack} --remove {' '.join(after)}",
            file=out,
        )
    return EXIT_OK
