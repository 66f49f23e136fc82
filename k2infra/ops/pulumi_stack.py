"""A stack's state as `pulumi stack export` gives it, read as plain data.

Shared by `recover` and `destroy-check`. The state is never edited: every change goes through a
`pulumi` command (k2infra.ops.pulumi_driver).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
