"""The closing lines of a quiet `make up`: what `pulumi up` did, the stack outputs once, the next command.

    pulumi stack output --json | python tools/up_summary.py --log .state/logs/up.log --stack dev

The outputs are nested JSON; one line each here (scalars whole, mappings and lists counted and
named), the whole of them with `pulumi stack output --json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

WIDTH = 100


def resource_counts(log: str) -> str:
    """The last `Resources:` block of a pulumi log as one line (`+ 15 created, 2 unchanged`)."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Resources:"]
    if not starts:
        return "no resource summary in the log"
    counts = []
    for line in lines[starts[-1] + 1 :]:
        if not line.strip() or line.startswith("Duration:"):
            break
        counts.append(line.strip())
    duration = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Duration:")), None)
    text = ", ".join(counts) or "none"
    return f"{text} ({duration})" if duration else text


def _short(value: Any) -> str:
    if isinstance(value, dict):
        keys = sorted(value)
        text = f"{len(keys)}: " + ", ".join(keys) if keys else "{}"
    elif isinstance(value, list):
        text = f"{len(value)}: " + ", ".join(str(v) for v in value) if value else "[]"
    else:
        text = str(value)
    return text if len(text) <= WIDTH else text[: WIDTH - 3] + "..."


def write_summary(outputs: dict[str, Any], log: str, log_path: str, stack: str, out: TextIO) -> None:
    print(f"resources: {resource_counts(log)}  (full log: {log_path})", file=out)
    print("outputs (`pulumi stack output --json` shows them whole):", file=out)
    width = max((len(name) for name in outputs), default=0)
    for name in sorted(outputs):
        print(f"  {name.ljust(width)}  {_short(outputs[name])}", file=out)
    print(
        f'next: eval "$(make env)", then `python -m k2infra verify --stack {stack}` or `pulumi preview`; '
        f"`make down` to remove it",
        file=out,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, type=Path, help="the log of the pulumi up")
    parser.add_argument("--stack", required=True)
    args = parser.parse_args(argv)
    outputs = json.load(sys.stdin)
    write_summary(outputs, args.log.read_text(errors="replace"), str(args.log), args.stack, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
