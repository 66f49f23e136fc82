"""What monitoring is told by the declaration: each consumer's lag objective (apps.yaml `slo`), each
exchange's trading hours and silence limit (topics.yaml), validated like every other key."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from k2infra.model.apps import DEFAULT_SLO, load_apps
from k2infra.model.errors import InputError
from k2infra.model.topology import load_topology, parse_duration, parse_session, prometheus_duration, trading_at
from tests.conftest import REPO

TOPICS = Path("kafka") / "topics.yaml"
APPS = Path("kafka") / "apps.yaml"


def _problems(config_dir: Path, load: object) -> list[str]:
    with pytest.raises(InputError) as caught:
        load()  # type: ignore[operator]
    return [str(p).removeprefix(f"{config_dir}/") for p in caught.value.problems]


def topology_problems(config_dir: Path, old: str, new: str) -> list[str]:
    path = config_dir / TOPICS
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return _problems(config_dir, lambda: load_topology(config_dir))


def apps_problems(config_dir: Path, old: str, new: str) -> list[str]:
    path = config_dir / APPS
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return _problems(config_dir, lambda: load_apps(config_dir, load_topology(config_dir).topology))


def line_of(config_dir: Path, file: Path, needle: str) -> int:
    return next(i for i, line in enumerate((config_dir / file).read_text().splitlines(), 1) if needle in line)


# -- durations and sessions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("1h30m", 5400), ("1d", 86400), ("500ms", 0.5), ("1w", 604800)]
)
def test_durations_are_read_in_prometheus_syntax(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "2 m", "m", "30m1h", "1m1m", "-1m", "1.5m", "2min"])
def test_what_prometheus_would_not_read_is_no_duration(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(("seconds", "text"), [(120, "2m"), (90, "1m30s"), (5400, "1h30m"), (0.25, "250ms")])
def test_durations_are_written_back_in_prometheus_syntax(seconds: float, text: str) -> None:
    assert prometheus_duration(timedelta(seconds=seconds)) == text


def test_a_session_names_its_days_and_local_opening_and_closing_time() -> None:
    session = parse_session("mon-fri 10:00-16:00")
    assert (session.days, session.open, session.close) == ((0, 1, 2, 3, 4), time(10), time(16))
    assert parse_session("sun-thu 10:00-15:00").days == (0, 1, 2, 3, 6)  # a range wraps around the week
    assert parse_session("daily 00:00-24:00").close_minute == 24 * 60
    assert parse_session("Mon,Wed 09:30-11:30").days == (0, 2)


def test_trading_hours_are_local_time_across_daylight_saving() -> None:
    asx = (parse_session("mon-fri 10:00-16:00"),)
    # Sydney is UTC+11 in January (daylight saving) and UTC+10 in July: 10:00 local moves in UTC.
    assert trading_at(asx, "Australia/Sydney", datetime(2026, 1, 14, 23, 0, tzinfo=UTC))  # Thu 10:00 AEDT
    assert not trading_at(asx, "Australia/Sydney", datetime(2026, 1, 14, 22, 59, tzinfo=UTC))
    assert not trading_at(asx, "Australia/Sydney", datetime(2026, 7, 14, 23, 30, tzinfo=UTC))  # Wed 09:30 AEST
    assert trading_at(asx, "Australia/Sydney", datetime(2026, 7, 15, 0, 0, tzinfo=UTC))  # Wed 10:00 AEST
    assert not trading_at(asx, "Australia/Sydney", datetime(2026, 1, 17, 1, 0, tzinfo=UTC))  # Saturday
    assert trading_at(None, "UTC", datetime(2026, 1, 17, 1, 0, tzinfo=UTC))  # no hours: around the clock


# -- the shipped declaration ---------------------------------------------------------------------


def test_the_shipped_topology_declares_asx_hours_and_silence_limits() -> None:
    topology = load_topology(REPO / "config").topology
    assert [s.describe() for s in topology.trading_hours("equities", "asx") or ()] == [
        "mon,tue,wed,thu,fri 10:00-16:00"
    ]
    assert topology.trading_hours("crypto", "binance") is None
    assert topology.silence_limit("equities", "asx") == timedelta(minutes=5)  # from its asset class
    assert topology.silence_limit("crypto", "binance") == timedelta(minutes=1)  # its own
    assert not topology.data_types["reference_data"].silence_alerts


def test_an_exchange_limit_overrides_its_asset_class(config_dir: Path) -> None:
    path = config_dir / TOPICS
    path.write_text(
        path.read_text().replace(
            "timezone: Australia/Sydney\n", "timezone: Australia/Sydney\n        silence_limit: 90s\n"
        )
    )
    assert load_topology(config_dir).topology.silence_limit("equities", "asx") == timedelta(seconds=90)


def test_each_app_gets_the_file_defaults_under_its_own_slo() -> None:
    apps = load_apps(REPO / "config", load_topology(REPO / "config").topology)
    slos = {app.name: apps.slo(app) for app in apps.apps}
    assert (slos["crypto-risk"].max_lag_seconds, slos["crypto-risk"].for_) == (30, timedelta(minutes=2))
    assert (slos["equities-analytics"].max_lag_seconds, slos["equities-analytics"].for_) == (60, timedelta(minutes=2))
    assert (slos["reference-data-cache"].max_lag_seconds, slos["reference-data-cache"].for_) == (
        300,
        timedelta(minutes=5),
    )


def test_a_file_without_slo_defaults_gets_the_built_in_objective(config_dir: Path) -> None:
    path = config_dir / APPS
    path.write_text(path.read_text().replace("slo:\n  max_lag_seconds: 30\n  for: 2m\n", ""))
    apps = load_apps(config_dir, load_topology(config_dir).topology)
    risk = next(a for a in apps.apps if a.name == "crypto-risk")
    assert apps.slo(risk) == DEFAULT_SLO


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "shown"), [("0s", "'0s'"), ("5", "5"), ("five minutes", "'five minutes'"), ("-1m", "'-1m'")]
)
def test_a_silence_limit_must_be_a_positive_duration(config_dir: Path, written: str, shown: str) -> None:
    problems = topology_problems(config_dir, "silence_limit: 5m", f"silence_limit: {written}")
    line = line_of(config_dir, TOPICS, "silence_limit: ")
    assert problems == [
        f"kafka/topics.yaml:{line}: asset_classes.equities.silence_limit: "
        f"must be a positive duration such as '30s', '2m' or '1h30m', got {shown}"
    ]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("mon-fri 10:00", "must be 'DAYS HH:MM-HH:MM' such as 'mon-fri 10:00-16:00', got 'mon-fri 10:00'"),
        ("mon-fir 10:00-16:00", "unknown day 'fir' (did you mean 'fri'?), got 'mon-fir 10:00-16:00'"),
        ("mon-fri 16:00-10:00", "opens at 16:00 but closes at 10:00: a session past midnight is two sessions"),
        ("mon-fri 10:00-25:00", "closing time '25:00' is not a time of day (00:00 to 24:00)"),
    ],
)
def test_trading_hours_that_do_not_parse_say_why(config_dir: Path, written: str, message: str) -> None:
    [problem] = topology_problems(config_dir, "trading_hours: mon-fri 10:00-16:00", f"trading_hours: {written}")
    line = line_of(config_dir, TOPICS, "trading_hours:")
    assert problem.startswith(f"kafka/topics.yaml:{line}: asset_classes.equities.exchanges.asx.trading_hours: ")
    assert message in problem


def test_trading_hours_may_be_several_sessions_each_checked(config_dir: Path) -> None:
    problems = topology_problems(
        config_dir,
        "trading_hours: mon-fri 10:00-16:00",
        "trading_hours: ['mon-fri 09:00-11:30', 'mon-fri 12:30-15:00', 10]",
    )
    line = line_of(config_dir, TOPICS, "trading_hours:")
    assert problems == [
        f"kafka/topics.yaml:{line}: asset_classes.equities.exchanges.asx.trading_hours[2]: "
        "must be a session such as 'mon-fri 10:00-16:00', got 10"
    ]


def test_a_misspelt_monitoring_key_gets_did_you_mean(config_dir: Path) -> None:
    problems = topology_problems(config_dir, "trading_hours:", "trading_hour:")
    line = line_of(config_dir, TOPICS, "trading_hour:")
    assert problems == [
        f"kafka/topics.yaml:{line}: asset_classes.equities.exchanges.asx.trading_hour: "
        "unknown key (did you mean 'trading_hours'?)"
    ]


def test_every_bad_slo_is_reported_at_once_with_its_line(config_dir: Path) -> None:
    path = config_dir / APPS
    text = path.read_text()
    text = text.replace("  max_lag_seconds: 30\n  for: 2m\n", "  max_lag_seconds: 0\n  for: 2 minutes\n", 1)
    text = text.replace("max_lag_seconds: 60 ", "max_lag_secs: 60 ", 1)
    text = text.replace("      for: 5m", "      for: true", 1)
    path.write_text(text)
    problems = _problems(config_dir, lambda: load_apps(config_dir, load_topology(config_dir).topology))
    lines = [
        line_of(config_dir, APPS, needle)
        for needle in ("max_lag_seconds: 0", "for: 2 minutes", "max_lag_secs", "for: true")
    ]
    assert problems == [
        f"kafka/apps.yaml:{lines[0]}: slo.max_lag_seconds: must be a positive number of seconds, got 0",
        f"kafka/apps.yaml:{lines[1]}: slo.for: must be a positive duration such as '30s', '2m' or '1h30m', "
        "got '2 minutes'",
        f"kafka/apps.yaml:{lines[2]}: apps.equities-analytics.slo.max_lag_secs: "
        "unknown key (did you mean 'max_lag_seconds'?)",
        f"kafka/apps.yaml:{lines[3]}: apps.reference-data-cache.slo.for: "
        "must be a positive duration such as '30s', '2m' or '1h30m', got true",
    ]


def test_an_slo_on_an_app_that_consumes_nothing_is_refused(config_dir: Path) -> None:
    problems = apps_problems(
        config_dir,
        "    quotas:\n      producer_byte_rate: 52428800",
        "    slo: {max_lag_seconds: 10}\n    quotas:\n      producer_byte_rate: 52428800",
    )
    line = line_of(config_dir, APPS, "slo: {max_lag_seconds: 10}")
    assert problems == [
        f"kafka/apps.yaml:{line}: apps.market-data-normaliser.slo: "
        "only a consumer has a lag objective; this app consumes nothing"
    ]


def test_an_empty_slo_is_refused(config_dir: Path) -> None:
    problems = apps_problems(config_dir, "slo:\n  max_lag_seconds: 30\n  for: 2m\n", "slo: {}\n")
    line = line_of(config_dir, APPS, "slo: {}")
    assert problems == [
        f"kafka/apps.yaml:{line}: slo: sets no objective; set max_lag_seconds, for, or both (or leave slo out)"
    ]


def test_empty_trading_hours_are_refused_rather_than_meaning_never_open(config_dir: Path) -> None:
    problems = topology_problems(config_dir, "trading_hours: mon-fri 10:00-16:00", "trading_hours: []")
    line = line_of(config_dir, TOPICS, "trading_hours:")
    assert problems == [
        f"kafka/topics.yaml:{line}: asset_classes.equities.exchanges.asx.trading_hours: "
        "must list at least one session (omit it for around the clock)"
    ]
