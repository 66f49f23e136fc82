"""Declared applications (config/kafka/apps.yaml): who they are, what they read and write, and the
access that gives each of them in a stack (ACLs, group, quotas: the second half of this file).

An app declares what it consumes and produces as subscription selectors, the consumer group it
reads with, optional quotas, and its principal per stack (a naming rule shared by every app, with
per-app per-stack overrides). `derive_access` below turns the declarations into ACLs.

Validation follows `k2infra.model.topology`: a shape pass (pydantic: types, unknown keys with
"did you mean") and a meaning pass over the raw mapping (references into the topology, groups that
overlap, principals that collide), every problem reported at once as `file:line: field: message`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    WrapSerializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from k2infra.model.errors import InputError, Problem, describe, did_you_mean, pydantic_message
from k2infra.model.topology import TOPIC_PREFIX, PositiveDuration, Topology, TopologyTopic
from k2infra.model.yaml_source import YamlSource, load_yaml, parse_yaml, unknown_key_problem

if TYPE_CHECKING:
    from k2infra.model.plan import LegacyTopic, TopicSpec

APPS_FILE = Path("kafka") / "apps.yaml"
DEFAULT_PRINCIPAL_RULE = "User:k2-{app}-{stack}"
PRINCIPAL_TYPE = "User:"
APP_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
# Kafka user names (SCRAM and quota entities) and group ids: no wildcard, no SCRAM-escaped characters.
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
GROUP_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
PLACEHOLDERS = ("app", "stack")
QUOTA_KEYS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")
MAX_BYTE_RATE = 2**63 - 1
# The longest user name each way of proving it can carry: a certificate's CN holds at most 64 characters
# (RFC 5280's ub-common-name); an OAuth client id 255 (Keycloak's column; RFC 6749 sets no bound). Both
# take every character USERNAME_PATTERN allows (none is escaped in a DN, all are RFC 6749 VSCHARs).
MAX_CN_LENGTH = 64
MAX_CLIENT_ID_LENGTH = 255
# Locates a problem at a path of the file being checked (YamlSource.problem, or a stack setting's).
ProblemAt = Callable[[tuple[str | int, ...], str], Problem]


class AppAuth(StrEnum):
    """How a stack's apps prove who they are: the way the stack itself reaches Kafka (its outputs describe
    one listener, and apps connect to it). The principal is the declared one in every mode."""

    SCRAM = "scram"  # a SCRAM user k2infra creates, its password the stack secret appPasswords.<app>
    MTLS = "mtls"  # a client certificate whose CN is the user name (the brokers' ssl.principal.mapping.rules)
    OAUTHBEARER = "oauthbearer"  # an OAuth client whose id is the user name (the token's azp claim)

    @classmethod
    def of_connection(cls, sasl_mechanism: str | None, client_cert: str | None) -> AppAuth | None:
        """The mode of a stack that logs in with `sasl_mechanism` (SASL decides the principal where it is
        set: PLAIN and SCRAM stacks give their apps SCRAM users) or else `client_cert`; None: no one logs in."""
        if sasl_mechanism == "oauthbearer":
            return cls.OAUTHBEARER
        if sasl_mechanism:
            return cls.SCRAM
        return cls.MTLS if client_cert else None

    def credential(self, username: str, scram_mechanism: str) -> str:
        """What proves the user name in this mode, as `access` and the policy pack show it."""
        if self is AppAuth.MTLS:
            return f"mTLS certificate CN={username}"
        if self is AppAuth.OAUTHBEARER:
            return f"OAuth client id {username}"
        return f"{scram_mechanism} user {username}"

    def explain(self, scram_mechanism: str) -> str:
        """How every app of such a stack proves its principal, in one line."""
        if self is AppAuth.MTLS:
            return (
                "each app presents an mTLS certificate whose CN is its principal's user name "
                "(the brokers map CN=<name> to User:<name>); the stack creates no credential"
            )
        if self is AppAuth.OAUTHBEARER:
            return (
                "each app logs in with the OAuth client whose client id is its principal's user name "
                "(the brokers take it from the token's azp claim); the stack creates no credential"
            )
        return f"each app logs in as the {scram_mechanism} user of its principal's user name, which the stack creates"

    @property
    def max_length(self) -> int | None:
        return {AppAuth.MTLS: MAX_CN_LENGTH, AppAuth.OAUTHBEARER: MAX_CLIENT_ID_LENGTH}.get(self)


class SelectorKind(StrEnum):
    EXCHANGE = "exchange"
    ASSET_CLASS = "asset_class"
    DATA_TYPE = "data_type"
    LEGACY = "legacy"


# The options each kind of selector takes besides its own key.
SELECTOR_OPTIONS: dict[SelectorKind, tuple[str, ...]] = {
    SelectorKind.EXCHANGE: ("data_types",),
    SelectorKind.ASSET_CLASS: ("data_types", "exchanges"),
    SelectorKind.DATA_TYPE: ("asset_classes",),
    SelectorKind.LEGACY: (),
}


# -- the validated declarations: the pydantic models below are the domain types ------------------


def _app_name(value: Any) -> str:
    if not isinstance(value, str) or not APP_NAME_PATTERN.match(value):
        raise PydanticCustomError(
            "k2_app",
            "app names must be lowercase letters, digits and hyphens, starting with a letter, got {got}",
            {"got": describe(value)},
        )
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BYTE_RATE:
        raise PydanticCustomError(
            "k2_rate", "must be an integer number of bytes per second, at least 1, got {got}", {"got": describe(value)}
        )
    return value


def _percentage(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise PydanticCustomError(
            "k2_percent",
            "must be a positive number (percent of one broker thread; 200 is two threads), got {got}",
            {"got": describe(value)},
        )
    return float(value)


def _positive_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise PydanticCustomError(
            "k2_seconds", "must be a positive number of seconds, got {got}", {"got": describe(value)}
        )
    return float(value)


AppName = Annotated[str, BeforeValidator(_app_name)]
PositiveSeconds = Annotated[float, BeforeValidator(_positive_seconds)]
ByteRate = Annotated[int, BeforeValidator(_positive_int)]
Percentage = Annotated[float, BeforeValidator(_percentage)]
# YAML lists are validated as lists (the messages say "a list") and kept as tuples, which a
# frozen model cannot have changed under it; dumped as lists again.
_AS_TUPLE = (AfterValidator(tuple), WrapSerializer(lambda value, dump: dump(list(value))))
Names = Annotated[list[str], *_AS_TUPLE]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Quotas(_Model):
    """Kafka client quotas of one user, under Kafka's own config names."""

    producer_byte_rate: ByteRate | None = None
    consumer_byte_rate: ByteRate | None = None
    request_percentage: Percentage | None = None

    def config(self) -> dict[str, str]:
        """As the quota's config map: strings, only the keys that are set."""
        out: dict[str, str] = {}
        for key in QUOTA_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = str(int(value)) if float(value).is_integer() else str(value)
        return out


