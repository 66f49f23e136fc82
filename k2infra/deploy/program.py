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
from k2infra.model.apps import load_apps
from k2infra.model.errors import Problem, TopologyError
from k2infra.model.plan import Plan, build_plan
from k2infra.model.settings import NAMESPACE, SECRET_KEYS, SECRET_MAP_KEYS, StackSettings, settings_from_mapping
from k2infra.model.topology import LoadedTopology, load_topology
from k2infra.model.yaml_source import load_yaml


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


def _stack_file_lines(project_dir: Path) -> Any:
    """Where each key of the stack file is written, for `file:line:` in problems.

    The engine hands the program its config without positions; the file itself (Pulumi runs the
    program in the project directory) has them. None when it cannot be read: the problems then
    name the file without a line."""
    path = project_dir / f"Pulumi.{pulumi.get_stack()}.yaml"
    try:
        source = load_yaml(path, display_name=path.name)
    except (OSError, TopologyError):
        return None
    return lambda key_path: source.line_of(("config", f"{NAMESPACE}:{key_path[0]}", *key_path[1:]))


def read_settings(loaded: LoadedTopology | None, project_dir: Path = Path(".")) -> tuple[StackSettings, Credentials]:
    """The stack's settings; without a topology (it has problems of its own) checked on their own."""
    raw: dict[str, Any] = {}
    secrets: set[str] = set()
    for full_key, value in _all_config().items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if (key in SECRET_KEYS or key in SECRET_MAP_KEYS) and runtime_config.is_config_secret(full_key):
            secrets.add(key)
            continue
        raw[key] = value
    settings = settings_from_mapping(
        raw,
        loaded.topology if loaded else None,
        source_name=f"Pulumi.{pulumi.get_stack()}.yaml",
        line_of=_stack_file_lines(project_dir),
        secrets_set=frozenset(secrets),
        topology_source=loaded.source if loaded else None,
    )
    config = pulumi.Config(NAMESPACE)
    if settings.sasl_mechanism and "saslPassword" not in secrets:
        raise TopologyError.single(
            f"Pulumi.{pulumi.get_stack()}.yaml",
            f"{NAMESPACE}:saslPassword",
            f"is required with saslMechanism {settings.sasl_mechanism}: "
            f"pulumi config set --secret {NAMESPACE}:saslPassword",
        )
    credentials = Credentials(
        sasl_password=config.get_secret("saslPassword"),
        schema_registry_password=config.get_secret("schemaRegistryPassword"),
        schema_registry_token=config.get_secret("schemaRegistryToken"),
    )
    return settings, credentials


def read_app_passwords(plan: Plan) -> dict[str, pulumi.Output[str]]:
    """Each app's SCRAM password from the stack's secret `appPasswords` map, as a secret Output.

    Only where access control is on; a missing one fails the run before any resource, naming the
    command that sets it (never a value)."""
    if not plan.settings.access_control or not plan.apps:
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
        raise TopologyError(problems)
    return {app.name: pulumi.Output.secret(str(values[app.name])) for app in plan.apps}


def load_stack_plan(config_dir: Path) -> tuple[Plan, Credentials]:
    problems: list[Problem] = []  # the topology's, the apps' and the settings' problems, reported together
    loaded: LoadedTopology | None = None
    try:
        loaded = load_topology(config_dir)
    except TopologyError as exc:
        problems += exc.problems
    try:
        apps = load_apps(config_dir, loaded.topology if loaded else None)
    except TopologyError as exc:
        problems += exc.problems
    try:
        settings, credentials = read_settings(loaded, config_dir.parent)  # the project: config/ is in it
    except TopologyError as exc:
        raise TopologyError(problems + exc.problems) from None
    if problems or loaded is None:
        raise TopologyError(problems)
    plan = build_plan(loaded, settings, pulumi.get_stack(), apps)
    credentials = dataclasses.replace(credentials, app_passwords=read_app_passwords(plan))
    return plan, credentials


def run(config_dir: Path = Path("config")) -> TopicPlatform:
    """Declare everything, or fail before registering any resource when the input is bad."""
    try:
        plan, credentials = load_stack_plan(config_dir)
        if plan.settings.local_cluster == "docker":
            from k2infra.deploy.local_cluster import local_ports  # pulumi_docker: imported only when used

            local_ports(plan.settings)  # refuses settings a local cluster cannot serve, before any resource
    except TopologyError as exc:
        # RunError ends the program with our message alone, no Python traceback.
        raise pulumi.RunError(exc.report()) from None
    except ValueError as exc:
        raise pulumi.RunError(str(exc)) from None
    platform = TopicPlatform("k2", plan, credentials)
    for name, value in platform.outputs.items():
        pulumi.export(name, value)
    return platform
