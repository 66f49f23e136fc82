"""The client library on a mutual-TLS or OAUTHBEARER platform: the outputs say the mode (`client_auth`,
`oauth_token_url`), the app brings its certificate and key or its OAuth client, and a missing piece is a
CredentialsError naming its variable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from devkit.certificates import self_signed
from k2infra.client import AppCredentials, CredentialsError, Platform, consumer_settings, producer_settings
from k2infra.client.errors import PlatformLoadError
from k2infra.model.outputs import plan_outputs
from k2infra.model.stack import load_stack_file
from tests.conftest import REPO
from tests.unit.client.test_client_docs import blocks

_NOW = datetime.now(UTC)
CA = self_signed("k2-test-ca", _NOW - timedelta(days=1), _NOW + timedelta(days=30), ca=True)[0].decode()
TOKEN_URL = "https://idp.k2.internal/realms/k2/protocol/openid-connect/token"


def outputs(**security: object) -> dict:
    """The prod stack's outputs with its `kafka_security` in another mode, as `pulumi stack output --json` prints them."""
    stack = load_stack_file(REPO / "config", "prod", REPO)
    values = plan_outputs(stack.plan, stack.connections)
    values["schemas"] = {
        t["schema_subject"]: {"id": 1, "version": 1, "compatibility": "BACKWARD", "topics": []}
        for t in values["topics"].values()
    }
    values["kafka_security"] = {"security_protocol": "SSL", "ca_cert": CA, "tls_skip_verify": False, **security}
    return json.loads(json.dumps(values))


MTLS = {"sasl_mechanism": None, "client_auth": "mtls"}
OAUTH = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "OAUTHBEARER",
    "client_auth": "oauthbearer",
    "oauth_token_url": TOKEN_URL,
}


@pytest.fixture(scope="module")
def app_pem() -> tuple[str, str]:
    now = datetime.now(UTC)
    cert, key = self_signed("k2-crypto-risk-prod", now - timedelta(days=1), now + timedelta(days=30))
    return cert.decode(), key.decode()


def test_mtls_renders_the_apps_certificate_and_key_as_pem_text_or_as_paths(
    app_pem: tuple[str, str], tmp_path: Path
) -> None:
    platform = Platform.from_outputs(outputs(**MTLS))
    assert platform.kafka_security.client_auth == "mtls"
    cert, key = app_pem
    kafka = producer_settings(platform, AppCredentials(ssl_certificate=cert, ssl_key=key)).kafka
    assert (kafka["security.protocol"], kafka["ssl.certificate.pem"], kafka["ssl.key.pem"]) == ("SSL", cert, key)
    assert kafka["ssl.ca.pem"] == CA and "sasl.mechanism" not in kafka
    (tmp_path / "app.pem").write_text(cert)
    (tmp_path / "app-key.pem").write_text(key)
    paths = AppCredentials(
        ssl_certificate=str(tmp_path / "app.pem"), ssl_key=str(tmp_path / "app-key.pem"), ssl_key_password="kp"
    )
    kafka = consumer_settings(platform, "crypto-risk.a", paths).kafka
    assert (kafka["ssl.certificate.location"], kafka["ssl.key.location"], kafka["ssl.key.password"]) == (
        str(tmp_path / "app.pem"),
        str(tmp_path / "app-key.pem"),
        "kp",
    )
    assert "ssl.certificate.pem" not in kafka and kafka["group.id"] == "crypto-risk.a"
    assert key not in repr(AppCredentials(ssl_certificate=cert, ssl_key=key)) and "kp" not in repr(paths)


def test_mtls_without_a_key_or_with_a_path_that_names_no_file_names_the_variable(app_pem: tuple[str, str]) -> None:
    platform = Platform.from_outputs(outputs(**MTLS))
    with pytest.raises(CredentialsError) as caught:
        producer_settings(platform, AppCredentials(ssl_certificate=app_pem[0]))
    assert str(caught.value) == (
        "the platform requires a client certificate (mutual TLS): pass AppCredentials(ssl_certificate=..., "
        "ssl_key=...) (or set K2_APP_SSL_CERTIFICATE and K2_APP_SSL_KEY); missing: K2_APP_SSL_KEY"
    )
    with pytest.raises(CredentialsError, match="missing: K2_APP_SSL_CERTIFICATE, K2_APP_SSL_KEY"):
        producer_settings(platform)
    with pytest.raises(CredentialsError) as caught:
        producer_settings(platform, AppCredentials(ssl_certificate="/nowhere/app.pem", ssl_key=app_pem[1]))
    assert str(caught.value) == (
        "ssl_certificate (K2_APP_SSL_CERTIFICATE) is neither PEM text nor a file: '/nowhere/app.pem'"
    )


