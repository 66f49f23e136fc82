"""The registry's private CA (k2infra:schemaRegistryCaCert): from the stack setting to `verify=` of the
HTTP session, in the dynamic provider (which must still pickle to a bare class reference) and in verify."""

from __future__ import annotations

import base64
from pathlib import Path

import dill
import pytest
import requests
from pulumi.dynamic.dynamic import serialize_provider

from k2infra.live.cluster import LiveReadError, registry_client
from k2infra.model.settings import StackSettings
from k2infra.model.stack import connections_of
from k2infra.registry.client import RegistryClient, ca_bundle_file
from k2infra.registry.provider import SchemaRegistryProvider, _client
from k2infra.registry.resource import RegistryConnection

PEM = "-----BEGIN CERTIFICATE-----\nMIIBfakeButShapedLikeAPem\n-----END CERTIFICATE-----"
OTHER_PEM = "-----BEGIN CERTIFICATE-----\nMIIBtheKafkaCA\n-----END CERTIFICATE-----\n"


def test_pem_text_becomes_a_file_holding_it():
    path = ca_bundle_file(PEM)
    assert path is not None
    assert Path(path).read_text() == PEM + "\n"
    assert ca_bundle_file(PEM) == path  # the same file for the same text, not one per call


def test_a_path_is_used_as_it_is(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM)
    assert ca_bundle_file(str(ca)) == str(ca)


def test_no_ca_is_the_system_trust_store_and_a_missing_file_is_an_error(tmp_path):
    assert ca_bundle_file(None) is None
    assert ca_bundle_file("") is None
    assert RegistryClient("https://registry.example")._verify is True
    with pytest.raises(ValueError, match="neither PEM text nor a file"):
        ca_bundle_file(str(tmp_path / "absent.pem"))


def test_the_provider_builds_its_client_with_the_ca_of_the_connection():
    props = {"subject": "s", "connection": {"url": "https://r.example/apis/ccompat/v7", "ca_cert": PEM}}
    verify = _client(props)._verify
    assert Path(verify).read_text() == PEM + "\n"
    props["connection"].pop("ca_cert")
    assert _client(props)._verify is True


def test_the_connection_input_carries_the_ca_in_clear_and_the_provider_still_pickles_to_a_reference():
    inputs = RegistryConnection(url="https://r.example", username="u", password="p", ca_cert=PEM).to_inputs()
    assert inputs["ca_cert"] == PEM  # a public certificate: not wrapped as a secret
    assert "ca_cert" not in RegistryConnection(url="https://r.example").to_inputs()
    # No instance state: the pickled provider names the class and holds no certificate, client or secret.
    raw = base64.b64decode(serialize_provider(SchemaRegistryProvider()))
    assert b"BEGIN" not in raw and b"RegistryClient" not in raw
    restored = dill.loads(raw)
    assert type(restored) is SchemaRegistryProvider and vars(restored) == {}


def settings(**values: object) -> StackSettings:
    return StackSettings.model_validate({"schemaRegistryUrl": "https://r.example", **values})


def test_verify_reads_the_registry_with_its_own_ca_never_the_kafka_one():
    both = settings(caCert=OTHER_PEM, schemaRegistryCaCert=PEM)
    assert Path(registry_client(connections_of(both).registry, timeout=5)._verify).read_text() == PEM + "\n"
    # caCert alone is the brokers' CA: the registry keeps the system trust store.
    only_kafka = settings(caCert=OTHER_PEM)
    assert only_kafka.schema_registry_ca_cert is None
    assert registry_client(connections_of(only_kafka).registry, timeout=5)._verify is True


def test_verify_names_the_setting_of_a_missing_ca_file(tmp_path):
    with pytest.raises(LiveReadError, match="schemaRegistryCaCert"):
        registry_client(connections_of(settings(schemaRegistryCaCert=str(tmp_path / "nope.pem"))).registry, timeout=5)


def test_the_ca_wins_over_requests_ca_bundle_of_the_environment(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE override a session's `verify`: the CA goes with every request."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    client = RegistryClient("https://r.example", verify=ca_bundle_file(PEM), max_retries=0)
    seen: dict[str, object] = {}

    def request(method, url, **kwargs):
        seen.update(kwargs)
        answer = requests.Response()
        answer.status_code = 200
        answer._content = b"[]"
        answer.headers["Content-Type"] = "application/json"
        return answer

    monkeypatch.setattr(client._session, "request", request)
    assert client.list_subjects() == []
    assert Path(seen["verify"]).read_text() == PEM + "\n"
