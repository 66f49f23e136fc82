"""Who the observe commands log in as: the stack's monitor app where access control is on (its
password from K2_MONITOR_PASSWORD), else the stack's own user; a missing password is one line, exit 2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from k2infra.cli.main import main
from k2infra.cli.observe import MONITOR_PASSWORD, observer_connection
from k2infra.live.admin import KafkaAdmin
from k2infra.model.stack import load_stack_file
from tests.conftest import set_stack_config

MISSING = (
    "error: stack prod has access control: lag, feeds, capacity and the exporter log in as its monitor app "
    "platform-monitor (User:k2-platform-monitor-prod); set K2_MONITOR_PASSWORD to its password "
    "(the stack secret k2infra:appPasswords.platform-monitor)\n"
)


def test_with_access_control_the_observe_commands_log_in_as_the_monitor_app(project_dir: Path) -> None:
    set_stack_config(project_dir, "prod", {"appScramMechanism": "scram-sha256"})
    stack = load_stack_file(project_dir / "config", "prod", project_dir)
    connection = observer_connection(stack, {MONITOR_PASSWORD: "monitor-s3cret", "K2_SASL_PASSWORD": "stack-s3cret"})
    settings = connection.librdkafka()
    assert (settings["sasl.username"], settings["sasl.password"], settings["sasl.mechanism"]) == (
        "k2-platform-monitor-prod",
        "monitor-s3cret",
        "SCRAM-SHA-256",  # the apps' mechanism (k2infra:appScramMechanism), not the stack user's
    )
    # The same brokers, over the same TLS, as the stack's own connection.
    own = stack.connections.kafka
    assert (settings["bootstrap.servers"], settings["security.protocol"]) == (own.servers, "SASL_SSL")
    assert connection.principal == "User:k2-platform-monitor-prod" != own.principal
    # A refused password is worded against the variable it came from.
    with KafkaAdmin.of(connection) as admin:
        assert admin.password_from == MONITOR_PASSWORD


def test_a_refused_monitor_login_names_the_monitors_password_and_app_not_the_stack_users(project_dir: Path) -> None:
    stack = load_stack_file(project_dir / "config", "prod", project_dir)
    connection = observer_connection(stack, {MONITOR_PASSWORD: "wrong"})
    refused = "SASL authentication error: Authentication failed during authentication due to invalid credentials"
    with KafkaAdmin.of(connection) as admin:
        line = admin.failure([refused], 5)
    assert line == (
        f"SASL authentication failed for user k2-platform-monitor-prod (SCRAM-SHA-512) at {connection.servers}: "
        "wrong password? (check K2_MONITOR_PASSWORD and the monitor app platform-monitor in apps.yaml)"
    )
    assert "saslUsername" not in line
    # The stack's own user is still worded against the stack's settings.
    with KafkaAdmin.of(stack.connections.kafka.with_password("wrong")) as admin:
        assert "(check K2_SASL_PASSWORD and k2infra:saslUsername)" in admin.failure([refused], 5)


def test_without_access_control_or_without_a_monitor_they_log_in_as_the_stacks_user(project_dir: Path) -> None:
    dev = load_stack_file(project_dir / "config", "dev", project_dir)
    assert observer_connection(dev, {MONITOR_PASSWORD: "ignored"}) is dev.connections.kafka
    apps = project_dir / "config" / "kafka" / "apps.yaml"
    apps.write_text(apps.read_text().split("\n  platform-monitor:")[0] + "\n")
    prod = load_stack_file(project_dir / "config", "prod", project_dir)
    assert prod.plan.access_control and prod.plan.monitor is None
    assert observer_connection(prod, {}) is prod.connections.kafka


@pytest.mark.parametrize("command", ["lag", "feeds", "capacity", "exporter"])
def test_a_missing_monitor_password_is_one_line_and_exit_2(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.delenv(MONITOR_PASSWORD, raising=False)
    monkeypatch.setenv("K2_SASL_PASSWORD", "the-stack-users")  # not a stand-in for the monitor's
    out, err = io.StringIO(), io.StringIO()
    code = main([command, "--stack", "prod", "--project-dir", str(project_dir)], out, err)
    assert (code, out.getvalue(), err.getvalue()) == (2, "", MISSING)
