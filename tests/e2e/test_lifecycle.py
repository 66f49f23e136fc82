"""The whole life of a stack with the real Pulumi CLI, Kafka provider, broker and registry.

The tests of this module run in order on one stack, as a user would: preview, up, no-op preview,
add an exchange, change partitions, evolve schemas, read outputs from an app stack, destroy.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import requests
from confluent_kafka.admin import ConfigResource

from devkit.pulumi_project import REPO, PulumiProject
from tests.e2e.conftest import kafka_admin

pytestmark = pytest.mark.e2e

TOPIC = "kafka:index/topic:Topic"
SUBJECT = "pulumi-python:dynamic/k2infra:SchemaSubject"
PROVIDER = "pulumi:providers:kafka"
COMPONENT = "k2infra:index:TopicPlatform"
TODAY = sorted(
    f"market.{ac}.{dt}.{ex}"
    for ac, ex in (("equities", "asx"), ("crypto", "binance"))
    for dt in ("trades", "quotes", "reference_data")
)
SUBJECTS = sorted(
    f"market.{ac}.{dt}-value" for ac in ("equities", "crypto") for dt in ("trades", "quotes", "reference_data")
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str, platform):
    from tests.e2e.conftest import base_settings, tear_down

    root = tmp_path_factory.mktemp("lifecycle")
    project = PulumiProject.create(root / "project", "e2e", root / "backend")
    project.configure({**base_settings(platform), "hardDeleteSubjects": False})
    project.set_secret("schemaRegistryPassword", "registry-pa55-e2e")
    yield project
    tear_down(project, platform)  # also when a test failed part-way: the platform is shared


def live_topics(platform) -> dict[str, int]:
    metadata = kafka_admin(platform).list_topics(timeout=15)
    return {name: len(t.partitions) for name, t in metadata.topics.items() if name.startswith("market.")}


def live_config(platform, topic: str) -> dict[str, str]:
    admin = kafka_admin(platform)  # kept alive until the future resolves
    [future] = admin.describe_configs([ConfigResource("topic", topic)]).values()
    return {key: entry.value for key, entry in future.result(timeout=15).items()}


def registry(platform, path: str) -> requests.Response:
    return requests.get(f"{platform.schema_registry_url}{path}", timeout=10)


def test_1_preview_of_a_new_stack_plans_exactly_topics_and_subjects(project: PulumiProject) -> None:
    preview = project.preview()
    creates = Counter(typ for (op, typ), n in preview.ops().items() for _ in range(n) if op == "create")
    assert creates[TOPIC] == 6 and creates[SUBJECT] == 6 and creates[PROVIDER] == 1 and creates[COMPONENT] == 1
    others = set(creates) - {
        TOPIC,
        SUBJECT,
        PROVIDER,
        COMPONENT,
        "pulumi:pulumi:Stack",
        "pulumi:providers:pulumi-python",
    }
    assert not others, preview.raw
    assert {op for op, _ in preview.ops()} == {"create"}
    assert preview.names("create", TOPIC) == TODAY
    assert preview.names("create", SUBJECT) == SUBJECTS


def test_2_up_creates_them_on_the_broker_and_registry(project: PulumiProject, platform) -> None:
    project.up()
    topics = live_topics(platform)
    assert {n: topics.get(n) for n in TODAY} == {
        n: 1 if "reference_data" in n else (3 if "asx" in n else 4) for n in TODAY
    }
    metadata = kafka_admin(platform).list_topics(timeout=15)
    assert {len(p.replicas) for n in TODAY for p in metadata.topics[n].partitions.values()} == {1}
    assert live_config(platform, "market.crypto.reference_data.binance")["cleanup.policy"] == "compact"
    assert live_config(platform, "market.crypto.trades.binance")["cleanup.policy"] == "delete"
    assert live_config(platform, "market.equities.trades.asx")["compression.type"] == "lz4"
    listed = registry(platform, "/subjects").json()
    assert sorted(s for s in listed if s.startswith("market.")) == SUBJECTS
    for subject in SUBJECTS:
        assert registry(platform, f"/subjects/{subject}/versions").json() == [1]
        assert registry(platform, f"/config/{subject}").json()["compatibilityLevel"] == "BACKWARD"
    outputs = project.outputs()
    assert sorted(outputs["topics"]) == TODAY
    assert outputs["bootstrap_servers"] == platform.bootstrap_servers
    assert outputs["schema_registry_url"] == platform.schema_registry_url
    assert outputs["subscriptions"]["by_exchange"]["equities.asx"] == [n for n in TODAY if n.endswith(".asx")]
    assert outputs["schemas"]["market.equities.trades-value"]["version"] == 1


def test_3_a_second_preview_shows_no_change(project: PulumiProject) -> None:
    project.run("preview", "--expect-no-changes")


def add_nyse(topology: dict) -> None:
    topology["asset_classes"]["equities"]["exchanges"]["nyse"] = {
        "name": "New York Stock Exchange",
        "partitions": 5,
        "country": "US",
        "timezone": "America/New_York",
    }


def test_4_adding_an_exchange_creates_exactly_its_three_topics(project: PulumiProject, platform) -> None:
    project.edit_topology(add_nyse)
    preview = project.preview()
    assert preview.ops() == Counter({("create", TOPIC): 3}), preview.raw
    assert preview.names("create", TOPIC) == sorted(
        f"market.equities.{dt}.nyse" for dt in ("trades", "quotes", "reference_data")
    )
    assert not [step for step in preview.steps if step["op"] in ("replace", "delete", "create-replacement")]
    project.up()
    topics = live_topics(platform)
    assert topics["market.equities.trades.nyse"] == 5
    assert topics["market.equities.reference_data.nyse"] == 1


def test_5_raising_partitions_updates_in_place_and_lowering_is_refused(project: PulumiProject, platform) -> None:
    project.configure({"partitions": {"equities.asx": 6, "crypto.binance": 4}})
    preview = project.preview()
    assert preview.ops() == Counter({("update", TOPIC): 2}), preview.raw
    project.up()
    assert live_topics(platform)["market.equities.trades.asx"] == 6

    project.configure({"partitions": {"equities.asx": 2, "crypto.binance": 4}})
    refused = project.preview(check=False)
    assert "refusing to lower partition counts" in refused.raw
    assert "market.equities.trades.asx: planned 2 partitions, the cluster has 6" in refused.raw
    assert live_topics(platform)["market.equities.trades.asx"] == 6
    project.configure({"partitions": {"equities.asx": 6, "crypto.binance": 4}})


def test_6_schemas_evolve_only_compatibly(project: PulumiProject, platform) -> None:
    path = project.schema_path("crypto", "trades")
    original = json.loads(path.read_text())
    compatible = json.loads(path.read_text())
    compatible["fields"].append(
        {"name": "venue_tag", "type": ["null", "string"], "default": None, "doc": "Optional venue tag (e2e)."}
    )
    path.write_text(json.dumps(compatible, indent=2))
    preview = project.preview()
    assert preview.ops() == Counter({("update", SUBJECT): 1}), preview.raw
    project.up()
    assert registry(platform, "/subjects/market.crypto.trades-value/versions").json() == [1, 2]

    incompatible = json.loads(path.read_text())
    incompatible["fields"].append({"name": "required_tag", "type": "string", "doc": "No default: breaks readers."})
    path.write_text(json.dumps(incompatible, indent=2))
    refused = project.preview(check=False)
    assert "market.crypto.trades-value" in refused.raw
    assert "incompatible" in refused.raw.lower()
    assert registry(platform, "/subjects/market.crypto.trades-value/versions").json() == [1, 2]
    path.write_text(json.dumps(compatible, indent=2))
    del original


def test_7_an_app_stack_reads_the_outputs_through_a_stack_reference(project: PulumiProject, tmp_path: Path) -> None:
    app = PulumiProject(tmp_path / "app", "app", project.env)
    app.dir.mkdir()
    example = REPO / "examples" / "app-deploy"
    (app.dir / "Pulumi.yaml").write_text(
        (example / "Pulumi.yaml").read_text().replace("../../.venv", str(REPO / ".venv"))
    )
    (app.dir / "__main__.py").write_text((example / "__main__.py").read_text())
    app.run("stack", "init", "app")
    app.configure(
        {
            "k2-app-deploy:infraStack": "organization/k2infra/e2e",
            "k2-app-deploy:subscription": "by_exchange:equities.nyse",
        }
    )
    app.up()
    outputs = app.outputs()
    assert outputs["topics"] == sorted(f"market.equities.{dt}.nyse" for dt in ("quotes", "reference_data", "trades"))
    assert outputs["schema_subjects"] == sorted(
        f"market.equities.{dt}-value" for dt in ("quotes", "reference_data", "trades")
    )
    app.destroy()


def test_9_stack_export_holds_no_plaintext_secret(project: PulumiProject) -> None:
    exported = project.export()
    assert "registry-pa55-e2e" not in exported
    for state_file in Path(project.env["PULUMI_BACKEND_URL"].removeprefix("file://")).rglob("*.json"):
        assert "registry-pa55-e2e" not in state_file.read_text(), state_file


def test_8_destroy_removes_topics_and_soft_deletes_subjects(project: PulumiProject, platform) -> None:
    project.destroy()
    assert not [n for n in live_topics(platform) if n.startswith("market.equities.") or n.startswith("market.crypto.")]
    listed = registry(platform, "/subjects").json()
    assert not [s for s in listed if s in SUBJECTS]
    deleted = registry(platform, "/subjects?deleted=true").json()
    assert set(SUBJECTS) <= set(deleted), deleted


def test_8b_a_protected_stack_refuses_to_destroy(new_project, platform) -> None:
    protected = new_project("guarded", {"protect": True, "exchanges": ["crypto.binance"]})
    protected.up()
    refused = protected.destroy(check=False)
    assert refused.returncode != 0
    assert "protect" in (refused.stdout + refused.stderr).lower()
    assert "market.crypto.trades.binance" in live_topics(platform)
