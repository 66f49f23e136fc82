"""`python -m k2infra alerts` and `python -m k2infra dashboards`: what to watch, from the declaration.

python -m k2infra alerts --stack prod --output k2-rules.yml     # Prometheus rules (promtool check rules)
python -m k2infra dashboards --stack prod --output monitoring/  # grafana/*.json and consoles/*.html
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from k2infra.console import EXIT_OK
from k2infra.model.plan import Plan
from k2infra.observe import alerts, dashboards
from k2infra.observe.declaration import Watched


def add_parsers(commands: Any, project_args: Any) -> None:
    rules = commands.add_parser("alerts", help="write the Prometheus alert rules of a stack (docs/monitoring.md)")
    project_args(rules)
    rules.add_argument("--output", type=Path, help="the rules file to write (default: standard output)")
    boards = commands.add_parser(
        "dashboards", help="write a stack's dashboards: Grafana JSON and Prometheus console templates"
    )
    project_args(boards)
    boards.add_argument("--output", type=Path, required=True, help="directory for grafana/ and consoles/")


def run_alerts(args: argparse.Namespace, plan: Plan, out: TextIO, err: TextIO) -> int:
    watched, now = Watched.load(args.config_dir, plan), datetime.now(UTC)
    text = alerts.render(watched, now)
    if args.output is None:
        out.write(text)
        return EXIT_OK
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    count = sum(len(group["rules"]) for group in alerts.rules(watched, now)["groups"])
    out.write(f"wrote {count} rules to {args.output}; check with: promtool check rules {args.output}\n")
    return EXIT_OK


def run_dashboards(args: argparse.Namespace, plan: Plan, out: TextIO, err: TextIO) -> int:
    written = dashboards.files(Watched.load(args.config_dir, plan))
    for relative, content in written.items():
        path = args.output / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    boards = len(written) // 2
    out.write(
        f"wrote {boards} dashboards to {args.output}: grafana/ (import into Grafana) and consoles/ "
        f"(prometheus --web.console.templates={args.output / 'consoles'})\n"
    )
    return EXIT_OK
