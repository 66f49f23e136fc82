"""The K2 topic platform as one ComponentResource: an explicit Kafka provider, one topic per spec,
one Schema Registry subject per asset class and data type, all parented to the component."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kafka as kafka

from k2infra.deploy import cluster_guard, data_loss_guard
from k2infra.deploy.access import declare_access
from k2infra.deploy.partition_guard import PartitionShrinkError, check_no_shrink
from k2infra.live import retirement as legacy_module
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        # Every topic waits for both guards, so a refusal stops the run before any change.
        checked = pulumi.Output.all(
            self._partition_check(stack, depends_on, credentials), self._retirement_check(stack, credentials)
        )
        topic_opts = pulumi.ResourceOptions(parent=self, provider=self.provider, protect=safety.protect)
        self.topics = {spec.name: self._topic(spec, checked, topic_opts) for spec in plan.topics}
        # Legacy topics are imported as they are and never changed: their data is what the
        # migration protects, so the topology's description of them is only compared (verify).
        # A retiring one is no longer declared, so `pulumi up` deletes it.
        legacy_opts = pulumi.ResourceOptions(
            parent=self,
            provider=self.provider,
            protect=safety.protect,
            ignore_changes=["partitions", "replicationFactor", "config"],
        )
        self.legacy_topics = {
            legacy.name: self._topic(
                legacy, checked, pulumi.ResourceOptions.merge(legacy_opts, pulumi.ResourceOptions(import_=legacy.name))
            )
            for legacy in plan.legacy
            if legacy.declared
        }
        for legacy in plan.legacy:
            if legacy.action == LegacyAction.RETIRE_BLOCKED:
                pulumi.log.warn(f"{legacy.name} is marked for retirement; set k2infra:allowRetire to delete it")
        connection = registry_resource.RegistryConnection(
            # Waits for the guards too: a refused run (wrong registry credentials among the causes)
            # must not record a changed connection of every subject before it stops.
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
    def _topic(spec: TopicSpec | LegacyTopic, checked: pulumi.Output[Any], opts: pulumi.ResourceOptions) -> kafka.Topic:
        return kafka.Topic(
            spec.name,
            name=spec.name,
            partitions=checked.apply(lambda _: spec.partitions),
            replication_factor=spec.replication_factor,
            # Strings only: numeric values make `pulumi refresh` report drift (pulumi-kafka#419).
            config=dict(spec.config),
            opts=opts,
        )

    def _partition_check(
        self, stack: Stack, depends_on: list[pulumi.Resource], credentials: Credentials
    ) -> pulumi.Output[None]:
        """Resolves once the cluster and the registry accept the stack's connection, the live counts
        are known, none would shrink, Kafka can place every new topic and partition
        (k2infra.deploy.cluster_guard) and no topic holding records would be deleted or replaced
        (k2infra.deploy.data_loss_guard); fails the run otherwise.

        The provider's getTopics is awaited here rather than through get_topics_output so that an
        unreachable cluster ends the run with one clear line instead of the SDK's traceback. While a
        dependency (a local cluster being created) has no id yet, as at its first preview, the
        check waits like the invoke would.
        """

        async def check(values: list[Any]) -> None:
            sasl_password, registry_password, registry_token = values[-3:]
            # The connections with the secrets' values, which exist only inside this apply.
            connections = stack.connections.with_secrets(sasl_password, registry_password or "", registry_token or "")
            # Our own connection first: a wrong password, mechanism or CA ends the run with one
            # line naming the cause, whichever Kafka provider plugin answers getTopics below.
            brokers = cluster_guard.check_connections(stack.plan, connections)
            try:
                listed = await pulumi.runtime.invoke_async(
                    "kafka:index:getTopics", {}, pulumi.InvokeOptions(parent=self, provider=self.provider)
                )
            except Exception as exc:  # the SDK raises a bare Exception carrying the provider's message
                raise pulumi.RunError(
                    f"cannot read the cluster's topics, which the program checks before any change "
                    f"(check k2infra:bootstrapServers, k2infra:tls and the SASL settings): {exc}"
                ) from None
            counts = {item["topicName"]: int(item["partitions"]) for item in listed.get("lists") or []}
            try:
                check_no_shrink(stack.plan.managed_topics(), counts)
            except PartitionShrinkError as exc:
                raise pulumi.RunError(str(exc)) from None
            cluster_guard.enforce_placement(stack.plan, counts, brokers)
            await data_loss_guard.enforce(stack, listed.get("lists") or [], connections.kafka)

        # The passwords only reach the guards' own connections: the result must not make every
        # topic input that waits on the check a secret.
        return pulumi.Output.unsecret(
            pulumi.Output.all(
                *(r.id for r in depends_on),
                credentials.sasl_password,
                credentials.schema_registry_password,
                credentials.schema_registry_token,
            ).apply(check)
        )

    def _retirement_check(self, stack: Stack, credentials: Credentials) -> pulumi.Output[None]:
        """Resolves when no retiring topic received a record since its quiet_since (or when forced)."""
        retiring = [t for t in stack.plan.legacy if t.action == LegacyAction.RETIRE]
        if not retiring or stack.safety.force_retire:
            return pulumi.Output.from_input(None)

        def check(sasl_password: str | None) -> None:
            client = stack.connections.kafka.with_password(sasl_password).librdkafka()
            written = legacy_module.records_since(client, retiring)
            try:
                legacy_module.check_retirement(retiring, written)
            except legacy_module.RetirementRefused as exc:
                raise pulumi.RunError(str(exc)) from None

        return pulumi.Output.from_input(credentials.sasl_password).apply(check)


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
