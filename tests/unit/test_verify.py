"""`verify`: the pure comparison of a plan with a live snapshot, its rendering and exit codes, and the
Kafka client settings built from a stack. The live reading itself is proven against the real broker
and registry in tests/integration/test_verify_live.py."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from k2infra.cli.main import env_secrets, exit_code
from k2infra.client.naming import load_plan
from k2infra.live import verify
from k2infra.live.admin import kafka_failure, layout_of
from k2infra.live.cluster import (
    LiveReadError,
    LiveState,
    LiveSubject,
    LiveTopic,
    RecordedVersion,
    read_subjects,
)
from k2infra.live.verify import Kind, Report, compare, render_table, run_verify, same_config_value
from k2infra.model.avro_canonical import canonical_schema
from k2infra.model.connection import KafkaConnection, RegistryConnection
from k2infra.model.plan import Plan
from k2infra.model.settings import StackSettings
from k2infra.model.stack import Stack, connections_of, load_stack_file
from tests.conftest import REPO

TRADES = "market.equities.trades.asx"
TRADES_SUBJECT = "market.equities.trades-value"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(REPO / "config", "dev", REPO)


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack_file(REPO / "config", "dev", REPO)


def matching(plan: Plan) -> LiveState:
    """A snapshot that is exactly the plan, with a few non-`market.` things besides."""
    topics = {t.name: LiveTopic(t.name, t.partitions, t.replication_factor, 0, 0, dict(t.config)) for t in plan.topics}
    topics["__consumer_offsets"] = LiveTopic("__consumer_offsets", 50, 1, 0, 7)
    topics["orders.internal"] = LiveTopic("orders.internal", 1, 1, 1, 0)
    subjects = {
        s.subject: LiveSubject(s.subject, 1, 10 + i, s.schema, "AVRO", s.compatibility, {1: 10 + i})
        for i, s in enumerate(plan.subjects)
    }
    subjects["orders-value"] = LiveSubject("orders-value", 3, 99, '"string"', "AVRO", "NONE")
    return LiveState(topics, subjects)


def with_topic(state: LiveState, name: str, **changes: object) -> LiveState:
    topics = dict(state.topics)
    topics[name] = dataclasses.replace(topics[name], **changes)
    return LiveState(topics, state.subjects)


def with_subject(state: LiveState, name: str, **changes: object) -> LiveState:
    subjects = dict(state.subjects)
    subjects[name] = dataclasses.replace(subjects[name], **changes)
    return LiveState(state.topics, subjects)


def kinds(report: Report) -> list[tuple[str, str]]:
    return [(d.kind, d.name) for d in report.differences]


# -- compare -------------------------------------------------------------------------------------


def test_a_platform_that_is_the_plan_has_no_drift_and_ignores_what_is_not_market(plan: Plan) -> None:
    report = compare(plan, matching(plan))
    assert report.ok and exit_code(report.outcome) == 0
    assert report.differences == ()
    assert [r.name for r in report.topics] == [t.name for t in plan.topics]
    assert {r.status for r in (*report.topics, *report.subjects)} == {"ok"}
    assert report.summary() == "verify: 6 topics, 6 subjects: no drift"


def test_a_missing_topic_is_reported_with_its_planned_shape(plan: Plan) -> None:
    live = matching(plan)
    topics = {k: v for k, v in live.topics.items() if k != TRADES}
    report = compare(plan, LiveState(topics, live.subjects))
    assert kinds(report) == [("topic_missing", TRADES)]
    row = next(r for r in report.topics if r.name == TRADES)
    assert (row.status, row.partitions, row.planned_partitions, row.end_offsets) == ("missing", None, 3, None)
    assert exit_code(report.outcome) == 1


def test_an_extra_market_topic_is_reported_and_other_prefixes_are_not(plan: Plan) -> None:
    live = matching(plan)
    extra = LiveTopic("market.equities.trades.nyse", 2, 1, 0, 42)
    not_ours = LiveTopic("marketing.events", 1, 1, 0, 0)  # shares the letters, not the prefix
    report = compare(plan, LiveState({**live.topics, extra.name: extra, not_ours.name: not_ours}, live.subjects))
    assert kinds(report) == [("topic_extra", "market.equities.trades.nyse")]
    row = next(r for r in report.topics if r.name == extra.name)
    assert (row.status, row.partitions, row.planned_partitions, row.end_offsets) == ("extra", 2, None, 42)


def test_partition_count_and_replication_factor_differences(plan: Plan) -> None:
    report = compare(plan, with_topic(matching(plan), TRADES, partitions=5, replication_factor=2))
    assert [(d.kind, d.expected, d.actual) for d in report.differences] == [
        ("partitions", 3, 5),
        ("replication_factor", 1, 2),
    ]
    row = next(r for r in report.topics if r.name == TRADES)
    assert row.status == "drift"


def test_each_managed_config_value_that_differs_is_one_difference(plan: Plan) -> None:
    spec = plan.topic(TRADES)
    assert spec is not None
    config = {**spec.config, "retention.ms": "1000", "compression.type": "zstd"}
    del config["max.message.bytes"]  # the broker reports no value for it
    config["segment.ms"] = "1"  # not managed by the plan: not compared
    report = compare(plan, with_topic(matching(plan), TRADES, config=config))
    assert [(d.kind, d.key, d.expected, d.actual) for d in report.differences] == [
        ("config", "compression.type", "lz4", "zstd"),
        ("config", "max.message.bytes", "1048576", None),
        ("config", "retention.ms", "86400000", "1000"),
    ]


@pytest.mark.parametrize(
    ("key", "planned", "live", "same"),
    [
        ("retention.ms", "86400000", "86400000", True),
        ("retention.ms", "86400000", "86400001", False),
        ("cleanup.policy", "compact,delete", "delete,compact", True),  # a set, in Kafka
        ("cleanup.policy", "compact", "compact,delete", False),
        ("min.cleanable.dirty.ratio", "0.5", "0.50", True),
        ("unclean.leader.election.enable", "false", "FALSE", True),
        ("compression.type", "lz4", "LZ4", False),  # enums are case-sensitive in Kafka
        ("message.timestamp.type", "CreateTime", "LogAppendTime", False),
        ("retention.ms", "86400000", None, False),
    ],
)
def test_config_values_compare_as_kafka_reads_them(key: str, planned: str, live: str | None, same: bool) -> None:
    assert same_config_value(key, planned, live) is same


def test_under_replicated_partitions_are_health_differences(plan: Plan) -> None:
    report = compare(plan, with_topic(matching(plan), TRADES, under_replicated=2))
    [difference] = report.differences
    assert (difference.kind, difference.name, difference.expected, difference.actual) == ("health", TRADES, 0, 2)
    assert difference.describe() == "2 of 3 partitions under-replicated"
    assert exit_code(report.outcome) == 1
    assert report.summary() == "verify: 1 difference: 1 under-replicated topic"


def test_under_replicated_extra_topic_is_reported_once_as_extra(plan: Plan) -> None:
    live = matching(plan)
    extra = LiveTopic("market.crypto.trades.kraken", 3, 3, 3, None)
    report = compare(plan, LiveState({**live.topics, extra.name: extra}, live.subjects))
    assert kinds(report) == [("topic_extra", extra.name)]


def test_missing_and_extra_subjects_under_the_market_prefix(plan: Plan) -> None:
    live = matching(plan)
    subjects = {k: v for k, v in live.subjects.items() if k != TRADES_SUBJECT}
    subjects["market.equities.trades-key"] = LiveSubject("market.equities.trades-key", 1, 5, '"string"')
    report = compare(plan, LiveState(live.topics, subjects))
    assert kinds(report) == [("subject_extra", "market.equities.trades-key"), ("subject_missing", TRADES_SUBJECT)]
    statuses = {r.name: r.status for r in report.subjects}
    assert statuses[TRADES_SUBJECT] == "missing"
    assert statuses["market.equities.trades-key"] == "extra"
    assert "orders-value" not in statuses


def test_a_schema_registered_differently_formatted_is_the_same_schema(plan: Plan) -> None:
    spec = next(s for s in plan.subjects if s.subject == TRADES_SUBJECT)
    reformatted = json.dumps(json.loads(spec.schema), separators=(",", ":"), sort_keys=True)
    assert compare(plan, with_subject(matching(plan), TRADES_SUBJECT, schema=reformatted)).ok


def test_a_new_schema_version_behind_the_plans_back_is_a_schema_difference(plan: Plan) -> None:
    spec = next(s for s in plan.subjects if s.subject == TRADES_SUBJECT)
    newer = json.loads(spec.schema)
    newer["fields"].append({"name": "trade_note", "type": ["null", "string"], "default": None})
    report = compare(plan, with_subject(matching(plan), TRADES_SUBJECT, schema=json.dumps(newer), version=2))
    [difference] = report.differences
    assert difference.kind == "schema"
    assert (difference.expected, difference.actual) == (
        canonical_schema(spec.schema),
        canonical_schema(json.dumps(newer)),
    )
    assert (
        difference.detail
        == "version 2 differs from the file (the file against it: field 'trade_note' removed (it had a default))"
    )


def test_a_subject_version_whose_schema_id_changed_is_drift_against_the_stack_state(plan: Plan) -> None:
    live = with_subject(matching(plan), TRADES_SUBJECT, schema_id=41, version_ids={1: 41})
    others = {s.subject: RecordedVersion(1, 10 + i) for i, s in enumerate(plan.subjects)}
    report = compare(plan, live, recorded={**others, TRADES_SUBJECT: RecordedVersion(1, 12)})
    [difference] = report.differences
    assert (difference.kind, difference.name, difference.expected, difference.actual) == (
        "schema_id",
        TRADES_SUBJECT,
        12,
        41,
    )
    assert difference.describe() == (
        "version 1 has schema ID 41 in the registry, the stack state records 12: "
        "records written with ID 12 no longer find their schema"
    )
    assert report.summary() == "verify: 1 difference: 1 schema ID"


def test_the_recorded_version_is_compared_even_when_a_newer_one_is_latest_and_a_gone_one_is_named(
    plan: Plan,
) -> None:
    state = with_subject(matching(plan), TRADES_SUBJECT, version=3, schema_id=30, version_ids={3: 30, 2: 20})
    same = compare(plan, state, recorded={TRADES_SUBJECT: RecordedVersion(2, 20)})
    assert [d.kind for d in same.differences if d.name == TRADES_SUBJECT] == []
    gone = with_subject(matching(plan), TRADES_SUBJECT, version=3, schema_id=30, version_ids={3: 30})
    [difference] = compare(plan, gone, recorded={TRADES_SUBJECT: RecordedVersion(2, 20)}).differences
    assert difference.describe() == "version 2 (schema ID 20 in the stack state) is not in the registry"


def test_without_the_stack_state_the_ids_are_not_compared_and_a_note_says_so(plan: Plan) -> None:
    note = "schema IDs not compared with the stack state: `pulumi stack export` failed: no stack named 'dev' found"
    report = compare(plan, matching(plan), recorded=None, notes=(note,))
    out = io.StringIO()
    render_table(report, out)
    assert report.ok
    assert out.getvalue().endswith(f"\nnote: {note}\n\nverify: 6 topics, 6 subjects: no drift\n")
    assert report.to_dict()["notes"] == [note]


def test_a_changed_doc_is_a_schema_difference(plan: Plan) -> None:
    """The canonical form keeps docs: a registry holding other docs disagrees with the file."""
    spec = next(s for s in plan.subjects if s.subject == TRADES_SUBJECT)
    other = json.loads(spec.schema)
    other["doc"] = "something else"
    report = compare(plan, with_subject(matching(plan), TRADES_SUBJECT, schema=json.dumps(other)))
    assert kinds(report) == [("schema", TRADES_SUBJECT)]


def test_an_unreadable_registered_schema_is_a_difference_not_a_crash(plan: Plan) -> None:
    report = compare(plan, with_subject(matching(plan), TRADES_SUBJECT, schema="{not json"))
    [difference] = report.differences
    assert difference.kind == "schema"
    assert str(difference.actual).startswith("(unreadable AVRO schema: not valid JSON")


@pytest.mark.parametrize("level", ["NONE", "FULL", None])
def test_compatibility_level_differences(plan: Plan, level: str | None) -> None:
    report = compare(plan, with_subject(matching(plan), TRADES_SUBJECT, compatibility=level))
    assert [(d.kind, d.expected, d.actual) for d in report.differences] == [("compatibility", "BACKWARD", level)]


# -- rendering -----------------------------------------------------------------------------------


def drifted(plan: Plan) -> LiveState:
    live = with_topic(matching(plan), TRADES, partitions=5, end_offsets=1234)
    topics = {k: v for k, v in live.topics.items() if k != "market.crypto.quotes.binance"}
    return with_subject(LiveState(topics, live.subjects), TRADES_SUBJECT, compatibility="NONE")


def test_json_document_shape_is_stable(plan: Plan) -> None:
    document = json.loads(json.dumps(compare(plan, drifted(plan)).to_dict()))
    assert list(document) == ["stack", "ok", "error", "topics", "subjects", "differences"]
    assert (document["stack"], document["ok"], document["error"]) == ("dev", False, None)
    assert set(document["topics"][0]) == {
        "name",
        "status",
        "partitions",
        "planned_partitions",
        "replication_factor",
        "planned_replication_factor",
        "under_replicated",
        "end_offsets",
        "differences",
    }
    assert set(document["subjects"][0]) == {
        "name",
        "status",
        "version",
        "schema_id",
        "compatibility",
        "planned_compatibility",
        "schema_file",
        "differences",
    }
    assert document["differences"] == [
        {
            "kind": "topic_missing",
            "name": "market.crypto.quotes.binance",
            "key": None,
            "expected": "present",
            "actual": "absent",
            "detail": None,
        },
        {"kind": "partitions", "name": TRADES, "key": None, "expected": 3, "actual": 5, "detail": None},
        {
            "kind": "compatibility",
            "name": TRADES_SUBJECT,
            "key": None,
            "expected": "BACKWARD",
            "actual": "NONE",
            "detail": None,
        },
    ]
    trades = next(t for t in document["topics"] if t["name"] == TRADES)
    assert (trades["status"], trades["end_offsets"], trades["differences"]) == ("drift", 1234, ["partitions"])
    assert {d["kind"] for d in document["differences"]} <= set(Kind)


def test_table_lists_topics_and_subjects_then_one_summary_line(plan: Plan) -> None:
    out = io.StringIO()
    render_table(compare(plan, drifted(plan)), out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["TOPIC", "STATUS", "PARTITIONS", "RF", "UNDER-REPLICATED", "END", "OFFSETS", "DIFFERS"]
    trades = next(line for line in lines if line.startswith(TRADES))
    assert trades.split()[:6] == [TRADES, "drift", "5/3", "1/1", "0", "1234"]
    assert trades.endswith("partitions: planned 3, live 5")
    missing = next(line for line in lines if line.startswith("market.crypto.quotes.binance"))
    assert missing.split()[:6] == ["market.crypto.quotes.binance", "missing", "-/4", "-/1", "-", "-"]
    assert any(line.startswith("SUBJECT") for line in lines)
    subject = next(line for line in lines if line.startswith(TRADES_SUBJECT))
    assert subject.endswith("compatibility: planned BACKWARD, live NONE")
    assert lines[-1] == "verify: 3 differences: 1 missing topic, 1 partition count, 1 compatibility level"


def test_unknown_end_offsets_of_a_present_topic_show_as_a_question_mark(plan: Plan) -> None:
    out = io.StringIO()
    render_table(compare(plan, with_topic(matching(plan), TRADES, end_offsets=None)), out)
    trades = next(line for line in out.getvalue().splitlines() if line.startswith(TRADES))
    assert trades.split()[5] == "?"


# -- run_verify: exit codes ----------------------------------------------------------------------


def test_run_verify_exits_0_without_drift_and_1_with_it(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "read_live_state", lambda stack, timeout, versions=None: matching(stack.plan))
    out = io.StringIO()
    assert exit_code(run_verify(stack, json_output=False, timeout=1, out=out)) == 0
    assert out.getvalue().endswith("verify: 6 topics, 6 subjects: no drift\n")
    monkeypatch.setattr(verify, "read_live_state", lambda stack, timeout, versions=None: drifted(stack.plan))
    out = io.StringIO()
    assert exit_code(run_verify(stack, json_output=True, timeout=1, out=out)) == 1
    assert json.loads(out.getvalue())["ok"] is False


def test_run_verify_exits_2_with_one_line_when_the_platform_cannot_be_read(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = "cannot reach Kafka at 127.0.0.1:1 within 2s (k2infra:bootstrapServers): Connection refused"

    def unreachable(stack: Stack, timeout: float, versions: object = None) -> LiveState:
        raise LiveReadError(message)

    monkeypatch.setattr(verify, "read_live_state", unreachable)
    out, err = io.StringIO(), io.StringIO()
    assert exit_code(run_verify(stack, json_output=False, timeout=2, out=out, err=err)) == 2
    assert (out.getvalue(), err.getvalue()) == ("", f"error: {message}\n")
    out, err = io.StringIO(), io.StringIO()
    assert exit_code(run_verify(stack, json_output=True, timeout=2, out=out, err=err)) == 2
    assert json.loads(out.getvalue()) == {
        "stack": "dev",
        "ok": False,
        "error": message,
        "topics": [],
        "subjects": [],
        "differences": [],
    }


# -- reading: what can be proven without a platform ----------------------------------------------


def settings(**values: object) -> StackSettings:
    return StackSettings(bootstrap_servers=["k1:9093", "k2:9093"], **values)


def kafka_client_config(stack: StackSettings) -> dict[str, object]:
    """librdkafka's settings of a stack, its password from the environment as the command line reads it."""
    return connections_of(stack, env_secrets(os.environ)).kafka.librdkafka()


