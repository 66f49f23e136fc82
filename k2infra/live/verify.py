"""`python -m k2infra verify`: the live cluster and registry compared with the Plan.

Three parts, kept apart: reading (`k2infra.live.cluster` turns the cluster and registry into a
`LiveState` snapshot), comparing (`compare(plan, live)`, a pure function to a `Report`) and
rendering (`render_table`, `Report.to_dict` for `--json`). Each difference has a `Kind`, said
below and in docs/runbook.md §4. Values are compared as Kafka means them, and a key whose broker
default equals the planned value is no difference: the effective value is what matters. Exit codes:
0 nothing differs, 1 some difference, 2 the cluster or registry cannot be read (one line naming the
address and the setting to check; with --json the document carries it in "error").
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO

from k2infra.console import print_table
from k2infra.live.access import LiveAccess, access_differences, read_live_access
from k2infra.live.cluster import (
    PREFIX,
    BrokerView,
    LiveReadError,
    LiveState,
    LiveSubject,
    LiveTopic,
    RecordedVersion,
    read_live_state,
)
from k2infra.live.mirror import MirrorLive, SourceTopic, read_mirror
from k2infra.model import kafka_configs
from k2infra.model.avro_canonical import SchemaTextError, canonical_schema, field_changes
from k2infra.model.errors import Drift, K2Error
from k2infra.model.infra_access import InfraPrivileges
from k2infra.model.plan import LegacyTopic, Plan, SubjectSpec, TopicSpec
from k2infra.model.stack import Stack


class Kind(StrEnum):
    """What differs; the values are the `kind` strings of the --json document."""

    TOPIC_MISSING = "topic_missing"
    TOPIC_EXTRA = "topic_extra"  # a `market.` topic the plan does not know (others are not ours)
    PARTITIONS = "partitions"
    REPLICATION_FACTOR = "replication_factor"
    # One per key the plan sets whose effective live value differs: numbers as numbers ('0.50' is
    # '0.5'), booleans without case, lists as sets ('delete,compact' is 'compact,delete').
    CONFIG = "config"
    # Partitions whose in-sync replicas are fewer than their replicas: a difference (exit 1), since
    # the topic lacks the durability the plan asks for right now (acks=all writes fail once the ISR
    # drops below min.insync.replicas); a kind of its own lets automation tell it from drift.
    HEALTH = "health"
    SUBJECT_MISSING = "subject_missing"
    SUBJECT_EXTRA = "subject_extra"
    SCHEMA = "schema"  # the latest version differs from the file, in k2infra.model.avro_canonical's form
    COMPATIBILITY = "compatibility"  # the subject's effective level (its own, else the registry's)
    # The version the stack state records has another schema ID in the registry, or is gone: every
    # record written with the recorded ID carries it. Compared when the state could be read.
    SCHEMA_ID = "schema_id"
    # With k2infra:accessControl (k2infra.live.access says which live ACLs are the stack's business;
    # client quotas cannot be read with confluent-kafka and are reported as not checked).
    ACL_MISSING = "acl_missing"
    ACL_EXTRA = "acl_extra"
    SCRAM_USER_MISSING = "scram_user_missing"
    # A regional stack's copy against its source as the source cluster holds it now (k2infra.live.mirror).
    MIRROR_SOURCE_MISSING = "mirror_source_missing"
    MIRROR_PARTITIONS = "mirror_partitions"  # MirrorMaker 2 keeps a record's partition
    MIRROR_CONFIG = "mirror_config"
    MIRROR_SCHEMA_ID = "mirror_schema_id"  # regional consumers could not decode the copies


class Status(StrEnum):
    """A topic's or subject's row status."""

    OK = "ok"
    MISSING = "missing"
    EXTRA = "extra"
    DRIFT = "drift"
    LEGACY = "legacy"  # a known legacy topic this stack does not manage: listed, never a difference


# How the summary line counts each kind: (singular, plural).
_KIND_WORDS = {
    Kind.TOPIC_MISSING: ("missing topic", "missing topics"),
    Kind.TOPIC_EXTRA: ("extra topic", "extra topics"),
    Kind.PARTITIONS: ("partition count", "partition counts"),
    Kind.REPLICATION_FACTOR: ("replication factor", "replication factors"),
    Kind.CONFIG: ("config value", "config values"),
    Kind.HEALTH: ("under-replicated topic", "under-replicated topics"),
    Kind.SUBJECT_MISSING: ("missing subject", "missing subjects"),
    Kind.SUBJECT_EXTRA: ("extra subject", "extra subjects"),
    Kind.SCHEMA: ("schema", "schemas"),
    Kind.COMPATIBILITY: ("compatibility level", "compatibility levels"),
    Kind.SCHEMA_ID: ("schema ID", "schema IDs"),
    Kind.ACL_MISSING: ("missing ACL", "missing ACLs"),
    Kind.ACL_EXTRA: ("undeclared ACL", "undeclared ACLs"),
    Kind.SCRAM_USER_MISSING: ("missing SCRAM user", "missing SCRAM users"),
    Kind.MIRROR_SOURCE_MISSING: ("copy without its source", "copies without their source"),
    Kind.MIRROR_PARTITIONS: ("copy's partition count", "copies' partition counts"),
    Kind.MIRROR_CONFIG: ("copy's config value", "copies' config values"),
    Kind.MIRROR_SCHEMA_ID: ("mirrored schema ID", "mirrored schema IDs"),
}

# A copy's configs are its source's but for these, which the regional stack sets itself (regions.mirrored_topics).
_REGION_OWN_CONFIGS = frozenset({"min.insync.replicas"})


@dataclass(frozen=True)
class Difference:
    kind: Kind
    name: str  # the topic or subject
    expected: Any
    actual: Any
    key: str | None = None  # the config key, for kind "config"
    detail: str | None = None  # words for a human, where the values alone do not say enough

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "key": self.key,
            "expected": self.expected,
            "actual": self.actual,
            "detail": self.detail,
        }

    def describe(self) -> str:
        if self.kind in (Kind.TOPIC_MISSING, Kind.SUBJECT_MISSING):
            return "not on the cluster" if self.kind is Kind.TOPIC_MISSING else "not in the registry"
        if self.kind in (Kind.TOPIC_EXTRA, Kind.SUBJECT_EXTRA):
            return "not in the plan"
        if self.kind is Kind.HEALTH:
            return self.detail or f"{self.actual} under-replicated"
        if self.detail is not None:
            return self.detail
        if self.kind in (Kind.SCHEMA, Kind.SCHEMA_ID, Kind.ACL_MISSING, Kind.ACL_EXTRA, Kind.SCRAM_USER_MISSING):
            return str(self.kind)
        label = {Kind.PARTITIONS: "partitions", Kind.REPLICATION_FACTOR: "replication factor"}.get(self.kind, self.key)
        return f"{label or self.kind}: planned {_shown(self.expected)}, live {_shown(self.actual)}"


@dataclass(frozen=True)
class TopicRow:
    name: str
    status: Status
    partitions: int | None
    planned_partitions: int | None
    replication_factor: int | None
    planned_replication_factor: int | None
    under_replicated: int | None
    end_offsets: int | None
    differences: tuple[Difference, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "partitions": self.partitions,
            "planned_partitions": self.planned_partitions,
            "replication_factor": self.replication_factor,
            "planned_replication_factor": self.planned_replication_factor,
            "under_replicated": self.under_replicated,
            "end_offsets": self.end_offsets,
            "differences": [d.kind for d in self.differences],
        }


@dataclass(frozen=True)
class SubjectRow:
    name: str
    status: Status
    version: int | None
    schema_id: int | None
    compatibility: str | None
    planned_compatibility: str | None
    schema_file: str | None
    differences: tuple[Difference, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "version": self.version,
            "schema_id": self.schema_id,
            "compatibility": self.compatibility,
            "planned_compatibility": self.planned_compatibility,
            "schema_file": self.schema_file,
            "differences": [d.kind for d in self.differences],
        }


@dataclass(frozen=True)
class MirrorRow:
    """A regional copy against its source: partitions on both sides, how far behind, what differs."""

    name: str
    source_partitions: int | None
    partitions: int | None
    lag_records: int | None
    lag_seconds: float | None
    differences: tuple[Difference, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source_partitions": self.source_partitions,
            "partitions": self.partitions,
            "lag_records": self.lag_records,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "differences": [d.kind for d in self.differences],
        }


@dataclass(frozen=True)
class MirroredSubjectRow:
    """A subject the region's registry serves from its home's journal: the latest version's ID on both."""

    name: str
    version: int | None  # the source's latest
    source_id: int | None
    region_id: int | None
    differences: tuple[Difference, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source_schema_id": self.source_id,
            "schema_id": self.region_id,
            "differences": [d.kind for d in self.differences],
        }


