"""tools/registry/journal.py: which login its Kafka clients use (the copying itself is
tests/e2e/test_registry_durable.py, against a real platform)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def journal_module():
    spec = importlib.util.spec_from_file_location("journal", REPO / "tools" / "registry" / "journal.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SECURE_ENV = {
    "K2_BOOTSTRAP_SERVERS": "127.0.0.1:19192",
    "K2_SASL_USERNAME": "k2infra",
    "K2_SASL_PASSWORD": "infra-secret",
    "K2_ADMIN_USERNAME": "k2broker",
    "K2_ADMIN_PASSWORD": "admin-secret",
    "K2_CA_CERT": "/state/tls/ca.pem",
}


def test_the_journal_is_copied_as_the_secured_clusters_super_user_not_the_infra_principal() -> None:
    config = journal_module().client_config(SECURE_ENV)
    assert (config["sasl.username"], config["sasl.password"]) == ("k2broker", "admin-secret")
    assert config["security.protocol"] == "SASL_SSL" and config["ssl.ca.location"] == "/state/tls/ca.pem"


def test_a_secured_cluster_without_its_super_user_is_named_before_connecting() -> None:
    env = {k: v for k, v in SECURE_ENV.items() if not k.startswith("K2_ADMIN_")}
    with pytest.raises(SystemExit, match="K2_ADMIN_USERNAME / K2_ADMIN_PASSWORD"):
        journal_module().client_config(env)


def test_the_plain_platform_needs_no_login() -> None:
    assert journal_module().client_config({"K2_BOOTSTRAP_SERVERS": "127.0.0.1:19092"}) == {
        "bootstrap.servers": "127.0.0.1:19092"
    }