def test_kafka_client_config_plaintext() -> None:
    config = kafka_client_config(settings())
    assert config["bootstrap.servers"] == "k1:9093,k2:9093"
    assert config["security.protocol"] == "PLAINTEXT"
    assert not any(key.startswith(("sasl.", "ssl.")) for key in config)


@pytest.mark.parametrize(
    ("mechanism", "librdkafka"),
    [("plain", "PLAIN"), ("scram-sha256", "SCRAM-SHA-256"), ("scram-sha512", "SCRAM-SHA-512")],
)
def test_kafka_client_config_sasl_over_tls(monkeypatch: pytest.MonkeyPatch, mechanism: str, librdkafka: str) -> None:
    monkeypatch.setenv("K2_SASL_PASSWORD", "s3cret")
    config = kafka_client_config(settings(tls=True, sasl_mechanism=mechanism, sasl_username="k2"))
    assert config["security.protocol"] == "SASL_SSL"
    assert (config["sasl.mechanism"], config["sasl.username"], config["sasl.password"]) == (librdkafka, "k2", "s3cret")


def test_kafka_client_config_sasl_without_tls_and_without_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K2_SASL_PASSWORD", "pw")
    stack = settings(sasl_mechanism="plain", sasl_username="k2")
    assert kafka_client_config(stack)["security.protocol"] == "SASL_PLAINTEXT"
    monkeypatch.delenv("K2_SASL_PASSWORD")
    with pytest.raises(LiveReadError, match=r"set K2_SASL_PASSWORD to the password of k2infra:saslUsername \(k2\)"):
        kafka_client_config(stack)


