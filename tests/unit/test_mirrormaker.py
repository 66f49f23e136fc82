"""`python -m k2infra mirror-config`: MirrorMaker 2's dedicated-mode properties from a regional stack and
its source (k2infra.model.mirrormaker)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

from k2infra.cli.main import main
from k2infra.model.mirrormaker import parse_properties
from k2infra.model.stack import load_stack_file
from tests.unit.test_regions import TOKYO, write_stack

CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\nline2\n-----END CERTIFICATE-----\n"


def render(project_dir: Path, stack: str = "tokyo", *extra: str) -> dict[str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["mirror-config", "--stack", stack, "--project-dir", str(project_dir), *extra], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    return dict(parse_properties(out.getvalue()))


def test_the_properties_name_both_stacks_and_set_what_k2infra_owns(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    props = render(project_dir)
    assert props["clusters"] == "dev, tokyo"
    assert props["dev.bootstrap.servers"] == "127.0.0.1:19092" and props["dev.security.protocol"] == "PLAINTEXT"
    assert props["tokyo.bootstrap.servers"] == "127.0.0.1:29092"
    assert props["dev->tokyo.enabled"] == "true" and props["tokyo->dev.enabled"] == "false"
    assert props["replication.policy.class"] == "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
    assert props["sync.topic.configs.enabled"] == "false" and props["sync.topic.acls.enabled"] == "false"
    assert props["emit.checkpoints.enabled"] == "true" and props["sync.group.offsets.enabled"] == "true"
    assert props["offset-syncs.topic.location"] == "target"  # MirrorMaker 2 only reads the home cluster
    assert props["emit.heartbeats.enabled"] == "false"
    assert props["offset.lag.max"] == "100"  # the bound of a failover's duplicate window (docs/regions.md)
    assert props["offset.flush.interval.ms"] == "5000"  # the bound of what a crash copies again
    internal = [k for k in props if k.endswith("replication.factor")]
    assert len(internal) == 7 and {props[k] for k in internal} == {"1"}  # tokyo's, not dev's topology default 3


def test_the_topic_pattern_is_anchored_and_matches_exactly_the_mirrored_topics_and_the_journal(
    project_dir: Path,
) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    pattern = re.compile(render(project_dir)["dev->tokyo.topics"])
    everything = [t.name for t in load_stack_file(project_dir / "config", "dev", project_dir).plan.topics]
    matched = sorted(n for n in everything if pattern.fullmatch(n))
    assert matched == [
        "market.crypto.quotes.binance",
        "market.crypto.reference_data.binance",
        "market.crypto.trades.binance",
        "market.equities.trades.asx",
    ]
    assert pattern.fullmatch("k2-registry-journal")
    for other in ("xmarket.equities.trades.asx", "market.equities.trades.asx2", "market.equities.trades-asx"):
        assert not pattern.search(other), other
    assert "k2-registry-journal" not in render(project_dir, "tokyo", "--no-registry-journal")["dev->tokyo.topics"]


def test_a_new_exchange_of_a_mirrored_asset_class_is_matched_without_a_new_pattern(
    project_dir: Path, edit_topology: Callable[[Callable[[dict], None]], Path]
) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    before = render(project_dir)["dev->tokyo.topics"]
    edit_topology(
        lambda t: t["asset_classes"]["crypto"]["exchanges"].update(
            {"kraken": {"name": "Kraken", "partitions": 4, "timezone": "UTC"}}
        )
    )
    assert render(project_dir)["dev->tokyo.topics"] == before  # MirrorMaker 2 need not restart
    assert re.fullmatch(before, "market.crypto.trades.kraken")


def test_a_selector_that_names_exchanges_gets_literal_names_only(project_dir: Path) -> None:
    write_stack(
        project_dir, "tokyo", TOKYO | {"mirrorFrom": {"stack": "dev", "select": [{"exchange": "crypto.binance"}]}}
    )
    pattern = render(project_dir)["dev->tokyo.topics"]
    assert pattern == (
        r"^(?:k2-registry-journal|market\.crypto\.quotes\.binance|market\.crypto\.reference_data\.binance|"
        r"market\.crypto\.trades\.binance)$"
    )


def test_the_groups_are_those_of_the_apps_that_read_a_mirrored_topic(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO | {"mirrorFrom": {"stack": "dev", "select": [{"asset_class": "crypto"}]}})
    stack = load_stack_file(project_dir / "config", "tokyo", project_dir)
    readers = {a.name: a for a in stack.plan.apps if a.reads and a.group is not None}  # the monitor has none
    assert sorted(readers) == ["crypto-risk", "reference-data-cache"]
    pattern = re.compile(render(project_dir)["dev->tokyo.groups"])
    for app in readers.values():
        assert pattern.fullmatch(app.group if app.group_pattern == "Literal" else f"{app.group}x")  # type: ignore[operator]
    assert not pattern.fullmatch("equities-analytics")  # reads equities, which tokyo does not mirror here


def test_secured_clusters_get_sasl_and_their_ca_and_no_password_is_written(project_dir: Path) -> None:
    write_stack(
        project_dir,
        "tokyo",
        TOKYO
        | {
            "mirrorFrom": {"stack": "prod", "select": [{"asset_class": "crypto"}]},
            "tls": True,
            "caCert": CA,
            "saslMechanism": "scram-sha512",
            "saslUsername": "k2infra-tokyo",
        },
    )
    out = io.StringIO()
    assert main(["mirror-config", "--stack", "tokyo", "--project-dir", str(project_dir)], stdout=out) == 0
    props = parse_properties(out.getvalue())
    for alias in ("prod", "tokyo"):
        assert props[f"{alias}.security.protocol"] == "SASL_SSL"
        assert props[f"{alias}.sasl.mechanism"] == "SCRAM-SHA-512"
    assert props["prod.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="k2-mirror-tokyo" '
        'password="${env:K2_MIRROR_SOURCE_PASSWORD}";'
    )
    assert "${env:K2_MIRROR_TARGET_PASSWORD}" in props["tokyo.sasl.jaas.config"]
    assert props["config.providers.env.class"] == "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
    assert props["tokyo.ssl.truststore.type"] == "PEM"
    assert props["tokyo.ssl.truststore.certificates"] == CA.strip().replace("\n", "\\n")
    assert "prod.ssl.truststore.type" not in props  # prod's caCert is unset: the JVM's trust store
    assert {props[k] for k in props if k.endswith("replication.factor")} == {"1"}


def test_a_stack_that_mirrors_nothing_is_refused(project_dir: Path) -> None:
    err = io.StringIO()
    code = main(
        ["mirror-config", "--stack", "dev", "--project-dir", str(project_dir)], stdout=io.StringIO(), stderr=err
    )
    assert code == 2
    assert "k2infra:mirrorFrom: is not set: this stack mirrors nothing" in err.getvalue()


def test_out_writes_the_file(project_dir: Path) -> None:
    write_stack(project_dir, "tokyo", TOKYO)
    target = project_dir / "mm2.properties"
    out = io.StringIO()
    assert (
        main(["mirror-config", "--stack", "tokyo", "--project-dir", str(project_dir), "--out", str(target)], stdout=out)
        == 0
    )
    assert parse_properties(target.read_text())["clusters"] == "dev, tokyo"
    assert "dev -> tokyo" in out.getvalue()
