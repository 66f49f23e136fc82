"""`python -m k2infra access`: who may read or write a topic, what an app may touch (from the plan)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from k2infra.cli.main import main
from tests.conftest import REPO, set_stack_config


def run(*argv: str, cwd: Path = REPO) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["access", *argv, "--config-dir", str(cwd / "config"), "--project-dir", str(cwd)], out, err)
    return code, out.getvalue(), err.getvalue()


def test_every_app_with_its_principal_topic_counts_group_and_quotas() -> None:
    code, out, err = run("--stack", "prod")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "APP                     PRINCIPAL                            READS  WRITES  GROUP                           QUOTAS",
        "market-data-normaliser  User:k2-market-data-normaliser-prod  0      4       -                               "
        "producer_byte_rate=52428800, request_percentage=200",
        "equities-analytics      User:k2-equities-analytics-prod      3      0       equities-analytics (Literal)    "
        "consumer_byte_rate=20971520",
        "crypto-risk             User:k2-crypto-risk-prod             1      0       crypto-risk. (Prefixed)         "
        "consumer_byte_rate=10485760",
        "reference-data-cache    User:k2-reference-data-cache-prod    2      0       reference-data-cache (Literal)  "
        "consumer_byte_rate=1048576",
        "platform-monitor        User:k2-platform-monitor-prod        6      0       -                               "
        "consumer_byte_rate=10485760",
        "",
        "5 apps; --app NAME lists an app's topics and ACLs, --topic NAME who may use a topic.",
        "",
        "principals: each app logs in as the SCRAM-SHA-512 user of its principal's user name, which the stack creates",
    ]


def test_a_stack_without_access_control_says_that_nothing_is_enforced() -> None:
    code, out, err = run("--stack", "dev")
    assert (code, err) == (0, "")
    assert (
        out.splitlines()[-1]
        == "note: k2infra:accessControl is off for stack dev: none of this is enforced on its cluster"
    )


def test_what_an_app_may_touch_and_through_which_acl() -> None:
    code, out, _ = run("--stack", "prod", "--app", "reference-data-cache")
    assert code == 0
    assert out.splitlines()[:12] == [
        "app reference-data-cache: User:k2-reference-data-cache-prod (SCRAM-SHA-512 user "
        "k2-reference-data-cache-prod), group reference-data-cache (Literal), quotas consumer_byte_rate=1048576",
        "",
        "TOPIC                                 ACCESS  VIA",
        "market.crypto.reference_data.binance  read    market.crypto.reference_data. (Prefixed)",
        "market.equities.reference_data.asx    read    market.equities.reference_data. (Prefixed)",
        "",
        "RESOURCE  NAME                             PATTERN   OPERATION",
        "Group     reference-data-cache             Literal   Read",
        "Topic     market.crypto.reference_data.    Prefixed  Describe",
        "Topic     market.crypto.reference_data.    Prefixed  Read",
        "Topic     market.equities.reference_data.  Prefixed  Describe",
        "Topic     market.equities.reference_data.  Prefixed  Read",
    ]


def test_who_can_read_and_write_a_topic() -> None:
    code, out, _ = run("--stack", "prod", "--topic", "market.crypto.trades.binance")
    assert code == 0
    assert out.splitlines()[:4] == [
        "APP                     PRINCIPAL                            ACCESS  VIA",
        "crypto-risk             User:k2-crypto-risk-prod             read    market.crypto.trades. (Prefixed)",
        "platform-monitor        User:k2-platform-monitor-prod        read    market.crypto. (Prefixed)",
        "market-data-normaliser  User:k2-market-data-normaliser-prod  write   market.crypto.trades.binance (Literal)",
    ]


def test_a_topic_not_yet_planned_is_matched_as_the_broker_would_match_it() -> None:
    code, out, _ = run("--stack", "prod", "--topic", "market.equities.trades.nyse")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "market.equities.trades.nyse is not a topic of this stack's plan: these are the ACLs that would apply to it"
    )
    assert lines[3].split() == [
        "equities-analytics",
        "User:k2-equities-analytics-prod",
        "read",
        "market.equities.",
        "(Prefixed)",
    ]
    assert len([line for line in lines if line.startswith(("equities", "market-data", "crypto", "reference"))]) == 1
    code, out, _ = run("--stack", "prod", "--topic", "orders")
    assert "no app may read or write orders: no app's ACL matches it" in out


def test_json_answers_for_apps_one_app_and_one_topic(project_dir: Path) -> None:
    set_stack_config(project_dir, "prod", {"accessControl": True})
    code, out, _ = run("--stack", "prod", "--json", cwd=project_dir)
    document = json.loads(out)
    assert (code, document["stack"], document["access_control"]) == (0, "prod", True)
    assert sorted(document["apps"]) == [
        "crypto-risk",
        "equities-analytics",
        "market-data-normaliser",
        "platform-monitor",
        "reference-data-cache",
    ]
    assert document["apps"]["crypto-risk"]["reads"] == ["market.crypto.trades.binance"]
    _, out, _ = run("--stack", "prod", "--app", "crypto-risk", "--json", cwd=project_dir)
    app = json.loads(out)
    assert (app["app"], app["principal"], app["group"]) == (
        "crypto-risk",
        "User:k2-crypto-risk-prod",
        {"name": "crypto-risk.", "pattern_type": "Prefixed"},
    )
    _, out, _ = run("--stack", "prod", "--topic", "market.equities.trades.asx", "--json", cwd=project_dir)
    topic = json.loads(out)
    assert topic["planned"] is True
    assert [r["app"] for r in topic["readers"]] == ["equities-analytics", "platform-monitor"]
    assert [w["app"] for w in topic["writers"]] == ["market-data-normaliser"]
    assert topic["readers"][0]["via"] == [
        {
            "resource_type": "Topic",
            "resource_name": "market.equities.",
            "pattern_type": "Prefixed",
            "operation": "Read",
            "permission": "Allow",
            "host": "*",
        }
    ]
    # Enforced here: no note.
    _, out, _ = run("--stack", "prod", cwd=project_dir)
    assert "note:" not in out


def test_an_unknown_app_is_a_usage_error_with_a_suggestion() -> None:
    code, out, err = run("--stack", "prod", "--app", "crypto-rsk")
    assert (code, out) == (2, "")
    assert err == "error: unknown app 'crypto-rsk' (did you mean 'crypto-risk'?)\n"


def test_bad_apps_declarations_fail_the_command_like_validate(project_dir: Path) -> None:
    apps = project_dir / "config" / "kafka" / "apps.yaml"
    apps.write_text(apps.read_text().replace("group: equities-analytics", "group: crypto-risk.eu"))
    code, out, err = run("--stack", "prod", cwd=project_dir)
    assert (code, out) == (2, "")
    assert "apps.equities-analytics.group: group 'crypto-risk.eu' overlaps group_prefix 'crypto-risk.'" not in err
    assert "apps.crypto-risk.group_prefix: group_prefix 'crypto-risk.' overlaps group 'crypto-risk.eu' of app " in err