@dataclass(frozen=True)
class MirrorReport:
    source_stack: str
    source_servers: str
    topics: tuple[MirrorRow, ...]
    note: str | None = None  # why the source's cluster was not read
    subjects: tuple[MirroredSubjectRow, ...] = ()
    subjects_note: str | None = None  # why the source's registry was not read

    @property
    def rows(self) -> tuple[MirrorRow | MirroredSubjectRow, ...]:
        return (*self.topics, *self.subjects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_stack": self.source_stack,
            "source_bootstrap_servers": self.source_servers,
            "topics": [t.to_dict() for t in self.topics],
            "subjects": [s.to_dict() for s in self.subjects],
            "notes": [n for n in (self.note, self.subjects_note) if n],
        }


@dataclass(frozen=True)
class Report:
    stack: str | None
    planned_topics: int
    planned_subjects: int
    topics: tuple[TopicRow, ...]
    subjects: tuple[SubjectRow, ...]
    access: tuple[Difference, ...] = ()  # ACLs and SCRAM users, with k2infra:accessControl
    access_notes: tuple[str, ...] = ()  # what the access check could not see
    access_apps: int | None = None  # the apps whose ACLs and SCRAM users were checked (None: not checked)
    brokers: BrokerView | None = None  # live brokers and the nodes holding replicas
    notes: tuple[str, ...] = ()  # what else was not compared (the schema IDs, without the stack state)
    infra: InfraPrivileges | None = None  # k2infra's own principal's rights, with the access check
    mirror: MirrorReport | None = None  # a regional stack's copies against their source
    access_scram: bool = True  # the apps' SCRAM users were checked too (apps on SCRAM, not mTLS or OAuth)

    @property
    def differences(self) -> tuple[Difference, ...]:
        copies = self.mirror.rows if self.mirror is not None else ()
        return tuple(d for row in (*self.topics, *self.subjects, *copies) for d in row.differences) + self.access

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def outcome(self) -> Drift | None:
        """None when nothing differs; else Drift, whose exit code the command line gives (1)."""
        return None if self.ok else Drift(self.summary())

    def to_dict(self) -> dict[str, Any]:
        out = {
            "stack": self.stack,
            "ok": self.ok,
            "error": None,
            "topics": [t.to_dict() for t in self.topics],
            "subjects": [s.to_dict() for s in self.subjects],
            "differences": [d.to_dict() for d in self.differences],
        }
        if self.access_notes:  # only where access was checked (k2infra:accessControl)
            out["access_notes"] = list(self.access_notes)
        if self.notes:
            out["notes"] = list(self.notes)
        if self.infra is not None:
            out["infra_principal"] = self.infra.to_dict()
        if self.brokers is not None:
            out["brokers"] = {"live": list(self.brokers.live), "missing": list(self.brokers.missing)}
        if self.mirror is not None:
            out["mirror"] = self.mirror.to_dict()
        return out

    def summary(self) -> str:
        differences = self.differences
        if not differences:
            planned = f"{_count(self.planned_topics, 'topic')}, {_count(self.planned_subjects, 'subject')}"
            if self.access_apps is not None:  # say so: a clean access check is not the absence of one
                checked = "ACLs and SCRAM users" if self.access_scram else "ACLs"
                planned += f", {checked} of {_count(self.access_apps, 'app')}"
            return f"verify: {planned}: no drift"
        counts = Counter(d.kind for d in differences)
        parts = [f"{counts[kind]} {_KIND_WORDS[kind][0 if counts[kind] == 1 else 1]}" for kind in Kind if counts[kind]]
        return f"verify: {_count(len(differences), 'difference')}: {', '.join(parts)}"


