"""`python -m k2infra COMMAND`: validate, topics, subscriptions, access, mirror-config, verify, recover,
destroy-check, allow-data-loss, alerts, dashboards, lag, feeds, capacity, exporter, plan.

The plan without the Pulumi engine; `recover` and `destroy-check` drive the Pulumi CLI.
Exit codes: 0 success, 1 drift (verify) or a decision needed (recover, destroy-check),
2 bad input or usage (with the problems on stderr). An error's exit code follows its class
(`exit_code`, k2infra.model.errors.K2Error's subclasses). Credentials come from the environment
(K2_SASL_PASSWORD, ...: the stack file holds them encrypted) and are handed to the loader here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from k2infra.cli import access as access_command
from k2infra.cli import allow_data_loss
from k2infra.cli import mirror as mirror_command
from k2infra.cli import observe as observe_commands
from k2infra.cli import plan as plan_command
from k2infra.cli import state as state_command
from k2infra.client.naming import SubscriptionBuilder, UnknownTopicError
from k2infra.console import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK, print_table
from k2infra.model.connection import SECRET_KEYS
from k2infra.model.errors import ConnectionFailed, Drift, InputError, K2Error, Refused, StateError
from k2infra.model.plan import Plan
from k2infra.model.settings import NAMESPACE
from k2infra.model.stack import Stack, load_stack_file
from k2infra.model.topology import Topology, load_topology

# An error's exit code, by its class (the first match along its MRO).
EXIT_CODES: dict[type[K2Error], int] = {
    InputError: EXIT_BAD_INPUT,
    ConnectionFailed: EXIT_BAD_INPUT,
    StateError: EXIT_BAD_INPUT,
    Refused: EXIT_DRIFT,  # a decision is needed
    Drift: EXIT_DRIFT,
    K2Error: EXIT_BAD_INPUT,
}


def exit_code(outcome: K2Error | None) -> int:
    """0 for a command that ended well (None), else the code of its error's class."""
    if outcome is None:
        return EXIT_OK
    return next(EXIT_CODES[cls] for cls in type(outcome).__mro__ if cls in EXIT_CODES)


def env_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """The stack's credentials the environment holds, by config key (saslPassword -> K2_SASL_PASSWORD's value)."""
    return {key: environ[env] for key, env in SECRET_KEYS.items() if environ.get(env)}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-dir", type=Path, help="holds kafka/topics.yaml and schemas/ (default: PROJECT_DIR/config)"
    )
    parser.add_argument("--stack", help="apply the overrides of Pulumi.<STACK>.yaml (default: the topology alone)")
    parser.add_argument(
        "--project-dir", default=".", type=Path, help="where the Pulumi.<stack>.yaml files are (default: .)"
    )


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m k2infra", description="The K2 Kafka topic architecture.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check the topology, schemas and stack settings")
    _common(validate)

    topics = commands.add_parser("topics", help="list the planned topics and subjects")
    _common(topics)
    topics.add_argument("--json", action="store_true", help="machine-readable output")

    subs = commands.add_parser("subscriptions", help="the sorted topics a consumer subscribes to")
    _common(subs)
    subs.add_argument("--json", action="store_true", help="machine-readable output")
    which = subs.add_mutually_exclusive_group(required=True)
    which.add_argument("--exchange", metavar="AC.EX", help="every topic of one exchange, e.g. equities.asx")
    which.add_argument("--asset-class", metavar="AC", help="every topic of one asset class")
    which.add_argument("--data-type", metavar="DT", help="one data type across all exchanges")
    subs.add_argument("--data-types", type=_csv, metavar="A,B", help="with --asset-class: only these data types")
    subs.add_argument("--exchanges", type=_csv, metavar="X,Y", help="with --asset-class: only these exchanges")

    access_command.add_parser(commands, _common)
    mirror_command.add_parser(commands, _common)

    verify = commands.add_parser("verify", help="compare the live cluster and registry with the plan")
    _common(verify)
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the cluster and registry")

    recover = commands.add_parser(
        "recover", help="make a stack usable again after an interrupted pulumi up (locks, pending operations)"
    )
    _project_args(recover)
    recover.add_argument("--up", action="store_true", help="run pulumi up once the stack is recovered")
    recover.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    recover.add_argument("--parallel", type=int, help="--parallel for the pulumi refresh and import it runs")
    recover.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the cluster and registry")

    destroy = commands.add_parser(
        "destroy-check", help="refuse a pulumi destroy that would delete topics holding records"
    )
    _project_args(destroy)
    destroy.add_argument(
        "--allow-data-loss", action="store_true", help="exit 0 even if topics hold records (they will be lost)"
    )
    destroy.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the cluster")

    allow_data_loss.add_parser(commands)
    state_command.add_parser(commands)
    observe_commands.add_parsers(commands, _project_args)
    plan_command.add_parser(commands, _project_args)
    return parser