def test_oauthbearer_renders_librdkafkas_oidc_login_with_the_outputs_token_endpoint() -> None:
    platform = Platform.from_outputs(outputs(**OAUTH))
    credentials = AppCredentials(
        oauth_client_id="k2-crypto-risk-prod", oauth_client_secret="client-s3cret", oauth_scope="kafka profile"
    )
    kafka = consumer_settings(platform, "crypto-risk.a", credentials).kafka
    assert {k: v for k, v in kafka.items() if k.startswith("sasl.")} == {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": "k2-crypto-risk-prod",
        "sasl.oauthbearer.client.secret": "client-s3cret",
        "sasl.oauthbearer.token.endpoint.url": TOKEN_URL,
        "sasl.oauthbearer.scope": "kafka profile",
    }
    assert kafka["security.protocol"] == "SASL_SSL" and "sasl.username" not in kafka
    assert "client-s3cret" not in repr(credentials)
    without_scope = producer_settings(platform, AppCredentials(oauth_client_id="a", oauth_client_secret="b")).kafka
    assert "sasl.oauthbearer.scope" not in without_scope


def test_oauthbearer_without_a_secret_names_the_variable_and_without_an_endpoint_the_output() -> None:
    platform = Platform.from_outputs(outputs(**OAUTH))
    with pytest.raises(CredentialsError) as caught:
        producer_settings(platform, AppCredentials(oauth_client_id="k2-crypto-risk-prod"))
    assert str(caught.value) == (
        "the platform requires SASL OAUTHBEARER (an OAuth client): pass AppCredentials(oauth_client_id=..., "
        "oauth_client_secret=...) (or set K2_APP_OAUTH_CLIENT_ID and K2_APP_OAUTH_CLIENT_SECRET); missing: "
        "K2_APP_OAUTH_CLIENT_SECRET"
    )
    broken = Platform.from_outputs(outputs(**{**OAUTH, "oauth_token_url": None}))
    with pytest.raises(PlatformLoadError, match="names no oauth_token_url"):
        producer_settings(broken, AppCredentials(oauth_client_id="a", oauth_client_secret="b"))


def test_the_apps_certificate_and_oauth_client_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "K2_APP_SSL_CERTIFICATE": str(tmp_path / "app.pem"),
        "K2_APP_SSL_KEY": str(tmp_path / "app-key.pem"),
        "K2_APP_SSL_KEY_PASSWORD": "kp",
        "K2_APP_OAUTH_CLIENT_ID": "k2-crypto-risk-prod",
        "K2_APP_OAUTH_CLIENT_SECRET": "client-s3cret",
        "K2_APP_OAUTH_SCOPE": "kafka",
    }
    credentials = AppCredentials.from_env(env)
    assert (credentials.ssl_certificate, credentials.ssl_key, credentials.ssl_key_password) == (
        str(tmp_path / "app.pem"),
        str(tmp_path / "app-key.pem"),
        "kp",
    )
    assert (credentials.oauth_client_id, credentials.oauth_client_secret, credentials.oauth_scope) == (
        "k2-crypto-risk-prod",
        "client-s3cret",
        "kafka",
    )


def test_kafka_security_keeps_the_password_modes_shape_and_gives_the_new_modes_fields() -> None:
    scram = Platform.from_outputs(outputs(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512"))
    assert scram.kafka_security.client_auth is None and scram.kafka_security.oauth_token_url is None
    dumped = json.loads(scram.kafka_security.model_dump_json())
    assert sorted(dumped) == ["ca_cert", "sasl_mechanism", "security_protocol", "tls_skip_verify"]
    oauth = json.loads(Platform.from_outputs(outputs(**OAUTH)).kafka_security.model_dump_json())
    assert (oauth["client_auth"], oauth["oauth_token_url"]) == ("oauthbearer", TOKEN_URL)


# -- the guide's blocks -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["mtls", "oauthbearer"])
def test_the_guides_producer_and_consumer_of_each_mode_are_built_as_written(
    mode: str, app_pem: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stock clients take the settings as the guide builds them (no broker: nothing is sent)."""
    [code] = blocks(mode)
    (tmp_path / "outputs.json").write_text(json.dumps(outputs(**(MTLS if mode == "mtls" else OAUTH))))
    (tmp_path / "k2-crypto-risk-prod.pem").write_text(app_pem[0])
    (tmp_path / "k2-crypto-risk-prod-key.pem").write_text(app_pem[1])
    monkeypatch.setenv("K2_APP_OAUTH_CLIENT_SECRET", "client-s3cret")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/applications.md", "exec"), namespace)
    consumer = namespace["consumer"]
    assert isinstance(consumer, Consumer) and isinstance(namespace["producer"], Producer)
    consumer.close()
    kafka = producer_settings(namespace["platform"], namespace["credentials"]).kafka  # type: ignore[arg-type]
    if mode == "mtls":
        assert kafka["ssl.certificate.location"] == "k2-crypto-risk-prod.pem"
    else:
        assert kafka["sasl.oauthbearer.client.id"] == "k2-crypto-risk-prod"