# -- comparing (pure) ----------------------------------------------------------------------------


def compare(
    plan: Plan,
    live: LiveState,
    access: LiveAccess | None = None,
    recorded: Mapping[str, RecordedVersion] | None = None,
    notes: tuple[str, ...] = (),
    mirror: MirrorLive | None = None,
) -> Report:
    """Plan x snapshot -> report. Topics and subjects outside the `market.` prefix are ignored; the
    apps' access is compared when the stack has access control and `access` was read; the schema
    IDs when the state's `recorded` versions were read; a regional stack's copies with their sources
    when `mirror` was read."""
    topic_rows = [_topic_row(spec, live.topics.get(spec.name)) for spec in plan.managed_topics()]
    # Legacy topics the stack does not manage (or is retiring) are known: listed, never extra.
    topic_rows += [
        _unplanned_row(live.topics[t.name], Status.LEGACY)
        for t in plan.legacy
        if not t.declared and t.name in live.topics
    ]
    planned_topics = {t.name for t in plan.topics} | {t.name for t in plan.legacy}
    topic_rows += [
        _unplanned_row(topic, Status.EXTRA)
        for name, topic in live.topics.items()
        if name.startswith(PREFIX) and name not in planned_topics
    ]
    subject_rows = [_subject_row(spec, live, (recorded or {}).get(spec.subject)) for spec in plan.subjects]
    planned_subjects = {s.subject for s in plan.subjects}
    subject_rows += [
        SubjectRow(
            name, Status.EXTRA, s.version, s.schema_id, s.compatibility, None, None, (_extra(Kind.SUBJECT_EXTRA, name),)
        )
        for name, s in live.subjects.items()
        # A region's registry replays its home's whole journal (docs/regions.md): every subject is the home's.
        if name.startswith(PREFIX) and name not in planned_subjects and plan.mirror is None
    ]
    return Report(
        stack=plan.stack,
        planned_topics=len(plan.topics),
        planned_subjects=len(plan.subjects),
        topics=tuple(sorted(topic_rows, key=lambda r: r.name)),
        subjects=tuple(sorted(subject_rows, key=lambda r: r.name)),
        access=_access(plan, access),
        access_notes=access.notes if access is not None and plan.access_control else (),
        access_apps=len(plan.apps) if access is not None and plan.access_control else None,
        brokers=live.brokers,
        notes=notes,
        infra=access.infra if access is not None and plan.access_control else None,
        mirror=_mirror_report(plan, live, mirror) if mirror is not None else None,
        access_scram=plan.creates_app_credentials,
    )


