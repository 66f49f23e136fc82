"""`python -m k2infra recover`: bring a stack back after an interrupted `pulumi up`.

A `pulumi up` killed part-way leaves behind the stack's lock, pending operations, (in bulk mode,
`PULUMI_SKIP_CHECKPOINTS=true`) topics the state does not record, on the file backend perhaps an
empty checkpoint attribute file, and plugin processes re-parented to pid 1. Each later command fails
on the first of them. `recover` resolves each against the cluster and the registry with the CLI's
own non-interactive means, never a hand edit of the state, and changes nothing it cannot prove safe:
what it does, in order, and what it leaves to a person is docs/runbook.md §6. Its outcome, already
printed, is None when the stack is ready for `pulumi up`, Refused when something needs a decision,
StateError or ConnectionFailed when the CLI, the cluster or the registry could not be used; the
command line's exit codes (0, 1, 2) follow those classes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from k2infra.live.cluster import LiveReadError, LiveSubject, read_subjects
from k2infra.live.records import TopicHolding, read_holdings
from k2infra.live.verify import same_config_value
from k2infra.model.avro_canonical import SchemaTextError, canonical_schema
from k2infra.model.errors import K2Error, Refused, StateError
from k2infra.model.plan import Plan, SubjectSpec, TopicSpec
from k2infra.model.stack import Stack
from k2infra.ops import file_backend, postgres_state, stack_lock
from k2infra.ops import orphans as orphan_scan
from k2infra.ops.pulumi_driver import PulumiCommandError, PulumiDriver, tail
from k2infra.ops.pulumi_stack import (
    COMPONENT_NAME,
    COMPONENT_TYPE,
    KAFKA_PROVIDER_TYPE,
    PROVIDER_NAME,
    SUBJECT_TYPE,
    TOPIC_TYPE,
    StackState,
    StateResource,
    subject_name,
    topic_name,
)

# What recover does with one resource.
IMPORT = "import"  # bulk `pulumi import`: on the cluster exactly as planned, empty
CLEAR = "clear"  # drop the pending create: nothing to adopt, or the next up adopts it
REFRESH = "refresh"  # a pending update or delete: `pulumi refresh` reconciles it
LEAVE = "leave"  # needs a decision: reported with commands, nothing changed
NOTE = "note"  # nothing to do now (said for completeness)


class RecoverError(StateError):
    """A step could not run; ``str(err)`` is a complete message."""


# -- deciding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    kind: str  # topic | subject | resource
    name: str
    situation: str  # "pending create", "pending update", "not in the state", ...
    found: str  # what the cluster or registry holds, in words
    action: str  # IMPORT | CLEAR | REFRESH | LEAVE | NOTE
    urn: str | None = None  # of a pending operation
    advice: tuple[str, ...] = ()  # commands, for LEAVE
    pending: bool = False

    def line(self, outcome: str) -> str:
        return f"{self.kind:<8} {self.name}: {self.situation}: {self.found} -> {outcome}"


@dataclass(frozen=True)
class Context:
    """What the commands in the advice need."""

    stack: str
    project: str
    bootstrap: str
    registry_url: str
    protect: bool
    component_urn: str
    provider_urn: str


def classify(
    plan: Plan,
    state: StackState,
    topics: Mapping[str, TopicHolding],
    subjects: Mapping[str, LiveSubject],
    ctx: Context,
) -> list[Finding]:
    """One finding per pending operation, and per planned topic on the cluster but not in the state."""
    planned_topics = {t.name: t for t in plan.topics}
    planned_subjects = {s.subject: s for s in plan.subjects}
    findings: list[Finding] = []
    pending_topics: set[str] = set()
    for op in state.pending:
        r = op.resource
        if op.kind != "creating":
            what = {"updating": "pending update", "deleting": "pending delete"}.get(op.kind, f"pending {op.kind}")
            kind, name = _kind_and_name(r)
            findings.append(Finding(kind, name, what, "interrupted", REFRESH, urn=r.urn, pending=True))
            continue
        if state.has_urn(r.urn):
            kind, name = _kind_and_name(r)
            findings.append(
                Finding(kind, name, "pending create", "already in the state", CLEAR, urn=r.urn, pending=True)
            )
            continue
        if r.type == TOPIC_TYPE:
            name = topic_name(r)
            pending_topics.add(name)
            findings.append(_topic_finding(name, planned_topics.get(name), topics.get(name), ctx, r.urn))
        elif r.type == SUBJECT_TYPE:
            name = subject_name(r)
            findings.append(_subject_finding(name, planned_subjects.get(name), subjects.get(name), ctx, r.urn))
        else:
            kind, name = _kind_and_name(r)
            findings.append(
                Finding(
                    kind, name, "pending create", f"{r.type}, nothing outside the state", CLEAR, urn=r.urn, pending=True
                )
            )
    in_state = state.topic_names()
    for name, spec in sorted(planned_topics.items()):
        if name in in_state or name in pending_topics or name not in topics:
            continue
        findings.append(_topic_finding(name, spec, topics[name], ctx, None))
    in_state_subjects = state.subject_names()
    pending_subjects = {f.name for f in findings if f.kind == "subject"}
    for name, subject in sorted(planned_subjects.items()):
        if name in in_state_subjects or name in pending_subjects or name not in subjects:
            continue
        findings.append(_subject_finding(name, subject, subjects[name], ctx, None))
    return findings


def _kind_and_name(r: StateResource) -> tuple[str, str]:
    if r.type == TOPIC_TYPE:
        return "topic", topic_name(r)
    if r.type == SUBJECT_TYPE:
        return "subject", subject_name(r)
    return "resource", f"{r.name} ({r.type})"


def topic_differences(spec: TopicSpec, live: TopicHolding) -> list[str]:
    """How a live topic differs from its spec, as `pulumi import` then `pulumi up` would see it."""
    out = []
    if live.partitions != spec.partitions:
        out.append(f"partitions: planned {spec.partitions}, live {live.partitions}")
    if live.replication_factor != spec.replication_factor:
        out.append(f"replication factor: planned {spec.replication_factor}, live {live.replication_factor}")
    for key, expected in sorted(spec.config.items()):
        actual = live.own_config.get(key)
        if not same_config_value(key, expected, actual):
            out.append(f"{key}: planned {expected}, live {actual if actual is not None else '(not set)'}")
    for key in sorted(set(live.own_config) - set(spec.config)):
        out.append(f"{key}: not planned, live {live.own_config[key]}")
    return out


def _topic_finding(
    name: str, spec: TopicSpec | None, live: TopicHolding | None, ctx: Context, urn: str | None
) -> Finding:
    situation = "pending create" if urn else "on the cluster, not in the state"
    pending = urn is not None
    if live is None:
        return Finding("topic", name, situation, "not on the cluster", CLEAR, urn=urn, pending=pending)
    if spec is None:
        found = f"on the cluster ({_records(live.records)}), no longer planned"
        return Finding("topic", name, situation, found, LEAVE, urn, _topic_advice(name, live, ctx, False), pending)
    differences = topic_differences(spec, live)
    if differences:
        found = "on the cluster, differs from the plan (" + "; ".join(differences) + f"), {_records(live.records)}"
        return Finding("topic", name, situation, found, LEAVE, urn, _topic_advice(name, live, ctx, True), pending)
    if live.records != 0:
        found = f"on the cluster as planned, but holds {_records(live.records)} this stack did not write"
        return Finding("topic", name, situation, found, LEAVE, urn, _topic_advice(name, live, ctx, True), pending)
    return Finding("topic", name, situation, "on the cluster as planned, empty", IMPORT, urn=urn, pending=pending)


def _records(count: int | None) -> str:
    if count is None:
        return "an unknown number of records"
    return f"{count} record{'s' if count != 1 else ''}"


def _topic_advice(name: str, live: TopicHolding, ctx: Context, planned: bool) -> tuple[str, ...]:
    adopt = (
        f"pulumi import --stack {ctx.stack} {TOPIC_TYPE} {name} {name} "
        f"--parent '{COMPONENT_NAME}={ctx.component_urn}' --provider '{PROVIDER_NAME}={ctx.provider_urn}' "
        f"--generate-code=false --protect={'true' if ctx.protect else 'false'} --yes"
    )
    remove = f"kafka-topics.sh --bootstrap-server {ctx.bootstrap} --delete --topic {name}"
    lines = []
    if planned:
        lines.append(f"to adopt it as it is (the next pulumi up then changes it to the plan): {adopt}")
    else:
        lines.append(f"to keep it, put it back in the plan; to manage it as it is: {adopt}")
    lines.append(f"to delete it and its {_records(live.records)}: {remove}")
    lines.append(f"then: python -m k2infra recover --stack {ctx.stack}")
    return tuple(lines)


def _subject_finding(
    name: str, spec: SubjectSpec | None, live: LiveSubject | None, ctx: Context, urn: str | None
) -> Finding:
    situation = "pending create" if urn else "in the registry, not in the state"
    pending = urn is not None
    if live is None:
        return Finding("subject", name, situation, "not in the registry", CLEAR, urn=urn, pending=pending)
    version = f"version {live.version}" if live.version is not None else "no version"
    if spec is not None and live.schema is not None and _same_schema(spec, live):
        found = f"registered as planned ({version}, id {live.schema_id})"
        action = CLEAR if pending else NOTE
        return Finding("subject", name, situation, found, action, urn=urn, pending=pending)
    found = (
        f"registered with another schema ({version})"
        if spec is not None
        else f"registered ({version}), no longer planned"
    )
    base = ctx.registry_url.rstrip("/")
    advice = (
        f"to keep the registry's schema, put it in {spec.schema_file}"
        if spec
        else "to keep it, put it back in the plan",
        f"to delete the subject: curl -X DELETE {base}/subjects/{name}",
        f"then: python -m k2infra recover --stack {ctx.stack}",
    )
    return Finding("subject", name, situation, found, LEAVE, urn, advice, pending)


def _same_schema(spec: SubjectSpec, live: LiveSubject) -> bool:
    try:
        return canonical_schema(live.schema or "", live.schema_type) == canonical_schema(spec.schema)  # as verify
    except SchemaTextError:
        return False


# -- the command ----------------------------------------------------------------------------------


@dataclass
class Options:
    stack: str
    project_dir: Path
    up: bool = False
    dry_run: bool = False
    timeout: float = 15.0
    parallel: int | None = None


def run_recover(
    stack: Stack,
    options: Options,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    driver: PulumiDriver | None = None,
    host: str | None = None,
    read_live: Callable[..., tuple[dict[str, TopicHolding], dict[str, LiveSubject]]] | None = None,
) -> K2Error | None:
    plan = stack.plan
    say = lambda text: print(text, file=out, flush=True)  # noqa: E731
    project = _project_name(options.project_dir)
    try:
        driver = driver or PulumiDriver(options.project_dir, options.stack, echo=out)
        url = driver.backend_url()
        say(f"recover: stack {options.stack} of project {project} (backend {postgres_state.masked(url) or 'unknown'})")
        if postgres_state.is_postgres(url):
            postgres_state.check(url)  # one line naming the URL and the fix, before anything changes
        # 1. locks
        stopped = _handle_locks(url, project, options, say, err, host)
        if stopped is not None:
            return stopped
        # 2. orphans
        for ending in orphan_scan.end_orphans(options.project_dir, dry_run=options.dry_run):
            say(f"orphan   {ending.line()}")
        # 3. the state (the stack is selected only now: a broken checkpoint is repaired above)
        state = StackState.from_export(driver.export())
        # 4. the cluster and the registry
        wanted_topics = _wanted_topics(plan, state)
        wanted_subjects = _wanted_subjects(plan, state)
        reader = read_live or _read_live
        topics, subjects = reader(stack, wanted_topics, wanted_subjects, options.timeout)
    except (RecoverError, PulumiCommandError, LiveReadError, postgres_state.BackendUnusable) as exc:
        print(f"error: {exc}", file=err)
        return exc if isinstance(exc, K2Error) else StateError(str(exc))

    ctx = _context(stack, state, options, project)
    findings = classify(plan, state, topics, subjects, ctx)
    return _apply(findings, state, ctx, options, driver, say, err)


def _read_live(
    stack: Stack, topics: set[str], subjects: set[str], timeout: float
) -> tuple[dict[str, TopicHolding], dict[str, LiveSubject]]:
    kafka = stack.connections.kafka
    holdings: dict[str, TopicHolding] = {}
    if topics:
        holdings = read_holdings(kafka.librdkafka(), topics, connection=kafka, with_config=True, timeout=timeout)
    live_subjects: dict[str, LiveSubject] = {}
    if subjects:
        everything = read_subjects(stack.connections.registry, subjects, timeout=timeout)
        live_subjects = {name: s for name, s in everything.items() if name in subjects}
    return holdings, live_subjects


def _wanted_topics(plan: Plan, state: StackState) -> set[str]:
    """Topics to read: those of pending creates, and planned ones the state lacks."""
    names = {topic_name(op.resource) for op in state.pending if op.resource.type == TOPIC_TYPE}
    in_state = state.topic_names()
    return names | {t.name for t in plan.topics if t.name not in in_state}


def _wanted_subjects(plan: Plan, state: StackState) -> set[str]:
    names = {subject_name(op.resource) for op in state.pending if op.resource.type == SUBJECT_TYPE}
    in_state = state.subject_names()
    return names | {s.subject for s in plan.subjects if s.subject not in in_state}


def _project_name(project_dir: Path) -> str:
    import yaml  # the CLI has PyYAML; imported here to keep `import k2infra.ops.recover` light

    try:
        data = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    except OSError as exc:
        raise RecoverError(f"no Pulumi project in {project_dir}: {exc}") from None
    return str(data.get("name") or "")


def _context(stack: Stack, state: StackState, options: Options, project: str) -> Context:
    component = state.find(COMPONENT_TYPE, COMPONENT_NAME)
    provider = state.find(KAFKA_PROVIDER_TYPE, PROVIDER_NAME, parent_type=COMPONENT_TYPE)
    component_urn = (
        component.urn if component else f"urn:pulumi:{options.stack}::{project}::{COMPONENT_TYPE}::{COMPONENT_NAME}"
    )
    provider_urn = (
        provider.urn
        if provider
        else f"urn:pulumi:{options.stack}::{project}::{COMPONENT_TYPE}${KAFKA_PROVIDER_TYPE}::{PROVIDER_NAME}"
    )
    return Context(
        stack=options.stack,
        project=project,
        bootstrap=stack.connections.kafka.servers,
        registry_url=stack.connections.registry.url or "",
        protect=stack.safety.protect,
        component_urn=component_urn,
        provider_urn=provider_urn,
    )


def _stack_locks(url: str, project: str, stack: str, host: str | None) -> tuple[list[stack_lock.StackLock], str] | None:
    """The stack's locks judged, and where they are kept (for messages); None: a backend that cannot be read."""
    backend = stack_lock.backend_dir(url)
    if backend is not None:
        paths = stack_lock.lock_files(backend, project, stack)
        return [stack_lock.judge(path, host=host) for path in paths], "Lock file"
    if postgres_state.is_postgres(url):
        rows = postgres_state.lock_rows(url, project, stack)
        locks = [
            stack_lock.judge_content(row.key, row.content, host=host)
            if row.content is not None
            else stack_lock.StackLock(row.key, None, "?", "?", None, "unknown", row.problem)
            for row in rows
        ]
        return locks, f"Lock row (table {postgres_state.Target.of(url).table})"
    return None


