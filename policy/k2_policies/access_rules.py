"""The access rules of the pack, as pure functions over plain data (like `rules`).

An ACL is the inputs of a `kafka:index/acl:Acl` as a plain mapping::

    {"aclPrincipal": "User:k2-crypto-risk-prod", "aclHost": "*", "aclOperation": "Read",
     "aclPermissionType": "Allow", "aclResourceType": "Topic",
     "aclResourceName": "market.crypto.trades.", "resourcePatternTypeFilter": "Prefixed"}

- k2-acl-no-wildcard: no ACL names every user (`*`, `User:*`) or every topic or group (the literal
  `*`, or an empty prefix).
- k2-app-writes-declared-asset-classes: an Allow of Write (or All) on topics goes to a declared
  app (config/kafka/apps.yaml, its principal in this stack) and only to topics of the asset classes
  its `produces` selectors name, or to the legacy topics it names. A prefix that spans asset classes
  (`market.`) is refused. The rule restates the declarations, independently of the program's
  derivation: a hand-added or mis-derived grant fails here.
  In a regional stack (`k2infra:mirrorFrom`), a copy of a home topic is written by MirrorMaker 2
  alone: its principal may Write exactly the copies and its own topics (k2infra.model.mirror_access),
  and any other Write that reaches a copy is refused, a declared producer's included (apps produce at
  home; docs/regions.md).
- k2-app-has-quota (stack): every user the stack grants something to (an ACL's `User:` principal)
  or gives a SCRAM credential has a `kafka:index/quota:Quota` of entity type `user` with at least
  one quota.

Values unknown during preview are skipped, as in `rules`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k2infra.model.topology import TOPIC_PREFIX

from .rules import Violation, is_unknown, parse_topic_name

ACL_TYPE = "kafka:index/acl:Acl"
QUOTA_TYPE = "kafka:index/quota:Quota"
SCRAM_TYPE = "kafka:index/userScramCredential:UserScramCredential"
WRITE_OPERATIONS = ("Write", "All")
APPS_FILE = "config/kafka/apps.yaml"


@dataclass(frozen=True)
class DeclaredApp:
    """What an app declares it writes: asset classes (from its produces selectors) and legacy topics."""

    name: str
    principal: str
    write_asset_classes: frozenset[str]
    write_legacy: frozenset[str]
    # What proves the principal in the stack ('mTLS certificate CN=k2-risk-prod'); None where unknown.
    credential: str | None = None


@dataclass(frozen=True)
class RegionCopies:
    """A regional stack's copies and what its MirrorMaker 2 principal may Write."""

    stack: str
    source: str  # the stack it mirrors from
    principal: str  # MirrorMaker 2's
    names: frozenset[str]  # the copies and the registry journal's
    granted: frozenset[tuple[str, str]]  # (name, pattern) of the principal's Write ACLs

    def covers(self, name: str, pattern: str) -> bool:
        """Is a Write on (name, pattern) one the principal is granted, or within one?"""
        if (name, pattern) in self.granted:
            return True
        prefixes = [g for g, kind in self.granted if kind == "Prefixed"]
        return any(name.startswith(p) for p in prefixes)

    def reaches(self, name: str, pattern: str) -> bool:
        """Does a Write on (name, pattern) reach a copy (one of today's, or one to come under a mirrored prefix)?"""
        prefixes = [g for g, kind in self.granted if kind == "Prefixed" and g.startswith(f"{TOPIC_PREFIX}.")]
        if pattern == "Prefixed":
            return any(n.startswith(name) for n in self.names) or any(name.startswith(p) for p in prefixes)
        return name in self.names or any(name.startswith(p) for p in prefixes)


def acl_label(acl: Mapping[str, Any], resource_name: str | None = None) -> str:
    parts = [
        acl.get(key)
        for key in ("aclOperation", "aclResourceType", "aclResourceName", "resourcePatternTypeFilter", "aclPrincipal")
    ]
    if any(is_unknown(p) or p is None for p in parts):
        return f"ACL {resource_name!r}" if resource_name else "ACL"
    operation, restype, name, pattern, principal = parts
    return f"ACL {operation} {restype} {name!r} ({pattern}) for {principal!r}"


def _pattern(acl: Mapping[str, Any]) -> Any:
    value = acl.get("resourcePatternTypeFilter")
    return "Literal" if value is None else value  # the provider's default