def _mirror_report(plan: Plan, live: LiveState, mirror: MirrorLive) -> MirrorReport:
    specs = {t.name: t for t in plan.topics}
    rows = [
        _mirror_row(specs[name], source, live.topics.get(name), mirror.source_stack)
        for name, source in sorted(mirror.topics.items())
        if name in specs
    ]
    subjects = tuple(
        _mirrored_subject(name, source, live.subjects.get(name))
        for name, source in sorted((mirror.subjects or {}).items())
    )
    return MirrorReport(
        mirror.source_stack, mirror.source_servers, tuple(rows), mirror.note, subjects, mirror.subjects_note
    )


def _mirrored_subject(name: str, source: LiveSubject, region: LiveSubject | None) -> MirroredSubjectRow:
    region_id = region.version_ids.get(source.version) if region is not None and source.version else None
    differences = ()
    if source.schema_id is not None and region_id != source.schema_id:
        where = f"version {source.version} has schema ID {source.schema_id} at the source"
        if region is None or region_id is None:
            detail = f"{where} and is not in the region's registry (is its journal mirrored?)"
        else:
            detail = f"{where}, {region_id} in the region's registry: the copies' records would not decode there"
        differences = (Difference(Kind.MIRROR_SCHEMA_ID, name, source.schema_id, region_id, detail=detail),)
    return MirroredSubjectRow(name, source.version, source.schema_id, region_id, differences)


