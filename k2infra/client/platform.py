"""The platform as an application sees it: topics, exchanges, subjects, patterns and how to connect.

Loaded from the stack outputs (what an app deploy has: `pulumi stack output --json --show-secrets`
or `Platform.from_stack`, which asks pulumi.automation and so needs the `deploy` extra,
a `StackReference`'s values, or a file holding that JSON) or from the topology files (what the
infrastructure repository has). Either way the shape is validated against
`k2infra.model.outputs.StackOutputs`, the one definition of the outputs.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k2infra.client.errors import PlatformLoadError, UnknownTopicError
from k2infra.model.connection import Connections, KafkaConnection, RegistryConnection
from k2infra.model.outputs import (
    OUTPUT_NAMES,
    KafkaSecurityOutput,
    OutputsError,
    PatternsOutput,
    SchemaOutput,
    StackOutputs,
    SubscriptionsOutput,
    TopicOutput,
    parse_stack_outputs,
    plan_outputs,
)
from k2infra.model.plan import ExchangeInfo, Plan
from k2infra.model.stack import Stack, load_stack_file

__all__ = ["OUTPUT_NAMES", "Exchange", "OutputsError", "Platform", "PlatformLoadError", "Topic", "TopicConfig"]


class Topic(TopicOutput):
    """One topic as an application sees it: its `topics[<topic>]` output, with its name.

    The fields are the outputs' own (`config`, `partition_key`, ...), so that a topic has one
    field name per fact from the Plan to the app."""

    name: str

    @property
    def kafka_config(self) -> Mapping[str, str]:
        """Deprecated: `config` (the seed's `TopicConfig.kafka_config`)."""
        _deprecated("kafka_config", "config")
        return self.config

    @property
    def partition_key_field(self) -> str:
        """Deprecated: `partition_key` (the seed's `TopicConfig.partition_key_field`)."""
        _deprecated("partition_key_field", "partition_key")
        return self.partition_key

    def key_of(self, record: Mapping[str, Any]) -> str:
        """The record's partition key: the value of its partition key field, as a string."""
        try:
            value = record[self.partition_key]
        except KeyError:
            raise KeyError(f"a record for {self.name} has no {self.partition_key!r} field, its partition key") from None
        return str(value)


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"Topic.{old} is deprecated: use Topic.{new}", DeprecationWarning, stacklevel=3)


# The seed's name of the client's topic view: code written against `k2.kafka` keeps importing it.
TopicConfig = Topic

# An exchange as applications see it: the plan's own record (one definition for both).
Exchange = ExchangeInfo


