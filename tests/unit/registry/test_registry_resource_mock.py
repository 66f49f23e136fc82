"""SchemaSubject under Pulumi mocks: the registered resource, its inputs and its secrets."""

from __future__ import annotations

import base64
import json

import dill
import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from k2infra.registry.provider import SchemaRegistryProvider
from k2infra.registry.resource import (
    RESOURCE_TYPE,
    RegistryConnection,
    SchemaSubject,
    SchemaSubjectArgs,
)

SUBJECT = "market.equities.trades-value"
PASSWORD = "pa55-w0rd-XYZ"
TOKEN = "tok-ABC-123456"
SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Trade",
        "namespace": "k2.market.equities",
        "fields": [{"name": "symbol", "type": "string"}],
    },
    indent=2,
)
SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outs = {k: rpc.unwrap_rpc_secret(v) for k, v in args.inputs.items() if k != "__provider"}
        outs.update(schema_id=7, version=3)
        return [args.inputs.get("subject", args.name), outs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class CapturingMonitor(pulumi_mocks.MockMonitor):
    """Keeps the raw RegisterResource requests, secrets still wrapped."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registered = []

    def RegisterResource(self, request):
        self.registered.append(request)
        return super().RegisterResource(request)


@pytest.fixture
def monitor():
    mocks = Mocks()
    captured = CapturingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="k2infra", stack="dev", preview=False, monitor=captured)
    return captured


def is_secret(value) -> bool:
    return hasattr(value, "fields") and SIG_KEY in value.fields and value[SIG_KEY] == SECRET_SIG


def subject_resource(connection: RegistryConnection, **over) -> SchemaSubject:
    args = dict(
        subject=SUBJECT,
        schema=SCHEMA,
        compatibility="BACKWARD",
        connection=connection,
        hard_delete=False,
    )
    args.update(over)
    return SchemaSubject(SUBJECT, SchemaSubjectArgs(**args), opts=pulumi.ResourceOptions(protect=True))


@pulumi.runtime.test
def test_registers_the_dynamic_type_with_the_inputs(monitor):
    res = subject_resource(RegistryConnection(url="http://registry:8081", username="svc", password=PASSWORD))

    def verify(values):
        schema_id, version, compatibility = values
        assert (schema_id, version, compatibility) == (7, 3, "BACKWARD")
        mine = [r for r in monitor.registered if r.type == RESOURCE_TYPE]
        assert len(mine) == 1
        request = mine[0]
        assert request.type == "pulumi-python:dynamic/k2infra:SchemaSubject"
        assert request.name == SUBJECT and request.custom and request.protect
        props = request.object
        # schema_id and version are outputs only: declared as None, so not sent
        assert set(props.fields) == {"subject", "schema", "compatibility", "connection", "hard_delete", "__provider"}
        assert props["subject"] == SUBJECT and props["schema"] == SCHEMA
        assert props["compatibility"] == "BACKWARD" and props["hard_delete"] is False
        assert "connection" in request.additionalSecretOutputs
        assert set(props["connection"].fields) == {"url", "username", "password"}
        # the serialized provider: secret, and a reference to the importable class
        assert is_secret(props["__provider"])
        provider = dill.loads(base64.b64decode(props["__provider"]["value"]))
        assert isinstance(provider, SchemaRegistryProvider)

    return pulumi.Output.all(res.schema_id, res.version, res.compatibility).apply(verify)


@pulumi.runtime.test
def test_credentials_are_secret_inputs_and_the_url_is_not(monitor):
    res = subject_resource(RegistryConnection(url="http://registry:8081", username="svc", password=PASSWORD))

    def verify(_):
        request = next(r for r in monitor.registered if r.type == RESOURCE_TYPE)
        connection = request.object["connection"]
        assert connection["url"] == "http://registry:8081"
        assert is_secret(connection["password"]) and connection["password"]["value"] == PASSWORD
        assert is_secret(connection["username"])
        assert "token" not in connection.fields
        # nothing outside the secret wrappers carries the password
        plain = {k: v for k, v in request.object.items() if k != "connection"}
        assert PASSWORD not in str(plain)

    return res.urn.apply(verify)


@pulumi.runtime.test
def test_token_is_secret_and_the_echoed_connection_is_a_secret_output(monitor):
    res = subject_resource(RegistryConnection(url="https://registry", token=TOKEN))

    def verify(_):
        request = next(r for r in monitor.registered if r.type == RESOURCE_TYPE)
        assert is_secret(request.object["connection"]["token"])
        # the engine encrypts this output in the state (mocks do not apply it themselves)
        assert list(request.additionalSecretOutputs) == ["connection"]

    return res.urn.apply(verify)


@pulumi.runtime.test
def test_secret_outputs_passed_in_stay_secret(monitor):
    password = pulumi.Output.secret(PASSWORD)
    res = subject_resource(RegistryConnection(url="http://registry:8081", username="svc", password=password))

    def verify(_):
        request = next(r for r in monitor.registered if r.type == RESOURCE_TYPE)
        assert is_secret(request.object["connection"]["password"])

    return res.urn.apply(verify)