def _mirror_row(spec: TopicSpec, source: SourceTopic, copy: LiveTopic | None, stack: str) -> MirrorRow:
    partitions = copy.partitions if copy is not None else None
    differences: list[Difference] = []
    if source.partitions is None:
        detail = f"not on stack {stack}'s cluster: nothing to copy"
        differences.append(Difference(Kind.MIRROR_SOURCE_MISSING, spec.name, "present", "absent", detail=detail))
    elif copy is not None:
        if partitions != source.partitions:
            differences.append(_partition_difference(spec.name, source.partitions, copy.partitions, stack))
        for key in sorted(set(spec.config) - _REGION_OWN_CONFIGS):
            at_source, here = source.config.get(key), copy.config.get(key)
            if at_source is not None and not same_config_value(key, at_source, here):
                detail = f"{key}: source {_shown(at_source)}, region {_shown(here)}"
                differences.append(Difference(Kind.MIRROR_CONFIG, spec.name, at_source, here, key=key, detail=detail))
    return MirrorRow(
        spec.name, source.partitions, partitions, source.lag_records, source.lag_seconds, tuple(differences)
    )


def _partition_difference(name: str, source: int, region: int, stack: str) -> Difference:
    if region < source:
        why = f"the records of partitions {region}-{source - 1} cannot be copied: `pulumi up` this stack"
    else:
        why = f"stack {stack} has not been raised to it yet: `pulumi up` it"
    detail = f"partitions: source {source}, region {region} ({why})"
    return Difference(Kind.MIRROR_PARTITIONS, name, source, region, detail=detail)


def _access(plan: Plan, access: LiveAccess | None) -> tuple[Difference, ...]:
    if access is None or not plan.access_control:
        return ()
    return tuple(
        Difference(Kind(d.kind), d.name, d.expected, d.actual, detail=d.detail)
        for d in access_differences(plan, access)
    )


def _topic_row(spec: TopicSpec | LegacyTopic, topic: LiveTopic | None) -> TopicRow:
    if topic is None:
        missing = Difference(Kind.TOPIC_MISSING, spec.name, "present", "absent")
        return TopicRow(
            spec.name, Status.MISSING, None, spec.partitions, None, spec.replication_factor, None, None, (missing,)
        )
    differences: list[Difference] = []
    if topic.partitions != spec.partitions:
        differences.append(Difference(Kind.PARTITIONS, spec.name, spec.partitions, topic.partitions))
    if topic.replication_factor != spec.replication_factor:
        differences.append(
            Difference(Kind.REPLICATION_FACTOR, spec.name, spec.replication_factor, topic.replication_factor)
        )
    for key, expected in sorted(spec.config.items()):
        actual = topic.config.get(key)
        if not same_config_value(key, expected, actual):
            differences.append(Difference(Kind.CONFIG, spec.name, expected, actual, key=key))
    if topic.under_replicated:
        detail = f"{topic.under_replicated} of {topic.partitions} partitions under-replicated"
        differences.append(Difference(Kind.HEALTH, spec.name, 0, topic.under_replicated, detail=detail))
    return TopicRow(
        name=spec.name,
        status=Status.DRIFT if differences else Status.OK,
        partitions=topic.partitions,
        planned_partitions=spec.partitions,
        replication_factor=topic.replication_factor,
        planned_replication_factor=spec.replication_factor,
        under_replicated=topic.under_replicated,
        end_offsets=topic.end_offsets,
        differences=tuple(differences),
    )


def _unplanned_row(topic: LiveTopic, status: Status) -> TopicRow:
    """A live topic without a spec: 'extra' (a difference) or 'legacy' (known, listed only)."""
    return TopicRow(
        name=topic.name,
        status=status,
        partitions=topic.partitions,
        planned_partitions=None,
        replication_factor=topic.replication_factor,
        planned_replication_factor=None,
        under_replicated=topic.under_replicated,
        end_offsets=topic.end_offsets,
        differences=(_extra(Kind.TOPIC_EXTRA, topic.name),) if status is Status.EXTRA else (),
    )


def _extra(kind: Kind, name: str) -> Difference:
    return Difference(kind, name, "absent", "present")


