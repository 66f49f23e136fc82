"""The K2 topic platform as one ComponentResource: an explicit Kafka provider, one topic per spec,
one Schema Registry subject per asset class and data type, all parented to the component."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kafka as kafka

from k2infra.naming import subscriptions
from k2infra.plan import Plan
from k2infra.registry.resource import RegistryConnection, SchemaSubject, SchemaSubjectArgs

COMPONENT_TYPE = "k2infra:index:TopicPlatform"


@dataclass(frozen=True)
class Credentials:
    """Secret stack settings, as secret Outputs (None when the stack does not set them)."""

    sasl_password: pulumi.Output[str] | None = None
    schema_registry_password: pulumi.Output[str] | None = None
    schema_registry_token: pulumi.Output[str] | None = None


class TopicPlatform(pulumi.ComponentResource):
    topics: dict[str, kafka.Topic]
    subjects: dict[str, SchemaSubject]

    def __init__(
        self,
        name: str,
        plan: Plan,
        credentials: Credentials,
        opts: pulumi.ResourceOptions | None = None,
        depends_on: list[pulumi.Resource] | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings = plan.settings
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []),
        )
        topic_opts = pulumi.ResourceOptions(parent=self, provider=self.provider, protect=settings.protect)
        self.topics = {
            spec.name: kafka.Topic(
                spec.name,
                name=spec.name,
                partitions=spec.partitions,
                replication_factor=spec.replication_factor,
                # Strings only: numeric values make `pulumi refresh` report drift (pulumi-kafka#419).
                config=dict(spec.config),
                opts=topic_opts,
            )
            for spec in plan.topics
        }
        connection = RegistryConnection(
            url=settings.schema_registry_url or "",
            username=settings.schema_registry_username,
            password=credentials.schema_registry_password,
            token=credentials.schema_registry_token,
        )
        subject_opts = pulumi.ResourceOptions(parent=self, protect=settings.protect, depends_on=depends_on or [])
        self.subjects = {
            spec.subject: SchemaSubject(
                spec.subject,
                SchemaSubjectArgs(
                    subject=spec.subject,
                    schema=spec.schema,
                    schema_type="AVRO",
                    compatibility=spec.compatibility,
                    connection=connection,
                    hard_delete=settings.hard_delete_subjects,
                    topics=list(spec.topics),
                ),
                opts=subject_opts,
            )
            for spec in plan.subjects
        }
        self.outputs = stack_outputs(plan, self.subjects)
        self.register_outputs(self.outputs)


def stack_outputs(plan: Plan, subjects: dict[str, SchemaSubject]) -> dict[str, Any]:
    """The stable, documented outputs that app deploys read through StackReference."""
    settings = plan.settings
    topics = {
        t.name: {
            "asset_class": t.asset_class,
            "data_type": t.data_type,
            "exchange": t.exchange,
            "partitions": t.partitions,
            "replication_factor": t.replication_factor,
            "config": dict(t.config),
            "schema_subject": t.schema_subject,
            "schema_name": t.schema_name,
            "partition_key": t.partition_key,
        }
        for t in plan.topics
    }
    schemas = {
        name: pulumi.Output.all(
            id=resource.schema_id, version=resource.version, compatibility=resource.compatibility
        ).apply(lambda v, s=spec: {**v, "topics": list(s.topics)})
        for spec in plan.subjects
        for name, resource in [(spec.subject, subjects[spec.subject])]
    }
    return {
        "topics": topics,
        "subscriptions": subscriptions(plan),
        "schemas": schemas,
        "bootstrap_servers": ",".join(settings.bootstrap_servers),
        "schema_registry_url": settings.schema_registry_url or "",
    }