def _handle_locks(
    url: str, project: str, options: Options, say: Callable[[str], None], err: TextIO, host: str | None
) -> Refused | None:
    found = _stack_locks(url, project, options.stack, host)
    if found is None:
        say(
            f"lock     cannot be inspected on this backend ({url or 'unknown'}): if a command says the stack is "
            f"locked or an update is in progress and none runs, run: pulumi cancel --stack {options.stack}"
        )
        return None
    locks, kept_in = found
    blocking = [lock for lock in locks if lock.verdict != "stale"]
    for lock in blocking:
        if lock.verdict == "live":
            print(
                f"error: the stack is locked by a running update: {lock.describe()}; {lock.reason}. "
                f"Wait for it to finish; recover changes nothing while it runs ({lock.path})",
                file=err,
            )
        else:
            print(
                f"error: the stack is locked by {lock.describe()}: {lock.reason}. `pulumi up` says: the stack is "
                f"currently locked by {len(locks)} lock(s). Once you know that update no longer runs, run: "
                f"pulumi cancel --yes --stack {options.stack} (it deletes every lock of the stack), then recover "
                f"again. {kept_in}: {lock.path}",
                file=err,
            )
    if blocking:
        return Refused(f"the stack is locked ({len(blocking)} lock(s) above)")
    for lock in locks:
        if not options.dry_run:
            if isinstance(lock.path, Path):
                stack_lock.release(lock)
            else:
                postgres_state.delete_lock(url, lock.path)
        verb = "would release" if options.dry_run else "released"
        say(f"lock     {verb} the lock of {lock.describe()}: {lock.reason}")
    backend = stack_lock.backend_dir(url)
    if backend is None:
        return None  # the rest is the file backend's storage
    for attrs in file_backend.checkpoint_attrs(backend, project, options.stack):
        why = file_backend.unreadable(attrs)
        if why is None:
            continue
        if not options.dry_run:
            attrs.unlink()
        verb = "would remove it" if options.dry_run else "removed it"
        say(
            f"state    {attrs} {why}: a kill while the CLI wrote it makes every command fail with "
            f"`failed to load checkpoint: EOF`; {verb} (storage metadata only: the checkpoint beside it is intact)"
        )
    return None


