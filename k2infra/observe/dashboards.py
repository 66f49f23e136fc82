"""Dashboards from the declaration (`python -m k2infra dashboards`): one per exchange (its feeds, the
apps consuming it and their lag) and one per consumer app, each as Grafana dashboard JSON and as a
Prometheus console template.

A dashboard is first a list of panels, each a title, a unit and PromQL queries over the metrics
of k2infra.observe.metrics; the two renderings are made from that one list, so they show the
same queries. Grafana's JSON is built with grafana-foundation-sdk (Grafana's own, generated from
its schemas), so the panels are what the Grafana of the day accepts. The console templates are
Go templates that Prometheus serves itself (--web.console.templates): plain HTML tables of each
query's current values, needing no console library, so they work with any Prometheus.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

from k2infra.model.apps import AppAccess
from k2infra.model.outputs import app_dashboard_uid, exchange_dashboard_uid
from k2infra.model.plan import ExchangeInfo
from k2infra.model.topology import prometheus_duration
from k2infra.observe import metrics
from k2infra.observe.declaration import Watched
from k2infra.observe.metrics import ConsumerState, Metric, selector

REFRESH = "30s"
DATASOURCE_VARIABLE = "datasource"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: tuple[str, ...]  # the labels that tell its series apart


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str  # Grafana's unit ids: "s", "percentunit", "reqps", "short", "bool_yes_no"
    queries: tuple[Query, ...]
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    slug: str  # file name and Grafana uid
    title: str
    panels: tuple[Panel, ...]
    description: str = ""


def _matching(metric: Metric, extra: str = "", **matchers: str) -> str:
    """selector() plus a raw matcher (a regex) appended inside the braces."""
    base = selector(metric, **matchers)
    if not extra:
        return base
    return base[:-1] + f",{extra}}}" if base.endswith("}") else f"{base}{{{extra}}}"


def _regex(values: list[str]) -> str:
    """An alternation for a =~ matcher, its backslashes doubled: PromQL strings take Go's escapes."""
    return "|".join(re.escape(v) for v in values).replace("\\", "\\\\")


def exchange_dashboard(watched: Watched, exchange: ExchangeInfo) -> Dashboard:
    where = {"asset_class": exchange.asset_class, "exchange": exchange.code}
    topics = [t.name for t in watched.feeds(exchange)]
    panels = [
        Panel(
            "In trading hours",
            "bool_yes_no",
            (Query(selector(metrics.EXCHANGE_TRADING, **where), ("exchange",)),),
            "From the declared trading hours, in the exchange's time zone (recorded by the generated rules).",
        ),
        Panel(
            "Newest record age",
            "s",
            (Query(selector(metrics.FEED_LAST_RECORD_AGE_SECONDS, **where), ("data_type",)),),
            "How long since each feed's newest record: a silent feed grows here.",
        ),
        Panel(
            "Records per second",
            "reqps",
            (Query(selector(metrics.FEED_RECORDS_PER_SECOND, **where), ("data_type",)),),
        ),
        Panel(
            "Hottest partition's share",
            "percentunit",
            (Query(_matching(metrics.PARTITION_SKEW_RATIO, f'topic=~"{_regex(topics)}"'), ("topic",)),),
            "A hot symbol shows as one partition taking far more than its even share.",
        ),
    ]
    for app, read in watched.consumers_of(exchange):
        slo = watched.slo(app)
        data_types = [t.data_type for t in read]
        lag = _matching(metrics.CONSUMER_LAG_SECONDS, f'data_type=~"{_regex(data_types)}"', app=app.name, **where)
        panels.append(
            Panel(
                f"Lag of {app.name}",
                "s",
                (Query(lag, ("group", "data_type")),),
                f"Its SLO: under {slo.max_lag_seconds:g}s (config/kafka/apps.yaml).",
            )
        )
    panels.append(
        Panel(
            "Lag in records, every consumer",
            "short",
            (Query(selector(metrics.CONSUMER_LAG_RECORDS, **where), ("app", "group", "data_type")),),
        )
    )
    return Dashboard(
        exchange_dashboard_uid(exchange.asset_class, exchange.code),
        f"K2 exchange {exchange.ref}: {exchange.name}",
        tuple(panels),
        f"Feeds of {exchange.name} and the apps that consume them.",
    )


def app_dashboard(watched: Watched, app: AppAccess) -> Dashboard:
    slo = watched.slo(app)
    feeds = [
        Query(
            _matching(
                metrics.FEED_LAST_RECORD_AGE_SECONDS,
                f'data_type=~"{_regex(sorted({t.data_type for t in read}))}"',
                asset_class=exchange.asset_class,
                exchange=exchange.code,
            ),
            ("exchange", "data_type"),
        )
        for exchange in watched.plan.exchanges
        for consumer, read in watched.consumers_of(exchange)
        if consumer.name == app.name
    ]
    stalled_or_worse = _regex([s.value for s in ConsumerState if s is not ConsumerState.OK])
    panels = (
        Panel(
            "Lag in seconds",
            "s",
            (Query(selector(metrics.CONSUMER_LAG_SECONDS, app=app.name), ("group", "exchange", "data_type")),),
            f"Its SLO: under {slo.max_lag_seconds:g}s; an alert after {prometheus_duration(slo.for_)} over it (config/kafka/apps.yaml).",
        ),
        Panel(
            "Lag in records",
            "short",
            (Query(selector(metrics.CONSUMER_LAG_RECORDS, app=app.name), ("group", "exchange", "data_type")),),
        ),
        Panel(
            "Not OK",
            "short",
            (
                Query(
                    _matching(metrics.CONSUMER_STATE, f'state=~"{stalled_or_worse}"', app=app.name) + " == 1",
                    ("exchange", "data_type", "state"),
                ),
            ),
            "Each series is a (group, exchange, data type) in a state other than ok.",
        ),
        Panel("Newest record age of what it reads", "s", tuple(feeds)),
    )
    return Dashboard(app_dashboard_uid(app.name), f"K2 app {app.name}", panels, app.description or "")