def acl_wildcard_violations(
    acl: Mapping[str, Any], settings: Any = None, resource_name: str | None = None
) -> list[str]:
    """k2-acl-no-wildcard."""
    label = acl_label(acl, resource_name)
    out: list[str] = []
    principal = acl.get("aclPrincipal")
    if isinstance(principal, str) and (principal == "*" or principal.endswith(":*")):
        out.append(f"{label}: the principal {principal!r} is every user; grant a declared app's own principal")
    name, pattern, restype = acl.get("aclResourceName"), _pattern(acl), acl.get("aclResourceType")
    if isinstance(name, str) and isinstance(pattern, str) and isinstance(restype, str):
        if name == "*" and pattern == "Literal":
            out.append(f"{label}: the resource '*' is every {restype.lower()}; name the resources the app declares")
        elif name == "" and pattern == "Prefixed":
            out.append(f"{label}: an empty prefix is every {restype.lower()}; name the resources the app declares")
    return out


def acl_write_scope_violations(
    acl: Mapping[str, Any],
    declared: Mapping[str, DeclaredApp],
    resource_name: str | None = None,
    copies: RegionCopies | None = None,
) -> list[str]:
    """k2-app-writes-declared-asset-classes."""
    values = {
        key: acl.get(key)
        for key in ("aclPrincipal", "aclOperation", "aclPermissionType", "aclResourceType", "aclResourceName")
    }
    pattern = _pattern(acl)
    if any(is_unknown(v) for v in (*values.values(), pattern)):
        return []
    if values["aclResourceType"] != "Topic" or values["aclOperation"] not in WRITE_OPERATIONS:
        return []
    if values["aclPermissionType"] != "Allow":
        return []
    label = acl_label(acl, resource_name)
    principal, name = values["aclPrincipal"], values["aclResourceName"]
    if copies is not None and isinstance(name, str) and isinstance(pattern, str):
        if principal == copies.principal:
            if copies.covers(name, pattern):
                return []
            return [f"{label}: MirrorMaker 2 writes only the copies of stack {copies.source} and its own topics"]
        if copies.reaches(name, pattern):
            return [
                f"{label}: {name!r} reaches a copy of stack {copies.source}'s topics in stack {copies.stack}: only "
                f"MirrorMaker 2 ({copies.principal}) writes a copy; apps produce at home (docs/regions.md)"
            ]
    app = declared.get(principal) if isinstance(principal, str) else None
    if app is not None and app.credential:
        label += f" ({app.credential})"
    if app is None:
        return [f"{label}: {principal!r} is no declared app of this stack ({APPS_FILE}); only declared producers write"]
    if not isinstance(name, str):
        return [f"{label}: the topic name must be a string"]
    declares = _declares(app)
    if pattern == "Prefixed":
        asset_class = _prefix_asset_class(name)
        if asset_class is None:
            return [f"{label}: the prefix {name!r} spans asset classes; app {app.name!r} {declares}"]
    else:
        parsed = parse_topic_name(name)
        if parsed is None:
            if name in app.write_legacy:
                return []
            return [f"{label}: {name!r} is no topic app {app.name!r} declares it produces; it {declares}"]
        asset_class = parsed.asset_class
    if asset_class not in app.write_asset_classes:
        return [f"{label}: {name!r} is of asset class {asset_class!r}, but app {app.name!r} {declares}"]
    return []


def _declares(app: DeclaredApp) -> str:
    classes = ", ".join(sorted(app.write_asset_classes)) or "none"
    legacy = f" and legacy topics {', '.join(sorted(app.write_legacy))}" if app.write_legacy else ""
    return f"declares it produces asset classes {classes}{legacy}"


def _prefix_asset_class(prefix: str) -> str | None:
    """`market.crypto.` or longer -> 'crypto'; a shorter prefix reaches several asset classes: None."""
    parts = prefix.split(".")
    if len(parts) >= 3 and parts[0] == TOPIC_PREFIX and parts[1]:
        return parts[1]
    return None