@dataclass(frozen=True)
class Platform:
    """The description of one k2infra stack. Build it with one of the `from_*` class methods."""

    topics: Mapping[str, Topic]
    exchanges: Mapping[str, Exchange]
    bootstrap_servers: str
    schema_registry_url: str
    kafka_security: KafkaSecurityOutput
    patterns: PatternsOutput
    subscriptions: SubscriptionsOutput
    schemas: Mapping[str, SchemaOutput]  # empty when described from the topology files
    source: str = "the stack outputs"
    _subject_of_pair: dict[tuple[str, str], str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._subject_of_pair.update({(t.asset_class, t.data_type): t.schema_subject for t in self.topics.values()})

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def from_outputs(cls, values: Mapping[str, Any], source: str = "the stack outputs") -> Platform:
        """From the outputs as a mapping: parsed `stack output --json`, or a StackReference's values.

        An output that is None (as `StackReference.get_output` gives for one the stack lacks) counts
        as missing. Raises OutputsError naming every missing or wrong field.
        """
        if isinstance(values, Mapping):
            values = {name: value for name, value in values.items() if value is not None}
        return cls._from_model(parse_stack_outputs(values, source), source)

    @classmethod
    def from_outputs_json(cls, text: str, source: str = "the stack outputs") -> Platform:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlatformLoadError(f"{source}: not JSON ({exc})") from None
        return cls.from_outputs(values, source)

    @classmethod
    def from_outputs_file(cls, path: Path | str) -> Platform:
        """From a file holding `pulumi stack output --json --show-secrets`."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise PlatformLoadError(f"cannot read the stack outputs file {path}: {exc.strerror}") from None
        return cls.from_outputs_json(text, source=f"the outputs in {path}")

    @classmethod
    def from_stack(cls, stack: str, cwd: Path | str | None = None, pulumi_root: Path | str | None = None) -> Platform:
        """The outputs of STACK of the project in `cwd` (default: here), as `pulumi stack output --json
        --show-secrets` gives them, through pulumi.automation: the CLI (on PATH, or the installation
        `pulumi_root`), its login and the `deploy` extra (the Pulumi SDK) needed. The stack is not selected."""
        try:
            # Imported here: the rest of the client never needs Pulumi (tests/unit/test_layering.py allows
            # this one import, inside a function, of the one Pulumi driver).
            from k2infra.ops.pulumi_driver import PulumiCommandError, PulumiDriver, PulumiNotFound
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("pulumi"):
                raise
            raise PlatformLoadError(
                f"cannot read stack {stack}: Platform.from_stack needs the Pulumi SDK (pip install 'k2infra[deploy]'); "
                "without it, load the outputs from a file (Platform.from_outputs_file)"
            ) from None
        try:
            values = PulumiDriver(Path(cwd or "."), stack, pulumi_root=pulumi_root).outputs()
        except PulumiNotFound as exc:
            raise PlatformLoadError(f"cannot read stack {stack}: {exc.missing}") from None
        except PulumiCommandError as exc:
            detail = exc.output.strip().splitlines()
            raise PlatformLoadError(
                f"cannot read the outputs of stack {stack}: {detail[-1] if detail else 'no output'}"
            ) from None
        return cls.from_outputs(values, source=f"the outputs of stack {stack}")

    @classmethod
    def from_plan(cls, plan: Plan | Stack) -> Platform:
        """From a Plan, or a Stack (k2infra.model.stack.load_stack_file) for where clients connect too: a
        Plan alone holds the topics, not the connection, so its brokers and registry are left empty and
        its security is plaintext. Without a deploy there are no schema ids or versions: `schemas` is empty."""
        connections = (
            plan.connections if isinstance(plan, Stack) else Connections(KafkaConnection(), RegistryConnection())
        )
        plan = plan.plan if isinstance(plan, Stack) else plan
        where = f"stack {plan.stack}" if plan.stack else "the topology"
        return cls.from_outputs({**plan_outputs(plan, connections), "schemas": {}}, source=f"the plan of {where}")

    @classmethod
    def from_topology(
        cls, config_dir: Path | str = "config", stack: str | None = None, project_dir: Path | str = "."
    ) -> Platform:
        """From config/kafka/topics.yaml and the schemas (and Pulumi.<stack>.yaml when a stack is named)."""
        return cls.from_plan(load_stack_file(config_dir, stack, project_dir))

    @classmethod
    def load(cls, source: Platform | Plan | Stack | Mapping[str, Any] | Path | str) -> Platform:
        """Whatever describes the platform: a Platform, a Plan or a Stack, outputs as a mapping, an outputs
        JSON file, or a config directory (its topology files)."""
        if isinstance(source, Platform):
            return source
        if isinstance(source, Plan | Stack):
            return cls.from_plan(source)
        if isinstance(source, Mapping):
            return cls.from_outputs(source)
        path = Path(source)
        if path.is_dir():
            return cls.from_topology(path)
        return cls.from_outputs_file(path)

    @classmethod
    def _from_model(cls, outputs: StackOutputs, source: str) -> Platform:
        topics = {name: Topic(name=name, **dict(t)) for name, t in sorted(outputs.topics.items())}
        exchanges = {
            ref: Exchange(e.asset_class, e.code, e.name, e.country, e.timezone)
            for ref, e in sorted(outputs.exchanges.items())
        }
        return cls(
            topics=topics,
            exchanges=exchanges,
            bootstrap_servers=outputs.bootstrap_servers,
            schema_registry_url=outputs.schema_registry_url,
            kafka_security=outputs.kafka_security,
            patterns=outputs.patterns,
            subscriptions=outputs.subscriptions,
            schemas=dict(outputs.schemas),
            source=source,
        )

    # -- reading --------------------------------------------------------------------------------
    def topic(self, name: str) -> Topic:
        try:
            return self.topics[name]
        except KeyError:
            raise UnknownTopicError(
                f"{name!r} is not a topic of this K2 platform ({len(self.topics)} topics in {self.source})"
            ) from None

    def subject_of(self, asset_class: str, data_type: str) -> str | None:
        """The value subject shared by every exchange of (asset class, data type), if the platform has one."""
        return self._subject_of_pair.get((asset_class, data_type))

    @property
    def subjects(self) -> list[str]:
        return sorted(set(self._subject_of_pair.values()))
