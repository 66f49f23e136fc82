"""``SchemaSubject``: a Schema Registry subject as a Pulumi resource.

Usage::

    conn = RegistryConnection(url=url, username=user, password=pw)   # or token=...
    SchemaSubject(
        "market.equities.trades-value",
        SchemaSubjectArgs(
            subject="market.equities.trades-value",
            schema=avsc_text,
            compatibility="BACKWARD",
            connection=conn,
            hard_delete=False,
        ),
        opts=pulumi.ResourceOptions(parent=component),
    )

The schema is Avro (the only type k2infra registers).  Outputs: ``subject``,
``schema_id``, ``version``, ``compatibility`` (and the echoed ``schema``,
``hard_delete``, ``connection``; the last is always a secret).  The lifecycle,
and how state written by earlier versions is read, is described in ``provider.py``.
"""

from __future__ import annotations

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
    Timeouts and retries are the registry client's (``client.py``).
    """

    url: pulumi.Input[str]
    username: pulumi.Input[str] | None = None
    password: pulumi.Input[str] | None = None
    token: pulumi.Input[str] | None = None
    # PEM text or a file path: the CA of an HTTPS registry with a private CA (not a secret).
    ca_cert: pulumi.Input[str] | None = None

    def to_inputs(self) -> dict[str, Any]:
        """The ``connection`` input of the resource, credentials wrapped as secrets."""
        raw: dict[str, Any] = {
            "url": self.url,
            "username": _secret(self.username),
            "password": _secret(self.password),
            "token": _secret(self.token),
            "ca_cert": self.ca_cert,
        }
        return {k: v for k, v in raw.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class SchemaSubjectArgs:
    """Inputs of a ``SchemaSubject``."""

    subject: pulumi.Input[str]
    schema: pulumi.Input[str]
    connection: RegistryConnection
    compatibility: pulumi.Input[str] = "BACKWARD"
    hard_delete: pulumi.Input[bool] = False


class SchemaSubject(pulumi.dynamic.Resource, module=RESOURCE_MODULE, name=RESOURCE_NAME):
    """One Schema Registry subject, its compatibility level and its latest schema."""

    subject: pulumi.Output[str]
    schema: pulumi.Output[str]
    compatibility: pulumi.Output[str]
    connection: pulumi.Output[dict]
    hard_delete: pulumi.Output[bool]
    schema_id: pulumi.Output[int]
    version: pulumi.Output[int]

    def __init__(
        self,
        resource_name: str,
        args: SchemaSubjectArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "subject": args.subject,
            "schema": args.schema,
            "compatibility": args.compatibility,
            "connection": args.connection.to_inputs(),
            "hard_delete": args.hard_delete,
            # Output-only properties: declared so that they become resource attributes.
            "schema_id": None,
            "version": None,
        }
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["connection"])
        opts = pulumi.ResourceOptions.merge(secret_opts, opts)
        super().__init__(SchemaRegistryProvider(), resource_name, props, opts)