class Selector(_Model):
    """One entry of `consumes` or `produces`: a set of topics described by what they carry.

    Exactly one of exchange (`asset_class.exchange`), asset_class, data_type and legacy (a topic
    name) is set, with the options SELECTOR_OPTIONS allows it (the meaning pass checks both)."""

    exchange: str | None = None
    asset_class: str | None = None
    data_type: str | None = None
    legacy: str | None = None
    data_types: Names | None = None
    exchanges: Names | None = None
    asset_classes: Names | None = None

    @property
    def kind(self) -> SelectorKind:
        return next(kind for kind in SelectorKind if getattr(self, kind.value) is not None)

    def means(self, asset_class: str, data_type: str, exchange: str) -> bool:
        """Does this selector mean the hierarchical topic of (asset class, data type, exchange)?"""
        kind = self.kind
        if kind is SelectorKind.EXCHANGE:
            return f"{asset_class}.{exchange}" == self.exchange and _within(data_type, self.data_types)
        if kind is SelectorKind.ASSET_CLASS:
            return (
                asset_class == self.asset_class
                and _within(data_type, self.data_types)
                and _within(exchange, self.exchanges)
            )
        if kind is SelectorKind.DATA_TYPE:
            return data_type == self.data_type and _within(asset_class, self.asset_classes)
        return False

    def means_legacy(self, name: str) -> bool:
        return self.kind is SelectorKind.LEGACY and name == self.legacy

    def describe(self) -> str:
        kind = self.kind
        if kind is SelectorKind.LEGACY:
            return f"legacy {self.legacy}"
        head = f"{kind.value} {getattr(self, kind.value)}"
        options = [
            f"{key} {','.join(values)}"
            for key, values in (
                ("data_types", self.data_types),
                ("exchanges", self.exchanges),
                ("asset_classes", self.asset_classes),
            )
            if values is not None
        ]
        return f"{head} ({'; '.join(options)})" if options else head


class Slo(_Model):
    """A consumer's lag objective: lag in seconds at most max_lag_seconds; over it for `for`, an alert.

    As written (at the top of the file, or per app) either key may be left out; `Apps.slo` gives an
    app's whole objective, key by key: the app's, else the file's, else DEFAULT_SLO's."""

    model_config = ConfigDict(populate_by_name=True)

    max_lag_seconds: PositiveSeconds | None = None
    for_: PositiveDuration | None = Field(default=None, alias="for")

    def over(self, base: Slo) -> Slo:
        """This objective's keys, and `base`'s where this one leaves a key out."""
        return base.model_copy(update={k: v for k in Slo.model_fields if (v := getattr(self, k)) is not None})


DEFAULT_SLO = Slo(max_lag_seconds=30, for_=timedelta(minutes=2))


def _within(value: str, allowed: Sequence[str] | None) -> bool:
    return allowed is None or value in allowed


class App(_Model):
    """One declared app; `name` is its key in the file."""

    description: str | None = None
    principals: dict[str, str] = Field(default_factory=dict)  # stack -> principal, overriding the rule
    consumes: Annotated[list[Selector], *_AS_TUPLE] = Field(default_factory=tuple)
    produces: Annotated[list[Selector], *_AS_TUPLE] = Field(default_factory=tuple)
    group: str | None = None
    group_prefix: str | None = None
    quotas: Quotas | None = None
    slo: Slo | None = None
    # The stack's monitor (docs/monitoring.md): the observe commands and the exporter log in as it. It
    # declares no consumes/produces/group: it reads every topic observed and describes the apps' groups.
    monitors: bool = False
    _name: str = PrivateAttr(default="")

    @property
    def name(self) -> str:
        return self._name


