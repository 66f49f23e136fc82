"""`python -m k2infra alerts` and `python -m k2infra dashboards`: what to watch, from the declaration.

python -m k2infra alerts --stack prod --output k2-rules.yml     # Prometheus rules (promtool check rules)
python -m k2infra dashboards --stack prod --output monitoring/  # grafana/*.json and consoles/*.html
python -m k2infra lag --stack prod [--app A] [--exchange X] [--json] [--watch [N]]  # 0 healthy, 1 breached, 2 no read
python -m k2infra feeds --stack prod [--json] [--interval 5]           # newest record's age, rates, skew
python -m k2infra capacity --stack prod [--window 10m] [--json]       # recommended partition counts (1: an edit)
python -m k2infra exporter --stack prod [--port 9308] [--interval 15]  # Prometheus metrics (the `monitoring` extra)

lag, feeds, capacity and the exporter read the cluster as the stack's own user, except where the stack
has access control and apps.yaml declares a monitor (`monitors: true`): then as the monitor (its SCRAM
user, its certificate or its OAuth client, as the stack's apps log in), the stack's user having no rights
on groups nor Read on topics (docs/monitoring.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from k2infra.console import EXIT_BAD_INPUT, EXIT_OK, print_table
from k2infra.model.apps import AppAuth
from k2infra.model.connection import KafkaConnection
from k2infra.model.errors import ConnectionFailed, did_you_mean, display_path
from k2infra.model.outputs import EXPORTER_PORT
from k2infra.model.plan import Plan
from k2infra.model.settings import NAMESPACE
from k2infra.model.stack import Stack
from k2infra.observe import alerts, dashboards
from k2infra.observe.declaration import Watched

MONITOR_PASSWORD = "K2_MONITOR_PASSWORD"  # the monitor app's password (its stack secret appPasswords.<app>)
# ... or, where the stack's apps log in by mutual TLS, its certificate and key (PEM text or paths)
MONITOR_CERT = "K2_MONITOR_CERT"
MONITOR_KEY = "K2_MONITOR_KEY"


def observer_connection(stack: Stack, environ: Mapping[str, str] = os.environ) -> KafkaConnection:
    """How the observe commands log in: as the stack's monitor app where access control is on and
    apps.yaml declares one, else as the stack's own user. The monitor proves its principal as every app
    of the stack does (Plan.app_auth): its SCRAM password or OAuth client secret from K2_MONITOR_PASSWORD,
    its certificate and key from K2_MONITOR_CERT and K2_MONITOR_KEY.

    ConnectionFailed, one line (exit 2), when what the monitor needs is not given."""
    monitor, kafka, plan = stack.plan.monitor, stack.connections.kafka, stack.plan
    if not plan.access_control or monitor is None:
        return kafka
    head = (
        f"stack {plan.stack} has access control: lag, feeds, capacity and the exporter log in as its "
        f"monitor app {monitor.name} ({monitor.principal})"
    )
    if plan.app_auth is AppAuth.MTLS:
        cert, key = environ.get(MONITOR_CERT), environ.get(MONITOR_KEY)
        if not cert or not key:
            raise ConnectionFailed(
                f"{head}; set {MONITOR_CERT} and {MONITOR_KEY} to its certificate (CN={monitor.username}) and "
                "key, PEM text or paths"
            )
        connection = kafka.as_client_certificate(cert, key)
        if connection.principal is not None and connection.principal != monitor.principal:
            raise ConnectionFailed(
                f"{head}; the certificate of {MONITOR_CERT} is {connection.principal}'s (its CN), not the monitor's"
            )
        return connection
    password = environ.get(MONITOR_PASSWORD)
    if plan.app_auth is AppAuth.OAUTHBEARER:
        if not password:
            raise ConnectionFailed(
                f"{head}; set {MONITOR_PASSWORD} to the secret of its OAuth client {monitor.username}"
            )
        return kafka.as_oauth_client(
            monitor.username,
            password,
            password_from=MONITOR_PASSWORD,
            username_from=f"the monitor app {monitor.name} in apps.yaml",
        )
    if not password:
        raise ConnectionFailed(
            f"{head}; set {MONITOR_PASSWORD} to its password (the stack secret {NAMESPACE}:appPasswords.{monitor.name})"
        )
    return kafka.as_scram_user(
        plan.app_scram_mechanism,
        monitor.username,
        password,
        password_from=MONITOR_PASSWORD,
        username_from=f"the monitor app {monitor.name} in apps.yaml",
    )


def add_parsers(commands: Any, project_args: Any) -> None:
    rules = commands.add_parser("alerts", help="write the Prometheus alert rules of a stack (docs/monitoring.md)")
    project_args(rules)
    rules.add_argument("--output", type=Path, help="the rules file to write (default: standard output)")
    boards = commands.add_parser(
        "dashboards", help="write a stack's dashboards: Grafana JSON and Prometheus console templates"
    )
    project_args(boards)
    boards.add_argument("--output", type=Path, required=True, help="directory for grafana/ and consoles/")
    lag = commands.add_parser(
        "lag", help="consumer lag in records and seconds per app and exchange (exit 0 healthy, 1 an SLO breached)"
    )
    project_args(lag)
    lag.add_argument("--app", action="append", default=[], help="only this app (repeatable)")
    lag.add_argument(
        "--exchange", action="append", default=[], help="only this exchange: asx or equities.asx (repeatable)"
    )
    lag.add_argument("--json", action="store_true", help="machine-readable output")
    lag.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the cluster")
    lag.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=5.0,
        metavar="SECONDS",
        help="read again every SECONDS (default 5) until Ctrl-C; exit code of the last read",
    )
    feeds = commands.add_parser(
        "feeds", help="newest record's age, records and bytes per second and skew per exchange and data type"
    )
    project_args(feeds)
    feeds.add_argument("--json", action="store_true", help="machine-readable output")
    feeds.add_argument(
        "--interval",
        type=float,
        default=5.0,
        help="seconds between the two reads the rates come from (default: 5; 0: one read, rates n/a)",
    )
    feeds.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the cluster")
    capacity = commands.add_parser(
        "capacity", help="partition counts from measured bytes/s against the per-partition budget (changes nothing)"
    )
    project_args(capacity)
    capacity.add_argument("--window", default="10m", help="how far back to measure: a duration, e.g. 10m (default)")
    capacity.add_argument("--json", action="store_true", help="machine-readable output")
    capacity.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the cluster")
    exporter = commands.add_parser("exporter", help="serve the stack's lag as Prometheus metrics (docs/monitoring.md)")
    project_args(exporter)
    exporter.add_argument(
        "--port", type=int, default=EXPORTER_PORT, help=f"HTTP port of /metrics (default: {EXPORTER_PORT})"
    )
    exporter.add_argument("--address", default="0.0.0.0", help="address to listen on (default: 0.0.0.0)")
    exporter.add_argument("--interval", type=float, default=15.0, help="seconds between reads of the cluster")
    exporter.add_argument("--timeout", type=float, default=10.0, help="seconds one read may wait for the cluster")


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


def _unknown(args: argparse.Namespace, watched: Watched) -> list[str]:
    """did-you-mean lines for every --app and --exchange the stack does not have, all at once."""
    apps = [app.name for app in watched.consumers()]
    exchanges = [e.ref for e in watched.plan.exchanges] + [e.code for e in watched.plan.exchanges]
    problems = []
    for kind, given, known in (("app", args.app, apps), ("exchange", args.exchange, exchanges)):
        for name in given:
            if name not in known:
                close = did_you_mean(name, known)
                hint = f"did you mean '{close}'?" if close else f"known: {', '.join(sorted(set(known)))}"
                problems.append(
                    f"--{kind} {name}: no {'consumer app' if kind == 'app' else 'exchange'} of that name in stack {watched.plan.stack} ({hint})"
                )
    return problems


def run_lag(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    from k2infra.live.admin import KafkaAdmin  # the Kafka client only when the cluster is read
    from k2infra.observe import lag

    watched = Watched.load(args.config_dir, stack.plan)
    problems = _unknown(args, watched)
    if args.watch is not None and args.watch <= 0:
        problems.append(f"--watch takes a positive number of seconds, got {args.watch:g}")
    if problems:
        err.write("".join(f"error: {line}\n" for line in problems))
        return EXIT_BAD_INPUT
    connection = observer_connection(stack)
    if args.watch is None:
        with KafkaAdmin.of(connection) as admin:
            read = lag.read_cluster(admin, watched, timeout=args.timeout)
        return _lag_report(args, watched, lag.compute(watched, read), out, watching=False)
    # Until Ctrl-C: each read against the one before, so a stalled group shows from the second read on.
    code, previous = EXIT_BAD_INPUT, None
    try:
        while True:
            if not args.json:
                if out.isatty():
                    out.write("\x1b[H\x1b[2J")  # the table in place of the last one
                out.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} every {args.watch:g}s (Ctrl-C stops)\n")
            try:
                with KafkaAdmin.of(connection) as admin:
                    read = lag.read_cluster(admin, watched, timeout=args.timeout)
            except ConnectionFailed as exc:  # a broker down for a moment: said, and read again
                err.write(f"error: {exc}\n")
                code = EXIT_BAD_INPUT
            else:
                code = _lag_report(args, watched, lag.compute(watched, read, previous), out, watching=True)
                previous = read
            out.flush()
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return code


def _lag_report(
    args: argparse.Namespace, watched: Watched, computed: Sequence[Any], out: TextIO, *, watching: bool
) -> int:
    """The rows `--app` and `--exchange` keep, as JSON or tables; the exit code they give."""
    from k2infra.observe import lag

    rows = [
        r
        for r in computed
        if (not args.app or r.app in args.app)
        and (not args.exchange or r.exchange in args.exchange or f"{r.asset_class}.{r.exchange}" in args.exchange)
    ]
    code = lag.exit_code(rows)
    if args.json:
        document = {"stack": watched.plan.stack, "rows": [r.to_dict() for r in rows], "exit": code}
        if watching:  # one line per read (JSON Lines), with its time
            document["at"] = datetime.now(UTC).isoformat(timespec="seconds")
        json.dump(document, out, indent=None if watching else 2)
        out.write("\n")
        return code
    declared = [r for r in rows if r.declared]
    others = [r for r in rows if not r.declared]
    _lag_table(declared, out)
    if others:
        out.write("\nOther groups reading market. topics (no app declares them; default objective):\n")
        _lag_table(others, out)
    notes = [(r, reason) for r in rows for reason in r.reasons]
    if notes:
        out.write("\n")
        for r, reason in notes:
            out.write(f"{r.group} {r.topic}: {reason}\n")
    breached = sum(1 for r in rows if r.state in lag.BREACHES)
    out.write(
        f"\n{breached} of {len(rows)} rows breach their objective"
        if breached
        else f"\nno objective breached ({len(rows)} rows)"
    )
    out.write("\n" if watching else "; stalled needs two reads: the exporter reports it\n")
    return code


def _lag_table(rows: list, out: TextIO) -> None:  # type: ignore[type-arg]
    table = [["APP", "GROUP", "EXCHANGE", "DATA TYPE", "LAG RECORDS", "LAG SECONDS", "SLO", "STATE"]]
    for r in rows:
        table.append(
            [
                r.app or "-",
                r.group,
                f"{r.asset_class}.{r.exchange}" if r.exchange else "-",
                r.data_type or r.topic,
                "n/a" if r.lag_records is None else str(r.lag_records),
                "n/a" if r.lag_seconds is None else f"{r.lag_seconds:.1f}",
                f"{r.max_lag_seconds:g}s",
                str(r.state),
            ]
        )
    print_table(table, out)


def run_exporter(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    """Serve /metrics until SIGTERM or SIGINT; exit 2 when prometheus_client is missing or the port is taken."""
    import signal

    try:
        from k2infra.observe import exporter
    except ModuleNotFoundError as exc:
        err.write(f"error: the exporter needs {exc.name} (pip install 'k2infra[monitoring]')\n")
        return EXIT_BAD_INPUT
    log = exporter.stderr_log(err)
    running = exporter.Exporter(
        observer_connection(stack),
        Watched.load(args.config_dir, stack.plan),
        timeout=args.timeout,
        log=log,
        read_mirror=_mirror_reader(stack, args.timeout) if stack.plan.mirror is not None else None,
    )
    try:
        server = exporter.serve(running, args.address, args.port)
    except OSError as exc:
        err.write(f"error: cannot listen on {args.address}:{args.port}: {exc.strerror or exc}\n")
        return EXIT_BAD_INPUT
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: running.stop.set())
    log(f"serving http://{args.address}:{args.port}/metrics, reading stack {stack.plan.stack} every {args.interval:g}s")
    try:
        running.run(args.interval)
    finally:
        server.shutdown()
    log("stopped")
    return EXIT_OK


def _mirror_reader(stack: Stack, timeout: float) -> Callable[[], Any]:
    """A regional stack's copies against their sources, read as `verify` reads them (the source's
    passwords: K2_MIRROR_SOURCE_PASSWORD, K2_MIRROR_SOURCE_REGISTRY_PASSWORD)."""
    from k2infra.live.mirror import SOURCE_REGISTRY_PASSWORD_ENV, read_mirror
    from k2infra.model.mirrormaker import SOURCE_PASSWORD_ENV

    copies: dict[str, tuple[str, ...]] = {t.name: () for t in stack.plan.topics}  # the lag only: no configs
    return lambda: read_mirror(
        stack,
        copies,
        timeout=timeout,
        source_password=os.environ.get(SOURCE_PASSWORD_ENV),
        source_registry_password=os.environ.get(SOURCE_REGISTRY_PASSWORD_ENV),
        subjects=False,
    )


def run_feeds(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    """Every planned topic's newest record age and, between two reads `--interval` apart, its records
    and bytes per second and skew; exit 0 once read (2 when the cluster cannot be read)."""
    from k2infra.live.admin import KafkaAdmin
    from k2infra.observe import feeds

    if args.interval < 0:
        err.write(f"error: --interval must be 0 or more seconds, got {args.interval:g}\n")
        return EXIT_BAD_INPUT
    watched, connection = Watched.load(args.config_dir, stack.plan), observer_connection(stack)
    with KafkaAdmin.of(connection) as admin:
        earlier = None
        if args.interval > 0:
            earlier = feeds.read_newest(admin, watched, timeout=args.timeout, records=False)
            time.sleep(args.interval)  # the measurement window, not a wait for something to happen
        rows = feeds.feed_rows(watched, feeds.read_newest(admin, watched, timeout=args.timeout), earlier)
    if args.json:
        json.dump(
            {"stack": stack.plan.stack, "interval_seconds": args.interval, "rows": [r.to_dict() for r in rows]},
            out,
            indent=2,
        )
        out.write("\n")
        return EXIT_OK
    table = [["EXCHANGE", "DATA TYPE", "END OFFSETS", "LAST RECORD AGE", "RECORDS/S", "BYTES/S", "SKEW", "NOTE"]]
    for r in rows:
        d = r.to_dict()
        age = "n/a" if r.last_record_age_seconds is None else f"{r.last_record_age_seconds:.1f}s"
        offsets = "n/a" if r.end_offsets is None else str(r.end_offsets)
        records = "n/a" if d["records_per_second"] is None else f"{d['records_per_second']:.1f}"
        bytes_ = "n/a" if d["bytes_per_second"] is None else f"{d['bytes_per_second']:.0f}"
        skew = "n/a" if d["skew"] is None else f"{d['skew']:.0%} [{d['hottest_partition']}]"
        table.append([f"{r.asset_class}.{r.exchange}", r.data_type, offsets, age, records, bytes_, skew, d["reason"]])
    print_table(table, out)
    if earlier is None:
        out.write("\nrates need two reads (end-offset deltas): n/a with --interval 0\n")
    else:
        out.write(
            f"\nrates over {args.interval:g}s; bytes/s estimated from the newest records' sizes (uncompressed); "
            "skew: the hottest partition's share of the records appended [that partition]\n"
        )
    return EXIT_OK


def run_capacity(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    """Measured bytes/s per partition against the budget; the YAML edit it recommends (exit 1), or none (0)."""
    from k2infra.live.admin import KafkaAdmin
    from k2infra.model.topology import TOPOLOGY_FILE, parse_duration
    from k2infra.observe import capacity

    window = parse_duration(args.window)
    if window is None or window.total_seconds() <= 0:
        err.write(f"error: --window must be a positive duration such as '10m' or '1h', got {args.window!r}\n")
        return EXIT_BAD_INPUT
    watched = Watched.load(args.config_dir, stack.plan)
    budget = capacity.budget_of(watched, display_path(args.config_dir / TOPOLOGY_FILE))
    with KafkaAdmin.of(observer_connection(stack)) as admin:
        earlier, later = capacity.read_window(admin, watched, window.total_seconds(), timeout=args.timeout)
    rows = capacity.assess(watched, earlier, later, budget)
    edits = capacity.edits(rows)
    patch, unwritten = capacity.diff(edits, lambda file: Path(file).read_text())
    code = 1 if edits else EXIT_OK
    consumers = _parallelism(watched, rows, edits)
    if args.json:
        payload = {
            "stack": stack.plan.stack,
            "window_seconds": window.total_seconds(),
            "budget_bytes_per_second": budget,
            "rows": [r.to_dict() for r in rows],
            "edits": [
                {"origin": e.origin, "current": e.current, "recommended": e.recommended, "topics": list(e.topics)}
                for e in edits
            ],
            "diff": patch,
            "consumers": consumers,
            "exit": code,
        }
        json.dump(payload, out, indent=2)
        out.write("\n")
        return code
    out.write(f"budget {budget} B/s per partition ({BUDGET_HELP}); measured over the last {args.window}\n\n")
    table = [["EXCHANGE", "DATA TYPE", "PARTITIONS", "BYTES/S", "PER PARTITION", "HOTTEST", "NEEDED", "RECOMMENDED"]]
    for r in rows:
        hot = "n/a" if r.hottest_bytes is None else f"{r.hottest_bytes:.0f} [{r.rate.hottest}]"
        table.append(
            [
                r.ref,
                r.data_type,
                str(r.partitions),
                "n/a" if r.rate.bytes_per_second is None else f"{r.rate.bytes_per_second:.0f}",
                "n/a" if r.per_partition is None else f"{r.per_partition:.0f}",
                hot,
                "n/a" if r.needed is None else str(r.needed),
                str(r.recommended),
            ]
        )
    print_table(table, out)
    notes = [f"{r.topic}: {note}" for r in rows for note in r.notes]
    if notes:
        out.write("\n" + "".join(f"{line}\n" for line in notes))
    if not edits:
        out.write("\nno partition count to raise: every topic is within its budget\n")
        return code
    out.write("\nRecommended edit (nothing was changed; apply it, then preview: make preview / pulumi preview):\n\n")
    out.write(patch)
    for line in unwritten:
        out.write(f"{line}\n")
    out.write("\nConsumers: one group member per partition at most, so the new counts allow:\n")
    for line in consumers:
        out.write(f"  {line}\n")
    out.write(
        "Partitions are never removed: an added partition changes which partition a key goes to, so records of "
        "one symbol are in order only from the change on.\n"
    )
    return code


BUDGET_HELP = "defaults.partition_budget_bytes_per_second; bytes/s estimated from the newest records' sizes"


def _parallelism(watched: Watched, rows: Sequence[Any], edits: Sequence[Any]) -> list[str]:
    """For each consumer app reading a topic an edit raises, how many members its group can use."""
    today = {r.topic: r.partitions for r in rows}
    raised = {topic: edit.recommended for edit in edits for topic in edit.topics}
    lines = []
    for app in watched.consumers():
        for spec in watched.reads(app):
            if spec.name in raised:
                lines.append(
                    f"{app.name} (group {app.group}): up to {raised[spec.name]} consumers on {spec.name} "
                    f"({today[spec.name]} today)"
                )
    return lines
