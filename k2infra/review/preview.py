"""The document `pulumi preview --json` prints, as plain data.

One format for both ways in: `python -m k2infra plan` runs the preview through the one Pulumi
driver with `--json`, and `--from-preview FILE` reads the same document saved by a pipeline
(`pulumi preview --json > FILE`). Each step carries its operation, its resource's URN and the old
and new inputs (secrets masked as `[secret]`, values unknown at preview as Pulumi's sentinel); the
diagnostics carry the program's warnings and the refusals of a failed preview. Replacement
sub-steps (`create-replacement`, `delete-replaced`, shown with `--show-replacement-steps`) fold into
their logical `replace`; `same` steps (`--show-sames`) are kept and ignored by the summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The engine's placeholder for a value not known until `up` (pulumi.runtime.rpc.UNKNOWN).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = "[secret]"

# Step ops as the engine names them -> the change they stand for.
_OPS = {
    "create": "create",
    "update": "update",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "import-replacement": "replace",
    "discard-replaced": "replace",
    "delete": "delete",
    "discard": "delete",
    "import": "import",
    "same": "same",
    "read": "same",
    "refresh": "same",
}


class PreviewUnreadable(Exception):
    """The text is not a `pulumi preview --json` document; ``str(err)`` says why."""


@dataclass(frozen=True)
class Step:
    op: str  # create | update | replace | delete | import | same (see _OPS)
    urn: str
    old_inputs: Mapping[str, Any] = field(default_factory=dict)
    new_inputs: Mapping[str, Any] = field(default_factory=dict)
    old_outputs: Mapping[str, Any] = field(default_factory=dict)
    diff_keys: tuple[str, ...] = ()  # the properties that differ (update and replace)
    replace_keys: tuple[str, ...] = ()  # the properties that force the replace

    @property
    def type(self) -> str:
        """urn:pulumi:stack::project::parent$child::name -> child."""
        parts = self.urn.split("::")
        return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # error | warning | info | info#err
    message: str
    urn: str = ""


@dataclass(frozen=True)
class PolicyViolation:
    """A policy pack's verdict on a resource, from the engine's events (the --json document has none)."""

    policy: str
    pack: str
    level: str  # mandatory (the preview fails), advisory (a warning), ...: the pack's enforcement level
    message: str
    urn: str = ""


@dataclass(frozen=True)
class Preview:
    steps: tuple[Step, ...]
    diagnostics: tuple[Diagnostic, ...] = ()
    failed: bool = False  # the preview ended in an error (an error diagnostic, or the CLI's exit code)
    violations: tuple[PolicyViolation, ...] = ()  # the policy packs', when the events were read

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def parse_preview(text: str, *, exit_code: int = 0, violations: Sequence[PolicyViolation] = ()) -> Preview:
    """The preview in `text` (what the CLI printed on stdout); `exit_code` the CLI's, when it ran here;
    `violations` the policy packs' (`policy_violations` of the preview's engine events).

    The document is the first JSON object that starts a line: the CLI may print other lines before it."""
    document = _first_object(text)
    if not isinstance(document.get("steps", []), list) or not isinstance(document.get("diagnostics", []), list):
        raise PreviewUnreadable("not a `pulumi preview --json` document: `steps` and `diagnostics` must be lists")
    if not any(key in document for key in ("steps", "diagnostics", "changeSummary", "config")):
        raise PreviewUnreadable("not a `pulumi preview --json` document: none of steps, diagnostics, changeSummary")
    merged: dict[str, Step] = {}
    for raw in document.get("steps") or []:
        step = _step(raw)
        before = merged.get(step.urn)
        merged[step.urn] = step if before is None else _fold(before, step)
    diagnostics = tuple(
        Diagnostic(str(d.get("severity", "")), _without_prefix(str(d.get("message", ""))), str(d.get("urn") or ""))
        for d in document.get("diagnostics") or []
        if isinstance(d, Mapping)
    )
    failed = exit_code != 0 or any(d.severity == "error" for d in diagnostics)
    return Preview(tuple(merged.values()), diagnostics, failed, tuple(violations))


def policy_violations(events: Iterable[Any]) -> tuple[PolicyViolation, ...]:
    """The policy violations among a preview's engine events: the lines of `pulumi preview --event-log
    FILE` (JSON, camelCase) or the Automation API's EngineEvent objects (snake_case attributes).
    `pulumi preview --json` leaves them out of its document (CLI 3.274.1, pkg/backend/display/json.go)."""
    out = []
    for event in events:
        raw = event.get("policyEvent") if isinstance(event, Mapping) else getattr(event, "policy_event", None)
        if raw is None:
            continue

        def field_of(camel: str, snake: str, raw: Any = raw) -> str:
            value = raw.get(camel) if isinstance(raw, Mapping) else getattr(raw, snake, None)
            return "" if value is None else str(value)

        out.append(
            PolicyViolation(
                policy=field_of("policyName", "policy_name"),
                pack=field_of("policyPackName", "policy_pack_name"),
                level=field_of("enforcementLevel", "enforcement_level").lower(),
                message=field_of("message", "message").strip(),
                urn=field_of("resourceUrn", "resource_urn"),
            )
        )
    return tuple(dict.fromkeys(out))


def read_event_log(text: str) -> list[dict[str, Any]]:
    """`pulumi preview --event-log FILE`'s content: one JSON event per line (others skipped)."""
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _first_object(text: str) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("{"):
            try:
                document, _ = decoder.raw_decode(text, offset + len(line) - len(line.lstrip()))
            except json.JSONDecodeError as exc:
                raise PreviewUnreadable(f"the preview document is not valid JSON: {exc}") from None
            if isinstance(document, dict):
                return document
        offset += len(line)
    raise PreviewUnreadable("no JSON document found (was the preview run with --json?)")


def _step(raw: Any) -> Step:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("urn"), str) or not isinstance(raw.get("op"), str):
        raise PreviewUnreadable(f"a step without `op` and `urn`: {str(raw)[:200]}")
    old = raw.get("oldState") if isinstance(raw.get("oldState"), Mapping) else {}
    new = raw.get("newState") if isinstance(raw.get("newState"), Mapping) else {}
    return Step(
        op=_OPS.get(raw["op"], raw["op"]),
        urn=raw["urn"],
        old_inputs=_mapping(old.get("inputs")),
        new_inputs=_mapping(new.get("inputs")),
        old_outputs=_mapping(old.get("outputs")),
        diff_keys=tuple(str(k) for k in raw.get("diffReasons") or []),
        replace_keys=tuple(str(k) for k in raw.get("replaceReasons") or []),
    )


def _fold(first: Step, second: Step) -> Step:
    """Two steps of one URN (a replace shown as its sub-steps): one step with both sides."""
    return Step(
        op=first.op if first.op == second.op else "replace",
        urn=first.urn,
        old_inputs=first.old_inputs or second.old_inputs,
        new_inputs=second.new_inputs or first.new_inputs,
        old_outputs=first.old_outputs or second.old_outputs,
        diff_keys=tuple(dict.fromkeys((*first.diff_keys, *second.diff_keys))),
        replace_keys=tuple(dict.fromkeys((*first.replace_keys, *second.replace_keys))),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _without_prefix(message: str) -> str:
    """The engine prefixes a diagnostic with its severity (`error: `); the summary says it itself."""
    for prefix in ("error: ", "warning: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def known(value: Any) -> bool:
    """A value the preview knows (not Pulumi's unknown sentinel, anywhere inside it)."""
    if isinstance(value, str):
        return value != UNKNOWN
    if isinstance(value, Mapping):
        return all(known(v) for v in value.values())
    if isinstance(value, list):
        return all(known(v) for v in value)
    return True