class AppsFile(_Model):
    principal: str = DEFAULT_PRINCIPAL_RULE
    slo: Slo | None = None  # the default objective of every consumer
    apps: dict[AppName, App]

    @model_validator(mode="after")
    def _name_apps(self) -> AppsFile:
        for name, app in self.apps.items():
            app._name = name
        return self


@dataclass(frozen=True)
class Apps:
    """Every declared app, and the rule that names their principals."""

    principal_rule: str = DEFAULT_PRINCIPAL_RULE
    apps: tuple[App, ...] = ()
    source: YamlSource | None = None  # for errors found later, per stack
    default_slo: Slo = DEFAULT_SLO  # the file's `slo:` over DEFAULT_SLO

    def slo(self, app: App) -> Slo:
        """The app's lag objective, every key set: its own keys, then the file's defaults."""
        return app.slo.over(self.default_slo) if app.slo is not None else self.default_slo

    def principal(self, app: App, stack: str | None) -> str:
        """The app's principal in `stack`: its override for the stack, else the rule.

        Without a stack (the topology alone) the `{stack}` placeholder stays as written."""
        if stack is not None and stack in app.principals:
            return app.principals[stack]
        return render_principal(self.principal_rule, app.name, stack)

    def duplicate_principal_problems(self, stack: str | None) -> list[Problem]:
        """Two apps with one principal in `stack` would share every grant: one problem per collision."""
        seen: dict[str, App] = {}
        problems: list[Problem] = []
        for app in self.apps:
            principal = self.principal(app, stack)
            other = seen.setdefault(principal, app)
            if other is app:
                continue
            problems.append(
                self._problem(
                    _principal_path(app, stack),
                    f"principal {principal!r} in stack {stack} is also the principal of app {other.name!r} "
                    f"({self._where(_principal_path(other, stack))}); give one of them its own in apps.{app.name}.principals",
                )
            )
        return problems

    def credential_problems(self, stack: str | None, auth: AppAuth | None) -> list[Problem]:
        """A principal the stack's mode cannot carry: a user name too long for a certificate's CN or an OAuth
        client id (the characters USERNAME_PATTERN allows fit both), one problem per app."""
        limit = auth.max_length if auth is not None and stack is not None else None
        if limit is None:
            return []
        what = "a certificate's CN" if auth is AppAuth.MTLS else "an OAuth client id"
        return [
            self._problem(
                _principal_path(app, stack),
                f"principal {principal!r} of app {app.name!r} in stack {stack}: its user name has "
                f"{len(username_of(principal))} characters and {what} holds at most {limit} (stack {stack} "
                f"authenticates apps by {auth}); give the app a shorter one in apps.{app.name}.principals.{stack}",
            )
            for app in self.apps
            if len(username_of(principal := self.principal(app, stack))) > limit
        ]

    def _problem(self, path: tuple[str | int, ...], message: str) -> Problem:
        if self.source is None:
            return Problem(str(APPS_FILE), None, ".".join(map(str, path)), message)
        return self.source.problem(path, message)

    def _where(self, path: tuple[str | int, ...]) -> str:
        if path == ("principal",):
            return f"by the principal rule {self.principal_rule!r}"
        if self.source is None:
            return ".".join(map(str, path))
        return f"line {self.source.line_of(path)}"


def _principal_path(app: App, stack: str | None) -> tuple[str, ...]:
    if stack is not None and stack in app.principals:
        return ("apps", app.name, "principals", stack)
    return ("principal",)


def render_principal(rule: str, app: str, stack: str | None) -> str:
    rendered = rule.replace("{app}", app)
    return rendered if stack is None else rendered.replace("{stack}", stack)


def username_of(principal: str) -> str:
    """`User:k2-x-prod` -> `k2-x-prod`: the name SCRAM credentials and quotas are keyed by."""
    return principal.removeprefix(PRINCIPAL_TYPE)


# -- loading --------------------------------------------------------------------------------------


def load_apps(config_dir: Path | str, topology: Topology | None, topics: Sequence[TopologyTopic] | None = None) -> Apps:
    """`<config_dir>/kafka/apps.yaml` validated against the topology; no file, no apps.

    Without a topology (it has problems of its own) the file is checked on its own: its shape and
    rules, not whether its selectors name exchanges, asset classes and data types that exist.
    `topics` are the topology's when the caller enumerated them already (LoadedTopology.topics)."""
    path = Path(config_dir) / APPS_FILE
    if not path.exists():
        return Apps()
    return apps_from_source(load_yaml(path), topology, topics)


def parse_apps(text: str, topology: Topology, name: str = str(APPS_FILE)) -> Apps:
    return apps_from_source(parse_yaml(text, name), topology)


