"""A stack as the Pulumi CLI shows it: its state (`pulumi stack export`) and the CLI that runs on it.

Shared by `recover` and `destroy-check`. The state is read as plain data, never edited: every change
goes through a `pulumi` command.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

TOPIC_TYPE = "kafka:index/topic:Topic"
SUBJECT_TYPE = "pulumi-python:dynamic/k2infra:SchemaSubject"
COMPONENT_TYPE = "k2infra:index:TopicPlatform"
KAFKA_PROVIDER_TYPE = "pulumi:providers:kafka"
COMPONENT_NAME = "k2"
PROVIDER_NAME = "kafka"


class PulumiCliError(Exception):
    """A `pulumi` command could not run; ``str(err)`` is a complete message."""


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


# -- the CLI ------------------------------------------------------------------------------------


@dataclass
class PulumiCli:
    """Runs `pulumi` in the project directory; every command non-interactive."""

    project_dir: Path
    stack: str
    env: Mapping[str, str] | None = None
    echo: TextIO | None = None  # where to stream the output of long commands
    history: list[list[str]] = field(default_factory=list)

    def run(self, *args: str, stream: bool = False, extra_env: Mapping[str, str] | None = None) -> tuple[int, str]:
        argv = ["pulumi", *args, "--non-interactive", "--cwd", str(self.project_dir)]
        if args[:1] != ("whoami",):
            argv += ["--stack", self.stack]
        self.history.append(argv)
        env = {**(self.env if self.env is not None else os.environ), **(extra_env or {})}
        try:
            process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        except FileNotFoundError:
            raise PulumiCliError("the pulumi CLI is not on PATH (`. tools/env.sh` after `make tools`)") from None
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if stream and self.echo is not None:
                self.echo.write(f"  | {line}")
                self.echo.flush()
        return process.wait(), "".join(lines)


def backend_url(cli: PulumiCli) -> str:
    """The backend URL the CLI uses for this project (`pulumi whoami`), else PULUMI_BACKEND_URL."""
    code, out = cli.run("whoami", "--json")
    if code == 0:
        try:
            url = json.loads(out[out.find("{") :]).get("url")
        except ValueError:
            url = None
        if isinstance(url, str) and url:
            return url
    return os.environ.get("PULUMI_BACKEND_URL", "")


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def export_state(cli: PulumiCli) -> StackState:
    code, exported = cli.run("stack", "export")
    if code != 0:
        raise PulumiCliError(f"pulumi stack export failed:\n{tail(exported)}")
    return StackState.from_export(json.loads(exported[exported.find("{") :]))
