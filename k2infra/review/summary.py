"""What a preview means for K2, as pure functions of (the preview, the Plan, the facts read for it).

The preview (`k2infra.review.preview`) lists the steps Pulumi would take and its diagnostics; the
Plan is the desired state the preview ran from (the same checkout and stack file). From them:

- **topics** created, updated (partitions, replication factor, configs from -> to), replaced,
  deleted or adopted (imported), from each step's old and new inputs; deleted and replaced topics
  carry the records they hold now (`Facts.records`, read by `k2infra.review.facts` through the
  same count the data-loss guard uses) and whether `k2infra:allowDataLoss` lists them;
- **subjects** created, with a new schema version, a new compatibility level, or deleted, with the
  field changes (`avro_canonical.field_changes`) and the registry's verdict (`Facts.verdicts`);
- **apps**: the topics each principal may read and write before and after, matched as the broker
  matches ACLs (`AclSpec.matches`). After is the Plan's ACLs (with `k2infra:accessControl`), before
  is after without the ACLs the preview creates and with the ones it deletes; the same for the
  topics. So an app whose Prefixed ACL covers a new exchange gains it although no ACL changes, and
  an app whose ACLs are deleted loses what they granted. Groups (Group ACLs), quotas and SCRAM
  credentials come from their own steps;
- **refusals**: a failed preview's errors, each named by the guard that raised it (the openings
  the guards' refusals start with, the engine's protect error, the registry provider's
  "incompatible"), and a new schema the registry judges incompatible although the preview passed;
- **warnings**: the preview's (e.g. a topic deleted under `k2infra:allowDataLoss`, with its records).

`ChangeSummary.to_dict()` is the `--format json` document (docs/review.md has its schema;
`SCHEMA_VERSION` changes when a key changes meaning or goes). A preview that does not match the
Plan (it creates a topic the Plan does not declare, or deletes one it does) raises `PreviewMismatch`:
it was made from another checkout or stack.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from k2infra.console import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK
from k2infra.deploy import guards
from k2infra.model.apps import (
    PRINCIPAL_TYPE,
    QUOTA_NAME_PREFIX,
    SCRAM_NAME_PREFIX,
    AclSpec,
    Operation,
    ResourceType,
    parse_acl_id,
    username_of,
)
from k2infra.model.avro_canonical import SchemaTextError, canonical_schema, field_changes
from k2infra.model.plan import Plan
from k2infra.ops.pulumi_stack import ACL_TYPE, QUOTA_TYPE, SCRAM_TYPE, SUBJECT_TYPE, TOPIC_TYPE
from k2infra.registry.provider import INCOMPATIBLE
from k2infra.review.preview import Diagnostic, PolicyViolation, Preview, Step, known

SCHEMA_VERSION = 1
STACK_TYPE = "pulumi:pulumi:Stack"
K2_TYPES = (TOPIC_TYPE, SUBJECT_TYPE, ACL_TYPE, QUOTA_TYPE, SCRAM_TYPE)


class Change(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    IMPORT = "import"


_CHANGES = frozenset(c.value for c in Change)


class Status(StrEnum):
    NO_CHANGE = "no_change"
    CHANGES = "changes"
    REFUSED = "refused"  # a guard refuses: a decision for the author or the reviewer
    FAILED = "failed"  # the preview failed otherwise (a cluster it cannot reach, bad input)


# -- the guards ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    id: str
    title: str
    source: str  # where it lives
    refuses: bool = True  # False: the preview failed for another reason (exit 2, not 1)


GUARDS = {
    g.id: g
    for g in (
        Guard("partition_shrink", "the partition guard", "k2infra/deploy/guards.py"),
        Guard("placement", "the placement guard", "k2infra/deploy/guards.py"),
        Guard("data_loss", "the data-loss guard", "k2infra/deploy/guards.py"),
        Guard("retirement", "the retirement guard", "k2infra/deploy/guards.py"),
        Guard("regions", "the regions guard", "k2infra/deploy/guards.py"),
        Guard("protect", "protection (k2infra:protect)", "the Pulumi engine never deletes a protected resource"),
        Guard("schema_compatibility", "the registry's compatibility check", "k2infra/registry/provider.py"),
        Guard("policy", "the policy pack", "policy/ (`--policy-pack`): a mandatory rule"),
        Guard("error", "the preview failed", "pulumi preview", refuses=False),
    )
}
# The openings of the preflight's refusals (one diagnostic holds them all, a blank line apart).
_OPENINGS = (
    (guards.SHRINK_REFUSAL, "partition_shrink"),
    (guards.PLACEMENT_REFUSAL, "placement"),
    (guards.DATA_LOSS_REFUSAL, "data_loss"),
    (guards.RETIREMENT_REFUSAL, "retirement"),
    (guards.REGION_REFUSAL, "regions"),
)
# The engine's refusal to delete a protected resource (pkg/resource/deploy/step.go, deleteProtectedError).
_PROTECTED = "because it is protected"
# What the engine adds after a program, provider or step error: said already by the error before it.
_FOLLOW_UPS = (
    "an unhandled error occurred: Program exited with non-zero exit code",
    "Resource monitor has terminated",
    "preview failed",
)


@dataclass(frozen=True)
class Refusal:
    guard: str  # a key of GUARDS
    message: str
    urn: str = ""

    def to_dict(self) -> dict[str, Any]:
        g = GUARDS[self.guard]
        return {"guard": g.id, "title": g.title, "source": g.source, "refuses": g.refuses, "message": self.message}


# -- the facts read for a preview ------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The registry's answer to `POST /compatibility/subjects/{s}/versions/latest` for the new schema."""

    compatible: bool | None  # None: not asked (the registry could not be read)
    level: str | None = None  # the subject's effective level the registry judged under
    latest_version: int | None = None  # the registry's latest version (None: none yet)
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    """What the preview does not hold, read for it (k2infra.review.facts)."""

    records: Mapping[str, int | None] = field(default_factory=dict)  # deleted or replaced topic -> records now
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)  # subject with a new schema -> verdict
    notes: tuple[str, ...] = ()  # what could not be read, in words