def _subject_row(spec: SubjectSpec, live: LiveState, recorded: RecordedVersion | None) -> SubjectRow:
    subject = live.subjects.get(spec.subject)
    if subject is None:
        missing = Difference(Kind.SUBJECT_MISSING, spec.subject, "present", "absent")
        return SubjectRow(
            spec.subject, Status.MISSING, None, None, None, spec.compatibility, spec.schema_file, (missing,)
        )
    differences: list[Difference] = []
    expected = canonical_schema(spec.schema)
    actual = _canonical_or_reason(subject.schema, subject.schema_type)
    if actual != expected:
        changes = field_changes(subject.schema, spec.schema) if subject.schema else []
        detail = f"version {subject.version} differs from the file"
        if changes:
            detail += f" (the file against it: {'; '.join(changes)})"
        differences.append(Difference(Kind.SCHEMA, spec.subject, expected, actual, detail=detail))
    if subject.compatibility != spec.compatibility:
        differences.append(Difference(Kind.COMPATIBILITY, spec.subject, spec.compatibility, subject.compatibility))
    if recorded is not None and (changed := _id_change(spec.subject, subject, recorded)):
        differences.append(changed)
    return SubjectRow(
        name=spec.subject,
        status=Status.DRIFT if differences else Status.OK,
        version=subject.version,
        schema_id=subject.schema_id,
        compatibility=subject.compatibility,
        planned_compatibility=spec.compatibility,
        schema_file=spec.schema_file,
        differences=tuple(differences),
    )


def _id_change(name: str, subject: LiveSubject, recorded: RecordedVersion) -> Difference | None:
    """The recorded version's schema ID against the registry's (the contract with written records)."""
    live_id = subject.version_ids.get(recorded.version)
    if live_id == recorded.schema_id:
        return None
    if live_id is None:
        detail = (
            f"version {recorded.version} (schema ID {recorded.schema_id} in the stack state) is not in the registry"
        )
    else:
        detail = (
            f"version {recorded.version} has schema ID {live_id} in the registry, the stack state records "
            f"{recorded.schema_id}: records written with ID {recorded.schema_id} no longer find their schema"
        )
    return Difference(Kind.SCHEMA_ID, name, recorded.schema_id, live_id, detail=detail)


def _canonical_or_reason(text: str | None, schema_type: str) -> str | None:
    if text is None:
        return None
    try:
        return canonical_schema(text, schema_type)
    except SchemaTextError as exc:
        return f"(unreadable {schema_type} schema: {exc})"


def same_config_value(key: str, expected: str, actual: str | None) -> bool:
    """Do two values of a topic config mean the same to Kafka? (`None`: the broker has no value.)"""
    if actual is None:
        return False
    return _normal(key, expected) == _normal(key, actual)


def _normal(key: str, value: str) -> str:
    text = kafka_configs.to_config_string(key, value)
    config = kafka_configs.TOPIC_CONFIGS.get(key)
    if config is not None and config.kind in (kafka_configs.Kind.LIST, kafka_configs.Kind.REPLICAS):
        return ",".join(sorted(set(text.split(","))))
    return text


# -- rendering -----------------------------------------------------------------------------------


def render_table(report: Report, out: TextIO) -> None:
    rows = [["TOPIC", "STATUS", "PARTITIONS", "RF", "UNDER-REPLICATED", "END OFFSETS", "DIFFERS"]]
    for t in report.topics:
        rows.append(
            [
                t.name,
                t.status,
                f"{_cell(t.partitions)}/{_cell(t.planned_partitions)}",
                f"{_cell(t.replication_factor)}/{_cell(t.planned_replication_factor)}",
                _cell(t.under_replicated),
                _cell(t.end_offsets) if t.end_offsets is not None or t.partitions is None else "?",
                "; ".join(d.describe() for d in t.differences),
            ]
        )
    print_table(rows, out)
    out.write("\n")
    rows = [["SUBJECT", "STATUS", "VERSION", "COMPATIBILITY", "SCHEMA FILE", "DIFFERS"]]
    for s in report.subjects:
        rows.append(
            [
                s.name,
                s.status,
                _cell(s.version),
                f"{_cell(s.compatibility)}/{_cell(s.planned_compatibility)}",
                _cell(s.schema_file),
                "; ".join(d.describe() for d in s.differences),
            ]
        )
    print_table(rows, out)
    if report.mirror is not None:
        _render_mirror(report.mirror, out)
    if report.access or report.access_notes:
        out.write("\n")
        rows = [["ACCESS", "PRINCIPAL OR USER", "DIFFERS"]]
        rows += [[str(d.kind), d.name, d.describe()] for d in report.access]
        if len(rows) > 1:
            print_table(rows, out)
        out.write("".join(f"note: {note}\n" for note in report.access_notes))
    if report.infra is not None:
        out.write(f"{report.infra.line()}\n")
    if report.notes:
        out.write("\n" + "".join(f"note: {note}\n" for note in report.notes))
    if report.brokers is not None and report.brokers.missing:
        # Why partitions are under-replicated, when the cause is a broker that is not live.
        out.write(f"\nbrokers: {report.brokers.describe()}\n")
    out.write(f"\n{report.summary()}\n")


