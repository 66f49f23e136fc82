"""The stack outputs: THE one definition of every field an application reads.

The Pulumi program exports exactly this shape (`k2infra.deploy.component.stack_outputs` builds it
from `plan_outputs` below plus the registry's ids and versions), and the client library validates
what it loads against it (`parse_stack_outputs`), whether from `pulumi stack output --json
--show-secrets`, a `StackReference`'s values or a file. docs/applications.md has the same fields as
a table. A planned topic is one shape with its output: k2infra.model.plan.TopicSpec is a TopicOutput
with its name, and `topics[<name>]` is its `output()`.

Compatibility: fields are only ever added. Readers ignore fields they do not know, so an app built
against an older library keeps working against a newer stack. A null field may also be absent:
Pulumi's Python StackReference drops null values from the mappings it hands over.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

from k2infra.model.connection import Connections
from k2infra.model.errors import pydantic_message
from k2infra.model.regions import regions_output
from k2infra.model.topology import TOPIC_PREFIX

if TYPE_CHECKING:
    from k2infra.model.plan import Plan  # the plan's TopicSpec derives from TopicOutput below

# Every output a stack always has, in the order the program exports them (`schema_registry_urls`
# follows `schema_registry_url` when the stack lists several registry nodes).
OUTPUT_NAMES = (
    "topics",
    "subscriptions",
    "schemas",
    "bootstrap_servers",
    "schema_registry_url",
    "patterns",
    "exchanges",
    "kafka_security",
    "apps",
    "monitoring",
)
# Exported only by a stack that regional stacks mirror from (k2infra.model.regions), beside the above.
REGIONS_OUTPUT = "regions"

# `python -m k2infra exporter`'s default port (the one Kafka exporters usually take); docs/monitoring.md.
EXPORTER_PORT = 9308


def exchange_dashboard_uid(asset_class: str, code: str) -> str:
    """The uid of an exchange's Grafana dashboard, and the name of its console page (`/consoles/<uid>.html`)."""
    return f"k2-exchange-{asset_class}-{code}"


def app_dashboard_uid(app: str) -> str:
    return f"k2-app-{app}"


# One name part of a topic (asset class, data type or exchange): the topology's name rule.
NAME_PART = r"[a-z][a-z0-9_]*"
SECRET_PLACEHOLDER = "[secret]"  # what `pulumi stack output --json` prints without --show-secrets


class _Output(BaseModel):
    # Unknown fields are ignored (a newer stack may add some). Lax types: a StackReference may hand
    # numbers over as floats (3.0), which must still read as the integer 3.
    model_config = ConfigDict(extra="ignore", frozen=True)


class TopicOutput(_Output):
    """`topics[<topic>]`: one hierarchical topic, as the stack declares it."""

    asset_class: str = Field(description="asset class, e.g. `equities`")
    data_type: str = Field(description="data type, e.g. `trades`")
    exchange: str = Field(description="lowercase exchange code, e.g. `asx`")
    partitions: int = Field(ge=1, description="partition count in this stack")
    replication_factor: int = Field(ge=1, description="replicas of each partition")
    config: dict[str, str] = Field(description="Kafka topic configs, as the strings the broker stores")
    schema_subject: str = Field(
        description="Schema Registry subject of its values: `market.<asset_class>.<data_type>-value`"
    )
    schema_name: str = Field(description="Avro record name of that subject's schema, e.g. `trade`")
    partition_key: str = Field(description="record field producers key by, e.g. `symbol`")


class SubscriptionsOutput(_Output):
    """`subscriptions`: sorted topic lists, as they are at this deploy."""

    by_exchange: dict[str, list[str]] = Field(description="the topics of one exchange")
    by_asset_class: dict[str, list[str]] = Field(description="the topics of every exchange of the class")
    by_data_type: dict[str, list[str]] = Field(description="the topics of the data type on every exchange")


