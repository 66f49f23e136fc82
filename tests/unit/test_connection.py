"""The stack's connections and the Stack itself: normalised once, rendered for each client, no secret shown.

The wording of failed connections is tested in test_connection_errors.py; librdkafka's settings in
test_verify.py; the registry's CA in registry/test_registry_ca.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from k2infra.cli.main import EXIT_CODES, env_secrets, exit_code
from k2infra.model.connection import SASL_MECHANISMS, KafkaConnection, RegistryConnection, kafka_mechanism, read_ca
from k2infra.model.errors import (
    ConnectionFailed,
    Drift,
    InputError,
    K2Error,
    Problem,
    Refused,
    StateError,
    TopologyError,
)
from k2infra.model.stack import load_stack_file
from tests.conftest import REPO

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_a_ca_path_is_read_to_pem_once_and_given_to_the_provider_as_written(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM)
    kafka = KafkaConnection(bootstrap_servers=("k1:9093",), tls=True, ca_cert=str(ca))
    ca.unlink()  # read at load: the file is not needed again
    assert kafka.ca_pem == PEM
    assert kafka.librdkafka()["ssl.ca.pem"] == PEM
    assert kafka.security_output()["ca_cert"] == PEM
    assert kafka.provider_args()["ca_cert"] == str(ca)  # the provider's input, as the state keeps it


def test_the_ca_rule_takes_pem_text_or_a_file_and_refuses_anything_else(tmp_path: Path) -> None:
    assert read_ca(PEM) is PEM
    (tmp_path / "ca.pem").write_text(PEM)
    assert read_ca(str(tmp_path / "ca.pem")) == PEM
    with pytest.raises(ValueError, match="the registry CA certificate is neither PEM text nor a file"):
        read_ca(str(tmp_path / "absent.pem"), "the registry CA certificate")


@pytest.mark.parametrize(
    ("tls", "mechanism", "protocol"),
    [
        (False, None, "PLAINTEXT"),
        (True, None, "SSL"),
        (False, "plain", "SASL_PLAINTEXT"),
        (True, "scram-sha512", "SASL_SSL"),
    ],
)
def test_one_protocol_rule_for_librdkafka_and_the_outputs(tls: bool, mechanism: str | None, protocol: str) -> None:
    kafka = KafkaConnection(bootstrap_servers=("k1:9093",), tls=tls, sasl_mechanism=mechanism, sasl_password="pw")
    assert kafka.librdkafka()["security.protocol"] == protocol
    assert kafka.security_output()["security_protocol"] == protocol
    assert kafka.security_output()["sasl_mechanism"] == (SASL_MECHANISMS[mechanism] if mechanism else None)


def test_mechanism_names_map_to_kafkas_spelling() -> None:
    assert [kafka_mechanism(m) for m in ("plain", "scram-sha256", "scram-sha512")] == [
        "PLAIN",
        "SCRAM-SHA-256",
        "SCRAM-SHA-512",
    ]


def test_passwords_never_show_in_a_repr_of_a_connection_or_a_stack() -> None:
    stack = load_stack_file(
        REPO / "config", "prod", REPO, {"saslPassword": "kafka-s3cret", "schemaRegistryPassword": "reg-s3cret"}
    )
    assert stack.connections.kafka.librdkafka()["sasl.password"] == "kafka-s3cret"
    assert stack.connections.registry.password == "reg-s3cret"
    shown = repr(stack) + repr(stack.connections) + str(stack.connections.kafka.provider_args())
    assert "s3cret" not in shown


def test_the_provider_gets_every_connection_input_but_the_password() -> None:
    stack = load_stack_file(REPO / "config", "prod", REPO, {"saslPassword": "kafka-s3cret"})
    assert stack.connections.kafka.provider_args() == {
        "bootstrap_servers": [
            "kafka-0.prod.k2.internal:9093",
            "kafka-1.prod.k2.internal:9093",
            "kafka-2.prod.k2.internal:9093",
        ],
        "tls_enabled": True,
        "skip_tls_verify": False,
        "ca_cert": None,
        "sasl_mechanism": "scram-sha512",
        "sasl_username": "k2infra-prod",
        "kafka_version": None,
        "timeout": 120,
    }


def test_the_stack_splits_the_settings_into_plan_connections_and_safety() -> None:
    stack = load_stack_file(REPO / "config", "prod", REPO)
    assert stack.name == stack.plan.stack == "prod"
    assert not hasattr(stack.plan, "settings")
    assert stack.plan.compatibility == "FULL_TRANSITIVE" and stack.plan.access_control is True
    assert stack.safety.protect is True and stack.safety.allow_data_loss == ()
    assert stack.connections.registry.url == "https://schema-registry.prod.k2.internal"
    assert stack.local_cluster == "none"
    assert stack.connections.kafka.sasl_password is None  # none handed in


def test_the_command_line_takes_credentials_from_the_environment_only_when_set() -> None:
    environ = {"K2_SASL_PASSWORD": "pw", "K2_SCHEMA_REGISTRY_TOKEN": "", "HOME": "/root"}
    assert env_secrets(environ) == {"saslPassword": "pw"}


def test_another_clusters_messages_name_its_own_settings() -> None:
    mirror = KafkaConnection(sasl_mechanism="plain", setting_prefix="k2infra:mirrorSource.")
    with pytest.raises(ConnectionFailed, match=r"set k2infra:mirrorSource\.bootstrapServers"):
        mirror.librdkafka()
    assert RegistryConnection(setting_prefix="k2infra:mirrorSource.").key("schemaRegistryUrl") == (
        "k2infra:mirrorSource.schemaRegistryUrl"
    )


def test_the_report_heading_names_the_files_at_fault() -> None:
    one = InputError([Problem("Pulumi.dev.yaml", 3, "k2infra:x", "unknown stack setting")])
    assert one.report().splitlines()[0] == "1 problem in Pulumi.dev.yaml:"
    several = InputError(
        [
            Problem("config/kafka/apps.yaml", 2, "apps.a", "m"),
            Problem("Pulumi.dev.yaml", 3, "k2infra:x", "m"),
            Problem("config/kafka/topics.yaml", 1, "defaults", "m"),
        ]
    )
    headings = [line for line in several.report().splitlines() if not line.startswith("  ")]
    assert headings == [
        "1 problem in Pulumi.dev.yaml:",
        "1 problem in config/kafka/apps.yaml:",
        "1 problem in config/kafka/topics.yaml:",
    ]


def test_each_error_class_has_its_exit_code() -> None:
    assert issubclass(TopologyError, InputError) and issubclass(InputError, K2Error)
    codes = {
        cls: exit_code(cls([]) if issubclass(cls, InputError) else cls("x"))
        for cls in (TopologyError, InputError, ConnectionFailed, StateError, Refused, Drift, K2Error)
    }
    assert codes == {
        TopologyError: 2,
        InputError: 2,
        ConnectionFailed: 2,
        StateError: 2,
        Refused: 1,
        Drift: 1,
        K2Error: 2,
    }
    assert set(EXIT_CODES) == {InputError, ConnectionFailed, StateError, Refused, Drift, K2Error}
    assert exit_code(None) == 0  # a command that ended well


def test_nothing_in_the_model_reads_the_environment() -> None:
    readers = []
    for path in sorted((REPO / "k2infra" / "model").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
                readers.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert readers == []
