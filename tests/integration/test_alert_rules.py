"""The generated rules under the real promtool (Debian's prometheus package, tools/monitoring/install.sh):
`promtool check rules` accepts them, and `promtool test rules` proves what they do: a lagging consumer
fires after its SLO's `for` and a healthy one does not; a silent exchange fires only in its trading
hours (local time, across daylight saving).

promtool evaluates from the Unix epoch (1970-01-01, a Thursday), so the rules are generated with
1970 as their year; the tz database knows 1970's offsets as well as today's.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from k2infra.model.plan import load_plan
from k2infra.observe import alerts
from k2infra.observe.declaration import Watched
from tests.conftest import REPO

pytestmark = pytest.mark.integration

EPOCH_YEAR = datetime(1970, 6, 1, tzinfo=UTC)
PROMTOOL_TIMEOUT = 300  # seconds: a long fixture on a loaded 2-core machine


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run `bash tools/monitoring/install.sh` (make test runs it)")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT, check=False)


def write_rules(tmp_path: Path, config_dir: Path, project_dir: Path, stack: str | None = "prod") -> Path:
    plan = load_plan(config_dir, stack, project_dir)
    path = tmp_path / "k2-rules.yml"
    path.write_text(alerts.render(Watched.load(config_dir, plan), EPOCH_YEAR))
    return path


def promtool_test(tmp_path: Path, rules: Path, tests: list[dict[str, Any]], interval: str = "1m") -> None:
    suite = tmp_path / "k2-rules.test.yml"
    suite.write_text(yaml.safe_dump({"rule_files": [str(rules)], "evaluation_interval": interval, "tests": tests}))
    result = run_promtool("test", "rules", str(suite))
    assert result.returncode == 0, f"promtool test rules failed:\n{result.stdout}\n{result.stderr}"
    assert "SUCCESS" in result.stdout + result.stderr


def lag(app: str, group: str, asset_class: str, data_type: str, exchange: str) -> str:
    return (
        f'k2_consumer_lag_seconds{{app="{app}",group="{group}",asset_class="{asset_class}",'
        f'data_type="{data_type}",exchange="{exchange}"}}'
    )


def age(asset_class: str, data_type: str, exchange: str) -> str:
    return (
        f'k2_feed_last_record_age_seconds{{asset_class="{asset_class}",data_type="{data_type}",exchange="{exchange}"}}'
    )


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_promtool_accepts_the_rules_of_every_shipped_stack(tmp_path: Path, stack: str) -> None:
    rules = write_rules(tmp_path, REPO / "config", REPO, stack)
    result = run_promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_consumer_over_its_slo_fires_after_for_and_one_within_its_own_slo_does_not(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, REPO / "config", REPO)
    # 45 s behind: over crypto-risk's 30 s (the file's default), under equities-analytics' own 60 s.
    series = [
        {"series": lag("crypto-risk", "crypto-risk.book1", "crypto", "trades", "binance"), "values": "45x10"},
        {"series": lag("equities-analytics", "equities-analytics", "equities", "trades", "asx"), "values": "45x10"},
        {"series": "k2_exporter_up", "values": "1x10"},
    ]
    firing = {
        "exp_labels": {
            "severity": "warning",
            "app": "crypto-risk",
            "group": "crypto-risk.book1",
            "asset_class": "crypto",
            "data_type": "trades",
            "exchange": "binance",
        },
        "exp_annotations": {
            "summary": "crypto-risk is 45s behind on crypto.binance trades",
            "description": "The SLO of crypto-risk is a lag under 30s; it has been over it for 2m "
            "(config/kafka/apps.yaml).",
            "runbook": "docs/monitoring.md#k2consumerlagging",
        },
    }
    promtool_test(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": "K2ConsumerLagging", "exp_alerts": []},  # pending, not firing
                    {"eval_time": "2m", "alertname": "K2ConsumerLagging", "exp_alerts": [firing]},
                    {"eval_time": "9m", "alertname": "K2ConsumerLagging", "exp_alerts": [firing]},
                    {"eval_time": "9m", "alertname": "K2ExporterDown", "exp_alerts": []},
                ],
            }
        ],
    )


def test_a_stalled_consumer_and_a_missing_exporter_fire(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, REPO / "config", REPO)
    state = (
        'k2_consumer_state{app="reference-data-cache",group="reference-data-cache",asset_class="crypto",'
        'data_type="reference_data",exchange="binance",state="stalled"}'
    )
    promtool_test(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": [{"series": state, "values": "1x10"}],
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "K2ConsumerStalled", "exp_alerts": []},  # its SLO says for: 5m
                    {
                        "eval_time": "5m",
                        "alertname": "K2ConsumerStalled",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "app": "reference-data-cache",
                                    "group": "reference-data-cache",
                                    "asset_class": "crypto",
                                    "data_type": "reference_data",
                                    "exchange": "binance",
                                    "state": "stalled",
                                },
                                "exp_annotations": {
                                    "summary": "reference-data-cache (group reference-data-cache) has stopped "
                                    "committing on crypto.binance reference_data",
                                    "description": "Records wait and the group's committed offsets have not moved "
                                    "for 5m.",
                                    "runbook": "docs/monitoring.md#k2consumerstalled",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "2m",
                        "alertname": "K2ExporterDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical"},
                                "exp_annotations": {
                                    "summary": "no K2 exporter is scraped: lag and feed alerts cannot fire",
                                    "description": "k2_exporter_up has been absent for 2m.",
                                    "runbook": "docs/monitoring.md#k2exporterdown",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    )


def _silent(asset_class: str, exchange: str, data_type: str, description: str) -> dict[str, Any]:
    return {
        "exp_labels": {
            "severity": "critical",
            "asset_class": asset_class,
            "exchange": exchange,
            "data_type": data_type,
        },
        "exp_annotations": {
            "summary": f"{exchange} {data_type}: no record for 1h 0m 0s",
            "description": description,
            "runbook": "docs/monitoring.md#k2feedsilent",
        },
    }


def test_a_silent_exchange_fires_only_within_its_trading_hours(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, REPO / "config", REPO)
    asx = _silent(
        "equities",
        "asx",
        "trades",
        "Australian Securities Exchange (equities.asx) is expected to publish in trading hours "
        "(mon,tue,wed,thu,fri 10:00-16:00 Australia/Sydney); its silence limit is 5m (config/kafka/topics.yaml).",
    )
    binance = _silent(
        "crypto",
        "binance",
        "trades",
        "Binance (crypto.binance) is expected to publish around the clock; its silence limit is 1m "
        "(config/kafka/topics.yaml).",
    )
    # Every feed is an hour silent all along, reference data too (declared silence_alerts: false).
    # 1970-01-01 00:00 UTC is Thursday 10:00 in Sydney (UTC+10 then): the ASX opens as the test starts.
    series = [
        {"series": age("equities", "trades", "asx"), "values": "3600+0x1500"},
        {"series": age("equities", "reference_data", "asx"), "values": "3600+0x1500"},
        {"series": age("crypto", "trades", "binance"), "values": "3600+0x1500"},
    ]
    promtool_test(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    # Thursday 15:00 in Sydney: both exchanges trade.
                    {"eval_time": "5h", "alertname": "K2FeedSilent", "exp_alerts": [binance, asx]},
                    # 16:10: the ASX has closed; Binance trades around the clock.
                    {"eval_time": "6h10m", "alertname": "K2FeedSilent", "exp_alerts": [binance]},
                    # Friday 10:03: open 3 minutes, less than its 5-minute limit: the night's silence does not page.
                    {"eval_time": "24h3m", "alertname": "K2FeedSilent", "exp_alerts": [binance]},
                    # Friday 10:06: silent for its limit within trading hours.
                    {"eval_time": "24h6m", "alertname": "K2FeedSilent", "exp_alerts": [binance, asx]},
                ],
            }
        ],
    )


def test_trading_hours_follow_daylight_saving_in_the_exchange_time_zone(
    tmp_path: Path, config_dir: Path, project_dir: Path
) -> None:
    # Hobart left daylight saving (UTC+11 -> UTC+10) on 1970-03-08, early enough in promtool's 1970
    # for a short test: an exchange there opens at 10:00 local, 23:00 UTC before and 00:00 UTC after.
    path = config_dir / "kafka" / "topics.yaml"
    path.write_text(
        path.read_text().replace(
            "        trading_hours: mon-fri 10:00-16:00",
            "        trading_hours: mon-fri 10:00-16:00\n"
            "      hobart:\n"
            "        name: A test exchange in Hobart\n"
            "        partitions: 3\n"
            "        timezone: Australia/Hobart\n"
            "        trading_hours: mon-fri 10:00-16:00",
        )
    )
    generated = yaml.safe_load(write_rules(tmp_path, config_dir, project_dir, stack=None).read_text())
    # Only the calendar: the other rules would be evaluated too, at every step.
    [calendar] = [g for g in generated["groups"] if g["name"] == "k2-trading-hours"]
    rules = tmp_path / "k2-trading-hours.yml"
    rules.write_text(yaml.safe_dump({"groups": [calendar]}))

    def trading(at: str, value: int) -> dict[str, Any]:
        series = 'exchange:k2_trading_hours:bool{asset_class="equities",exchange="hobart"}'
        return {"expr": series, "eval_time": at, "exp_samples": [{"labels": series, "value": value}]}

    promtool_test(
        tmp_path,
        rules,
        [
            {
                "interval": "1h",
                "input_series": [],
                "promql_expr_test": [
                    # Friday 1970-01-02 on daylight time (UTC+11): 09:00 and 10:00 local.
                    trading("22h", 0),
                    trading("23h", 1),
                    # Monday 1970-03-09 on standard time (UTC+10): 09:00 and 10:00 local.
                    trading("1607h", 0),
                    trading("1608h", 1),
                ],
            }
        ],
        interval="1h",
    )
