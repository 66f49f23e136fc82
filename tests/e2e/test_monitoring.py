"""Monitoring end to end, on real processes: feed producers of two exchanges (ASX, Binance) and consumers of
two apps (equities-analytics, crypto-risk) on a Kafka broker of the module's own (it restarts it: the
session's platform and its registry are left alone); the exporter, Prometheus with the generated rules
and consoles, and Alertmanager, started as `make monitor` starts them (devkit.monitor).

The stack is the shipped declaration with objectives short enough for a test (issue 21, item 9): every
consumer's lag objective 5 s for 10 s, a silence limit of 15 s, and the ASX trading around the clock
(`daily 00:00-24:00`, through the same trading-hours rules), so that its silence alert could fire now
and stays quiet only because its feed runs. The apps' groups get names of this run's own. Prometheus
scrapes and evaluates every second, the exporter reads every second.

- a stopped consumer: its K2ConsumerLagging goes pending, then firing, with app and exchange labels;
  it resolves once the consumer resumes;
- a stopped producer: only that exchange's K2FeedSilent fires, and Alertmanager receives it;
- the exporter across a broker restart: k2_exporter_up 0, then 1, the same process throughout;
- the ASX console page in Chromium (Selenium, Debian's chromium-driver) shows equities-analytics's lag
  with data; screenshots of it and of the app's page are written (K2_SCREENSHOTS=DIR: there too).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from devkit import monitor as monitoring
from devkit.local_platform import (
    DEFAULT_START_TIMEOUT,
    ENV_BOOTSTRAP,
    LocalPlatform,
    parse_env_file,
    start_platform_sh,
)
from k2infra.model.stack import load_stack_file
from tests.conftest import REPO
from tests.waiting import terminate
from tests.waiting import wait_for as shared_wait_for

pytestmark = pytest.mark.e2e

STACK = "monitored"
WAIT = 120.0  # seconds: a group join, a rule's `for` plus scrapes, a broker restart, on a loaded 2-core machine
MAX_LAG_SECONDS = 5
FOR = "10s"
SILENCE = "15s"
ASX_TRADES = "market.equities.trades.asx"
BINANCE_TRADES = "market.crypto.trades.binance"


def wait_for(what: str, check: Any, timeout: float = WAIT) -> Any:
    return shared_wait_for(what, check, timeout, interval=0.25)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


# -- the platform, the stack and the processes ----------------------------------------------------


@pytest.fixture(scope="module")
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """A broker of this module's own (no registry: nothing here needs one), so that its restart leaves
    the session's platform, and the registry journal on it, alone."""
    state, env, _ = start_platform_sh(
        ["kafka"], tmp_path_factory.mktemp("monitoring-broker"), DEFAULT_START_TIMEOUT, None
    )
    values = parse_env_file(state / "platform.env")
    own = LocalPlatform(values[ENV_BOOTSTRAP], "", state_dir=state, env=values, owned=True, script_env=env)
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture(scope="module")
def tag() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, restartable: LocalPlatform, tag: str) -> Path:
    root = tmp_path_factory.mktemp("monitoring-project")
    shutil.copytree(REPO / "config", root / "config")
    apps_file = root / "config" / "kafka" / "apps.yaml"
    apps = yaml.safe_load(apps_file.read_text())
    apps["slo"] = {"max_lag_seconds": MAX_LAG_SECONDS, "for": FOR}
    apps["apps"]["equities-analytics"]["slo"] = {"max_lag_seconds": MAX_LAG_SECONDS}
    apps["apps"]["equities-analytics"]["group"] = f"equities-analytics-{tag}"
    apps["apps"]["crypto-risk"]["group_prefix"] = f"crypto-risk-{tag}."
    apps_file.write_text(yaml.safe_dump(apps, sort_keys=False))
    topics_file = root / "config" / "kafka" / "topics.yaml"
    topics = yaml.safe_load(topics_file.read_text())
    topics["asset_classes"]["equities"]["silence_limit"] = SILENCE
    topics["asset_classes"]["equities"]["exchanges"]["asx"]["trading_hours"] = "daily 00:00-24:00"
    topics["asset_classes"]["crypto"]["exchanges"]["binance"]["silence_limit"] = SILENCE
    topics_file.write_text(yaml.safe_dump(topics, sort_keys=False))
    stack = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    stack["config"]["k2infra:bootstrapServers"] = restartable.bootstrap_servers
    (root / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def topics(project: Path, restartable: LocalPlatform) -> Iterator[list[str]]:
    """The stack's topics of both exchanges, created where missing (and deleted at the end)."""
    plan = load_stack_file(project / "config", STACK, project).plan
    admin = AdminClient({"bootstrap.servers": restartable.bootstrap_servers})
    existing = set(admin.list_topics(timeout=WAIT).topics)
    created = [NewTopic(t.name, t.partitions, 1, config=dict(t.config)) for t in plan.topics if t.name not in existing]
    if created:
        for future in admin.create_topics(created).values():
            future.result(WAIT)
    yield [t.name for t in plan.topics]
    if created:
        for future in admin.delete_topics([t.topic for t in created]).values():
            future.result(WAIT)


class App:
    """A producer or consumer process (tests/e2e/market_apps.py) that can be stopped and started again."""

    def __init__(self, log_dir: Path, name: str, *args: str) -> None:
        self.name, self.args, self.log = name, args, log_dir / f"{name}.log"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.market_apps", *self.args],
            stdout=subprocess.PIPE,
            stderr=self.log.open("a"),
            text=True,
            cwd=REPO,
        )
        stdout = self.process.stdout
        assert stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(stdout.readline().strip()), daemon=True).start()
        try:
            line = lines.get(timeout=WAIT)  # "ready", or "" when it exited first
        except queue.Empty:
            line = f"nothing within {WAIT:g}s"
        assert line == "ready", (
            f"{self.name} did not start ({line!r}, exit {self.process.poll()}): {self.log.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        terminate(self.process, self.name, WAIT)


@pytest.fixture(scope="module")
def apps(
    topics: list[str], restartable: LocalPlatform, tag: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, App]]:
    logs = tmp_path_factory.mktemp("market-apps")
    servers = restartable.bootstrap_servers
    running = {
        "asx-feed": App(logs, "asx-feed", "produce", servers, ASX_TRADES),
        "binance-feed": App(logs, "binance-feed", "produce", servers, BINANCE_TRADES),
        "equities-analytics": App(
            logs, "equities-analytics", "consume", servers, f"equities-analytics-{tag}", ASX_TRADES
        ),
        "crypto-risk": App(logs, "crypto-risk", "consume", servers, f"crypto-risk-{tag}.book1", BINANCE_TRADES),
    }
    try:
        for app in running.values():
            app.start()
        yield running
    finally:
        for app in running.values():
            app.stop()


