"""The PostgreSQL backend's URL handling, error wording and lock rows, without a server (see
tests/integration/test_state_backend.py for the real one)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from k2infra.ops import postgres_state, stack_lock

URL = "postgres://k2state:hunter2@db.example:6543/k2state?sslmode=disable&table=team_state"


def test_the_password_is_masked_and_nothing_else_changes() -> None:
    assert (
        postgres_state.masked(URL) == "postgres://k2state:****@db.example:6543/k2state?sslmode=disable&table=team_state"
    )
    assert postgres_state.masked("postgres://db.example/k2state") == "postgres://db.example/k2state"
    assert postgres_state.masked("file:///srv/state") == "file:///srv/state"


def test_the_table_comes_off_the_connection_string_and_tls_is_required_as_the_cli_requires_it() -> None:
    target = postgres_state.Target.of(URL)
    assert target.table == "team_state"
    assert "table=" not in target.conninfo and "sslmode=disable" in target.conninfo
    assert (target.user, target.database, target.host) == ("k2state", "k2state", "db.example:6543")
    default = postgres_state.Target.of("postgres://u:p@h/db")
    assert default.table == "pulumi_state" and "sslmode=require" in default.conninfo and default.host == "h:5432"


@pytest.mark.parametrize(
    ("libpq_says", "why", "fix"),
    [
        ('FATAL:  password authentication failed for user "k2state"', "refused the password", "right password"),
        ('FATAL:  database "k2state" does not exist', "database k2state does not exist", "createdb"),
        (
            "connection refused\n\tIs the server running on that host",
            "cannot reach PostgreSQL at db.example:6543",
            "start it",
        ),
        ("server does not support SSL, but SSL was required", "has no TLS", "sslmode=disable"),
    ],
)
def test_each_failure_is_one_line_with_the_masked_url_and_its_fix(libpq_says: str, why: str, fix: str) -> None:
    error = postgres_state._diagnose(postgres_state.Target.of(URL), libpq_says)
    line = str(error)
    assert "\n" not in line and "hunter2" not in line
    assert line.startswith("state backend postgres://k2state:****@db.example:6543/")
    assert why in line and fix in line.split("; fix: ", 1)[1]


def row(content: object) -> str:
    return json.dumps({"data": base64.b64encode(json.dumps(content).encode()).decode()})


def test_a_lock_row_is_judged_like_a_lock_file() -> None:
    when = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    key = "k2state/.pulumi/locks/organization/k2infra/dev/0b6c.json"
    decoded = postgres_state._decode(
        key, row({"pid": 4242, "username": "ana", "hostname": "ci-7", "timestamp": when.isoformat()})
    )
    lock = stack_lock.judge_content(decoded.key, decoded.content or {}, host="laptop")
    assert lock.verdict == "unknown" and lock.path == key
    assert lock.describe() == "ana@ci-7 (pid 4242) at 2026-12-06T12:00:00+00:00"
    gone = stack_lock.judge_content(key, decoded.content or {}, host="ci-7", running=lambda pid: False)
    assert gone.verdict == "stale"
    broken = postgres_state._decode(key, '{"data": "not base64!"}')
    assert broken.content is None and broken.problem.startswith("undecodable lock row")


def test_only_lock_keys_are_ever_deleted() -> None:
    with pytest.raises(ValueError):
        postgres_state.delete_lock(URL, "k2state/.pulumi/stacks/k2infra/dev.json")
