"""``SchemaSubject``: a Schema Registry subject as a Pulumi resource.

Usage::

    conn = RegistryConnection(url=url, username=user, password=pw)   # or token=...
    SchemaSubject(
        "market.equities.trades-value",
        SchemaSubjectArgs(
            subject="market.equities.trades-value",
            schema=avsc_text,
            schema_type="AVRO",
            compatibility="BACKWARD",
            connection=conn,
            hard_delete=False,
            topics=["market.equities.trades.asx"],
        ),
        opts=pulumi.ResourceOptions(parent=component),
    )

Outputs: ``subject``, ``schema_id``, ``version``, ``compatibility``,
``canonical_schema``, ``topics`` (and the echoed ``schema``, ``schema_type``,
``hard_delete``, ``connection``; the last is always a secret).  The lifecycle is
described in ``provider.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from k2infra.registry.provider import SchemaRegistryProvider

RESOURCE_MODULE = "k2infra"
RESOURCE_NAME = "SchemaSubject"
#: The full Pulumi type token of the resource.
RESOURCE_TYPE = f"pulumi-python:dynamic/{RESOURCE_MODULE}:{RESOURCE_NAME}"


def _secret(value: pulumi.Input[str] | None) -> pulumi.Input[str] | None:
    return None if value is None else pulumi.Output.secret(value)


@dataclass(frozen=True, kw_only=True)
class RegistryConnection:
    """Where the registry is and how to authenticate.

    ``url`` is the base URL as the registry serves the Confluent API:
    ``http://host:8081`` (Confluent, Karapace, Redpanda) or
    ``http://host:8080/apis/ccompat/v7`` (Apicurio).  Give either
    ``username`` + ``password`` (basic auth) or ``token`` (bearer), or none.
    Username, password and token are made secrets here, whatever is passed.
    Timeouts are in seconds; ``max_retries`` and ``retry_backoff`` (the first
    backoff delay in seconds, doubled per retry, jittered) bound the retries on
    connection errors, timeouts, 5xx and 429.
    """

    url: pulumi.Input[str]
    username: pulumi.Input[str] | None = None
    password: pulumi.Input[str] | None = None
    token: pulumi.Input[str] | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    max_retries: int | None = None
    retry_backoff: float | None = None

    def to_inputs(self) -> dict[str, Any]:
        """The ``connection`` input of the resource, credentials wrapped as secrets."""
        raw: dict[str, Any] = {
            "url": self.url,
            "username": _secret(self.username),
            "password": _secret(self.password),
            "token": _secret(self.token),
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "max_retries": self.max_retries,
            "retry_backoff": self.retry_backoff,
        }
        return {k: v for k, v in raw.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class SchemaSubjectArgs:
    """Inputs of a ``SchemaSubject``."""

    subject: pulumi.Input[str]
    schema: pulumi.Input[str]
    connection: RegistryConnection
    schema_type: pulumi.Input[str] = "AVRO"
    compatibility: pulumi.Input[str] = "BACKWARD"
    hard_delete: pulumi.Input[bool] = False
    topics: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None


class SchemaSubject(pulumi.dynamic.Resource, module=RESOURCE_MODULE, name=RESOURCE_NAME):
    """One Schema Registry subject, its compatibility level and its latest schema."""

    subject: pulumi.Output[str]
    schema: pulumi.Output[str]
    schema_type: pulumi.Output[str]
    compatibility: pulumi.Output[str]
    connection: pulumi.Output[dict]
    hard_delete: pulumi.Output[bool]
    topics: pulumi.Output[list]
    schema_id: pulumi.Output[int]
    version: pulumi.Output[int]
    canonical_schema: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: SchemaSubjectArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "subject": args.subject,
            "schema": args.schema,
            "schema_type": args.schema_type,
            "compatibility": args.compatibility,
            "connection": args.connection.to_inputs(),
            "hard_delete": args.hard_delete,
            "topics": list(args.topics)
            if isinstance(args.topics, (list, tuple))
            else (args.topics if args.topics is not None else []),
            # Output-only properties: declared so that they become resource attributes.
            "schema_id": None,
            "version": None,
            "canonical_schema": None,
        }
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["connection"])
        opts = pulumi.ResourceOptions.merge(secret_opts, opts)
        super().__init__(SchemaRegistryProvider(), resource_name, props, opts)