@pytest.fixture(scope="module")
def monitor(project: Path, apps: dict[str, App], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    ports = dict(zip(monitoring.DEFAULT_PORTS, monitoring.free_ports(3), strict=True))
    started = monitoring.start(
        STACK,
        project_dir=project,
        state_dir=tmp_path_factory.mktemp("monitor"),
        ports=ports,
        intervals=monitoring.Intervals(scrape="1s", evaluation="1s", exporter=1.0),
        timeout=WAIT,
    )
    try:
        yield started
    finally:
        started.stop()


# -- reading Prometheus, Alertmanager and the exporter --------------------------------------------


def alerts(monitor: Any, name: str, **labels: str) -> list[dict[str, Any]]:
    """Prometheus's pending and firing alerts of that name whose labels include `labels`."""
    found = get_json(f"{monitor.prometheus_url}/api/v1/alerts")["data"]["alerts"]
    return [a for a in found if a["labels"].get("alertname") == name and labels.items() <= a["labels"].items()]


def query(monitor: Any, expr: str) -> list[dict[str, Any]]:
    url = f"{monitor.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    return get_json(url)["data"]["result"]


def scrape(monitor: Any) -> dict[str, list[Any]]:
    with urllib.request.urlopen(monitor.exporter_url, timeout=10) as answer:
        text = answer.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def exporter_up(monitor: Any) -> float | None:
    try:
        return scrape(monitor)["k2_exporter_up"][0].value
    except OSError:
        return None


@pytest.fixture(scope="module")
def flowing(monitor: Any, tag: str) -> Any:
    """Both feeds fresh and both consumers caught up, as Prometheus sees them: where each test starts."""

    def healthy() -> bool:
        ages = {
            r["metric"]["exchange"]: float(r["value"][1])
            for r in query(monitor, 'k2_feed_last_record_age_seconds{data_type="trades"}')
        }
        lags = {
            r["metric"]["app"]: float(r["value"][1])
            for r in query(monitor, 'k2_consumer_lag_seconds{data_type="trades"}')
            if r["metric"]["group"].startswith(("equities-analytics-" + tag, "crypto-risk-" + tag))
        }
        return (
            set(ages) >= {"asx", "binance"}
            and max(ages.values()) < 5
            and set(lags) == {"equities-analytics", "crypto-risk"}
            and max(lags.values()) < MAX_LAG_SECONDS
        )

    wait_for("both feeds fresh and both consumers caught up in Prometheus", healthy)
    return monitor


# -- the tests ------------------------------------------------------------------------------------


def test_a_stopped_consumer_s_lag_alert_goes_pending_then_firing_with_app_and_exchange_and_resolves_after_it_resumes(
    flowing: Any, apps: dict[str, App], tag: str
) -> None:
    which = {"app": "equities-analytics", "exchange": "asx", "data_type": "trades"}
    assert alerts(flowing, "K2ConsumerLagging", **which) == []
    apps["equities-analytics"].stop()
    seen: list[str] = []

    def firing() -> dict[str, Any] | None:
        found = alerts(flowing, "K2ConsumerLagging", **which)
        seen.extend(a["state"] for a in found if not seen or seen[-1] != a["state"])
        return next((a for a in found if a["state"] == "firing"), None)

    alert = wait_for("K2ConsumerLagging of equities-analytics on asx trades to fire", firing)
    assert seen[0] == "pending", seen  # `for` 10 s: pending first
    assert alert["labels"] == {
        "alertname": "K2ConsumerLagging",
        "severity": "warning",
        "app": "equities-analytics",
        "group": f"equities-analytics-{tag}",
        "asset_class": "equities",
        "data_type": "trades",
        "exchange": "asx",
        "instance": alert["labels"]["instance"],
        "job": "k2-exporter",
    }
    assert float(alert["value"]) > MAX_LAG_SECONDS
    assert alerts(flowing, "K2ConsumerLagging", app="crypto-risk") == []  # the other app reads on

    apps["equities-analytics"].start()
    wait_for("K2ConsumerLagging of equities-analytics to resolve", lambda: not alerts(flowing, "K2ConsumerLagging"))


def test_a_silent_exchange_fires_only_its_own_silence_alert_and_alertmanager_receives_it(
    flowing: Any, apps: dict[str, App]
) -> None:
    assert alerts(flowing, "K2FeedSilent") == []
    apps["binance-feed"].stop()
    (alert,) = wait_for(
        "K2FeedSilent of binance to fire",
        lambda: [a for a in alerts(flowing, "K2FeedSilent") if a["state"] == "firing"],
    )
    assert (alert["labels"]["exchange"], alert["labels"]["data_type"]) == ("binance", "trades")
    # The ASX is in its (test) trading hours and could fire: its feed runs, so it does not.
    assert alerts(flowing, "K2FeedSilent", exchange="asx") == []
    (asx,) = query(flowing, 'k2_feed_last_record_age_seconds{exchange="asx",data_type="trades"}')
    assert float(asx["value"][1]) < 15

    def received() -> list[dict[str, Any]]:
        found = get_json(f"{flowing.alertmanager_url}/api/v2/alerts?filter=alertname%3D%22K2FeedSilent%22")
        return [a for a in found if a["labels"].get("exchange") == "binance" and a["status"]["state"] == "active"]

    (sent,) = wait_for("Alertmanager to receive K2FeedSilent of binance", received)
    assert (sent["labels"]["severity"], sent["labels"]["data_type"]) == ("critical", "trades")
    assert sent["annotations"]["runbook"] == "docs/monitoring.md#k2feedsilent"

    apps["binance-feed"].start()
    wait_for("K2FeedSilent of binance to resolve", lambda: not alerts(flowing, "K2FeedSilent"))


def test_the_asx_console_page_in_a_browser_shows_the_lag_of_equities_analytics_with_data(
    flowing: Any, tag: str, tmp_path: Path
) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail("chromium and chromedriver are not installed: run `make monitoring` (tools/monitoring/install.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,1500"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    shots = [tmp_path] + ([Path(os.environ["K2_SCREENSHOTS"])] if os.environ.get("K2_SCREENSHOTS") else [])
    try:
        browser.set_page_load_timeout(60)

        def lag_rows() -> list[list[str]]:
            browser.get(f"{flowing.prometheus_url}/consoles/k2-exchange-equities-asx.html")
            heading = browser.find_element(By.XPATH, "//h2[text()='Lag of equities-analytics']")
            table = heading.find_element(By.XPATH, "following-sibling::table[1]")
            rows = [
                [c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in table.find_elements(By.TAG_NAME, "tr")
            ]
            return [r for r in rows if r and r[0] == f"equities-analytics-{tag}" and r[1] == "trades"]

        ((_group, _data_type, value),) = wait_for("the ASX page to show equities-analytics's lag on trades", lag_rows)
        assert value and value != "no data"  # a humanized duration, e.g. "0s" or "1.2s"
        assert browser.title == "K2 exchange equities.asx: Australian Securities Exchange"
        for directory in shots:
            directory.mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(str(directory / "dashboard-exchange-asx.png"))
        browser.get(f"{flowing.prometheus_url}/consoles/k2-app-equities-analytics.html")
        assert f"equities-analytics-{tag}" in browser.find_element(By.TAG_NAME, "body").text
        for directory in shots:
            assert browser.save_screenshot(str(directory / "dashboard-app-equities-analytics.png"))
    finally:
        browser.quit()
    assert (tmp_path / "dashboard-exchange-asx.png").stat().st_size > 0


def test_the_exporter_survives_a_broker_restart_up_0_then_1(flowing: Any, restartable: LocalPlatform) -> None:
    pid = flowing.pid("exporter")
    assert pid is not None and exporter_up(flowing) == 1
    restartable.stop_broker()
    try:
        wait_for("k2_exporter_up 0 while the broker is down", lambda: exporter_up(flowing) == 0)
        samples = scrape(flowing)
        assert samples.get("k2_consumer_lag_seconds", []) == []  # no stale values served as fresh
        assert samples.get("k2_feed_last_record_age_seconds", []) == []
    finally:
        restartable.start_broker()
    wait_for("k2_exporter_up 1 after the broker is back", lambda: exporter_up(flowing) == 1)
    wait_for("Prometheus to see k2_exporter_up 1", lambda: [r for r in query(flowing, "k2_exporter_up == 1")])
    assert flowing.pid("exporter") == pid  # the same process: it never exited
    log = (flowing.state_dir / "logs" / "exporter.log").read_text()
    assert "read failed, k2_exporter_up 0: " in log
    assert "k2_exporter_up 1" in log.split("read failed, k2_exporter_up 0: ")[-1]