def apps_from_source(
    source: YamlSource, topology: Topology | None, topics: Sequence[TopologyTopic] | None = None
) -> Apps:
    problems: list[Problem] = []
    parsed: AppsFile | None = None
    try:
        parsed = AppsFile.model_validate(source.data)
    except ValidationError as exc:
        problems += [_from_pydantic(source, err) for err in exc.errors()]
    problems += _meaning_problems(source, topology, topics)
    if problems or parsed is None:
        raise InputError(problems)
    default_slo = parsed.slo.over(DEFAULT_SLO) if parsed.slo is not None else DEFAULT_SLO
    apps = Apps(parsed.principal, tuple(parsed.apps.values()), source, default_slo)
    # Principals are per stack: check every stack an override names (the rule alone never
    # collides, since it must hold {app}); build_plan checks the stack it plans too.
    stacks = sorted({stack for app in apps.apps for stack in app.principals})
    problems = [p for stack in stacks for p in apps.duplicate_principal_problems(stack)]
    if problems:
        raise InputError(problems)
    return apps


# -- pass 1: shape --------------------------------------------------------------------------------


def _from_pydantic(source: YamlSource, err: Any) -> Problem:
    loc: tuple[str | int, ...] = tuple(part for part in err["loc"] if part != "[key]")
    if err["type"] == "extra_forbidden":
        return unknown_key_problem(source, AppsFile, loc)
    return source.problem(loc, pydantic_message(err))


# -- pass 2: meaning ------------------------------------------------------------------------------


def _meaning_problems(
    source: YamlSource, topology: Topology | None, topics: Sequence[TopologyTopic] | None
) -> list[Problem]:
    data = source.data
    problems = _rule_problems(source, data.get("principal"))
    apps = data.get("apps") if isinstance(data.get("apps"), dict) else {}
    if topics is None:  # what a selector may mean
        topics = topology.topics() if topology is not None else []
    for name, app in apps.items():
        if not isinstance(app, dict):
            continue
        path = ("apps", name)
        principals = app.get("principals")
        for stack, principal in (principals if isinstance(principals, dict) else {}).items():
            if isinstance(principal, str):
                problems += _principal_problems(source, (*path, "principals", stack), principal)
        consumes = app["consumes"] if isinstance(app.get("consumes"), list) else []
        produces = app["produces"] if isinstance(app.get("produces"), list) else []
        for direction, selectors in (("consumes", consumes), ("produces", produces)):
            for i, selector in enumerate(selectors):
                if isinstance(selector, dict) and topology is not None:
                    problems += selector_problems(source.problem, (*path, direction, i), selector, topology, topics)
        # A misspelt key (`consume:`) is reported by the shape pass; what its absence implies is not.
        misspelt = bool(set(app) - set(App.model_fields))
        if app.get("monitors") is True:
            problems += _monitor_problems(source, path, app)
            continue
        if not consumes and not produces and not misspelt:
            problems.append(
                source.problem(path, "neither consumes nor produces anything; declare consumes or produces")
            )
        problems += _group_problems(source, path, app, bool(consumes), misspelt)
        quotas = app.get("quotas")
        if isinstance(quotas, dict) and not quotas:
            problems.append(source.problem((*path, "quotas"), f"sets no quota; set one of {', '.join(QUOTA_KEYS)}"))
        problems += _slo_problems(source, (*path, "slo"), app.get("slo"))
        if "slo" in app and not consumes and not misspelt:
            problems.append(
                source.problem((*path, "slo"), "only a consumer has a lag objective; this app consumes nothing")
            )
    problems += _overlapping_groups(source, apps)
    problems += _slo_problems(source, ("slo",), data.get("slo"))
    monitors = [name for name, app in apps.items() if isinstance(app, dict) and app.get("monitors") is True]
    for name in monitors[1:]:
        problems.append(
            source.problem(
                ("apps", name, "monitors"),
                f"app {monitors[0]!r} (line {source.line_of(('apps', monitors[0], 'monitors'))}) is the monitor "
                "already: the observe commands log in as one app",
            )
        )
    return problems


MONITOR_EXCLUDES = ("consumes", "produces", "group", "group_prefix", "slo")


def _monitor_problems(source: YamlSource, path: tuple[str, ...], app: dict[str, Any]) -> list[Problem]:
    """A monitor's access is derived (every topic observed, the apps' groups): it declares none of its own."""
    return [
        source.problem(
            (*path, key),
            f"a monitor declares no {key}: it may read every topic it observes and describe the declared apps' "
            "groups, and nothing else",
        )
        for key in MONITOR_EXCLUDES
        if key in app
    ]


def _slo_problems(source: YamlSource, path: tuple[str | int, ...], slo: Any) -> list[Problem]:
    if isinstance(slo, dict) and not slo:
        return [source.problem(path, "sets no objective; set max_lag_seconds, for, or both (or leave slo out)")]
    return []