def app_quota_violations(resources: Iterable[Mapping[str, Any]]) -> list[Violation]:
    """k2-app-has-quota: every granted or credentialed user has a user quota with at least one value."""
    resources = list(resources)
    quoted: set[str] = set()
    for resource in resources:
        if resource.get("type") != QUOTA_TYPE:
            continue
        props = resource.get("props") or {}
        entity_type, entity, config = props.get("entityType"), props.get("entityName"), props.get("config")
        if is_unknown(entity) or is_unknown(entity_type) or is_unknown(config):
            return []  # cannot tell which user it covers; the policy runs again on `pulumi up`
        if entity_type == "user" and isinstance(entity, str) and isinstance(config, Mapping) and config:
            quoted.add(entity)
    users: dict[str, str | None] = {}  # user -> urn of the first resource that needs its quota
    for resource in resources:
        props = resource.get("props") or {}
        if resource.get("type") == ACL_TYPE:
            principal = props.get("aclPrincipal")
            if isinstance(principal, str) and principal.startswith("User:") and not principal.endswith(":*"):
                users.setdefault(principal.removeprefix("User:"), resource.get("urn"))
        elif resource.get("type") == SCRAM_TYPE:
            username = props.get("username")
            if isinstance(username, str):
                users.setdefault(username, resource.get("urn"))
    return [
        Violation(
            f"user {user!r} is granted access or a SCRAM credential but has no quota: set quotas for its app in "
            f"{APPS_FILE} (a {QUOTA_TYPE} of entity_type 'user' and entity_name {user!r})",
            urn,
        )
        for user, urn in sorted(users.items())
        if user not in quoted
    ]


# -- the declarations ----------------------------------------------------------------------------


def stack_of(urn: str | None) -> str | None:
    """urn:pulumi:<stack>::<project>::<type>::<name> -> <stack>."""
    if not urn or not urn.startswith("urn:pulumi:") or "::" not in urn:
        return None
    return urn.removeprefix("urn:pulumi:").split("::", 1)[0]


def declared_apps(config_dir: Path, stack: str | None) -> dict[str, DeclaredApp]:
    """Principal -> what the app declares it writes, from apps.yaml and the topology (raises InputError), and
    what proves its principal in the stack, from the stack file beside the config directory."""
    from k2infra.model.apps import SelectorKind, load_apps, username_of
    from k2infra.model.topology import load_topology

    topology = load_topology(config_dir).topology
    apps = load_apps(config_dir, topology)
    auth, scram_mechanism = _app_auth(config_dir.parent, stack)
    out: dict[str, DeclaredApp] = {}
    for app in apps.apps:
        classes: set[str] = set()
        legacy: set[str] = set()
        for selector in app.produces:
            if selector.kind is SelectorKind.LEGACY and selector.legacy:
                legacy.add(selector.legacy)
            elif selector.kind is SelectorKind.DATA_TYPE:
                classes.update(selector.asset_classes or topology.asset_classes)
            elif selector.exchange:  # asset_class.exchange
                classes.add(selector.exchange.split(".")[0])
            elif selector.asset_class:
                classes.add(selector.asset_class)
        principal = apps.principal(app, stack)
        credential = auth.credential(username_of(principal), scram_mechanism) if auth is not None else None
        out[principal] = DeclaredApp(app.name, principal, frozenset(classes), frozenset(legacy), credential)
    return out


def region_copies(config_dir: Path, stack: str | None) -> RegionCopies | None:
    """The copies of a regional stack, from its file beside the config directory (raises InputError);
    None for a stack that mirrors nothing."""
    from k2infra.model.apps import Operation
    from k2infra.model.mirror_access import target_access
    from k2infra.model.regions import REGISTRY_JOURNAL
    from k2infra.model.settings import read_stack_file
    from k2infra.model.stack import load_stack_file

    if stack is None or not (config_dir.parent / f"Pulumi.{stack}.yaml").exists():
        return None  # a stack the repository does not hold is not known to be a region (docs/regions.md §2)
    if "mirrorFrom" not in read_stack_file(config_dir.parent, stack).values:
        return None
    plan = load_stack_file(config_dir, stack, config_dir.parent).plan
    assert plan.mirror is not None
    mirror = target_access(plan)
    granted = {(a.resource_name, str(a.pattern_type)) for a in mirror.acls if a.operation is Operation.WRITE}
    names = frozenset(plan.mirror.topics) | {REGISTRY_JOURNAL}
    return RegionCopies(stack, plan.mirror.stack, mirror.principal, names, frozenset(granted))


def _app_auth(project_dir: Path, stack: str | None) -> tuple[Any, str]:
    """How the stack's apps prove their principals (k2infra.model.apps.AppAuth, None: not known), as its file
    says it, and its apps' SCRAM mechanism as Kafka names it."""
    from k2infra.model.apps import AppAuth
    from k2infra.model.connection import kafka_mechanism
    from k2infra.model.errors import InputError
    from k2infra.model.settings import read_stack_file

    if stack is None:
        return None, ""
    try:
        values = read_stack_file(project_dir, stack).values
    except InputError:
        return None, ""
    scram = values.get("appScramMechanism", "scram-sha512")
    mechanism = kafka_mechanism(scram) if scram in ("scram-sha256", "scram-sha512") else str(scram)
    return AppAuth.of_connection(values.get("saslMechanism"), values.get("clientCert")), mechanism
