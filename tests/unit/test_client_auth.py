"""Mutual TLS (k2infra:clientCert / clientKey) and SASL/OAUTHBEARER settings: validated before anything
connects (file:line: key, every problem at once), and rendered once for librdkafka, pulumi-kafka's
Provider and the `kafka_security` output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from devkit.certificates import self_signed
from k2infra.model.connection import KafkaConnection
from k2infra.model.errors import ConnectionFailed, InputError
from k2infra.model.stack import load_stack_file
from tests.conftest import set_stack_config


def issue(directory: Path, name: str, *, cn: str = "k2infra", days: int = 30, start: int = -1) -> tuple[Path, Path]:
    """A self-signed EC certificate and its key (PEM files) valid from `start` to `start + days` days from now."""
    now = datetime.now(UTC)
    cert, key = self_signed(cn, now + timedelta(days=start), now + timedelta(days=start + days))
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(cert)
    key_path.write_bytes(key)
    return cert_path, key_path


def mtls_stack(project_dir: Path, cert: Path, **extra: object) -> None:
    settings: dict[str, object] = {"clientCert": str(cert), **extra}
    set_stack_config(project_dir, "prod", settings)
    path = project_dir / "Pulumi.prod.yaml"
    data = yaml.safe_load(path.read_text())
    data["config"]["k2infra:clientKey"] = {"secure": "v1:AAAA"}  # as `pulumi config set --secret` writes it
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def problems_of(project_dir: Path, secrets: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_stack_file(project_dir / "config", "prod", project_dir, secrets)
    return [f"{p.file}:{p.line}: {p.path}: {p.message}" for p in caught.value.problems]


def test_an_expired_certificate_a_key_of_another_and_a_plain_http_token_endpoint_are_named_together(
    project_dir: Path, tmp_path: Path
) -> None:
    expired, _ = issue(tmp_path, "expired", days=10, start=-20)
    mtls_stack(project_dir, expired, saslMechanism="oauthbearer", saslTokenUrl="http://idp.example.com/token")
    _, other_key = issue(tmp_path, "other")
    found = problems_of(project_dir, {"saslPassword": "s", "clientKey": str(other_key)})
    text = "\n".join(found)
    assert "k2infra:clientCert: expired on " in text and "renew the certificate" in text
    assert (
        "k2infra:saslTokenUrl: must be an https:// URL outside localhost (the client secret travels in it), "
        "got 'http://idp.example.com/token'" in text
    )
    assert "k2infra:clientKey: does not match clientCert" in text
    assert all(":None:" not in line and "Pulumi.prod.yaml:" in line for line in found), found


def test_a_key_that_is_not_the_certificates_is_named_at_clientkey(project_dir: Path, tmp_path: Path) -> None:
    cert, _ = issue(tmp_path, "mine")
    _, other_key = issue(tmp_path, "other")
    mtls_stack(project_dir, cert)
    found = problems_of(project_dir, {"saslPassword": "s", "clientKey": str(other_key)})
    assert [line.split(": ", 1)[1] for line in found] == [
        "k2infra:clientKey: does not match clientCert: it is not the key the certificate was issued for"
    ]


def test_a_certificate_that_does_not_parse_and_one_without_tls_are_refused(project_dir: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    mtls_stack(project_dir, junk, tls=False)
    text = "\n".join(problems_of(project_dir))
    assert "k2infra:clientCert: is not a PEM certificate" in text
    assert "k2infra:clientCert: needs tls: true (a client certificate is presented in the TLS handshake)" in text


def test_a_client_key_in_plaintext_is_refused_like_the_other_credentials(project_dir: Path, tmp_path: Path) -> None:
    cert, key = issue(tmp_path, "mine")
    set_stack_config(project_dir, "prod", {"clientCert": str(cert), "clientKey": key.read_text()})
    text = "\n".join(problems_of(project_dir))
    assert "k2infra:clientKey: holds a credential and must be a secret: use `pulumi config set --secret`" in text


def test_oauthbearer_needs_a_token_endpoint_and_allows_http_on_localhost_only(project_dir: Path) -> None:
    set_stack_config(project_dir, "prod", {"saslMechanism": "oauthbearer"})
    assert any(
        "k2infra:saslTokenUrl: is required with saslMechanism oauthbearer" in line for line in problems_of(project_dir)
    )
    local = "http://127.0.0.1:18180/realms/k2/protocol/openid-connect/token"
    set_stack_config(project_dir, "prod", {"saslTokenUrl": local, "saslOauthScopes": "kafka profile"})
    stack = load_stack_file(project_dir / "config", "prod", project_dir, {"saslPassword": "client-s3cret"})
    kafka = stack.connections.kafka
    assert kafka.sasl_oauth_scopes == ("kafka", "profile")
    assert kafka.principal == "User:k2infra-prod"  # the client id, as the brokers map the token's client-id claim


def test_oauthbearer_renders_librdkafkas_oidc_settings_the_providers_inputs_and_the_output() -> None:
    url = "https://idp.example.com/realms/k2/protocol/openid-connect/token"
    kafka = KafkaConnection(
        bootstrap_servers=("k1:9093",),
        tls=True,
        sasl_mechanism="oauthbearer",
        sasl_username="k2infra",
        sasl_password="client-s3cret",
        sasl_token_url=url,
        sasl_oauth_scopes=("kafka",),
    )
    config = kafka.librdkafka()
    assert {k: v for k, v in config.items() if k.startswith("sasl")} == {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": "k2infra",
        "sasl.oauthbearer.client.secret": "client-s3cret",
        "sasl.oauthbearer.token.endpoint.url": url,
        "sasl.oauthbearer.scope": "kafka",
    }
    assert config["security.protocol"] == "SASL_SSL"
    args = kafka.provider_args()
    assert (args["sasl_mechanism"], args["sasl_username"], args["sasl_token_url"], args["sasl_oauth_scopes"]) == (
        "oauthbearer",
        "k2infra",
        url,
        ["kafka"],
    )
    assert "client-s3cret" not in str(args) + repr(kafka)
    output = kafka.security_output()
    assert (output["sasl_mechanism"], output["client_auth"], output["oauth_token_url"]) == (
        "OAUTHBEARER",
        "oauthbearer",
        url,
    )


def test_mtls_renders_the_certificate_and_key_for_librdkafka_and_names_the_principal_by_its_cn(tmp_path: Path) -> None:
    cert, key = issue(tmp_path, "infra", cn="k2infra")
    kafka = KafkaConnection(bootstrap_servers=("k1:9093",), tls=True, client_cert=str(cert))
    with pytest.raises(ConnectionFailed, match="k2infra:clientCert is set: set K2_CLIENT_KEY to its private key"):
        kafka.librdkafka()
    config = kafka.with_client_key(str(key)).librdkafka()
    assert config["security.protocol"] == "SSL"
    assert config["ssl.certificate.pem"] == cert.read_text()
    assert config["ssl.key.pem"] == key.read_text()
    assert kafka.principal == "User:k2infra"
    assert kafka.provider_args()["client_cert"] == str(cert)  # as written; the key goes in as a secret Output
    assert "client_key" not in kafka.provider_args()
    assert kafka.security_output()["client_auth"] == "mtls"
    assert "ssl.key.pem" not in repr(kafka.with_client_key(key.read_text()))