# librdkafka takes the CA as PEM text (ssl.ca.pem): no file is written for it, whether the stack holds
# the PEM or a path (read once, at load). These replace the checks of the temporary ca.pem of old.
def test_kafka_client_config_passes_a_pem_ca_inline_and_can_skip_verification() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    config = kafka_client_config(settings(tls=True, ca_cert=pem, tls_skip_verify=True))
    assert config["security.protocol"] == "SSL"
    assert config["ssl.ca.pem"] == pem
    assert "ssl.ca.location" not in config
    assert config["enable.ssl.certificate.verification"] is False


def test_kafka_client_config_reads_a_ca_path_to_pem(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    config = kafka_client_config(settings(tls=True, ca_cert=str(ca)))
    assert config["ssl.ca.pem"] == "-----BEGIN CERTIFICATE-----\n"
    assert "enable.ssl.certificate.verification" not in config


def test_a_ca_path_this_machine_lacks_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.pem")
    with pytest.raises(LiveReadError) as caught:
        kafka_client_config(settings(tls=True, ca_cert=absent))
    assert str(caught.value) == (
        f"the brokers' CA certificate is neither PEM text nor a file: {absent!r} (k2infra:caCert)"
    )


def test_librdkafka_reads_the_ca_from_the_pem_setting() -> None:
    """confluent-kafka's librdkafka knows ssl.ca.pem and parses it when the client is created (an unknown
    property would fail as "No such configuration property"); the secured end-to-end tests connect with it."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    config = KafkaConnection(bootstrap_servers=("127.0.0.1:1",), tls=True, ca_cert=pem).librdkafka()
    with pytest.raises(KafkaException, match=r"from ssl\.ca\.pem: not in PEM format"):
        AdminClient({**config, "logger": logging.getLogger("k2infra.test.librdkafka")})


def test_a_stack_without_addresses_cannot_be_verified() -> None:
    with pytest.raises(LiveReadError, match="no Kafka address: set k2infra:bootstrapServers"):
        KafkaConnection().librdkafka()
    with pytest.raises(LiveReadError, match="no Schema Registry address: set k2infra:schemaRegistryUrl"):
        read_subjects(RegistryConnection(), [], timeout=1)


def test_layout_counts_partitions_short_of_in_sync_replicas_or_without_a_leader() -> None:
    partitions = [
        SimpleNamespace(id=1, leader=1, replicas=[1, 2, 3], isrs=[1, 2]),
        SimpleNamespace(id=0, leader=2, replicas=[2, 3, 1], isrs=[2, 3, 1]),
        SimpleNamespace(id=3, leader=3, replicas=[3, 1, 2], isrs=[3, 1, 2]),
        SimpleNamespace(id=2, leader=-1, replicas=[3, 1, 2], isrs=[3, 1, 2]),  # offline, its last ISR kept
    ]
    layout = layout_of("t", partitions)
    assert (layout.partition_ids, layout.replication_factor, layout.under_replicated) == ((0, 1, 2, 3), 3, 2)


def test_kafka_failures_name_the_settings_to_check() -> None:
    plain = KafkaConnection(bootstrap_servers=("127.0.0.1:19092",))
    generic = "Failed to get metadata: Local: Broker transport failure"
    assert kafka_failure(plain, "127.0.0.1:19092", 15, [generic]) == (
        f"cannot reach Kafka at 127.0.0.1:19092 within 15s (k2infra:bootstrapServers): {generic}"
    )
    tls = connections_of(settings(tls=True)).kafka
    reset = "Connection reset by peer"
    assert kafka_failure(tls, "k1:9093", 2.5, [reset, generic]) == (
        "cannot reach Kafka at k1:9093 within 2.5s (k2infra:bootstrapServers, k2infra:tls, k2infra:caCert, "
        f"k2infra:tlsSkipVerify): {reset}"
    )
    assert kafka_failure(plain, "k1:9093", 15, ["SASL authentication error: Authentication failed"]) == (
        "Kafka at k1:9093 refused the credentials (k2infra:saslMechanism, k2infra:saslUsername, "
        "K2_SASL_PASSWORD): SASL authentication error: Authentication failed"
    )


def test_an_unreachable_registry_is_one_line_naming_the_url_and_setting() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    registry = RegistryConnection(url=f"http://127.0.0.1:{port}/apis/ccompat/v7")
    with pytest.raises(LiveReadError) as caught:
        read_subjects(registry, ["market.equities.trades-value"], timeout=2)
    message = str(caught.value)
    assert message.startswith(
        f"cannot reach the Schema Registry at http://127.0.0.1:{port}/apis/ccompat/v7 within 2s "
        "(k2infra:schemaRegistryUrl): connection failed"
    )
    assert "\n" not in message


def test_the_recorded_versions_are_the_schema_subjects_outputs_in_the_exported_state() -> None:
    from k2infra.ops.pulumi_stack import SUBJECT_TYPE, StackState

    def subject(name: str, outputs: dict) -> dict:
        urn = f"urn:pulumi:dev::k2infra::k2infra:index:TopicPlatform${SUBJECT_TYPE}::{name}"
        return {"urn": urn, "type": SUBJECT_TYPE, "id": name, "inputs": {"subject": name}, "outputs": outputs}

    state = StackState.from_export(
        {
            "deployment": {
                "resources": [
                    subject(TRADES_SUBJECT, {"subject": TRADES_SUBJECT, "schema_id": 7, "version": 2}),
                    subject("market.crypto.quotes-value", {"subject": "market.crypto.quotes-value"}),  # never created
                    {"urn": "urn:x::kafka", "type": "kafka:index/topic:Topic", "outputs": {"version": 1}},
                ]
            }
        }
    )
    assert state.recorded_versions() == {TRADES_SUBJECT: RecordedVersion(2, 7)}


def test_verify_reads_the_state_only_where_the_pulumi_cli_has_a_backend(tmp_path: Path) -> None:
    from k2infra.ops.pulumi_stack import has_backend

    assert has_backend({"PULUMI_BACKEND_URL": "file:///state"})
    assert has_backend({"PULUMI_ACCESS_TOKEN": "pul-x"})
    assert not has_backend({"PULUMI_HOME": str(tmp_path)})
    (tmp_path / "credentials.json").write_text('{"current": "https://api.pulumi.com", "accessTokens": {}}')
    assert has_backend({"PULUMI_HOME": str(tmp_path)})