def _placeholders(text: str) -> list[str] | None:
    """The {names} in `text`, or None when its braces do not parse."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError:
        return None


def _rule_problems(source: YamlSource, rule: Any) -> list[Problem]:
    if not isinstance(rule, str):
        return []
    path = ("principal",)
    names = _placeholders(rule)
    if names is None or any(n not in PLACEHOLDERS for n in names):
        return [source.problem(path, f"may only hold the placeholders {{app}} and {{stack}}, got {rule!r}")]
    if "app" not in names:
        return [source.problem(path, f"must hold {{app}}, or every app would share one principal, got {rule!r}")]
    return _principal_problems(source, path, render_principal(rule, "app", "stack"), shown=rule)


def _principal_problems(
    source: YamlSource, path: tuple[str | int, ...], principal: str, shown: str | None = None
) -> list[Problem]:
    shown = shown or principal
    if not principal.startswith(PRINCIPAL_TYPE):
        return [source.problem(path, f"must be a Kafka user principal such as 'User:k2-risk-prod', got {shown!r}")]
    name = username_of(principal)
    if "*" in name:
        return [source.problem(path, f"must name one user, not a wildcard, got {shown!r}")]
    if not USERNAME_PATTERN.match(name):
        return [source.problem(path, f"the user name must be letters, digits, '.', '_' and '-', got {shown!r}")]
    return []


def selector_problems(
    problem: ProblemAt,
    path: tuple[str | int, ...],
    selector: dict[str, Any],
    topology: Topology,
    topics: Sequence[TopologyTopic] | None = None,
) -> list[Problem]:
    """What is wrong with one selector as written (a raw mapping) against the topology.

    One check for every file that selects topics by what they carry: apps.yaml's consumes and
    produces, and a regional stack's k2infra:mirrorFrom (k2infra.model.regions). `problem` locates
    a path of that file; `topics` are the topology's, when the caller has them already."""
    kinds = [kind for kind in SelectorKind if kind.value in selector]
    if len(kinds) == 2 and f"{kinds[1].value}s" in SELECTOR_OPTIONS[kinds[0]]:  # data_type for data_types
        hint = f"does not go with {kinds[0].value} (did you mean '{kinds[1].value}s'?)"
        return [problem((*path, kinds[1].value), hint)]
    if len(kinds) != 1:
        keys = ", ".join(k.value for k in SelectorKind)
        found = f"got {', '.join(k.value for k in kinds)}" if kinds else "got none"
        return [problem(path, f"a selector takes exactly one of {keys}; {found}")]
    kind = kinds[0]
    allowed = SELECTOR_OPTIONS[kind]
    problems = [
        problem((*path, key), f"does not go with {kind.value} (it takes: {', '.join(allowed) or 'nothing else'})")
        for key in selector
        if key not in (kind.value, *allowed) and key in Selector.model_fields
    ]
    refs = _References(problem, path, topology)
    value = selector[kind.value]
    if not isinstance(value, str):
        return problems  # the shape pass says what it should be
    if kind is SelectorKind.EXCHANGE:
        asset_class, dot, exchange = value.partition(".")
        known = topology.asset_classes.get(asset_class)
        if not dot:
            problems.append(
                problem((*path, kind.value), f"must be asset_class.exchange such as 'equities.asx', got {value!r}")
            )
        elif known is None or exchange not in known.exchanges:
            refs.unknown((kind.value,), "exchange", value, topology.exchange_refs())
        else:
            # A data type this exchange does not carry (yet) is no error while the selector means some topic.
            refs.each((*path, "data_types"), selector.get("data_types"), "data type", list(topology.data_types))
    elif kind is SelectorKind.ASSET_CLASS:
        if value not in topology.asset_classes:
            refs.unknown((kind.value,), "asset class", value, list(topology.asset_classes))
        else:
            exchanges = list(topology.asset_classes[value].exchanges)
            refs.each((*path, "exchanges"), selector.get("exchanges"), "exchange", exchanges, f"{value} has")
            refs.each((*path, "data_types"), selector.get("data_types"), "data type", list(topology.data_types))
    elif kind is SelectorKind.DATA_TYPE:
        if value not in topology.data_types:
            refs.unknown((kind.value,), "data type", value, list(topology.data_types))
        refs.each((*path, "asset_classes"), selector.get("asset_classes"), "asset class", list(topology.asset_classes))
    elif value not in topology.legacy:
        refs.unknown((kind.value,), "legacy topic", value, list(topology.legacy))
    problems += refs.problems
    meant = topics if topics is not None else topology.topics()  # apps.yaml's pass walks them once for all
    if not refs.problems and not problems and not _selects_anything(selector, kind, meant):
        if kind is SelectorKind.EXCHANGE:
            carried = ", ".join(topology.data_types_of(*value.split(".", 1)))
            problems.append(problem(path, f"selects no topic: {value} carries {carried}"))
        else:
            problems.append(problem(path, "selects no topic of the topology"))
    return problems


@dataclass
class _References:
    """Unknown names in one selector, each with the closest known spelling."""

    problem: ProblemAt
    path: tuple[str | int, ...]
    topology: Topology
    problems: list[Problem] = field(default_factory=list)

    def unknown(self, sub: tuple[str | int, ...], what: str, value: str, known: list[str]) -> None:
        close = did_you_mean(value, known)
        suggestion = f"did you mean '{close}'?" if close else f"known: {', '.join(known) or 'none'}"
        self.problems.append(self.problem((*self.path, *sub), f"unknown {what} {value!r} ({suggestion})"))

    def each(self, path: tuple[str | int, ...], values: Any, what: str, known: list[str], owner: str = "") -> None:
        """Each name of the list `values` is one of `known` (`owner` says whose, in the hint)."""
        if isinstance(values, list) and not values:
            self.problems.append(self.problem(path, f"must list at least one {what} (omit it for all)"))
        for i, value in enumerate(values if isinstance(values, list) else []):
            if isinstance(value, str) and value not in known:
                close = did_you_mean(value, known)
                known_text = f"{owner}: {', '.join(known)}" if owner else f"known: {', '.join(known)}"
                hint = f"did you mean '{close}'?" if close else known_text
                self.problems.append(self.problem((*path, i), f"unknown {what} {value!r} ({hint})"))


