"""The K2 topic platform as one ComponentResource: an explicit Kafka provider, one topic per spec,
one Schema Registry subject per asset class and data type, all parented to the component."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kafka as kafka

from k2infra.deploy import preflight
from k2infra.deploy.access import declare_access
from k2infra.model.outputs import plan_outputs
from k2infra.model.plan import LegacyAction, LegacyTopic, TopicSpec
from k2infra.model.stack import Stack
from k2infra.registry import resource as registry_resource
from k2infra.registry.resource import SchemaSubject, SchemaSubjectArgs

COMPONENT_TYPE = "k2infra:index:TopicPlatform"


@dataclass(frozen=True)
class Credentials:
    """Secret stack settings, as secret Outputs (None when the stack does not set them)."""

    sasl_password: pulumi.Output[str] | None = None
    schema_registry_password: pulumi.Output[str] | None = None
    schema_registry_token: pulumi.Output[str] | None = None
    app_passwords: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)  # app -> SCRAM password
    client_key: pulumi.Output[str] | None = None  # the private key of k2infra:clientCert (mutual TLS)


class TopicPlatform(pulumi.ComponentResource):
    topics: dict[str, kafka.Topic]
    subjects: dict[str, SchemaSubject]

    def __init__(
        self,
        name: str,
        stack: Stack,
        credentials: Credentials,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        plan, safety, registry = stack.plan, stack.safety, stack.connections.registry
        self.local_cluster = _local_cluster(stack, parent=self)
        depends_on = self.local_cluster
        self.provider = kafka.Provider(
            "kafka",
            **stack.connections.kafka.provider_args(),
            sasl_password=credentials.sasl_password,
            client_key=credentials.client_key,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        # One gate for every resource: the preflight's guards (k2infra.deploy.preflight) pass before
        # any topic, subject or access resource is registered, so a refusal changes nothing.
        checked = preflight.gate(
            stack,
            depends_on,
            credentials.sasl_password,
            credentials.schema_registry_password,
            credentials.schema_registry_token,
        )
        # A topic waits through its `partitions`: one Output per distinct count, shared by the topics
        # that have it (a handful for thousands of topics), rather than a callback per topic.
        counts = {t.partitions for t in plan.topics} | {t.partitions for t in plan.legacy if t.declared}
        partitions = {count: checked.apply(lambda _, count=count: count) for count in sorted(counts)}
        topic_opts = pulumi.ResourceOptions(parent=self, provider=self.provider, protect=safety.protect)
        self.topics = {spec.name: self._topic(spec, partitions[spec.partitions], topic_opts) for spec in plan.topics}
        # Legacy topics are imported as they are and never changed: their data is what the
        # migration protects, so the topology's description of them is only compared (verify).
        # A retiring one is no longer declared, so `pulumi up` deletes it.
        legacy_opts = pulumi.ResourceOptions.merge(
            topic_opts, pulumi.ResourceOptions(ignore_changes=["partitions", "replicationFactor", "config"])
        )
        self.legacy_topics = {
            legacy.name: self._topic(
                legacy,
                partitions[legacy.partitions],
                pulumi.ResourceOptions.merge(legacy_opts, pulumi.ResourceOptions(import_=legacy.name)),
            )
            for legacy in plan.legacy
            if legacy.declared
        }
        for legacy in plan.legacy:
            if legacy.action == LegacyAction.RETIRE_BLOCKED:
                pulumi.log.warn(f"{legacy.name} is marked for retirement; set k2infra:allowRetire to delete it")
        connection = registry_resource.RegistryConnection(
            # Behind the gate too, through the one connection all subjects share: a refused run
            # (wrong registry credentials among the causes) must not record a changed connection
            # of every subject before it stops.
            url=checked.apply(lambda _: registry.url or ""),
            username=registry.username,
            password=credentials.schema_registry_password,
            token=credentials.schema_registry_token,
            ca_cert=registry.ca_cert,  # as the stack writes it: the subjects' state keeps the input
        )
        subject_opts = pulumi.ResourceOptions(parent=self, protect=safety.protect, depends_on=depends_on)
        self.subjects = {
            spec.subject: SchemaSubject(
                spec.subject,
                SchemaSubjectArgs(
                    subject=spec.subject,
                    schema=spec.schema,
                    compatibility=spec.compatibility,
                    connection=connection,
                    hard_delete=safety.hard_delete_subjects,
                    # No `topics` input: adding an exchange must not touch the subjects it shares;
                    # the `schemas` output lists each subject's topics from the plan instead.
                ),
                opts=subject_opts,
            )
            for spec in plan.subjects
        }
        # The apps' ACLs, quotas and SCRAM users (k2infra:accessControl), behind the same guards.
        self.access = declare_access(plan, credentials.app_passwords, checked, topic_opts)
        self.outputs = stack_outputs(stack, self.subjects)
        # The outputs are the stack's (program.run exports them); registering them on the component
        # too would hold them twice in the state, which the file backend rewrites after every step.
        self.register_outputs({})

    @staticmethod
    def _topic(
        spec: TopicSpec | LegacyTopic, partitions: pulumi.Output[int], opts: pulumi.ResourceOptions
    ) -> kafka.Topic:
        return kafka.Topic(
            spec.name,
            name=spec.name,
            partitions=partitions,  # spec.partitions, once the gate passed
            replication_factor=spec.replication_factor,
            # Strings only: numeric values make `pulumi refresh` report drift (pulumi-kafka#419).
            config=dict(spec.config),
            opts=opts,
        )


def _local_cluster(stack: Stack, parent: pulumi.Resource) -> list[pulumi.Resource]:
    """Dev stacks on a machine with Docker may bring their own broker and registry."""
    if stack.local_cluster == "none":
        return []
    # Imported only when used: pulumi_docker takes most of a second to import, on every run.
    from k2infra.deploy.local_cluster import provision_local_cluster

    return provision_local_cluster(stack.local_cluster, stack.connections, parent=parent)


def stack_outputs(stack: Stack, subjects: dict[str, SchemaSubject]) -> dict[str, Any]:
    """The stable, documented outputs that app deploys read through StackReference.

    Their one definition is k2infra.model.outputs.StackOutputs: every field but the registry's ids
    and versions comes from the plan and the connections there (plan_outputs).
    """
    plan = stack.plan
    schemas = {
        spec.subject: pulumi.Output.all(
            id=subjects[spec.subject].schema_id,
            version=subjects[spec.subject].version,
            compatibility=subjects[spec.subject].compatibility,
        ).apply(lambda values, topics=list(spec.topics): {**values, "topics": topics})
        for spec in plan.subjects
    }
    return {**plan_outputs(plan, stack.connections), "schemas": schemas}
