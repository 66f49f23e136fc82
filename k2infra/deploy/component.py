"""The K2 topic platform as one ComponentResource: an explicit Kafka provider, one topic per spec,
one Schema Registry subject per asset class and data type, all parented to the component."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kafka as kafka

from k2infra.deploy import cluster_guard, data_loss_guard
from k2infra.deploy.access import declare_access
from k2infra.deploy.partition_guard import PartitionShrinkError, check_no_shrink
from k2infra.live import retirement as legacy_module
from k2infra.live.cluster import kafka_client_config
from k2infra.model.outputs import plan_outputs
from k2infra.model.plan import LegacyAction, LegacyTopic, Plan, TopicSpec
from k2infra.registry.resource import RegistryConnection, SchemaSubject, SchemaSubjectArgs

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
        plan: Plan,
        credentials: Credentials,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings = plan.settings
        self.local_cluster = _local_cluster(plan, parent=self)
        depends_on = self.local_cluster
        self.provider = kafka.Provider(
            "kafka",
            bootstrap_servers=settings.bootstrap_servers,
            # Explicit, always: the provider's own TLS default is on, which fails on a plaintext broker.
            tls_enabled=settings.tls,
            skip_tls_verify=settings.tls_skip_verify,
            ca_cert=settings.ca_cert,
            sasl_mechanism=settings.sasl_mechanism,
            sasl_username=settings.sasl_username,
            sasl_password=credentials.sasl_password,
            kafka_version=settings.kafka_version,
            timeout=settings.kafka_timeout_seconds,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        # Every topic waits for both guards, so a refusal stops the run before any change.
        checked = pulumi.Output.all(
            self._partition_check(plan, depends_on, credentials), self._retirement_check(plan, credentials)
        )
        topic_opts = pulumi.ResourceOptions(parent=self, provider=self.provider, protect=settings.protect)
        self.topics = {spec.name: self._topic(spec, checked, topic_opts) for spec in plan.topics}
        # Legacy topics are imported as they are and never changed: their data is what the
        # migration protects, so the topology's description of them is only compared (verify).
        # A retiring one is no longer declared, so `pulumi up` deletes it.
        legacy_opts = pulumi.ResourceOptions(
            parent=self,
            provider=self.provider,
            protect=settings.protect,
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
        connection = RegistryConnection(
            # Waits for the guards too: a refused run (wrong registry credentials among the causes)
            # must not record a changed connection of every subject before it stops.
            url=checked.apply(lambda _: settings.schema_registry_url or ""),
            username=settings.schema_registry_username,
            password=credentials.schema_registry_password,
            token=credentials.schema_registry_token,
            ca_cert=settings.schema_registry_ca_cert,
        )
        subject_opts = pulumi.ResourceOptions(parent=self, protect=settings.protect, depends_on=depends_on)
        self.subjects = {
            spec.subject: SchemaSubject(
                spec.subject,
                SchemaSubjectArgs(
                    subject=spec.subject,
                    schema=spec.schema,
                    compatibility=spec.compatibility,
                    connection=connection,
                    hard_delete=settings.hard_delete_subjects,
                    # No `topics` input: adding an exchange must not touch the subjects it shares;
                    # the `schemas` output lists each subject's topics from the plan instead.
                ),
                opts=subject_opts,
            )
            for spec in plan.subjects
        }
        # The apps' ACLs, quotas and SCRAM users (k2infra:accessControl), behind the same guards.
        self.access = declare_access(plan, credentials.app_passwords, checked, topic_opts)
        self.outputs = stack_outputs(plan, self.subjects)
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
        self, plan: Plan, depends_on: list[pulumi.Resource], credentials: Credentials
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
            # Our own connection first: a wrong password, mechanism or CA ends the run with one
            # line naming the cause, whichever Kafka provider plugin answers getTopics below.
            brokers = cluster_guard.check_connections(plan, sasl_password, registry_password, registry_token)
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
                check_no_shrink(plan.managed_topics(), counts)
            except PartitionShrinkError as exc:
                raise pulumi.RunError(str(exc)) from None
            cluster_guard.enforce_placement(plan, counts, brokers)
            await data_loss_guard.enforce(plan, listed.get("lists") or [], sasl_password)

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

    def _retirement_check(self, plan: Plan, credentials: Credentials) -> pulumi.Output[None]:
        """Resolves when no retiring topic received a record since its quiet_since (or when forced)."""
        retiring = [t for t in plan.legacy if t.action == LegacyAction.RETIRE]
        if not retiring or plan.settings.force_retire:
            return pulumi.Output.from_input(None)

        def check(sasl_password: str | None) -> None:
            with tempfile.TemporaryDirectory() as work:
                client = kafka_client_config(plan.settings, Path(work), sasl_password=sasl_password)
                written = legacy_module.records_since(client, retiring)
            try:
                legacy_module.check_retirement(retiring, written)
            except legacy_module.RetirementRefused as exc:
                raise pulumi.RunError(str(exc)) from None

        return pulumi.Output.from_input(credentials.sasl_password).apply(check)


def _local_cluster(plan: Plan, parent: pulumi.Resource) -> list[pulumi.Resource]:
    """Dev stacks on a machine with Docker may bring their own broker and registry."""
    if plan.settings.local_cluster == "none":
        return []
    # Imported only when used: pulumi_docker takes most of a second to import, on every run.
    from k2infra.deploy.local_cluster import provision_local_cluster

    return provision_local_cluster(plan.settings, parent=parent)


def stack_outputs(plan: Plan, subjects: dict[str, SchemaSubject]) -> dict[str, Any]:
    """The stable, documented outputs that app deploys read through StackReference.

    Their one definition is k2infra.model.outputs.StackOutputs: every field but the registry's ids
    and versions comes from the plan there (plan_outputs).
    """
    schemas = {
        spec.subject: pulumi.Output.all(
            id=subjects[spec.subject].schema_id,
            version=subjects[spec.subject].version,
            compatibility=subjects[spec.subject].compatibility,
        ).apply(lambda values, topics=list(spec.topics): {**values, "topics": topics})
        for spec in plan.subjects
    }
    return {**plan_outputs(plan), "schemas": schemas}