class PatternsOutput(_Output):
    """`patterns`: regexes to subscribe with, which also match topics added after this deploy.

    Anchored (^...$) as librdkafka requires of a pattern subscription; Java's Pattern matches them
    whole as well. A name part matches [a-z][a-z0-9_]*, so a dot never matches inside a part.
    """

    all: str = Field(description="every hierarchical topic (not the legacy flat ones)")
    by_exchange: dict[str, str] = Field(description="every data type of the exchange")
    by_asset_class: dict[str, str] = Field(description="every exchange and data type of the class")
    by_data_type: dict[str, str] = Field(description="the data type on every exchange of every class")
    by_asset_class_and_data_type: dict[str, str] = Field(description="the data type on every exchange of the class")


class SchemaOutput(_Output):
    """`schemas[<subject>]`: the registered schema behind a subject."""

    id: int = Field(description="registry's global id of the schema (latest version)")
    version: int = Field(ge=1, description="the subject's latest version")
    compatibility: str = Field(description="the subject's compatibility level, e.g. `BACKWARD`")
    topics: list[str] = Field(description="the topics whose values use this subject")


class ExchangeOutput(_Output):
    """`exchanges[<asset_class>.<code>]`: the metadata of an enabled exchange."""

    asset_class: str = Field(description="its asset class")
    code: str = Field(description="its code, as in topic names")
    name: str = Field(description="its full name, e.g. `Australian Securities Exchange`")
    country: str | None = Field(default=None, description="ISO 3166 alpha-2 country code, or null")
    timezone: str = Field(description="IANA time zone, e.g. `Australia/Sydney`")


