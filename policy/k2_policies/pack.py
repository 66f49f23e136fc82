"""The rules wired into pulumi_policy: one policy per rule, the pack MANDATORY by default.

Building the `PolicyPack` object starts the analyzer's gRPC server and blocks, so this module
only builds the policies; `policy/__main__.py` creates the pack.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from k2infra.model.errors import InputError

from . import access_rules, rules
from .config import (
    AclWildcardSettings,
    AppQuotaSettings,
    CompactionSettings,
    NamingSettings,
    PartitionSettings,
    PolicySettings,
    ReplicationSettings,
    RetentionSettings,
    SchemaSubjectSettings,
    WriteScopeSettings,
)

PACK_NAME = "k2-kafka-topics"
DEFAULT_ENFORCEMENT = EnforcementLevel.MANDATORY
# The declared apps the access rules restate: the repository's, as the program reads them.
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"

TopicRule = Callable[[Mapping[str, Any], Any, "str | None"], list[str]]


def plain(value: Any) -> Any:
    """The engine's property proxies as plain dicts and lists; values unknown during preview as UNKNOWN."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in list(value):
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = rules.UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(rules.UNKNOWN)
        return items
    return value


def _field(props: Mapping[str, Any], key: str) -> Any:
    try:
        return plain(props[key]) if key in list(props) else None
    except UnknownValueError:
        return rules.UNKNOWN


def _schema(settings: type[PolicySettings]) -> PolicyConfigSchema | None:
    properties = settings.schema()
    return PolicyConfigSchema(properties=properties) if properties else None


def topic_policy(
    name: str, description: str, settings: type[PolicySettings], rule: TopicRule
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != rules.TOPIC_TYPE:
            return
        config = settings.from_config(args.get_config())
        for message in rule(plain(args.props), config, args.name):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, config_schema=_schema(settings)
    )


def _validate_stack(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    SchemaSubjectSettings.from_config(args.get_config())  # refuses unknown keys like every policy
    resources = []
    for resource in args.resources:
        if resource.resource_type == rules.TOPIC_TYPE:
            props = {"name": _field(resource.props, "name")}
        elif resource.resource_type == rules.SUBJECT_TYPE:
            props = {"subject": _field(resource.props, "subject")}  # not the connection, a secret
        else:
            continue
        resources.append({"type": resource.resource_type, "urn": resource.urn, "name": resource.name, "props": props})
    for violation in rules.schema_subject_violations(resources):
        report_violation(violation.message, violation.urn)


@functools.cache
def _declared(config_dir: Path, stack: str | None) -> tuple[dict[str, access_rules.DeclaredApp], str | None]:
    """The declared apps of `stack` by principal, or the reason they cannot be read."""
    try:
        return access_rules.declared_apps(config_dir, stack), None
    except InputError as exc:
        return {}, exc.report()


def acl_policy(
    name: str, description: str, settings: type[PolicySettings], check: Callable[[ResourceValidationArgs], list[str]]
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != access_rules.ACL_TYPE:
            return
        settings.from_config(args.get_config())  # refuses unknown keys like every policy
        for message in check(args):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, config_schema=_schema(settings)
    )


def _wildcards(args: ResourceValidationArgs) -> list[str]:
    return access_rules.acl_wildcard_violations(plain(args.props), None, args.name)


@functools.cache
def _copies(config_dir: Path, stack: str | None) -> tuple[access_rules.RegionCopies | None, str | None]:
    """A regional stack's copies, or the reason they cannot be read."""
    try:
        return access_rules.region_copies(config_dir, stack), None
    except InputError as exc:
        return None, exc.report()


def _write_scope(args: ResourceValidationArgs) -> list[str]:
    stack = access_rules.stack_of(args.urn)
    declared, problem = _declared(CONFIG_DIR, stack)
    copies, copies_problem = _copies(CONFIG_DIR, stack)
    messages = access_rules.acl_write_scope_violations(plain(args.props), declared, args.name, copies)
    for unread in (problem, copies_problem):
        if unread and messages:
            messages.append(f"(the declarations could not be read: {unread})")
    return messages


def _validate_quotas(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    AppQuotaSettings.from_config(args.get_config())
    keys = {
        access_rules.ACL_TYPE: ("aclPrincipal",),
        access_rules.SCRAM_TYPE: ("username",),  # never the password
        access_rules.QUOTA_TYPE: ("entityType", "entityName", "config"),
    }
    resources = [
        {
            "type": r.resource_type,
            "urn": r.urn,
            "name": r.name,
            "props": {key: _field(r.props, key) for key in keys[r.resource_type]},
        }
        for r in args.resources
        if r.resource_type in keys
    ]
    for violation in access_rules.app_quota_violations(resources):
        report_violation(violation.message, violation.urn)


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [
        topic_policy(
            NamingSettings.policy,
            "Kafka topic names follow market.{asset_class}.{data_type}.{exchange}: lowercase parts "
            "([a-z][a-z0-9_]*, no dots), at most 249 characters.",
            NamingSettings,
            rules.naming_violations,
        ),
        topic_policy(
            ReplicationSettings.policy,
            "Kafka topics meet the minimum replicationFactor and min.insync.replicas, "
            "with min.insync.replicas below replicationFactor.",
            ReplicationSettings,
            rules.replication_violations,
        ),
        topic_policy(
            CompactionSettings.policy,
            "Reference-data Kafka topics are compacted (cleanup.policy contains compact).",
            CompactionSettings,
            rules.compaction_violations,
        ),
        topic_policy(
            RetentionSettings.policy,
            "Delete-policy Kafka topics set retention.ms within the allowed bounds (-1, unlimited, only if allowed).",
            RetentionSettings,
            rules.retention_violations,
        ),
        topic_policy(
            PartitionSettings.policy,
            "Kafka topics have between 1 and maxPartitions partitions.",
            PartitionSettings,
            rules.partition_violations,
        ),
        StackValidationPolicy(
            name=SchemaSubjectSettings.policy,
            description="Every market.X.Y.Z Kafka topic has its Schema Registry subject market.X.Y-value "
            "in the same stack.",
            validate=_validate_stack,
        ),
        acl_policy(
            AclWildcardSettings.policy,
            "No Kafka ACL names every user (* or User:*) or every topic or group (the literal *, an empty prefix).",
            AclWildcardSettings,
            _wildcards,
        ),
        acl_policy(
            WriteScopeSettings.policy,
            "Write on Kafka topics goes only to apps declared in config/kafka/apps.yaml, and only to topics of "
            "the asset classes (or the legacy topics) their produces selectors name; a region's copies are "
            "written by its MirrorMaker 2 principal alone.",
            WriteScopeSettings,
            _write_scope,
        ),
        StackValidationPolicy(
            name=AppQuotaSettings.policy,
            description="Every Kafka user the stack grants access or a SCRAM credential has a user quota.",
            validate=_validate_quotas,
        ),
    ]