# -- the summary -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FromTo:
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.before, "to": self.after}


@dataclass(frozen=True)
class Moved:
    """What a principal gained and lost (sorted names)."""

    gained: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.gained or self.lost)

    def to_dict(self) -> dict[str, Any]:
        return {"gained": list(self.gained), "lost": list(self.lost)}


@dataclass(frozen=True)
class TopicChange:
    name: str
    change: Change
    partitions: FromTo
    replication_factor: FromTo
    config: Mapping[str, FromTo]  # the keys that differ (every key for a create or a delete)
    replace_reasons: tuple[str, ...] = ()
    records: int | None = None  # deleted or replaced: the records it holds now (None: unknown)
    allowed_loss: bool = False  # listed in k2infra:allowDataLoss

    @property
    def loses_data(self) -> bool:
        return self.change in (Change.DELETE, Change.REPLACE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "change": str(self.change),
            "partitions": self.partitions.to_dict(),
            "replication_factor": self.replication_factor.to_dict(),
            "config": [{"key": k, **v.to_dict()} for k, v in sorted(self.config.items())],
            "replace_reasons": list(self.replace_reasons),
            "data_loss": {"records": self.records, "allowed": self.allowed_loss} if self.loses_data else None,
        }


@dataclass(frozen=True)
class SubjectChange:
    subject: str
    change: Change
    new_version: bool  # the schema changes: the registry gets a new version
    version: FromTo  # the latest version before, and the one the new schema gets (predicted: latest + 1)
    compatibility: FromTo  # the subject's level
    schema_changes: tuple[str, ...] = ()  # field changes from the old schema to the new one
    topics: tuple[str, ...] = ()  # the planned topics whose values it describes
    verdict: Verdict | None = None
    schema: str = field(default="", repr=False, compare=False)  # the new schema text (asked of the registry)

    def to_dict(self) -> dict[str, Any]:
        verdict = None
        if self.verdict is not None:
            verdict = {
                "compatible": self.verdict.compatible,
                "level": self.verdict.level,
                "reasons": list(self.verdict.reasons),
            }
        return {
            "subject": self.subject,
            "change": str(self.change),
            "new_version": self.new_version,
            "version": self.version.to_dict(),
            "compatibility": self.compatibility.to_dict(),
            "schema_changes": list(self.schema_changes),
            "topics": list(self.topics),
            "verdict": verdict,
        }


