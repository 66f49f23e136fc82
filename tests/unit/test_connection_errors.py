"""The one place that words a failed connection: k2infra.live.cluster's kafka_failure and registry_failure.

The librdkafka texts below are what confluent-kafka 2.16 reported against the secure local cluster
(tools/platform.sh start --secure) for each mistake; tests/e2e/test_prod_faults.py makes the same
mistakes for real through `pulumi preview` and `k2infra verify`.
"""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError

from k2infra.live.admin import BrokerView, _LibrdkafkaLog, kafka_failure
from k2infra.live.cluster import registry_failure
from k2infra.model.connection import KafkaConnection, RegistryConnection
from k2infra.model.settings import StackSettings
from k2infra.model.stack import connections_of
from k2infra.registry.client import RegistryAuthError, RegistryUnavailableError

SERVERS = "127.0.0.1:43613,127.0.0.1:53743,127.0.0.1:47583"
PROD = StackSettings(
    bootstrap_servers=SERVERS.split(","),
    tls=True,
    ca_cert="-----BEGIN CERTIFICATE-----\n...",
    sasl_mechanism="scram-sha512",
    sasl_username="k2infra",
    schema_registry_url="https://127.0.0.1:52073/apis/ccompat/v7",
    schema_registry_username="k2-registry",
)
TRANSPORT = "Failed to get metadata: Local: Broker transport failure"


def with_(**changes: object) -> StackSettings:
    return PROD.model_copy(update=changes)


def kafka(settings: StackSettings) -> KafkaConnection:
    return connections_of(settings).kafka


def registry(settings: StackSettings) -> RegistryConnection:
    return connections_of(settings).registry


def test_a_wrong_scram_password_names_the_user_the_mechanism_and_the_secret() -> None:
    texts = [
        "sasl_ssl://127.0.0.1:43613/bootstrap: SASL authentication error: Authentication failed during "
        "authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 415ms in state AUTH_REQ)",
        "3/3 brokers are down",
        TRANSPORT,
    ]
    assert kafka_failure(kafka(PROD), SERVERS, 15, texts, "k2infra:saslPassword") == (
        f"SASL authentication failed for user k2infra (SCRAM-SHA-512) at {SERVERS}: wrong password? "
        "(check k2infra:saslPassword and k2infra:saslUsername)"
    )
    # The command line reads the password from the environment, and says so.
    assert "(check K2_SASL_PASSWORD and k2infra:saslUsername)" in kafka_failure(kafka(PROD), SERVERS, 15, texts)


@pytest.mark.parametrize(("mechanism", "sent"), [("scram-sha256", "SCRAM-SHA-256"), ("plain", "PLAIN")])
def test_a_mechanism_the_brokers_do_not_offer_names_what_they_offer(mechanism: str, sent: str) -> None:
    texts = [
        f"sasl_ssl://127.0.0.1:47583/bootstrap: SASL {sent} mechanism handshake failed: Broker: Unsupported SASL "
        "mechanism: broker's supported mechanisms: SCRAM-SHA-512 (after 302ms in state AUTH_HANDSHAKE)",
        "0/5 brokers are down",
    ]
    assert kafka_failure(kafka(with_(sasl_mechanism=mechanism)), SERVERS, 15, texts) == (
        f"the brokers at {SERVERS} do not offer SASL mechanism {sent} (k2infra:saslMechanism {mechanism}); "
        "they offer SCRAM-SHA-512: set k2infra:saslMechanism to scram-sha512"
    )


def test_tls_off_against_a_tls_listener_says_the_listener_expects_tls() -> None:
    texts = [
        "sasl_plaintext://127.0.0.1:47583/bootstrap: Disconnected: connection closed by peer: receive 0 after "
        "POLLIN (after 9ms in state APIVERSION_QUERY)",
        "3/3 brokers are down",
    ]
    assert kafka_failure(kafka(with_(tls=False)), SERVERS, 15, texts) == (
        f"the brokers at {SERVERS} closed the connection at its first request: the listener expects TLS? "
        "(k2infra:tls is false: set k2infra:tls to true and k2infra:caCert to the brokers' CA)"
    )


def test_tls_on_against_a_plaintext_listener_says_so() -> None:
    texts = [
        "SSL handshake failed: Disconnected: SSL connection closed by peer: connecting to a PLAINTEXT broker listener?"
    ]
    assert kafka_failure(kafka(with_(sasl_mechanism=None)), "127.0.0.1:19092", 15, texts) == (
        "TLS handshake with the brokers at 127.0.0.1:19092 failed: connecting to a PLAINTEXT listener? "
        "(k2infra:tls is true: set it to false for a plaintext listener)"
    )