class KafkaSecurityOutput(_Output):
    """`kafka_security`: how clients connect; credentials are each application's own."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        description="value of `security.protocol` (same name and values in librdkafka and Java)"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = Field(
        default=None, description="value of `sasl.mechanism`, or null without SASL"
    )
    ca_cert: str | None = Field(default=None, description="PEM of the CA of the brokers' certificates, or null")
    tls_skip_verify: bool = Field(description="true when broker certificates are not verified (dev only)")
    client_auth: Literal["mtls", "oauthbearer"] | None = Field(
        default=None,
        description="`mtls`: every client presents its own certificate (its CN is its principal); `oauthbearer`: "
        "every client logs in with its own OAuth client (its client id is its principal); absent otherwise",
    )
    oauth_token_url: str | None = Field(
        default=None, description="with `oauthbearer`: the identity provider's token endpoint; absent otherwise"
    )

    @model_serializer(mode="wrap")
    def _without_absent_modes(self, dump: Any) -> dict[str, Any]:
        """As the program exports it: the two fields only in their modes (the password modes' output as it was)."""
        out = dump(self)
        for name in ("client_auth", "oauth_token_url"):
            if out.get(name) is None:
                out.pop(name, None)
        return out


class AclOutput(_Output):
    """`apps[<app>].acls[]`: one ACL binding the app's principal holds."""

    resource_type: Literal["Topic", "Group", "Cluster", "TransactionalID"] = Field(description="what it guards")
    resource_name: str = Field(description="the topic or group name, or the prefix of `Prefixed` ones")
    pattern_type: Literal["Literal", "Prefixed"] = Field(description="`Prefixed` also covers names created later")
    operation: str = Field(description="`Read`, `Write` or `Describe`")
    permission: Literal["Allow", "Deny"] = Field(description="always `Allow` here")
    host: str = Field(description="`*`: any host")


class GroupOutput(_Output):
    """`apps[<app>].group`: the consumer group the app may read with."""

    name: str = Field(description="the group id, or its prefix")
    pattern_type: Literal["Literal", "Prefixed"] = Field(description="`Prefixed` for a `group_prefix`")


class AppOutput(_Output):
    """`apps[<app>]`: what a declared application may touch (config/kafka/apps.yaml); no secrets."""

    principal: str = Field(description="its Kafka principal, e.g. `User:k2-crypto-risk-prod`")
    username: str = Field(
        description="the principal without `User:`: its SCRAM user, or by `kafka_security.client_auth` its "
        "certificate's CN or its OAuth client id"
    )
    reads: list[str] = Field(description="the topics it may read today")
    writes: list[str] = Field(description="the topics it may write today")
    acls: list[AclOutput] = Field(description="the ACL bindings the stack deploys for it")
    group: GroupOutput | None = Field(default=None, description="its consumer group, or null for a producer")
    quotas: dict[str, str] = Field(description="its client quotas (`producer_byte_rate`, ...), as Kafka strings")


class RegionOutput(_Output):
    """`regions[<exchange>][i]`: a regional stack that mirrors the exchange's topics (docs/regions.md)."""

    stack: str = Field(description="the regional stack, whose `k2infra:mirrorFrom` names this one")
    region: str = Field(description="its `k2infra:region`")
    bootstrap_servers: str = Field(description="`host:port,...` of its cluster, as its stack file writes them")
    topics: list[str] = Field(description="the exchange's topics it mirrors")


class DashboardsOutput(_Output):
    """`monitoring.dashboards`: the generated dashboards' uids (`python -m k2infra dashboards`)."""

    exchanges: dict[str, str] = Field(description="per enabled exchange (`asset_class.code`), its dashboard's uid")
    apps: dict[str, str] = Field(description="per app that consumes some topic of the stack, its dashboard's uid")


class MonitoringOutput(_Output):
    """`monitoring`: where this stack is observed (docs/monitoring.md)."""

    exporter_port: int = Field(
        description="the port `python -m k2infra exporter --stack <stack>` serves `/metrics` on unless told otherwise"
    )
    monitor_username: str | None = Field(
        default=None,
        description="the user the observe commands and the exporter log in as (its SCRAM user, or by "
        "`kafka_security.client_auth` its certificate's CN or OAuth client id); null without access control",
    )
    dashboards: DashboardsOutput = Field(
        description="Grafana dashboard uids, also the local Prometheus's console pages (`/consoles/<uid>.html`)"
    )


class StackOutputs(_Output):
    """Every stack output of a k2infra stack."""

    topics: dict[str, TopicOutput] = Field(description="every hierarchical topic of the stack")
    subscriptions: SubscriptionsOutput = Field(description="sorted topic lists")
    schemas: dict[str, SchemaOutput] = Field(description="every value subject")
    bootstrap_servers: str = Field(description="`host:port,...` of the brokers")
    schema_registry_url: str = Field(
        description="Confluent-compatible API base URL of the Schema Registry; its nodes comma-separated when "
        "there are several (as Confluent's clients take `schema.registry.url`)"
    )
    schema_registry_urls: list[str] | None = Field(
        default=None, description="every node of the registry, only when the stack lists several"
    )
    patterns: PatternsOutput = Field(description="subscription regexes that also match later exchanges")
    exchanges: dict[str, ExchangeOutput] = Field(description="every enabled exchange")
    kafka_security: KafkaSecurityOutput = Field(description="client security settings")
    apps: dict[str, AppOutput] = Field(
        default_factory=dict, description="declared applications; empty unless `k2infra:accessControl` is on"
    )
    monitoring: MonitoringOutput | None = Field(
        default=None, description="where the stack is observed; absent from stacks deployed before it existed"
    )
    regions: dict[str, list[RegionOutput]] = Field(
        default_factory=dict,
        description="per exchange, the regional stacks that mirror it; exported only where a region mirrors this stack",
    )

    @model_serializer(mode="wrap")
    def _without_empty_regions(self, dump: Any) -> dict[str, Any]:
        """As the program exports it: no `regions` where no region mirrors the stack."""
        out = dump(self)
        if not out.get(REGIONS_OUTPUT):
            out.pop(REGIONS_OUTPUT, None)
        return out


# The key each mapping is indexed by, as the reference table writes it.
_KEYS = {
    "topics": "<topic>",
    "config": "<config>",
    "schemas": "<subject>",
    "exchanges": "<asset_class>.<code>",
    "by_exchange": "<asset_class>.<exchange>",
    "by_asset_class": "<asset_class>",
    "by_data_type": "<data_type>",
    "by_asset_class_and_data_type": "<asset_class>.<data_type>",
    "apps": "<app>",
    "regions": "<asset_class>.<code>",
    "quotas": "<quota>",
}


def reference_rows(model: type[BaseModel] = StackOutputs, prefix: str = "") -> list[tuple[str, str, str]]:
    """(field path, type, description) of every field, depth first, for the table in docs/applications.md."""
    rows = []
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        annotation = info.annotation
        args = typing.get_args(annotation)
        origin = typing.get_origin(annotation)
        if origin is dict:
            path += f"[{_KEYS[name]}]"
            annotation = args[1]
            inner = typing.get_args(annotation)
            if typing.get_origin(annotation) is list and isinstance(inner[0], type) and issubclass(inner[0], BaseModel):
                path += "[]"  # a mapping of lists of objects (`regions`)
                annotation = inner[0]
        elif origin is list and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            path += "[]"
            annotation = args[0]
        elif args and type(None) in args and len(args) == 2:
            inner = next(a for a in args if a is not type(None))
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                rows.append((path, "object \\| null", info.description or ""))
                rows += reference_rows(inner, path)
                continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.append((path, "object", info.description or ""))
            rows += reference_rows(annotation, path)
        else:
            rows.append((path, _type_name(annotation), info.description or ""))
    return rows


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if args and type(None) in args:
        return " \\| ".join(_type_name(a) for a in args if a is not type(None)) + " \\| null"
    return {str: "string", int: "integer", bool: "boolean"}.get(annotation, str(annotation))


def reference_table() -> str:
    """The markdown table of every output field (docs/applications.md holds it; a test compares)."""
    lines = ["| output field | type | meaning |", "|---|---|---|"]
    lines += [f"| `{path}` | {kind} | {text} |" for path, kind, text in reference_rows()]
    return "\n".join(lines)


class OutputsError(ValueError):
    """Stack outputs of the wrong shape; the message names every missing or wrong field."""

    def __init__(self, problems: list[str], source: str) -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source} are not the outputs of a k2infra stack:\n" + "\n".join(f"  {p}" for p in problems))


