"""The Pulumi program: read the stack's config, build the plan, declare the platform, export."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from k2infra.deploy.access import APP_PASSWORDS_KEY, set_password_command
from k2infra.deploy.component import Credentials, TopicPlatform
from k2infra.model.connection import SECRET_KEYS
from k2infra.model.errors import InputError, Problem
from k2infra.model.plan import Plan
from k2infra.model.settings import NAMESPACE, SECRET_MAP_KEYS, StackConfig
from k2infra.model.stack import PeerStacks, Stack, load_stack, peer_stacks


def _all_config() -> dict[str, Any]:
    """Every config key the engine passed to the program, secret ones included.

    pulumi.Config reads one key at a time and the SDK has no public call that lists them, while
    typo detection needs every key the stack sets. This function is the one place that reads the
    SDK's runtime config (pulumi.runtime.config.get_config_env and CONFIG, checked against the
    Python SDK 3.272.0 pinned in requirements.txt); a new SDK that moves them breaks the unit tests.
    """
    values = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    return values


def _stack_file_lines(peers: PeerStacks) -> Any:
    """Where each key of the stack file is written, for `file:line:` in problems.

    The engine hands the program its config without positions; the file itself (Pulumi runs the
    program in the project directory) has them, read as the loader reads the other stacks' files.
    None when it cannot be read: the problems then name the file without a line."""
    try:
        return peers.read(pulumi.get_stack()).line_of
    except (OSError, InputError):
        return None


def read_config(peers: PeerStacks) -> StackConfig:
    """The stack's `k2infra:` keys as the engine passed them; secret values stay out (credentials()).

    Every credential the settings call for must be a stack secret: the program has no other source."""
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for full_key, value in _all_config().items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if (key in SECRET_KEYS or key in SECRET_MAP_KEYS) and runtime_config.is_config_secret(full_key):
            secrets.add(key)
            continue
        values[key] = value
    stack = pulumi.get_stack()
    return StackConfig(
        stack, f"Pulumi.{stack}.yaml", values, frozenset(secrets), _stack_file_lines(peers), secrets_required=True
    )


def credentials() -> Credentials:
    """The stack's credentials, as secret Outputs (the guards see their values inside an apply)."""
    config = pulumi.Config(NAMESPACE)
    return Credentials(
        sasl_password=config.get_secret("saslPassword"),
        schema_registry_password=config.get_secret("schemaRegistryPassword"),
        schema_registry_token=config.get_secret("schemaRegistryToken"),
    )


def read_app_passwords(plan: Plan) -> dict[str, pulumi.Output[str]]:
    """Each app's SCRAM password from the stack's secret `appPasswords` map, as a secret Output.

    Only where the stack creates its apps' SCRAM users (access control on, apps on SCRAM); a missing one
    fails the run before any resource, naming the command that sets it (never a value)."""
    if not plan.creates_app_credentials or not plan.apps:
        return {}
    file = f"Pulumi.{pulumi.get_stack()}.yaml"
    full_key = f"{NAMESPACE}:{APP_PASSWORDS_KEY}"
    raw = _all_config().get(full_key)
    try:
        values: Mapping[str, object] = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        values = {}
    if not isinstance(values, dict):
        values = {}
    problems = [
        Problem(
            file,
            None,
            f"{full_key}.{app.name}",
            f"the SCRAM password of app {app.name} ({app.principal}) is required with accessControl: "
            f"{set_password_command(app.name)}",
        )
        for app in plan.apps
        if not isinstance(values.get(app.name), str) or not values.get(app.name)
    ]
    if problems:
        raise InputError(problems)
    return {app.name: pulumi.Output.secret(str(values[app.name])) for app in plan.apps}


def read_stack(config_dir: Path) -> tuple[Stack, Credentials]:
    """The stack through the one loader (k2infra.model.stack.load_stack) and its credentials."""
    project = config_dir.parent  # the project: config/ is in it
    # The client key is checked against clientCert with the settings (k2infra.model.stack), and the
    # preflight's own connections present it: its value is read here, as the apps' passwords are.
    client_key = _all_config().get(f"{NAMESPACE}:clientKey")
    secrets = {"clientKey": str(client_key)} if client_key else None
    peers = peer_stacks(project)
    stack = load_stack(config_dir, lambda: read_config(peers), secrets, peers=peers)
    return stack, dataclasses.replace(
        credentials(),
        app_passwords=read_app_passwords(stack.plan),
        client_key=pulumi.Output.secret(str(client_key)) if client_key else None,
    )


def run(config_dir: Path = Path("config")) -> TopicPlatform:
    """Declare everything, or fail before registering any resource when the input is bad."""
    try:
        stack, secrets = read_stack(config_dir)
        if stack.local_cluster == "docker":
            from k2infra.deploy.local_cluster import local_ports  # pulumi_docker: imported only when used

            local_ports(stack.connections)  # refuses settings a local cluster cannot serve, before any resource
    except InputError as exc:
        # RunError ends the program with our message alone, no Python traceback.
        raise pulumi.RunError(exc.report()) from None
    except ValueError as exc:
        raise pulumi.RunError(str(exc)) from None
    platform = TopicPlatform("k2", stack, secrets)
    for name, value in platform.outputs.items():
        pulumi.export(name, value)
    return platform
