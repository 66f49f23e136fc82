"""The change summary's own reads on the real platform: the registry's verdict on a new schema and the
records of the topics a change deletes, each compared with what the registry and the broker hold
after `pulumi up` (the secured cluster's module, test_change_summary_secure.py, reads neither).

One dev-like stack on the session's plain platform, shared by the module's tests, in order.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from confluent_kafka import Producer

from devkit.pulumi_project import REPO, PulumiProject
from tests.e2e.conftest import kafka_admin

pytestmark = pytest.mark.e2e

STACK = "e2e"
RECORDS = 7
NYSE = {"name": "New York Stock Exchange", "partitions": 2, "country": "US", "timezone": "America/New_York"}


@pytest.fixture(scope="module")
def project(new_module_project) -> PulumiProject:
    # Hard deletes at teardown: the new schema version this module registers must not stay behind,
    # soft-deleted, under the subjects the next module on the shared registry registers anew.
    made = new_module_project(STACK, {"hardDeleteSubjects": True})
    made.edit_topology(lambda t: t["asset_classes"]["equities"]["exchanges"].__setitem__("nyse", NYSE))
    made.up()
    return made


def plan(project: PulumiProject) -> tuple[int, dict]:
    command = ["plan", "--stack", STACK, "--project-dir", str(project.dir), "--format", "json"]
    done = subprocess.run(
        [sys.executable, "-m", "k2infra", *command],
        cwd=REPO,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_a_new_schema_version_and_more_partitions_are_what_the_registry_and_broker_then_hold(
    project: PulumiProject, platform
) -> None:
    # The registry is the session's: a module before this one may have left versions of the subject
    # behind, so the summary is held to the registry's latest version, whatever it is.
    subject_url = f"{platform.schema_registry_url}/subjects/market.equities.trades-value/versions/latest"
    before = requests.get(subject_url, timeout=30).json()["version"]
    path = project.schema_path("equities", "trades")
    schema = json.loads(path.read_text())
    schema["fields"].append({"name": "venue_tag", "type": ["null", "string"], "default": None, "doc": "e2e"})
    path.write_text(json.dumps(schema, indent=2))
    project.configure({"partitions": {"equities.asx": 4, "crypto.binance": 4}})

    code, summary = plan(project)
    assert (code, summary["headline"]) == (0, "update 2 topics, 1 new schema version; no data loss"), summary
    (subject,) = summary["subjects"]
    assert subject["subject"] == "market.equities.trades-value" and subject["version"] == {
        "from": before,
        "to": before + 1,
    }
    assert subject["verdict"] == {"compatible": True, "level": "BACKWARD", "reasons": []}
    assert subject["schema_changes"] == ["field 'venue_tag' added with a default"]
    partitions = {t["name"]: t["partitions"] for t in summary["topics"]}
    assert partitions == {
        "market.equities.quotes.asx": {"from": 3, "to": 4},
        "market.equities.trades.asx": {"from": 3, "to": 4},
    }

    project.up()
    latest = requests.get(subject_url, timeout=30)
    assert latest.json()["version"] == subject["version"]["to"]
    listed = kafka_admin(platform).list_topics(timeout=30).topics
    assert {name: len(listed[name].partitions) for name in partitions} == {n: p["to"] for n, p in partitions.items()}


def test_removing_an_exchange_is_refused_while_it_holds_records_then_lists_them_as_lost(
    project: PulumiProject, platform
) -> None:
    topic = "market.equities.trades.nyse"
    producer = Producer({"bootstrap.servers": platform.bootstrap_servers})
    for i in range(RECORDS):
        producer.produce(topic, key=f"s{i}".encode(), value=b"x")
    assert producer.flush(30) == 0
    project.edit_topology(lambda t: t["asset_classes"]["equities"]["exchanges"].pop("nyse"))

    code, refused = plan(project)
    assert (code, refused["headline"]) == (1, "refused by the data-loss guard"), refused
    assert f"{topic}: {RECORDS} records" in refused["refusals"][0]["message"]

    project.configure({"allowDataLoss": [topic]})
    code, summary = plan(project)
    assert code == 0, summary
    assert summary["headline"] == f"delete 3 topics; DATA LOSS: {RECORDS} records in 1 topic"
    losses = {t["name"]: t["data_loss"] for t in summary["topics"]}
    assert losses[topic] == {"records": RECORDS, "allowed": True}
    assert summary["data_loss"] == {"topics": sorted(losses), "records": RECORDS}

    project.up()
    assert not set(losses) & set(kafka_admin(platform).list_topics(timeout=30).topics)