def _selects_anything(selector: dict[str, Any], kind: SelectorKind, topics: Sequence[TopologyTopic]) -> bool:
    if kind is SelectorKind.LEGACY:
        return True
    parsed = Selector.model_validate(selector)
    return any(parsed.means(t.asset_class, t.data_type, t.exchange) for t in topics)


def _group_problems(
    source: YamlSource, path: tuple[str, ...], app: dict[str, Any], consumes: bool, misspelt: bool
) -> list[Problem]:
    problems: list[Problem] = []
    group, prefix = app.get("group"), app.get("group_prefix")
    if group is not None and prefix is not None:
        problems.append(source.problem((*path, "group_prefix"), "give either group or group_prefix, not both"))
    for key, value in (("group", group), ("group_prefix", prefix)):
        if isinstance(value, str) and not GROUP_PATTERN.match(value):
            problems.append(
                source.problem((*path, key), f"must be letters, digits, '.', '_' and '-' (no wildcard), got {value!r}")
            )
    if misspelt:
        return problems
    if consumes and group is None and prefix is None:
        problems.append(
            source.problem(
                path, "consumes topics but declares no consumer group; add group: <id> or group_prefix: <prefix>"
            )
        )
    if not consumes and (group is not None or prefix is not None):
        key = "group" if group is not None else "group_prefix"
        problems.append(source.problem((*path, key), "only a consumer reads with a group; this app consumes nothing"))
    return problems


def _overlapping_groups(source: YamlSource, apps: dict[str, Any]) -> list[Problem]:
    """Two apps whose groups the broker could not tell apart: equal ids, or a prefix that matches the other's."""
    declared: list[tuple[str, str, bool]] = []  # (app, group or prefix, is a prefix)
    for name, app in apps.items():
        app = app if isinstance(app, dict) else {}
        for key, prefixed in (("group", False), ("group_prefix", True)):
            value = app.get(key)
            if isinstance(value, str) and value:
                declared.append((name, value, prefixed))
    problems: list[Problem] = []
    for i, (app, group, prefixed) in enumerate(declared):
        for other, other_group, other_prefixed in declared[:i]:
            if other == app or not _groups_overlap(group, prefixed, other_group, other_prefixed):
                continue
            key = "group_prefix" if prefixed else "group"
            other_key = "group_prefix" if other_prefixed else "group"
            line = source.line_of(("apps", other, other_key))
            problems.append(
                source.problem(
                    ("apps", app, key),
                    f"{key} {group!r} overlaps {other_key} {other_group!r} of app {other!r} (line {line}): "
                    f"each app's group must be its own",
                )
            )
    return problems


def _groups_overlap(a: str, a_prefixed: bool, b: str, b_prefixed: bool) -> bool:
    if a == b:
        return True
    return (a_prefixed and b.startswith(a)) or (b_prefixed and a.startswith(b))


# -- access: declared apps x the stack's topics -> ACLs, group, quotas (pure) ---------------------
#
# What an app may touch is exactly what its selectors mean today, in this stack:
# - consumes: Read and Describe on the topics; Read on its group (Literal for `group`, Prefixed for
#   `group_prefix`);
# - produces: Write and Describe on the topics;
# - `monitors: true` (the exporter's own principal): Read and Describe on every hierarchical topic of
#   the stack, as if it consumed `asset_class: X` for each X (Read: the lag and feed age come from
#   record timestamps; Describe: ListOffsets), and Describe on each declared app's group, Literal or
#   Prefixed as that app declares it (OffsetFetch, DescribeGroups, and ListGroups lists exactly those).
#   Never Write, never Read on a group: it cannot produce, join a group or commit an offset.
#
# Each selector's topics are granted by Literal names, or by a Prefixed pattern where the prefix
# means the same thing as the selector:
# - `asset_class: X` -> `market.X.` (the app gains a new exchange of X when one is added: by design);
# - `asset_class: X` with `data_types` -> `market.X.DT.` per data type;
# - `data_type: DT` (`reference_data` included) -> `market.AC.DT.` per asset class;
# - anything that names exchanges (`exchange:`, `asset_class` with `exchanges`) and legacy topics ->
#   Literal names: a single-exchange consumer never gains anything.
# A prefix is used only when every topic it can match today is one the selector means in this stack:
# every topic of the topology (enabled in this stack or not) and every legacy topic name. Otherwise
# (a legacy topic such as `market.equities.raw`, an exchange this stack disables) the selector's
# topics are granted by Literal names. A selector that means no topic of the stack grants nothing.


class ResourceType(StrEnum):
    """Kafka ACL resource types, spelt as pulumi-kafka's `acl_resource_type` takes them."""

    TOPIC = "Topic"
    GROUP = "Group"


class PatternType(StrEnum):
    """`resource_pattern_type_filter` of pulumi-kafka."""

    LITERAL = "Literal"
    PREFIXED = "Prefixed"