def parse_stack_outputs(values: Mapping[str, Any], source: str = "the stack outputs") -> StackOutputs:
    """The outputs validated, or OutputsError naming each field at fault (as `topics.<name>.partitions`)."""
    if not isinstance(values, Mapping):
        raise OutputsError([f"expected a mapping of output names to values, got {type(values).__name__}"], source)
    secret = [name for name, value in values.items() if value == SECRET_PLACEHOLDER]
    if secret:
        raise OutputsError(
            [
                f"{name}: is '[secret]': read the outputs with `pulumi stack output --json --show-secrets`"
                for name in secret
            ],
            source,
        )
    try:
        return StackOutputs.model_validate(dict(values))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            problems.append(f"{_field_path(err['loc'])}: {pydantic_message(err)}")
        raise OutputsError(problems, source) from None


def _field_path(loc: tuple[Any, ...]) -> str:
    """('topics', 'market.equities.trades.asx', 'partitions') -> topics[market.equities.trades.asx].partitions"""
    out = ""
    for part in loc:
        text = str(part)
        out += f"[{text}]" if "." in text or isinstance(part, int) else (f".{text}" if out else text)
    return out or "(top level)"


# -- building the outputs from a plan (everything but `schemas`, which needs the registry) ------


def topic_pattern(
    asset_class: str | Iterable[str] | None = None,
    data_type: str | Iterable[str] | None = None,
    exchange: str | Iterable[str] | None = None,
) -> str:
    """An anchored regex of hierarchical topics: None matches any name, several names any of them."""

    def part(value: str | Iterable[str] | None) -> str:
        if value is None:
            return NAME_PART
        if isinstance(value, str):
            return re.escape(value)
        names = sorted(set(value))
        if not names:
            raise ValueError("an empty list of names matches no topic")
        return re.escape(names[0]) if len(names) == 1 else "(" + "|".join(re.escape(n) for n in names) + ")"

    return rf"^{re.escape(TOPIC_PREFIX)}\." + r"\.".join(part(p) for p in (asset_class, data_type, exchange)) + "$"