def _project_args(parser: argparse.ArgumentParser) -> None:
    """A stack of a Pulumi project; the config directory defaults to the project's."""
    parser.add_argument("--stack", required=True, help="the Pulumi stack (its Pulumi.<STACK>.yaml)")
    parser.add_argument("--project-dir", default=".", type=Path, help="the Pulumi project directory (default: .)")
    parser.add_argument("--config-dir", type=Path, help="topology and schemas (default: PROJECT_DIR/config)")


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "subscriptions" and (args.data_types or args.exchanges) and not args.asset_class:
        parser.error("--data-types and --exchanges go with --asset-class")
    if args.command == "allow-data-loss":  # edits the stack file: no plan needed, nor a valid one
        return allow_data_loss.run(args, stdout, stderr)
    if args.command == "state":  # the backend alone: no plan needed
        return state_command.run(args, stdout, stderr)
    handler: Callable[[argparse.Namespace, Stack, TextIO, TextIO], int] = HANDLERS[args.command]
    if args.config_dir is None:
        args.config_dir = args.project_dir / "config"
    try:
        stack = load_stack_file(args.config_dir, args.stack, args.project_dir, env_secrets(os.environ))
        return handler(args, stack, stdout, stderr)
    except InputError as exc:
        print(exc.report(), file=stderr)
        return exit_code(exc)
    except K2Error as exc:
        print(f"error: {exc}", file=stderr)
        return exit_code(exc)
    except UnknownTopicError as exc:
        print(f"error: {exc.args[0]}", file=stderr)
        return EXIT_BAD_INPUT