def test_an_unknown_ca_says_the_certificate_could_not_be_verified() -> None:
    texts = [
        "sasl_ssl://127.0.0.1:43613/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate "
        "verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly "
        "configured or root CA certificates are installed (install ca-certificates package) (after 8ms in state "
        "SSL_HANDSHAKE)",
    ]
    expected = (
        f"TLS certificate of the brokers at {SERVERS} could not be verified (certificate verify failed): "
        "k2infra:caCert did not sign it; set k2infra:caCert to the CA of the brokers' certificates"
    )
    assert kafka_failure(kafka(PROD), SERVERS, 15, texts) == expected
    # librdkafka's shorter form of the same failure, as a later connection attempt reports it
    short = [
        "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed (after 21ms in state SSL_HANDSHAKE)"
    ]
    assert kafka_failure(kafka(PROD), SERVERS, 15, short) == expected


def test_nothing_listening_keeps_the_reachability_line_with_its_reason() -> None:
    texts = [
        "sasl_ssl://127.0.0.1:19192/bootstrap: Connect to ipv4#127.0.0.1:19192 failed: Connection refused "
        "(after 0ms in state CONNECT)",
        "1/1 brokers are down",
        TRANSPORT,
    ]
    line = kafka_failure(kafka(with_(bootstrap_servers=["127.0.0.1:19192"])), "127.0.0.1:19192", 30, texts)
    assert line.startswith("cannot reach Kafka at 127.0.0.1:19192 within 30s (k2infra:bootstrapServers, k2infra:tls")
    assert line.endswith(": Connect to ipv4#127.0.0.1:19192 failed: Connection refused (after 0ms in state CONNECT)")


def test_every_line_is_one_line() -> None:
    for texts in (["SASL authentication error: x"], ["certificate verify failed"], ["a\nb"], []):
        assert "\n" not in kafka_failure(kafka(PROD), SERVERS, 15, [t.replace("\n", " ") for t in texts])


def test_a_wrong_registry_password_names_the_user_and_the_secret() -> None:
    url = PROD.schema_registry_url
    refused = RegistryAuthError(
        "Schema Registry authentication failed (HTTP 401) for subject '(every subject)' at GET ...", status=401
    )
    assert registry_failure(registry(PROD), refused, url, 15, "k2infra:schemaRegistryPassword") == (
        f"Schema Registry at {url} refused the credentials of user k2-registry (HTTP 401): wrong password? "
        "(check k2infra:schemaRegistryPassword and k2infra:schemaRegistryUsername)"
    )
    assert "K2_SCHEMA_REGISTRY_PASSWORD or K2_SCHEMA_REGISTRY_TOKEN" in registry_failure(
        registry(PROD), refused, url, 15
    )


def test_an_untrusted_registry_certificate_names_its_ca_setting() -> None:
    url = PROD.schema_registry_url
    failed = RegistryUnavailableError(
        f"Schema Registry unreachable for subject '(every subject)' at GET {url}/subjects: connection failed "
        "(SSLError) on each of 2 attempts; is the registry running and the URL right?"
    )
    assert registry_failure(
        registry(PROD.model_copy(update={"schema_registry_ca_cert": "/ca.pem"})), failed, url, 15
    ) == (
        f"TLS certificate of the Schema Registry at {url} could not be verified by k2infra:schemaRegistryCaCert: "
        "set k2infra:schemaRegistryCaCert to the CA of its certificate"
    )


class _Error:
    def __init__(self, code: int, text: str) -> None:
        self._code, self._text = code, text

    def code(self) -> int:
        return self._code

    def str(self) -> str:
        return self._text


def test_refused_credentials_or_a_failed_handshake_end_the_wait_at_once() -> None:
    servers = SERVERS.split(",")
    with _LibrdkafkaLog() as log:
        assert not log.decisive(servers)
        log.on_error(_Error(KafkaError._AUTHENTICATION, "SASL authentication error"))
        assert log.decisive(servers)
    with _LibrdkafkaLog() as log:
        log.on_error(_Error(KafkaError._SSL, "SSL handshake failed"))
        assert log.decisive(servers)