def dashboards(watched: Watched) -> list[Dashboard]:
    return [exchange_dashboard(watched, e) for e in watched.plan.exchanges] + [
        app_dashboard(watched, a) for a in watched.consumers()
    ]


# -- Grafana --------------------------------------------------------------------------------------


def grafana_json(dashboard: Dashboard) -> str:
    from grafana_foundation_sdk.builders import dashboard as gd
    from grafana_foundation_sdk.builders import prometheus, stat, timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import DataSourceRef

    source = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
    built = (
        gd.Dashboard(dashboard.title)
        .uid(dashboard.slug)
        .description(dashboard.description)
        .tags(["k2"])
        .refresh(REFRESH)
        .time("now-6h", "now")
        .with_variable(gd.DatasourceVariable(DATASOURCE_VARIABLE).label("Prometheus").type("prometheus"))
    )
    for panel in dashboard.panels:
        kind = stat if panel.unit == "bool_yes_no" else timeseries
        grafana_panel = kind.Panel().title(panel.title).unit(panel.unit).datasource(source).height(8).span(12)
        if panel.description:
            grafana_panel = grafana_panel.description(panel.description)
        for ref, query in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", panel.queries, strict=False):
            legend = " ".join(f"{{{{{label}}}}}" for label in query.legend)
            target = prometheus.Dataquery().expr(query.expr).ref_id(ref).datasource(source)
            grafana_panel = grafana_panel.with_target(target.legend_format(legend) if legend else target)
        built = built.with_panel(grafana_panel)
    return json.dumps(built.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


# -- Prometheus console templates ------------------------------------------------------------------

_HUMANIZE = {"s": "humanizeDuration", "percentunit": "humanizePercentage", "bool_yes_no": "", "short": "humanize"}


def console_template(dashboard: Dashboard, others: list[Dashboard]) -> str:
    """A Go template for Prometheus's /consoles/: a table of current values per query, and links to the others."""
    nav = " | ".join(
        f'<a href="{{{{ pathPrefix }}}}/consoles/{d.slug}.html">{html.escape(d.title)}</a>' for d in others
    )
    parts = [
        "<!DOCTYPE html>",
        "<!-- Generated by `python -m k2infra dashboards` from the declaration; do not edit. -->",
        f"<html><head><title>{html.escape(dashboard.title)}</title>",
        "<style>body{font-family:sans-serif;margin:1em 2em} table{border-collapse:collapse;margin-bottom:1.5em}"
        " td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left} .empty{color:#888}</style></head><body>",
        f"<nav>{nav}</nav>",
        f"<h1>{html.escape(dashboard.title)}</h1>",
        f"<p>{html.escape(dashboard.description)}</p>",
    ]
    for panel in dashboard.panels:
        parts.append(f"<h2>{html.escape(panel.title)}</h2>")
        if panel.description:
            parts.append(f"<p>{html.escape(panel.description)}</p>")
        for query in panel.queries:
            parts += _console_table(query, panel.unit)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _console_table(query: Query, unit: str) -> list[str]:
    labels = query.legend or ("__name__",)
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    cells = "".join(f"<td>{{{{ .Labels.{label} }}}}</td>" for label in labels)
    humanize = _HUMANIZE.get(unit, "humanize")
    value = f"{{{{ .Value | {humanize} }}}}" if humanize else "{{ if eq .Value 1.0 }}yes{{ else }}no{{ end }}"
    # A Go raw string (backquotes) holds PromQL's double quotes as they are.
    ordered = f"query `{query.expr}`" + (f' | sortByLabel "{labels[-1]}"' if query.legend else "")
    return [
        f"<table><caption><code>{html.escape(query.expr)}</code></caption>",
        f"<tr>{head}<th>value</th></tr>",
        f"{{{{ range {ordered} }}}}<tr>{cells}<td>{value}</td></tr>",
        f'{{{{ else }}}}<tr><td class="empty" colspan="{len(labels) + 1}">no data</td></tr>{{{{ end }}}}',
        "</table>",
    ]


def files(watched: Watched) -> dict[str, str]:
    """Relative path -> content: grafana/<slug>.json and consoles/<slug>.html for every dashboard."""
    boards = dashboards(watched)
    out: dict[str, str] = {}
    for board in boards:
        out[f"grafana/{board.slug}.json"] = grafana_json(board)
        out[f"consoles/{board.slug}.html"] = console_template(board, boards)
    return out


def queries(board: Dashboard) -> list[str]:
    return [q.expr for panel in board.panels for q in panel.queries]