def _validate(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    plan = stack.plan
    where = f"stack {plan.stack}" if plan.stack else "the topology"
    print(f"OK: {where} is valid: {len(plan.topics)} topics, {len(plan.subjects)} schema subjects.", file=out)
    if plan.stack:
        for line in _partition_rule(plan, load_topology(args.config_dir).topology):
            print(line, file=out)
        print(
            "Not checked offline: the cluster's live partition counts. A plan below them is refused at "
            "preview (make preview), before any change.",
            file=out,
        )
    return EXIT_OK


def _partition_rule(plan: Plan, topology: Topology) -> list[str]:
    """What the stack creates per exchange, and for an exchange added to the topology alone."""
    cap = plan.max_partitions
    lines = [f"Partitions per topic in stack {plan.stack}:"]
    for exchange in plan.exchanges:
        counts = {
            t.data_type: t.partitions
            for t in plan.topics
            if t.asset_class == exchange.asset_class and t.exchange == exchange.code
        }
        own = topology.asset_classes[exchange.asset_class].exchanges[exchange.code].partitions
        mirrored = plan.mirror is not None and any(
            t.asset_class == exchange.asset_class and t.exchange == exchange.code and t.name in plan.mirror.topics
            for t in plan.topics
        )
        if mirrored:
            why = f"stack {plan.mirror.stack}'s, mirrored"  # type: ignore[union-attr]
        elif exchange.ref in plan.partition_overrides:
            why = f"{NAMESPACE}:partitions"
        elif cap is not None and own > cap:
            why = f"{own} in the topology, capped by {NAMESPACE}:maxPartitions"
        else:
            why = "the topology's"
        lines.append(f"  {exchange.ref}: {', '.join(f'{dt} {n}' for dt, n in sorted(counts.items()))} ({why})")
    rule = "its partitions in config/kafka/topics.yaml"
    rule += f", at most {cap} ({NAMESPACE}:maxPartitions)" if cap is not None else f" (no {NAMESPACE}:maxPartitions)"
    fixed = sorted((dt, d.partitions) for dt, d in topology.data_types.items() if d.partitions is not None)
    if fixed:
        rule += "; " + ", ".join(f"{dt} {n}" for dt, n in fixed) + " (the data type's)"
    lines.append(f"  a new exchange: {rule}")
    return lines


def _topics(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    plan = stack.plan
    if args.json:
        payload = {
            "stack": plan.stack,
            "topics": [t.to_dict() for t in plan.topics],
            "subjects": [{k: v for k, v in s.to_dict().items() if k != "schema"} for s in plan.subjects],
        }
        json.dump(payload, out, indent=2)
        out.write("\n")
        return EXIT_OK
    rows = [["TOPIC", "PARTITIONS", "RF", "SUBJECT", "KEY", "CONFIG"]]
    for t in plan.topics:
        config = ", ".join(f"{k}={v}" for k, v in t.config.items())
        rows.append([t.name, str(t.partitions), str(t.replication_factor), t.schema_subject, t.partition_key, config])
    print_table(rows, out)
    print(f"\n{len(plan.topics)} topics, {len(plan.subjects)} subjects ({plan.compatibility}):", file=out)
    for s in plan.subjects:
        print(f"  {s.subject}  <- {s.schema_file} ({len(s.topics)} topic{'s' if len(s.topics) != 1 else ''})", file=out)
    return EXIT_OK


def _subscriptions(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    builder = SubscriptionBuilder(stack.plan)
    if args.exchange:
        asset_class, dot, exchange = args.exchange.partition(".")
        if not dot:
            raise UnknownTopicError(f"--exchange takes asset_class.exchange (e.g. equities.asx), got {args.exchange!r}")
        names = builder.subscribe_to_exchange(asset_class, exchange)
    elif args.asset_class:
        names = builder.subscribe_to_asset_class(args.asset_class, args.data_types, args.exchanges)
    else:
        names = builder.subscribe_to_data_type(args.data_type)
    if args.json:
        json.dump(names, out)
        out.write("\n")
    else:
        out.write("".join(f"{n}\n" for n in names))
    return EXIT_OK


def _verify(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    from k2infra.live.mirror import SOURCE_REGISTRY_PASSWORD_ENV
    from k2infra.live.verify import run_verify  # imports the Kafka client only when needed
    from k2infra.model.mirrormaker import SOURCE_PASSWORD_ENV
    from k2infra.ops.pulumi_stack import read_recorded_versions

    recorded, notes = read_recorded_versions(args.project_dir, stack.name, timeout=args.timeout)
    outcome = run_verify(
        stack,
        json_output=args.json,
        timeout=args.timeout,
        out=out,
        err=err,
        recorded=recorded,
        notes=notes,
        mirror_source_password=os.environ.get(SOURCE_PASSWORD_ENV),
        mirror_source_registry_password=os.environ.get(SOURCE_REGISTRY_PASSWORD_ENV),
    )
    return exit_code(outcome)


def _recover(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    from k2infra.ops.recover import Options, run_recover  # imports the Kafka client only when needed

    options = Options(
        stack=args.stack,
        project_dir=args.project_dir,
        up=args.up,
        dry_run=args.dry_run,
        timeout=args.timeout,
        parallel=args.parallel,
    )
    return exit_code(run_recover(stack, options, out=out, err=err))


def _destroy_check(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    from k2infra.ops.destroy_check import run_destroy_check

    return exit_code(
        run_destroy_check(
            stack.connections.kafka,
            args.stack,
            args.project_dir,
            allow=args.allow_data_loss,
            timeout=args.timeout,
            out=out,
            err=err,
        )
    )


HANDLERS: dict[str, Any] = {
    "validate": _validate,
    "topics": _topics,
    "subscriptions": _subscriptions,
    "access": access_command.run,
    "mirror-config": mirror_command.run,
    "verify": _verify,
    "recover": _recover,
    "destroy-check": _destroy_check,
    # The declaration alone: these read the Plan of the Stack.
    "alerts": lambda args, stack, out, err: observe_commands.run_alerts(args, stack.plan, out, err),
    "dashboards": lambda args, stack, out, err: observe_commands.run_dashboards(args, stack.plan, out, err),
    # The declaration and the live cluster.
    "lag": observe_commands.run_lag,
    "feeds": observe_commands.run_feeds,
    "capacity": observe_commands.run_capacity,
    "exporter": observe_commands.run_exporter,
    # A preview of the stack, summarised for review.
    "plan": plan_command.run,
}