def test_one_broker_of_three_down_is_not_decisive_all_three_are() -> None:
    servers = SERVERS.split(",")
    with _LibrdkafkaLog() as log:
        logger = log.logger
        refused = "FAIL [rdkafka#producer-1] [thrd:sasl_ssl://{0}/bootstrap]: sasl_ssl://{0}/bootstrap: Connect to ipv4#{0} failed: Connection refused"
        logger.log(logging.ERROR, refused.format(servers[2]))
        assert not log.decisive(servers)
        for server in servers[:2]:
            logger.log(logging.INFO, refused.format(server))
        assert log.decisive(servers)
        assert (
            log.failure_texts()[0]
            == f"sasl_ssl://{servers[2]}/bootstrap: Connect to ipv4#{servers[2]} failed: Connection refused"
        )


def test_broker_view_names_the_missing_node() -> None:
    assert BrokerView((1, 2), (1, 2, 3)).describe() == (
        "2 brokers are live (1, 2); node 3 holds replicas but is down or fenced"
    )
    assert (
        BrokerView((1,), (1, 2, 3)).describe()
        == "1 broker is live (1); nodes 2, 3 hold replicas but are down or fenced"
    )
    assert BrokerView((1, 2, 3), (1, 2, 3)).describe() == "3 brokers are live (1, 2, 3)"


def test_a_plaintext_cluster_refusing_everywhere_is_decisive_and_worded_without_the_broker_name() -> None:
    with _LibrdkafkaLog() as log:
        log.logger.log(
            logging.ERROR,
            "FAIL [rdkafka#producer-1] [thrd:127.0.0.1:19092/bootstrap]: 127.0.0.1:19092/bootstrap: "
            "Connect to ipv4#127.0.0.1:19092 failed: Connection refused (after 0ms in state CONNECT)",
        )
        assert not log.decisive(["27.0.0.1:19092", "127.0.0.1:19092"])  # a suffix is no match
        assert log.decisive(["127.0.0.1:19092"])
        line = kafka_failure(
            kafka(StackSettings(bootstrap_servers=["127.0.0.1:19092"])), "127.0.0.1:19092", 15, log.failure_texts()
        )
    assert line == (
        "cannot reach Kafka at 127.0.0.1:19092 within 15s (k2infra:bootstrapServers): "
        "Connect to ipv4#127.0.0.1:19092 failed: Connection refused (after 0ms in state CONNECT)"
    )


def test_an_unanswering_registry_is_left_to_the_subjects_a_refusing_one_is_not() -> None:
    import socket

    from k2infra.live.cluster import LiveReadError, check_registry

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    quiet = StackSettings(schema_registry_url=f"http://127.0.0.1:{port}/apis/ccompat/v7")
    check_registry(registry(quiet), timeout=2)  # no error: the subjects say it, by name
    with pytest.raises(LiveReadError, match="no Schema Registry address"):
        check_registry(registry(StackSettings()), timeout=2)


def test_several_registry_nodes_none_answering_stop_the_check_in_one_line_naming_each() -> None:
    import socket

    from k2infra.live.cluster import LiveReadError, check_registry

    ports = []
    for _ in range(2):
        with socket.socket() as sock:  # ports nothing listens on
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    nodes = [f"http://127.0.0.1:{port}/apis/ccompat/v7" for port in ports]
    with pytest.raises(LiveReadError) as caught:
        check_registry(registry(StackSettings(schema_registry_url=",".join(nodes))), timeout=2)
    assert str(caught.value) == (
        f"cannot reach the Schema Registry at {nodes[0]}, {nodes[1]} within 2s (k2infra:schemaRegistryUrl): "
        f"{nodes[0]}: connection failed (ConnectionError) on each of 1 attempt; "
        f"{nodes[1]}: connection failed (ConnectionError) on each of 1 attempt"
    )


def test_a_url_that_answers_but_is_no_registry_is_named_as_such() -> None:
    from k2infra.registry.client import RegistryNotCompatibleError

    url = "http://127.0.0.1:8080"
    answer = RegistryNotCompatibleError(f"{url} answers, but is not a Confluent-compatible Schema Registry: ...")
    assert registry_failure(registry(StackSettings(schema_registry_url=url)), answer, url, 15) == (
        f"{url} answers, but is not a Confluent-compatible Schema Registry (k2infra:schemaRegistryUrl): "
        "Confluent, Karapace and Redpanda serve it at http://host:8081, Apicurio at http://host:8080/apis/ccompat/v7"
    )


OAUTH = with_(
    sasl_mechanism="oauthbearer",
    sasl_username="k2infra",
    sasl_token_url="http://127.0.0.1:47545/realms/k2/protocol/openid-connect/token",
)
TOKEN_URL = "http://127.0.0.1:47545/realms/k2/protocol/openid-connect/token"