def _render_mirror(mirror: MirrorReport, out: TextIO) -> None:
    out.write(f"\nmirrored from stack {mirror.source_stack} ({mirror.source_servers}):\n")
    if mirror.topics and mirror.note is None:
        rows = [["COPY", "PARTITIONS", "LAG RECORDS", "LAG SECONDS", "DIFFERS"]]
        for t in mirror.topics:
            seconds = "-" if t.lag_seconds is None else f"{t.lag_seconds:.1f}"
            rows.append(
                [
                    t.name,
                    f"{_cell(t.partitions)}/{_cell(t.source_partitions)}",
                    _cell(t.lag_records),
                    seconds,
                    "; ".join(d.describe() for d in t.differences),
                ]
            )
        print_table(rows, out)
    if mirror.subjects:
        rows = [["MIRRORED SUBJECT", "VERSION", "SCHEMA ID", "DIFFERS"]]
        for s in mirror.subjects:
            ids = f"{_cell(s.region_id)}/{_cell(s.source_id)}"
            rows.append([s.name, _cell(s.version), ids, "; ".join(d.describe() for d in s.differences)])
        out.write("\n")
        print_table(rows, out)
    for note in (mirror.note, mirror.subjects_note):
        if note is not None:
            out.write(f"note: {note}\n")


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _shown(value: Any) -> str:
    return "(unset)" if value is None else str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- the command ---------------------------------------------------------------------------------


def run_verify(
    stack: Stack,
    *,
    json_output: bool = False,
    timeout: float = 15.0,
    out: TextIO,
    err: TextIO | None = None,
    recorded: Mapping[str, RecordedVersion] | None = None,
    notes: tuple[str, ...] = (),
    mirror_source_password: str | None = None,
    mirror_source_registry_password: str | None = None,
) -> K2Error | None:
    """Read, compare, render; the outcome, written already: None (no drift), Drift, or the
    ConnectionFailed of a cluster or registry that could not be read (exit codes 0, 1, 2 by class).

    `recorded`: the subject versions the stack state holds (None: the state could not be read, and
    `notes` says why). `mirror_source_password`, `mirror_source_registry_password`: a regional stack's source
    cluster's SASL password and its source registry's password."""
    plan = stack.plan
    try:
        versions = {name: r.version for name, r in (recorded or {}).items()}
        live = read_live_state(stack, timeout=timeout, versions=versions)
        access = read_live_access(stack, timeout=timeout) if plan.access_control else None
        mirror = None
        if plan.mirror is not None:  # a regional stack: its copies beside their sources
            copies = {t.name: tuple(set(t.config) - _REGION_OWN_CONFIGS) for t in plan.topics}
            mirror = read_mirror(
                stack,
                copies,
                timeout=timeout,
                source_password=mirror_source_password,
                source_registry_password=mirror_source_registry_password,
            )
    except LiveReadError as exc:
        print(f"error: {exc}", file=err or sys.stderr)
        if json_output:
            failed = {"stack": plan.stack, "ok": False, "error": str(exc), "topics": [], "subjects": []}
            _dump({**failed, "differences": []}, out)
        return exc
    report = compare(plan, live, access, recorded, notes, mirror)
    if json_output:
        _dump(report.to_dict(), out)
    else:
        render_table(report, out)
    return report.outcome


def _dump(payload: dict[str, Any], out: TextIO) -> None:
    # One write: json.dump writes piece by piece, which costs tenths of a second at thousands of topics.
    out.write(json.dumps(payload, indent=2) + "\n")