class Operation(StrEnum):
    """`acl_operation` of pulumi-kafka: the ones apps get, and (Create, DescribeConfigs) MirrorMaker 2
    on its own internal topics (k2infra.model.mirror_access)."""

    READ = "Read"
    WRITE = "Write"
    DESCRIBE = "Describe"
    CREATE = "Create"
    DESCRIBE_CONFIGS = "DescribeConfigs"


ALLOW = "Allow"
ANY_HOST = "*"
CONSUMER_OPERATIONS = (Operation.READ, Operation.DESCRIBE)
PRODUCER_OPERATIONS = (Operation.WRITE, Operation.DESCRIBE)
# The resource names of an app's quota and SCRAM credential: the prefix, then its username.
QUOTA_NAME_PREFIX = "quota:"
SCRAM_NAME_PREFIX = "scram:"


@dataclass(frozen=True, order=True)
class AclSpec:
    """One Kafka ACL binding (Allow, from any host)."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    operation: Operation
    permission: str = ALLOW
    host: str = ANY_HOST

    @property
    def id(self) -> str:
        return acl_id(self)

    def matches(self, resource_type: ResourceType, name: str) -> bool:
        """Would the broker apply this binding to the resource `name`?"""
        if resource_type != self.resource_type:
            return False
        if self.pattern_type is PatternType.PREFIXED:
            return name.startswith(self.resource_name)
        return name == self.resource_name

    def describe(self) -> str:
        return f"{self.operation} {self.resource_type} {self.resource_name} ({self.pattern_type})"

    def to_dict(self) -> dict[str, str]:
        return {
            "principal": self.principal,
            "resource_type": str(self.resource_type),
            "resource_name": self.resource_name,
            "pattern_type": str(self.pattern_type),
            "operation": str(self.operation),
            "permission": self.permission,
            "host": self.host,
        }


@dataclass(frozen=True)
class AppAccess:
    """What one app may touch in one stack."""

    name: str
    principal: str
    reads: tuple[str, ...]  # the topics it may read today, sorted
    writes: tuple[str, ...]  # the topics it may write today, sorted
    acls: tuple[AclSpec, ...]  # sorted
    group: str | None = None
    group_pattern: PatternType | None = None  # Literal for `group`, Prefixed for `group_prefix`
    quotas: Quotas | None = None
    description: str | None = None
    monitors: bool = False  # the stack's monitor: reads what is observed, describes the apps' groups

    @property
    def username(self) -> str:
        return username_of(self.principal)

    def to_dict(self) -> dict[str, Any]:
        """The app's entry of the `apps` stack output and of `access --json` (no secrets)."""
        return {
            "principal": self.principal,
            "username": self.username,
            "reads": list(self.reads),
            "writes": list(self.writes),
            "acls": [{k: v for k, v in acl.to_dict().items() if k != "principal"} for acl in self.acls],
            "group": None if self.group is None else {"name": self.group, "pattern_type": str(self.group_pattern)},
            "quotas": self.quotas.config() if self.quotas else {},
        }


def derive_access(
    apps: Apps,
    stack: str | None,
    topics: Sequence[TopicSpec],
    legacy: Sequence[LegacyTopic],
    topology_topics: Iterable[str],
    mirrored: Collection[str] = (),
    auth: AppAuth | None = None,
) -> tuple[AppAccess, ...]:
    """The access of every app in `stack`.

    `topics` are the stack's planned topics, `legacy` the topology's legacy topics with what this
    stack does with them (only the ones it keeps can be granted), `topology_topics` every
    hierarchical topic name of the topology, enabled in this stack or not. `mirrored` are the
    topics a regional stack copies from their home region (k2infra.model.regions): apps may read
    them, and no app is ever granted a Write on one, since only the home region produces. `auth` is how
    the stack's apps prove their principal (AppAuth.of_connection); a principal it cannot carry is refused.
    """
    problems = apps.duplicate_principal_problems(stack) if stack is not None else []
    problems += apps.credential_problems(stack, auth)
    if problems:
        raise InputError(problems)
    reach = frozenset(topology_topics) | {t.name for t in legacy}
    produced = [t for t in topics if t.name not in mirrored]
    asset_classes = sorted({name.split(".")[1] for name in reach if name.count(".") == 3})
    kept_legacy = [t.name for t in legacy if t.declared]
    out = []
    for app in apps.apps:
        principal = apps.principal(app, stack)
        acls: set[AclSpec] = set()
        consumes = _observed(topics) if app.monitors else app.consumes
        reads = _grant(consumes, CONSUMER_OPERATIONS, principal, topics, kept_legacy, reach, asset_classes, acls)
        writes = _grant(app.produces, PRODUCER_OPERATIONS, principal, produced, kept_legacy, reach, asset_classes, acls)
        group, pattern = _group(app)
        if group is not None and pattern is not None:
            acls.add(AclSpec(principal, ResourceType.GROUP, group, pattern, Operation.READ))
        if app.monitors:
            acls.update(
                AclSpec(principal, ResourceType.GROUP, name, kind, Operation.DESCRIBE)
                for other in apps.apps
                for name, kind in [_group(other)]
                if name is not None and kind is not None
            )
        out.append(
            AppAccess(
                name=app.name,
                principal=principal,
                reads=tuple(sorted(reads)),
                writes=tuple(sorted(writes)),
                acls=tuple(sorted(_without_subsumed(acls))),
                group=group,
                group_pattern=pattern,
                quotas=app.quotas,
                description=app.description,
                monitors=app.monitors,
            )
        )
    return tuple(out)