def test_a_revoked_or_wrong_oauth_client_names_the_token_endpoint_the_client_and_the_secret() -> None:
    """librdkafka's line when Keycloak refuses a disabled client (the same for a wrong secret)."""
    texts = [
        f'Failed to retrieve OIDC token from "{TOKEN_URL}": {{"error":"invalid_client",'
        '"error_description":"Invalid client or Invalid client credentials"} (401)',
        TRANSPORT,
    ]
    assert kafka_failure(kafka(OAUTH), SERVERS, 15, texts) == (
        f"the token endpoint {TOKEN_URL} refused OAuth client k2infra (k2infra:saslUsername): invalid_client "
        "(HTTP 401): a wrong or rotated secret, or a disabled client (check K2_SASL_PASSWORD and k2infra:saslUsername)"
    )


def test_a_token_the_brokers_refuse_lists_what_they_check() -> None:
    """The brokers say only invalid_token (a token without their audience, of another issuer or key)."""
    texts = ['SASL authentication error: {"status":"invalid_token"} (after 323ms in state AUTH_REQ)', TRANSPORT]
    line = kafka_failure(kafka(OAUTH), SERVERS, 15, texts, "k2infra:saslPassword")
    assert line.startswith(
        f"the brokers at {SERVERS} refused the OAuth token of OAuth client k2infra (k2infra:saslUsername) "
        "(invalid_token): its audience, issuer or signature is not what they expect"
    ), line
    assert "k2infra:saslTokenUrl" in line and "\n" not in line


def test_an_unreachable_token_endpoint_names_its_setting() -> None:
    texts = [f'Failed to retrieve OIDC token from "{TOKEN_URL}": Couldn\'t connect to server (-1)', TRANSPORT]
    assert kafka_failure(kafka(OAUTH), SERVERS, 15, texts) == (
        f"no OAuth token for OAuth client k2infra (k2infra:saslUsername) from {TOKEN_URL} "
        "(k2infra:saslTokenUrl): Couldn't connect to server"
    )


def test_an_identity_provider_refusing_the_client_ends_the_wait_at_once() -> None:
    servers = SERVERS.split(",")
    with _LibrdkafkaLog() as log:
        log.logger.log(
            logging.ERROR,
            f'OIDC [rdkafka#producer-1] [thrd:background]: Failed to retrieve OIDC token from "{TOKEN_URL}": '
            '{"error":"invalid_client"} (401)',
        )
        assert log.decisive(servers)
    with _LibrdkafkaLog() as log:  # unreachable: the endpoint may come back, the wait goes on
        log.logger.log(logging.ERROR, f'OIDC [x] [y]: Failed to retrieve OIDC token from "{TOKEN_URL}": down (-1)')
        assert not log.decisive(servers)


def test_a_client_certificate_the_brokers_do_not_trust_names_the_setting() -> None:
    """What librdkafka reports when the mTLS listener refuses a certificate of another CA."""
    mtls = with_(sasl_mechanism=None, sasl_username=None, client_cert="/etc/k2/client.pem")
    alert = (
        "ssl://127.0.0.1:55373/bootstrap: Receive failed: error:0A000412:SSL routines::ssl/tls alert bad "
        "certificate: SSL alert number 42 (after 2ms in state APIVERSION_QUERY)"
    )
    assert kafka_failure(kafka(mtls), SERVERS, 15, [alert, TRANSPORT]) == (
        f"the brokers at {SERVERS} refused the client certificate of k2infra:clientCert (TLS alert bad "
        "certificate): they do not trust the CA that signed it, or it expired or was revoked; use one signed by "
        "the CA their mTLS listener trusts"
    )


def test_a_refused_oauth_client_of_the_monitor_names_where_its_id_and_secret_come_from() -> None:
    """As for a SCRAM login: another principal's client (the monitor app's) is named by its own sources."""
    monitor = kafka(OAUTH).as_oauth_client(
        "k2-platform-monitor-prod", "s", "K2_MONITOR_PASSWORD", "the monitor app platform-monitor in apps.yaml"
    )
    texts = [f'Failed to retrieve OIDC token from "{TOKEN_URL}": {{"error":"invalid_client"}} (401)', TRANSPORT]
    assert kafka_failure(monitor, SERVERS, 15, texts, "K2_MONITOR_PASSWORD") == (
        f"the token endpoint {TOKEN_URL} refused OAuth client k2-platform-monitor-prod (the monitor app "
        "platform-monitor in apps.yaml): invalid_client (HTTP 401): a wrong or rotated secret, or a disabled "
        "client (check K2_MONITOR_PASSWORD and the monitor app platform-monitor in apps.yaml)"
    )
