"""The generated console templates served by a real Prometheus (Debian's, tools/monitoring/install.sh) with
the generated rules loaded: every page renders (a template error is a 500), and the exchange page shows
the trading-hours series the rules record, as the tz database says it should be now.

No exporter runs yet (it is not built): the lag and feed tables say "no data", which this checks too.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from k2infra.model.plan import load_plan
from k2infra.model.topology import trading_at
from k2infra.observe import alerts, dashboards
from k2infra.observe.declaration import Watched
from tests.conftest import REPO
from tests.waiting import wait_for as shared_wait_for

pytestmark = pytest.mark.integration

START_TIMEOUT = 120.0  # seconds: Prometheus starting on a loaded 2-core machine
EXCHANGE_PAGE = "consoles/k2-exchange-equities-asx.html"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def wait_for(what: str, check: Any, timeout: float = START_TIMEOUT) -> Any:
    return shared_wait_for(what, check, timeout, interval=0.5)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: run `bash tools/monitoring/install.sh` (make test runs it)")
    watched = Watched.load(REPO / "config", load_plan(REPO / "config", "prod", REPO))
    (tmp_path / "k2-rules.yml").write_text(alerts.render(watched, datetime.now(UTC)))
    for relative, content in dashboards.files(watched).items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(content)
    (tmp_path / "libraries").mkdir()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  evaluation_interval: 1s\nrule_files: [k2-rules.yml]\nscrape_configs: []\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.console.templates={tmp_path / 'consoles'}",
            f"--web.console.libraries={tmp_path / 'libraries'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            f"Prometheus ready on {base} (log: {tmp_path / 'prometheus.log'})", lambda: get(f"{base}/-/ready")[0] == 200
        )
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


def test_every_console_page_renders_under_prometheus(prometheus: str) -> None:
    watched = Watched.load(REPO / "config", load_plan(REPO / "config", "prod", REPO))
    for board in dashboards.dashboards(watched):
        status, body = get(f"{prometheus}/consoles/{board.slug}.html")
        assert status == 200, f"{board.slug}: HTTP {status}\n{body[:2000]}"
        assert f"<h1>{board.title}" in body.replace("&#39;", "'")


def test_the_exchange_page_shows_whether_it_trades_now_and_no_lag_without_an_exporter(prometheus: str) -> None:
    watched = Watched.load(REPO / "config", load_plan(REPO / "config", "prod", REPO))
    hours = watched.topology.trading_hours("equities", "asx")

    def recorded() -> str | None:
        status, body = get(f"{prometheus}/{EXCHANGE_PAGE}")
        section = body.split("<h2>In trading hours</h2>", 1)[-1].split("<h2>", 1)[0]
        return body if status == 200 and ("<td>yes</td>" in section or "<td>no</td>" in section) else None

    before = trading_at(hours, "Australia/Sydney", datetime.now(UTC))
    body = wait_for("the rules to record exchange:k2_trading_hours:bool", recorded)
    after = trading_at(hours, "Australia/Sydney", datetime.now(UTC))
    section = body.split("<h2>In trading hours</h2>", 1)[1].split("<h2>", 1)[0]
    shown = "<td>yes</td>" in section
    if before == after:  # not at the very minute the ASX opens or closes
        assert shown == before, section
    lag = body.split("<h2>Lag of equities-analytics</h2>", 1)[1].split("<h2>", 1)[0]
    assert "no data" in lag
