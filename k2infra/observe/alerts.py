"""The Prometheus rules file of a stack, generated from the declaration (`python -m k2infra alerts`).

Per consumer app: K2ConsumerLagging (lag in seconds over its SLO for the SLO's `for`) and
K2ConsumerStalled; per exchange with a silence limit: K2FeedSilent, only within its trading hours;
K2ExporterDown and K2ExporterCannotRead; K2TradingCalendarEnding (below).

Trading hours and daylight saving. PromQL has no time zones: hour(), minute() and day_of_week()
are UTC. Each exchange with trading hours gets two recording rules: exchange:k2_local_time:seconds,
now shifted by the exchange's UTC offset, whose expression holds the offset of every period
between daylight-saving transitions of a horizon (the generation year and the two after it),
computed here with the tz database (`(time() >= bool T1) * (time() < bool T2) * O`, one term per
period); and exchange:k2_trading_hours:bool, its sessions over day_of_week(), hour() and minute()
of that local time. The rules are right across every transition of the horizon with no process
in the loop; the last
period's offset carries on after it, and K2TradingCalendarEnding fires 30 days before the horizon
ends to say: regenerate. Why not a `k2_exchange_trading` gauge from the exporter, which would
need no horizon: the exporter is not built yet, a silence alert would then depend on the
process whose silence it may be reporting, and `promtool test rules` could not prove the hours.
Public holidays are not modelled: an exchange closed on a weekday pages after its silence limit.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from k2infra.model.apps import AppAccess
from k2infra.model.plan import ExchangeInfo
from k2infra.model.topology import TradingSession, prometheus_duration
from k2infra.observe import metrics
from k2infra.observe.declaration import Watched
from k2infra.observe.metrics import ConsumerState, selector

HORIZON_YEARS = 3
CALENDAR_WARNING = timedelta(days=30)
EXPORTER_FOR = timedelta(minutes=2)
RUNBOOK = "docs/monitoring.md#{}"


@dataclass(frozen=True)
class OffsetPeriod:
    """A stretch of time during which a time zone keeps one UTC offset; None: unbounded on that side."""

    start: datetime | None
    end: datetime | None
    offset: int  # seconds east of UTC


def offset_periods(timezone: str, start: datetime, end: datetime) -> list[OffsetPeriod]:
    """The zone's UTC offsets between `start` and `end`, split at each transition; open at both ends."""
    zone = ZoneInfo(timezone)
    transitions = list(_transitions(zone, start, end))
    bounds: list[datetime | None] = [None, *transitions, None]
    out = []
    for lower, upper in itertools.pairwise(bounds):
        at = lower if lower is not None else start
        offset = at.astimezone(zone).utcoffset() or timedelta(0)
        out.append(OffsetPeriod(lower, upper, int(offset.total_seconds())))
    return out


