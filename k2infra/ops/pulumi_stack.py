"""A stack's state as `pulumi stack export` gives it, read as plain data.

Shared by `recover` and `destroy-check`. The state is never edited: every change goes through a
`pulumi` command (k2infra.ops.pulumi_driver).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k2infra.live.cluster import RecordedVersion
from k2infra.model.kafka_configs import parse_int

TOPIC_TYPE = "kafka:index/topic:Topic"
SUBJECT_TYPE = "pulumi-python:dynamic/k2infra:SchemaSubject"
COMPONENT_TYPE = "k2infra:index:TopicPlatform"
KAFKA_PROVIDER_TYPE = "pulumi:providers:kafka"
# pulumi-kafka's access resources (with k2infra:accessControl; k2infra/deploy/access.py)
ACL_TYPE = "kafka:index/acl:Acl"
QUOTA_TYPE = "kafka:index/quota:Quota"
SCRAM_TYPE = "kafka:index/userScramCredential:UserScramCredential"
COMPONENT_NAME = "k2"
PROVIDER_NAME = "kafka"


# -- the state, as `pulumi stack export` gives it -------------------------------------------------


@dataclass(frozen=True)
class StateResource:
    urn: str
    type: str
    id: str
    parent: str
    inputs: Mapping[str, Any]
    protect: bool = False
    outputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass(frozen=True)
class PendingOperation:
    kind: str  # creating | updating | deleting | reading | importing
    resource: StateResource


@dataclass(frozen=True)
class StackState:
    resources: tuple[StateResource, ...]
    pending: tuple[PendingOperation, ...]

    @classmethod
    def from_export(cls, document: Mapping[str, Any]) -> StackState:
        deployment = document.get("deployment") or {}
        resources = tuple(_resource(r) for r in deployment.get("resources") or [] if not r.get("delete"))
        pending = tuple(
            PendingOperation(str(op.get("type", "")), _resource(op.get("resource") or {}))
            for op in deployment.get("pending_operations") or []
        )
        return cls(resources, pending)

    def topic_names(self) -> set[str]:
        return {topic_name(r) for r in self.resources if r.type == TOPIC_TYPE}

    def subject_names(self) -> set[str]:
        return {subject_name(r) for r in self.resources if r.type == SUBJECT_TYPE}

    def recorded_versions(self) -> dict[str, RecordedVersion]:
        """Subject -> the version and schema ID `pulumi up` registered (the SchemaSubjects' outputs)."""
        recorded = {}
        for r in self.resources:
            version, schema_id = parse_int(r.outputs.get("version"), text=False), r.outputs.get("schema_id")
            if (
                r.type == SUBJECT_TYPE
                and isinstance(version, int)
                and isinstance(parse_int(schema_id, text=False), int)
            ):
                recorded[subject_name(r)] = RecordedVersion(version, int(schema_id))
        return recorded

    def find(self, type_: str, name: str, parent_type: str | None = None) -> StateResource | None:
        for r in self.resources:
            if r.type == type_ and r.name == name and (parent_type is None or type_of(r.parent) == parent_type):
                return r
        return None

    def has_urn(self, urn: str) -> bool:
        return any(r.urn == urn for r in self.resources)


def _resource(raw: Mapping[str, Any]) -> StateResource:
    return StateResource(
        urn=str(raw.get("urn", "")),
        type=str(raw.get("type", "")),
        id=str(raw.get("id") or ""),
        parent=str(raw.get("parent") or ""),
        inputs=raw.get("inputs") or {},
        protect=bool(raw.get("protect")),
        outputs=raw.get("outputs") or {},
    )


def type_of(urn: str) -> str:
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def topic_name(r: StateResource) -> str:
    name = r.inputs.get("name")
    return name if isinstance(name, str) and name else r.id or r.name


def subject_name(r: StateResource) -> str:
    name = r.inputs.get("subject")
    return name if isinstance(name, str) and name else r.id or r.name


def has_backend(environ: Mapping[str, str]) -> bool:
    """Whether the Pulumi CLI has a backend to read a state from: PULUMI_BACKEND_URL, a Pulumi Cloud
    token, or a login recorded in its credentials file."""
    if environ.get("PULUMI_BACKEND_URL") or environ.get("PULUMI_ACCESS_TOKEN"):
        return True
    home = Path(environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
    try:
        return bool(json.loads((home / "credentials.json").read_text()).get("current"))
    except (OSError, ValueError, AttributeError):
        return False


def read_recorded_versions(
    project_dir: Path | str, stack_name: str | None, *, timeout: float
) -> tuple[dict[str, RecordedVersion] | None, tuple[str, ...]]:
    """The subject versions the stack's state records (`pulumi stack export`, nothing decrypted), or
    None and a note saying why they could not be read (verify then compares everything else)."""
    from k2infra.ops.pulumi_driver import PulumiCommandError, PulumiDriver  # pulumi.automation: only when read

    if not stack_name:
        return None, ("schema IDs not compared with a stack state: no stack named",)
    if not has_backend(os.environ):
        # Without one the CLI would only fail, after seconds of start-up and a login attempt.
        return None, ("schema IDs not compared with the stack state: no Pulumi backend (set PULUMI_BACKEND_URL)",)
    try:
        document = PulumiDriver(project_dir, stack_name, timeout=max(timeout, 30.0)).export()
    except (PulumiCommandError, ValueError) as exc:
        lines = [line.strip() for line in str(getattr(exc, "output", "") or exc).splitlines() if line.strip()]
        why = lines[-1] if lines else type(exc).__name__
        return None, (f"schema IDs not compared with the stack state: `pulumi stack export` failed: {why}",)
    return StackState.from_export(document).recorded_versions(), ()