@dataclass(frozen=True)
class AppChange:
    app: str  # the declared app's name; the username for a principal no longer declared
    principal: str
    declared: bool  # in config/kafka/apps.yaml after the change
    reads: Moved  # topics it may read
    writes: Moved  # topics it may write
    groups: Moved  # consumer groups it may use: "name (Literal|Prefixed)"
    acls: Moved = field(default_factory=Moved)  # its ACL bindings created and deleted (pulumi-kafka's ids)
    quota: FromTo | None = None  # config before and after (None: no quota then); None: unchanged
    credential: str | None = None  # created | removed | updated; None: unchanged

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "principal": self.principal,
            "declared": self.declared,
            "read": self.reads.to_dict(),
            "write": self.writes.to_dict(),
            "groups": self.groups.to_dict(),
            "acls": {"added": list(self.acls.gained), "removed": list(self.acls.lost)},
            "quota": None if self.quota is None else self.quota.to_dict(),
            "credential": self.credential,
        }


@dataclass(frozen=True)
class OtherChange:
    """A resource that is not K2's own (the Kafka provider, the component, a local cluster's)."""

    name: str
    type: str
    change: Change

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "change": str(self.change)}


@dataclass(frozen=True)
class ChangeSummary:
    stack: str
    topics: tuple[TopicChange, ...] = ()
    subjects: tuple[SubjectChange, ...] = ()
    apps: tuple[AppChange, ...] = ()
    other: tuple[OtherChange, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    failed: bool = False  # the preview ended in an error

    @property
    def changes(self) -> bool:
        return bool(self.topics or self.subjects or self.apps or self.other)

    @property
    def status(self) -> Status:
        if any(GUARDS[r.guard].refuses for r in self.refusals):
            return Status.REFUSED
        if self.failed or self.refusals:
            return Status.FAILED
        return Status.CHANGES if self.changes else Status.NO_CHANGE

    @property
    def exit_code(self) -> int:
        """0 summarised (changes or none), 1 a guard refuses, 2 the preview failed otherwise."""
        return {Status.REFUSED: EXIT_DRIFT, Status.FAILED: EXIT_BAD_INPUT}.get(self.status, EXIT_OK)

    @property
    def data_loss(self) -> list[TopicChange]:
        return [t for t in self.topics if t.loses_data]

    def headline(self) -> str:
        return headline(self)

    def to_dict(self) -> dict[str, Any]:
        losing = self.data_loss
        counts = [t.records for t in losing]
        return {
            "schema_version": SCHEMA_VERSION,
            "stack": self.stack,
            "status": str(self.status),
            "exit_code": self.exit_code,
            "headline": self.headline(),
            "data_loss": {
                "topics": [t.name for t in losing],
                "records": None if None in counts else sum(c or 0 for c in counts),
            },
            "topics": [t.to_dict() for t in self.topics],
            "subjects": [s.to_dict() for s in self.subjects],
            "apps": [a.to_dict() for a in self.apps],
            "other": [o.to_dict() for o in self.other],
            "refusals": [r.to_dict() for r in self.refusals],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


class PreviewMismatch(Exception):
    """The preview was not made from this Plan (another checkout, stack or topology)."""


# -- deriving it -----------------------------------------------------------------------------------


def summarise(
    preview: Preview, plan: Plan, facts: Facts | None = None, *, allowed_data_loss: Collection[str] = ()
) -> ChangeSummary:
    """The change summary of `preview`, made from `plan`, with the `facts` read for it (none: unknown);
    `allowed_data_loss` the stack's k2infra:allowDataLoss."""
    facts = facts or Facts()
    steps = [s for s in preview.steps if s.op in _CHANGES]  # `same`, and any op this summary does not know, left out
    by_type: dict[str, list[Step]] = {}
    for step in steps:
        by_type.setdefault(step.type, []).append(step)
    check_matches(plan, by_type)
    topics = tuple(_topic(s, plan, facts, allowed_data_loss) for s in _sorted(by_type.get(TOPIC_TYPE, [])))
    subjects = tuple(_subject(s, plan, facts) for s in _sorted(by_type.get(SUBJECT_TYPE, [])))
    apps = tuple(_app_changes(plan, by_type))
    other = tuple(
        OtherChange(s.name, s.type, Change(s.op))
        for s in _sorted(steps)
        if s.type not in K2_TYPES and s.type != STACK_TYPE
    )
    refusals = [*refusals_of(preview.errors)]
    refusals += [_registry_refusal(s) for s in subjects if s.verdict is not None and s.verdict.compatible is False]
    mandatory = [v for v in preview.violations if v.level == "mandatory"]
    refusals += [Refusal("policy", _violation(v), v.urn) for v in mandatory]
    if preview.failed and not refusals:
        refusals.append(Refusal("error", "pulumi preview failed without saying why in its document (see its output)"))
    advisory = [_violation(v) for v in preview.violations if v.level != "mandatory"]
    warnings = tuple(dict.fromkeys([*(d.message.strip() for d in preview.warnings), *advisory]))
    return ChangeSummary(
        plan.stack or "",
        topics,
        subjects,
        apps,
        other,
        tuple(refusals),
        warnings,
        tuple(facts.notes),
        preview.failed,
    )


def _violation(v: PolicyViolation) -> str:
    """'<policy> (<pack>, <level>) on <resource>: <message>'."""
    where = f" on {v.urn.rsplit('::', 1)[-1]}" if v.urn else ""
    return f"{v.policy} ({v.pack}, {v.level}){where}: {v.message}"


def needs(summary: ChangeSummary) -> tuple[list[str], dict[str, str]]:
    """What to read for it: the topics whose records would be lost, the subjects' new schemas."""
    return [t.name for t in summary.data_loss], {s.subject: s.schema for s in summary.subjects if s.new_version}


def check_matches(plan: Plan, by_type: Mapping[str, Sequence[Step]]) -> None:
    planned = {t.name for t in plan.managed_topics()}
    subjects = {s.subject for s in plan.subjects}
    wrong = [
        f"it {s.op}s topic {s.name}, which the plan {'does not declare' if s.op == 'create' else 'declares'}"
        for s in by_type.get(TOPIC_TYPE, [])
        if (s.op == Change.CREATE) != (s.name in planned) and s.op in (Change.CREATE, Change.DELETE)
    ]
    wrong += [
        f"it {s.op}s subject {s.name}, which the plan {'does not declare' if s.op == 'create' else 'declares'}"
        for s in by_type.get(SUBJECT_TYPE, [])
        if (s.op == Change.CREATE) != (s.name in subjects) and s.op in (Change.CREATE, Change.DELETE)
    ]
    if wrong:
        raise PreviewMismatch(
            f"the preview was not made from this checkout's plan of stack {plan.stack}: " + "; ".join(wrong[:5])
        )


def _sorted(steps: Iterable[Step]) -> list[Step]:
    order = {c: i for i, c in enumerate(Change)}
    return sorted(steps, key=lambda s: (order.get(s.op, len(order)), s.name))


def _value(inputs: Mapping[str, Any], key: str) -> Any:
    value = inputs.get(key)
    return value if known(value) else None


# -- topics ----------------------------------------------------------------------------------------


def _topic(step: Step, plan: Plan, facts: Facts, allowed: Collection[str]) -> TopicChange:
    old, new = step.old_inputs, step.new_inputs
    spec = plan.topic(step.name) or next((t for t in plan.legacy if t.declared and t.name == step.name), None)
    change = Change(step.op)
    before_config = _config(old) if change is not Change.CREATE else {}
    after_config = _config(new) if change is not Change.DELETE else {}
    if change is not Change.DELETE and not after_config and spec is not None:
        after_config = dict(spec.config)  # unknown at preview: the plan's
    config = {
        key: FromTo(before_config.get(key), after_config.get(key))
        for key in sorted(set(before_config) | set(after_config))
        if before_config.get(key) != after_config.get(key)
    }

    def side(key: str, attribute: str) -> FromTo:
        before = _value(old, key) if change is not Change.CREATE else None
        after = _value(new, key) if change is not Change.DELETE else None
        if after is None and change is not Change.DELETE and spec is not None:
            after = getattr(spec, attribute)
        return FromTo(before, after)

    name = _value(new, "name") or _value(old, "name") or step.name
    return TopicChange(
        name=name,
        change=change,
        partitions=side("partitions", "partitions"),
        replication_factor=side("replicationFactor", "replication_factor"),
        config=config,
        replace_reasons=step.replace_keys if change is Change.REPLACE else (),
        records=facts.records.get(name),
        allowed_loss=change in (Change.DELETE, Change.REPLACE) and name in allowed,
    )


def _config(inputs: Mapping[str, Any]) -> dict[str, str]:
    config = inputs.get("config")
    if not isinstance(config, Mapping) or not known(config):
        return {}
    return {str(k): str(v) for k, v in config.items()}


# -- subjects --------------------------------------------------------------------------------------


def _subject(step: Step, plan: Plan, facts: Facts) -> SubjectChange:
    old, new = step.old_inputs, step.new_inputs
    change = Change(step.op)
    spec = next((s for s in plan.subjects if s.subject == step.name), None)
    old_schema = _value(old, "schema") if change is not Change.CREATE else None
    new_schema = _value(new, "schema") if change is not Change.DELETE else None
    if new_schema is None and change is not Change.DELETE and spec is not None:
        new_schema = spec.schema
    new_version = change is not Change.DELETE and (
        change is Change.CREATE or _canonical(old_schema) != _canonical(new_schema)
    )
    verdict = facts.verdicts.get(step.name) if new_version else None
    version_before = _value(step.old_outputs, "version") if change is not Change.CREATE else None
    if verdict is not None and verdict.compatible is not None:
        version_before = verdict.latest_version  # the registry's own latest, which may differ from the state's
    version_after = None
    if new_version:
        version_after = (version_before or 0) + 1
    elif change is not Change.DELETE:
        version_after = version_before
    changes = tuple(field_changes(old_schema, new_schema)) if old_schema and new_schema and new_version else ()
    return SubjectChange(
        subject=step.name,
        change=change,
        new_version=new_version,
        version=FromTo(version_before, version_after),
        compatibility=FromTo(
            _value(old, "compatibility") if change is not Change.CREATE else None,
            _value(new, "compatibility") if change is not Change.DELETE else None,
        ),
        schema_changes=changes,
        topics=spec.topics if spec is not None else (),
        verdict=verdict,
        schema=new_schema or "",
    )


def _canonical(schema: str | None) -> str | None:
    if schema is None:
        return None
    try:
        return canonical_schema(schema)
    except SchemaTextError:
        return schema


def _registry_refusal(subject: SubjectChange) -> Refusal:
    verdict = subject.verdict
    assert verdict is not None
    why = "; ".join(verdict.reasons) or "; ".join(subject.schema_changes) or "the registry gave no reasons"
    return Refusal(
        "schema_compatibility",
        f"the new schema for subject '{subject.subject}' {INCOMPATIBLE} (compatibility {verdict.level}): {why}",
    )


# -- apps ------------------------------------------------------------------------------------------


def _app_changes(plan: Plan, by_type: Mapping[str, Sequence[Step]]) -> list[AppChange]:
    def names(type_: str, *ops: Change) -> set[str]:
        return {s.name for s in by_type.get(type_, []) if s.op in ops}

    acls_created = {a for a in map(parse_acl_id, names(ACL_TYPE, Change.CREATE)) if a is not None}
    acls_deleted = {a for a in map(parse_acl_id, names(ACL_TYPE, Change.DELETE)) if a is not None}
    after_acls = {acl for app in plan.apps for acl in app.acls} if plan.access_control else set()
    before_acls = (after_acls - acls_created) | acls_deleted
    after_topics = {t.name for t in plan.managed_topics()}
    before_topics = (after_topics - names(TOPIC_TYPE, Change.CREATE)) | names(TOPIC_TYPE, Change.DELETE)
    quotas = {s.name.removeprefix(QUOTA_NAME_PREFIX): s for s in by_type.get(QUOTA_TYPE, [])}
    credentials = {s.name.removeprefix(SCRAM_NAME_PREFIX): s for s in by_type.get(SCRAM_TYPE, [])}
    declared = {app.principal: app.name for app in plan.apps}
    principals = {a.principal for a in before_acls | after_acls}
    principals |= {f"{PRINCIPAL_TYPE}{user}" for user in (*quotas, *credentials)}
    out = []
    for principal in sorted(principals, key=lambda p: (declared.get(p, username_of(p)), p)):
        mine_before = [a for a in before_acls if a.principal == principal]
        mine_after = [a for a in after_acls if a.principal == principal]
        reads = _moved(
            _granted(mine_before, Operation.READ, before_topics), _granted(mine_after, Operation.READ, after_topics)
        )
        writes = _moved(
            _granted(mine_before, Operation.WRITE, before_topics), _granted(mine_after, Operation.WRITE, after_topics)
        )
        groups = _moved(_groups(mine_before), _groups(mine_after))
        acls = Moved(
            gained=tuple(sorted(a.id for a in acls_created if a.principal == principal)),
            lost=tuple(sorted(a.id for a in acls_deleted if a.principal == principal)),
        )
        user = username_of(principal)
        quota = _quota(quotas[user]) if user in quotas else None
        credential = _credential(credentials[user]) if user in credentials else None
        if not (reads or writes or groups or acls or quota or credential):
            continue
        out.append(
            AppChange(
                app=declared.get(principal, user),
                principal=principal,
                declared=principal in declared,
                reads=reads,
                writes=writes,
                groups=groups,
                acls=acls,
                quota=quota,
                credential=credential,
            )
        )
    return out


def _granted(acls: Iterable[AclSpec], operation: Operation, topics: Iterable[str]) -> set[str]:
    mine = [a for a in acls if a.operation == operation]
    return {t for t in topics if any(a.matches(ResourceType.TOPIC, t) for a in mine)}


def _groups(acls: Iterable[AclSpec]) -> set[str]:
    return {
        f"{a.resource_name} ({a.pattern_type})"
        for a in acls
        if a.resource_type == ResourceType.GROUP and a.operation == Operation.READ
    }


def _moved(before: set[str], after: set[str]) -> Moved:
    return Moved(gained=tuple(sorted(after - before)), lost=tuple(sorted(before - after)))


def _quota(step: Step) -> FromTo | None:
    before = _config(step.old_inputs) if step.op != Change.CREATE else None
    after = _config(step.new_inputs) if step.op != Change.DELETE else None
    if before == after:
        return None
    return FromTo(before, after)


def _credential(step: Step) -> str | None:
    return {Change.CREATE: "created", Change.DELETE: "removed"}.get(Change(step.op), "updated")


# -- refusals --------------------------------------------------------------------------------------


def refusals_of(errors: Iterable[Diagnostic]) -> list[Refusal]:
    """The preview's errors, each named by its guard; the engine's follow-ups dropped when said already."""
    found: list[Refusal] = []
    for error in errors:
        found += _classified(error)
    meaningful = [r for r in found if not _follow_up(r.message)]
    return list(dict.fromkeys(meaningful or found))


def _follow_up(message: str) -> bool:
    return any(message == f or message.startswith(f"{f}:") or message.startswith(f"{f},") for f in _FOLLOW_UPS)


def _classified(error: Diagnostic) -> list[Refusal]:
    text = error.message.strip()
    if _PROTECTED in text:
        return [Refusal("protect", text, error.urn)]
    if INCOMPATIBLE in text:
        return [Refusal("schema_compatibility", text, error.urn)]
    # The preflight's one error holds each guard's refusal, a blank line apart.
    out: list[Refusal] = []
    for paragraph in text.split("\n\n"):
        guard = next((g for opening, g in _OPENINGS if paragraph.startswith(opening)), None)
        if guard is not None or not out:
            out.append(Refusal(guard or "error", paragraph, error.urn))
        else:
            out[-1] = Refusal(out[-1].guard, f"{out[-1].message}\n\n{paragraph}", error.urn)
    return out


# -- the headline ----------------------------------------------------------------------------------


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def headline(summary: ChangeSummary) -> str:
    """One line: e.g. 'add 3 topics, 2 apps gain read; no data loss'."""
    status = summary.status
    if status is Status.REFUSED:
        titles = dict.fromkeys(GUARDS[r.guard].title for r in summary.refusals if GUARDS[r.guard].refuses)
        return "refused by " + " and ".join(titles)
    if status is Status.FAILED:
        first = summary.refusals[0].message.strip().splitlines()[0] if summary.refusals else "no reason given"
        return f"the preview failed: {first}"
    if status is Status.NO_CHANGE:
        return "no change"
    parts: list[str] = []
    verbs = {
        Change.CREATE: "add",
        Change.UPDATE: "update",
        Change.REPLACE: "replace",
        Change.DELETE: "delete",
        Change.IMPORT: "adopt",
    }
    for change, verb in verbs.items():
        n = sum(1 for t in summary.topics if t.change is change)
        if n:
            parts.append(f"{verb} {_count(n, 'topic')}")
    versions = sum(1 for s in summary.subjects if s.new_version and s.change is not Change.CREATE)
    if versions:
        parts.append(_count(versions, "new schema version"))
    for change, verb in ((Change.CREATE, "add"), (Change.DELETE, "delete")):
        n = sum(1 for s in summary.subjects if s.change is change)
        if n:
            parts.append(f"{verb} {_count(n, 'subject')}")
    levels = sum(
        1 for s in summary.subjects if s.change is Change.UPDATE and s.compatibility.before != s.compatibility.after
    )
    if levels:
        parts.append(f"compatibility of {_count(levels, 'subject')}")
    apps = summary.apps
    for label, test in (
        ("added", lambda a: a.credential == "created"),
        ("removed", lambda a: a.credential == "removed"),
    ):
        n = sum(1 for a in apps if test(a))
        if n:
            parts.append(f"{_count(n, 'app')} {label}")
    for label, test in (
        ("gain{s} read", lambda a: bool(a.reads.gained)),
        ("lose{s} read", lambda a: bool(a.reads.lost)),
        ("gain{s} write", lambda a: bool(a.writes.gained)),
        ("lose{s} write", lambda a: bool(a.writes.lost)),
    ):
        n = sum(1 for a in apps if test(a) and a.credential not in ("created", "removed"))
        if n:
            parts.append(f"{_count(n, 'app')} {label.format(s='s' if n == 1 else '')}")
    quotas = sum(1 for a in apps if a.quota is not None and a.credential not in ("created", "removed"))
    if quotas:
        parts.append(f"quotas of {_count(quotas, 'app')}")
    if summary.other:
        parts.append(_count(len(summary.other), "other resource"))
    return ", ".join(parts) + "; " + _loss_words(summary.data_loss)


def _loss_words(losing: Sequence[TopicChange]) -> str:
    if not losing:
        return "no data loss"
    unknown = [t for t in losing if t.records is None]
    held = [t for t in losing if t.records]
    if unknown:
        return f"data loss unknown: the records of {_count(len(unknown), 'topic')} could not be counted"
    if not held:
        return "no data loss (the topics deleted or replaced are empty)"
    total = sum(t.records or 0 for t in held)
    return f"DATA LOSS: {total:,} {'record' if total == 1 else 'records'} in {_count(len(held), 'topic')}"