def _transitions(zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """Each instant the zone's offset changes: found hour by hour, then to the second by bisection."""
    step = timedelta(hours=1)
    at, offset = start, start.astimezone(zone).utcoffset()
    while at < end:
        later = at + step
        later_offset = later.astimezone(zone).utcoffset()
        if later_offset != offset:
            low, high = at, later  # offset(low) == offset, offset(high) differs
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            yield high.replace(microsecond=0)
            offset = later_offset
        at = later


def horizon(now: datetime) -> tuple[datetime, datetime]:
    """From the start of `now`'s year to the start of the year HORIZON_YEARS later, UTC."""
    first = datetime(now.year, 1, 1, tzinfo=UTC)
    return first, datetime(now.year + HORIZON_YEARS, 1, 1, tzinfo=UTC)


# -- PromQL ---------------------------------------------------------------------------------------


def local_time_expression(timezone: str, now: datetime) -> str:
    """The exchange's local time as a timestamp (UTC shifted by its offset), for hour(), minute() and
    day_of_week(): one term per period of the horizon, each gated on time(); a comment names its offset."""
    periods = offset_periods(timezone, *horizon(now))
    if len(periods) == 1:
        return f"vector(time() + {periods[0].offset})"
    terms = []
    for period in periods:
        gates = []
        if period.start is not None:
            gates.append(f"(time() >= bool {int(period.start.timestamp())})")
        if period.end is not None:
            gates.append(f"(time() < bool {int(period.end.timestamp())})")
        until = f" until {period.end.isoformat().replace('+00:00', 'Z')}" if period.end else ""
        terms.append(f"{' * '.join(gates)} * {period.offset}  # UTC{_offset_text(period.offset)}{until}")
    # A PromQL comment runs to the end of its line, so each term ends one.
    return "vector(time() + (\n    " + "\n  + ".join(terms) + "\n))\n"


def trading_expression(sessions: tuple[TradingSession, ...] | None, local: str) -> str:
    """1 while the exchange is in one of its sessions, else 0 (`local`: its local-time series); around the clock: 1."""
    if sessions is None:
        return "vector(1)"
    if len(sessions) == 1:
        return _session_expression(sessions[0], local) + "\n"
    return "\n+ ".join(f"({_session_expression(s, local)})" for s in sessions) + "\n"


def _offset_text(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _session_expression(session: TradingSession, local: str) -> str:
    minute = f"(hour({local}) * 60 + minute({local}))"
    factors = []
    if len(session.days) < 7:
        runs = _runs(sorted((day + 1) % 7 for day in session.days))  # Python's Monday 0 -> PromQL's Sunday 0
        day_terms = [
            f"(day_of_week({local}) == bool {a})"
            if a == b
            else f"(day_of_week({local}) >= bool {a}) * (day_of_week({local}) <= bool {b})"
            for a, b in runs
        ]
        factors.append(day_terms[0] if len(day_terms) == 1 else "(" + " + ".join(day_terms) + ")")
    if session.open_minute > 0:
        factors.append(f"({minute} >= bool {session.open_minute})")
    if session.close_minute < 24 * 60:
        factors.append(f"({minute} < bool {session.close_minute})")
    return "\n  * ".join(factors) or "vector(1)"


def _runs(days: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for day in days:
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


# -- the rules ------------------------------------------------------------------------------------


def rules(watched: Watched, now: datetime) -> dict[str, Any]:
    """The rules file as data: groups k2-trading-hours, k2-feeds, k2-consumers and k2-exporter."""
    exchanges = watched.plan.exchanges
    groups = [
        {"name": "k2-trading-hours", "rules": [r for e in exchanges for r in _trading_rules(watched, e, now)]},
        {"name": "k2-feeds", "rules": _feed_rules(watched, now)},
        {"name": "k2-consumers", "rules": [r for app in watched.consumers() for r in _consumer_rules(watched, app)]},
        {"name": "k2-exporter", "rules": _exporter_rules()},
    ]
    return {"groups": [g for g in groups if g["rules"]]}


def _trading_rules(watched: Watched, exchange: ExchangeInfo, now: datetime) -> list[dict[str, Any]]:
    where = {"asset_class": exchange.asset_class, "exchange": exchange.code}
    sessions = watched.trading_hours(exchange)
    if sessions is None:
        return [{"record": metrics.EXCHANGE_TRADING.name, "expr": "vector(1)", "labels": where}]
    local = selector(metrics.EXCHANGE_LOCAL_TIME, **where)
    return [
        {
            "record": metrics.EXCHANGE_LOCAL_TIME.name,
            "expr": local_time_expression(exchange.timezone, now),
            "labels": where,
        },
        # Rules of a group run in order: this one reads the local time recorded just above.
        {"record": metrics.EXCHANGE_TRADING.name, "expr": trading_expression(sessions, local), "labels": where},
    ]


def _feed_rules(watched: Watched, now: datetime) -> list[dict[str, Any]]:
    out = []
    for exchange in watched.plan.exchanges:
        limit, data_types = watched.silence_limit(exchange), watched.silence_watched(exchange)
        if limit is None or not data_types:
            continue
        where = {"asset_class": exchange.asset_class, "exchange": exchange.code}
        age = selector(metrics.FEED_LAST_RECORD_AGE_SECONDS, **where)
        age = age[:-1] + f',data_type=~"{"|".join(data_types)}"}}'
        trading = selector(metrics.EXCHANGE_TRADING, **where)
        window = prometheus_duration(limit)
        hours = watched.trading_hours(exchange)
        when = "around the clock" if hours is None else f"in trading hours ({_hours_text(hours, exchange.timezone)})"
        out.append(
            {
                "alert": "K2FeedSilent",
                # In hours for at least the limit: the night's silence does not page at the open.
                "expr": f"{age} > {limit.total_seconds():g}\n"
                f"and on(asset_class, exchange) min_over_time({trading}[{window}]) == 1\n",
                "labels": {"severity": "critical", **where},
                "annotations": {
                    "summary": "{{ $labels.exchange }} {{ $labels.data_type }}: no record for "
                    "{{ $value | humanizeDuration }}",
                    "description": f"{exchange.name} ({exchange.ref}) is expected to publish {when}; "
                    f"its silence limit is {window} (config/kafka/topics.yaml).",
                    "runbook": RUNBOOK.format("k2feedsilent"),
                },
            }
        )
    if any(watched.trading_hours(e) is not None for e in watched.plan.exchanges):
        end = horizon(now)[1]
        out.append(
            {
                "alert": "K2TradingCalendarEnding",
                "expr": f"vector(time()) > {int((end - CALENDAR_WARNING).timestamp())}\n",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": f"the trading-hours calendar of these rules ends on {end.date()}",
                    "description": "After it, daylight-saving changes are no longer followed. Regenerate the rules: "
                    "python -m k2infra alerts --stack <stack>.",
                    "runbook": RUNBOOK.format("k2tradingcalendarending"),
                },
            }
        )
    return out


def _hours_text(sessions: tuple[TradingSession, ...], timezone: str) -> str:
    return f"{', '.join(s.describe() for s in sessions)} {timezone}"


def _consumer_rules(watched: Watched, app: AppAccess) -> list[dict[str, Any]]:
    slo = watched.slo(app)
    assert slo.max_lag_seconds is not None and slo.for_ is not None  # Apps.slo sets every key
    window = prometheus_duration(slo.for_)
    target = f"{slo.max_lag_seconds:g}s"
    return [
        {
            "alert": "K2ConsumerLagging",
            "expr": f"{selector(metrics.CONSUMER_LAG_SECONDS, app=app.name)} > {slo.max_lag_seconds:g}\n",
            "for": window,
            "labels": {"severity": "warning", "app": app.name},
            "annotations": {
                "summary": "{{ $labels.app }} is {{ $value | humanizeDuration }} behind on "
                "{{ $labels.asset_class }}.{{ $labels.exchange }} {{ $labels.data_type }}",
                "description": f"The SLO of {app.name} is a lag under {target}; it has been over it for {window} "
                "(config/kafka/apps.yaml).",
                "runbook": RUNBOOK.format("k2consumerlagging"),
            },
        },
        {
            "alert": "K2ConsumerStalled",
            "expr": f"{selector(metrics.CONSUMER_STATE, app=app.name, state=ConsumerState.STALLED.value)} == 1\n",
            "for": window,
            "labels": {"severity": "critical", "app": app.name},
            "annotations": {
                "summary": "{{ $labels.app }} (group {{ $labels.group }}) has stopped committing on "
                "{{ $labels.asset_class }}.{{ $labels.exchange }} {{ $labels.data_type }}",
                "description": f"Records wait and the group's committed offsets have not moved for {window}.",
                "runbook": RUNBOOK.format("k2consumerstalled"),
            },
        },
    ]


def _exporter_rules() -> list[dict[str, Any]]:
    window = prometheus_duration(EXPORTER_FOR)
    return [
        {
            "alert": "K2ExporterDown",
            # absent(): no job name to assume; true when the exporter is not scraped at all.
            "expr": f"absent({metrics.EXPORTER_UP.name})\n",
            "for": window,
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "no K2 exporter is scraped: lag and feed alerts cannot fire",
                "description": f"{metrics.EXPORTER_UP.name} has been absent for {window}.",
                "runbook": RUNBOOK.format("k2exporterdown"),
            },
        },
        {
            "alert": "K2ExporterCannotRead",
            "expr": f"{metrics.EXPORTER_UP.name} == 0\n",
            "for": window,
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "the K2 exporter cannot read the cluster: lag and feed alerts cannot fire",
                "description": f"Its reads have failed for {window}; its log has the reason.",
                "runbook": RUNBOOK.format("k2exportercannotread"),
            },
        },
    ]


# -- the file -------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the expressions) as literal blocks, so the file reads like a hand-written one."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # labels shared by two rules are written out twice, not as &anchors


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def render(watched: Watched, now: datetime) -> str:
    """The rules file: a header saying where it comes from, then the rules."""
    stack = watched.plan.stack or "(no stack)"
    _, end = horizon(now)
    head = (
        f"# Generated by `python -m k2infra alerts --stack {stack}` from config/kafka/topics.yaml and apps.yaml\n"
        f"# on {now.date()}; trading-hours calendar valid until {end.date()}. Do not edit: change the declaration\n"
        "# and regenerate. Runbook: docs/monitoring.md\n"
    )
    return head + yaml.dump(rules(watched, now), Dumper=_Dumper, sort_keys=False, width=120)