def _apply(
    findings: list[Finding],
    state: StackState,
    ctx: Context,
    options: Options,
    driver: PulumiDriver,
    say: Callable[[str], None],
    err: TextIO,
) -> K2Error | None:
    pending_creates = [f for f in findings if f.pending and f.urn and f.action != REFRESH]
    stay = [f for f in pending_creates if f.action == LEAVE]
    resolved = [f for f in pending_creates if f.action != LEAVE]
    imports = [f for f in findings if f.action == IMPORT]
    needs_refresh = bool(resolved) or any(f.action == REFRESH for f in findings)
    dry = options.dry_run

    if not findings:
        say("nothing to recover: no pending operation, and no planned topic on the cluster is missing from the state")
    if needs_refresh and not dry:
        # CLI v3.274.1 turns pending creates named in --import-pending-creates (URN, ID) into pending
        # imports, which the engine then drops without adding the resource to the state: so this drops
        # exactly the resolved ones when others must stay, and the bulk import below adds the topics.
        keep_others = [(f.urn or "", f.name) for f in resolved] if resolved and stay else []
        try:
            driver.refresh(
                clear_pending_creates=bool(resolved) and not stay,
                import_pending_creates=keep_others,
                parallel=options.parallel,
                # One state write at the end: a refresh killed part-way changes nothing, and recover can run again.
                env={"PULUMI_SKIP_CHECKPOINTS": "true"},
            )
        except PulumiCommandError as exc:
            print(f"error: pulumi {exc.command} failed (nothing was imported):\n{tail(exc.output)}", file=err)
            return StateError(f"pulumi {exc.command} failed")
    if imports and not dry:
        if needs_refresh:
            # A CLI that does import pending creates on refresh has already added some of them.
            try:
                state = StackState.from_export(driver.export())
            except PulumiCommandError as exc:
                print(f"error: {exc}", file=err)
                return StateError(str(exc))
            present = state.topic_names()
            imports = [f for f in imports if f.name not in present]
        failed = _import(imports, state, ctx, options, driver, err) if imports else None
        if failed is not None:
            return failed

    for finding in findings:
        say(finding.line(_outcome(finding, dry)))
        for advice in finding.advice:
            say(f"           {advice}")
    left = [f for f in findings if f.action == LEAVE]
    up = f"pulumi up --stack {options.stack}"
    if left:
        say(f"{len(left)} resource(s) need a decision (above); nothing was changed for them. Then: {up}")
        return Refused(f"{len(left)} resource(s) need a decision")
    if dry:
        say(f"dry run: nothing was changed. Then: python -m k2infra recover --stack {options.stack}")
        return None
    if options.up:
        say(f"running: {up}")
        try:
            driver.up(stream=True)
        except PulumiCommandError as exc:
            return Refused(str(exc))  # its output was streamed above: a guard's refusal, or what to fix
        return None
    say(f"next: {up}")
    return None