def _observed(topics: Sequence[TopicSpec]) -> list[Selector]:
    """What a monitor reads: every hierarchical topic of the stack, as one selector per asset class (so
    that a class's prefix stands for its topics where it means exactly them, as for a consumer's)."""
    return [Selector(asset_class=name) for name in sorted({t.asset_class for t in topics})]


def _group(app: App) -> tuple[str | None, PatternType | None]:
    if app.group is not None:
        return app.group, PatternType.LITERAL
    if app.group_prefix is not None:
        return app.group_prefix, PatternType.PREFIXED
    return None, None


def _grant(
    selectors: Sequence[Selector],
    operations: Sequence[Operation],
    principal: str,
    topics: Sequence[TopicSpec],
    kept_legacy: Sequence[str],
    reach: frozenset[str],
    asset_classes: Sequence[str],
    acls: set[AclSpec],
) -> set[str]:
    """Add the ACLs of `selectors` to `acls`; the topics they mean in this stack."""
    granted: set[str] = set()
    for selector in selectors:
        meant = {t.name for t in topics if selector.means(t.asset_class, t.data_type, t.exchange)}
        meant |= {name for name in kept_legacy if selector.means_legacy(name)}
        granted |= meant
        prefixes, literals = patterns_for(selector, meant, reach, asset_classes)
        for operation in operations:
            acls.update(AclSpec(principal, ResourceType.TOPIC, p, PatternType.PREFIXED, operation) for p in prefixes)
            acls.update(AclSpec(principal, ResourceType.TOPIC, n, PatternType.LITERAL, operation) for n in literals)
    return granted


def candidate_prefixes(selector: Selector, asset_classes: Sequence[str]) -> list[str]:
    """The prefixes that could stand for the selector; none for selectors that name exchanges."""
    if selector.kind is SelectorKind.ASSET_CLASS and selector.exchanges is None:
        if selector.data_types is None:
            return [f"{TOPIC_PREFIX}.{selector.asset_class}."]
        return [f"{TOPIC_PREFIX}.{selector.asset_class}.{dt}." for dt in selector.data_types]
    if selector.kind is SelectorKind.DATA_TYPE:
        classes = selector.asset_classes if selector.asset_classes is not None else asset_classes
        return [f"{TOPIC_PREFIX}.{ac}.{selector.data_type}." for ac in classes]
    return []


def patterns_for(
    selector: Selector, meant: set[str], reach: frozenset[str], asset_classes: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(prefixes, literal names) that grant exactly `meant`, the topics the selector means today.

    A prefix stands in for its topics only if every name it reaches today (`reach`: the
    topology's topics, enabled here or not, and every legacy name) is one of them."""
    prefixes: list[str] = []
    covered: set[str] = set()
    for prefix in candidate_prefixes(selector, asset_classes):
        mine = {name for name in meant if name.startswith(prefix)}
        if mine and {name for name in reach if name.startswith(prefix)} <= meant:
            prefixes.append(prefix)
            covered |= mine
    return prefixes, sorted(meant - covered)


def _without_subsumed(acls: set[AclSpec]) -> set[AclSpec]:
    """Drop a Literal binding that a Prefixed one of the same principal and operation already grants."""
    prefixed = [a for a in acls if a.pattern_type is PatternType.PREFIXED]
    return {
        acl
        for acl in acls
        if acl.pattern_type is PatternType.PREFIXED
        or not any(
            (p.principal, p.resource_type, p.operation) == (acl.principal, acl.resource_type, acl.operation)
            and acl.resource_name.startswith(p.resource_name)
            for p in prefixed
        )
    }


def who_can(apps: Iterable[AppAccess], resource_type: ResourceType, name: str) -> list[tuple[AppAccess, AclSpec]]:
    """Every (app, binding) that applies to the resource `name`, as the broker would match them."""
    return [(app, acl) for app in apps for acl in app.acls if acl.matches(resource_type, name)]


def acl_id(acl: Any) -> str:
    """The identity pulumi-kafka gives an ACL (and imports it by): principal|host|op|permission|type|name|pattern.

    One spelling for a planned binding (AclSpec) and a live one (k2infra.live.access.LiveAcl), so
    that `verify` compares them by it.
    """
    parts = (acl.principal, acl.host, acl.operation, acl.permission, acl.resource_type, acl.resource_name)
    return "|".join((*parts, acl.pattern_type))


def parse_acl_id(text: str) -> AclSpec | None:
    """The binding an `acl_id` names (an Acl resource's name), or None for another spelling."""
    parts = text.split("|")
    if len(parts) != 7:
        return None
    principal, host, operation, permission, resource_type, resource_name, pattern = parts
    try:
        return AclSpec(
            principal,
            ResourceType(resource_type),
            resource_name,
            PatternType(pattern),
            Operation(operation),
            permission,
            host,
        )
    except ValueError:
        return None
