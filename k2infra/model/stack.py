"""A stack as deploy, live and the command line take it: Stack(plan, connections, safety).

One loader (`load_stack`) for the command line and the Pulumi program alike: the topology, the
apps and the stack's settings are read and checked together (every problem at once), and the
settings are split in three: the layout overrides go into the Plan (build_plan alone reads them),
the connections are normalised once (k2infra.model.connection), the safety switches stand apart.
Only where the settings come from differs: Pulumi.<stack>.yaml for the command line, pulumi.Config
for the program; the caller hands in a `StackConfig` reader and whatever secrets it resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from k2infra.model.apps import Apps, load_apps
from k2infra.model.connection import Connections, KafkaConnection, RegistryConnection
from k2infra.model.errors import InputError, Problem
from k2infra.model.plan import Plan, build_plan
from k2infra.model.settings import (
    NAMESPACE,
    StackConfig,
    StackSettings,
    client_key_problems,
    read_stack_file,
    validate_settings,
)
from k2infra.model.topology import LoadedTopology, load_topology


@dataclass(frozen=True)
class Safety:
    """What a run may destroy: the switches that guard data, apart from what is declared."""

    protect: bool = False  # k2infra:protect: Pulumi refuses to delete the stack's topics, subjects, ACLs
    allow_retire: bool = False  # legacy topics marked retire may be deleted (after the no-writes check)
    force_retire: bool = False  # ... even without that check
    allow_data_loss: tuple[str, ...] = ()  # topics a run may delete or replace although they hold records
    hard_delete_subjects: bool = False  # a removed subject is deleted for good, not soft-deleted


@dataclass(frozen=True)
class Stack:
    plan: Plan
    connections: Connections
    safety: Safety
    local_cluster: Literal["none", "docker"] = "none"  # dev stacks may bring a broker and registry in Docker
    secret_keys: frozenset[str] = frozenset()  # the secret keys the stack sets (never their values)

    @property
    def name(self) -> str | None:
        return self.plan.stack


def connections_of(settings: StackSettings, secrets: Mapping[str, str] | None = None) -> Connections:
    """The stack's connections; `secrets` maps secret keys (saslPassword, ...) to the values resolved."""
    secrets = secrets or {}
    return Connections(
        kafka=KafkaConnection(
            bootstrap_servers=tuple(settings.bootstrap_servers),
            tls=settings.tls,
            tls_skip_verify=settings.tls_skip_verify,
            ca_cert=settings.ca_cert,
            sasl_mechanism=settings.sasl_mechanism,
            sasl_username=settings.sasl_username,
            sasl_password=secrets.get("saslPassword"),
            sasl_token_url=settings.sasl_token_url,
            sasl_oauth_scopes=tuple(settings.sasl_oauth_scopes),
            client_cert=settings.client_cert,
            client_key=secrets.get("clientKey"),
            kafka_version=settings.kafka_version,
            timeout_seconds=settings.kafka_timeout_seconds,
        ),
        registry=RegistryConnection(
            url=settings.schema_registry_url,
            username=settings.schema_registry_username,
            password=secrets.get("schemaRegistryPassword"),
            token=secrets.get("schemaRegistryToken"),
            ca_cert=settings.schema_registry_ca_cert,
        ),
    )


def safety_of(settings: StackSettings) -> Safety:
    return Safety(
        protect=settings.protect,
        allow_retire=settings.allow_retire,
        force_retire=settings.force_retire,
        allow_data_loss=tuple(settings.allow_data_loss),
        hard_delete_subjects=settings.hard_delete_subjects,
    )


def load_stack(
    config_dir: Path | str, read_config: Callable[[], StackConfig], secrets: Mapping[str, str] | None = None
) -> Stack:
    """The stack, or InputError with the problems of the topology, the apps and the settings together.

    With a broken topology the apps and the settings are still checked on their own, so that one run
    shows every input's problems."""
    problems: list[Problem] = []
    loaded: LoadedTopology | None = None
    try:
        loaded = load_topology(config_dir)
    except InputError as exc:
        problems += exc.problems
    topology = loaded.topology if loaded else None
    apps = Apps()
    try:
        apps = load_apps(config_dir, topology)
    except InputError as exc:
        problems += exc.problems
    try:
        config = read_config()
        problems += _client_key_problems(config, secrets or {})
        settings = validate_settings(config, loaded)
    except InputError as exc:
        raise InputError(problems + exc.problems) from None
    if problems or loaded is None:
        raise InputError(problems)
    return Stack(
        plan=build_plan(loaded, settings, config.name, apps, config.file, config.line_of),
        connections=connections_of(settings, secrets),
        safety=safety_of(settings),
        local_cluster=settings.local_cluster,
        secret_keys=config.secret_keys,
    )


def _client_key_problems(config: StackConfig, secrets: Mapping[str, str]) -> list[Problem]:
    """The secret client key against the stack's certificate, where the caller resolved the key: with the
    settings' own problems, so that one run names them all."""
    cert, key = config.values.get("clientCert"), secrets.get("clientKey")
    if not isinstance(cert, str) or not cert or not key:
        return []
    line = config.line_of(("clientKey",)) if config.line_of else None
    return [Problem(config.file, line, f"{NAMESPACE}:clientKey", r) for r in client_key_problems(cert, key)]


def load_stack_file(
    config_dir: Path | str = "config",
    stack: str | None = None,
    project_dir: Path | str = ".",
    secrets: Mapping[str, str] | None = None,
) -> Stack:
    """The stack of Pulumi.<stack>.yaml (the topology alone when stack is None), as the command line reads it.

    `secrets` are the credentials the caller resolved (the command line: from the environment)."""
    return load_stack(config_dir, lambda: read_stack_file(Path(project_dir), stack, list(secrets or {})), secrets)