def _outcome(finding: Finding, dry: bool) -> str:
    would = "would be " if dry else ""
    if finding.action == IMPORT:
        return f"{would}imported into the state" + ("" if not finding.pending else " (pending create dropped)")
    if finding.action == CLEAR:
        if finding.kind == "subject" and finding.found.startswith("registered"):
            return f"pending create {would}dropped; the next pulumi up adopts it (registering the same schema is idempotent)"
        if finding.found == "not on the cluster" or finding.found == "not in the registry":
            return f"pending create {would}dropped; the next pulumi up creates it"
        return f"pending create {would}dropped"
    if finding.action == REFRESH:
        return f"{would}reconciled by pulumi refresh; the next pulumi up finishes it"
    if finding.action == NOTE:
        return "the next pulumi up adopts it (registering the same schema is idempotent)"
    return "left as it is"


def _import(
    imports: Sequence[Finding], state: StackState, ctx: Context, options: Options, driver: PulumiDriver, err: TextIO
) -> StateError | None:
    if not (state.find(COMPONENT_TYPE, COMPONENT_NAME) and state.has_urn(ctx.provider_urn)):
        # A bulk-mode crash of a first deployment leaves no state at all: the topics need their parent
        # component and Kafka provider first, which a targeted up creates (it changes nothing outside).
        try:
            driver.up(target=[ctx.component_urn, ctx.provider_urn])
        except PulumiCommandError as exc:
            print(f"error: pulumi {exc.command} failed (nothing was imported):\n{tail(exc.output)}", file=err)
            return StateError(f"pulumi {exc.command} failed")
    resources = [
        {"type": TOPIC_TYPE, "name": f.name, "id": f.name, "parent": COMPONENT_NAME, "provider": PROVIDER_NAME}
        for f in imports
    ]
    try:
        driver.import_resources(
            resources,
            {COMPONENT_NAME: ctx.component_urn, PROVIDER_NAME: ctx.provider_urn},
            protect=ctx.protect,
            parallel=options.parallel,
            env={"PULUMI_SKIP_CHECKPOINTS": "true"},
        )
    except PulumiCommandError as exc:
        print(f"error: pulumi import of {len(imports)} topic(s) failed:\n{tail(exc.output)}", file=err)
        return StateError(f"pulumi import of {len(imports)} topic(s) failed")
    return None