def patterns(plan: Plan) -> dict[str, Any]:
    asset_classes = sorted({t.asset_class for t in plan.topics} | {e.asset_class for e in plan.exchanges})
    data_types = sorted({t.data_type for t in plan.topics})
    pairs = sorted({(t.asset_class, t.data_type) for t in plan.topics})
    return {
        "all": topic_pattern(),
        "by_exchange": {e.ref: topic_pattern(asset_class=e.asset_class, exchange=e.code) for e in plan.exchanges},
        "by_asset_class": {ac: topic_pattern(asset_class=ac) for ac in asset_classes},
        "by_data_type": {dt: topic_pattern(data_type=dt) for dt in data_types},
        "by_asset_class_and_data_type": {f"{ac}.{dt}": topic_pattern(asset_class=ac, data_type=dt) for ac, dt in pairs},
    }


def monitoring(plan: Plan) -> dict[str, Any]:
    monitor = next((app for app in plan.apps if app.monitors), None) if plan.access_control else None
    return {
        "exporter_port": EXPORTER_PORT,
        "monitor_username": monitor.username if monitor is not None else None,
        "dashboards": {
            "exchanges": {e.ref: exchange_dashboard_uid(e.asset_class, e.code) for e in plan.exchanges},
            "apps": {app.name: app_dashboard_uid(app.name) for app in plan.consumers()},
        },
    }


def exchanges(plan: Plan) -> dict[str, dict[str, Any]]:
    return {
        e.ref: {
            "asset_class": e.asset_class,
            "code": e.code,
            "name": e.name,
            "country": e.country,
            "timezone": e.timezone,
        }
        for e in plan.exchanges
    }


def topics(plan: Plan) -> dict[str, dict[str, Any]]:
    return {t.name: t.output() for t in plan.topics}


def subscriptions(plan: Plan) -> dict[str, dict[str, list[str]]]:
    """Every subscription, as exported in the `subscriptions` stack output.

    The same lists as SubscriptionBuilder gives, grouped in one pass over the topics: asking the
    builder once per exchange would read every topic once per exchange (quadratic in the topology).
    """
    by_exchange: dict[str, list[str]] = {e.ref: [] for e in plan.exchanges}
    by_asset_class: dict[str, list[str]] = {}
    by_data_type: dict[str, list[str]] = {}
    for t in plan.topics:
        by_exchange.setdefault(f"{t.asset_class}.{t.exchange}", []).append(t.name)
        by_asset_class.setdefault(t.asset_class, []).append(t.name)
        by_data_type.setdefault(t.data_type, []).append(t.name)
    return {
        "by_exchange": {ref: sorted(names) for ref, names in by_exchange.items()},
        "by_asset_class": {key: sorted(by_asset_class[key]) for key in sorted(by_asset_class)},
        "by_data_type": {key: sorted(by_data_type[key]) for key in sorted(by_data_type)},
    }


def plan_outputs(plan: Plan, connections: Connections) -> dict[str, Any]:
    """Every output but `schemas` (whose ids and versions only the registry knows), from the plan
    and where apps connect."""
    return {
        "topics": topics(plan),
        "subscriptions": subscriptions(plan),
        "bootstrap_servers": connections.kafka.servers,
        "schema_registry_url": connections.registry.url or "",
        # Only with several nodes: a stack of one keeps the outputs it always had.
        **({"schema_registry_urls": list(urls)} if len(urls := connections.registry.urls) > 1 else {}),
        "patterns": patterns(plan),
        "exchanges": exchanges(plan),
        "kafka_security": connections.kafka.security_output(),
        "apps": {app.name: app.to_dict() for app in plan.apps} if plan.access_control else {},
        "monitoring": monitoring(plan),
    } | ({REGIONS_OUTPUT: regions_output(plan.topics, plan.carried_by)} if plan.carried_by else {})
