"""The stack outputs: the program exports exactly the shape k2infra.model.outputs defines, and a
wrong shape is refused with every field at fault named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devkit.pulumi_mocks import run_program
from k2infra.client import OutputsError, Platform, schema_registry_config
from k2infra.model.outputs import (
    OUTPUT_NAMES,
    StackOutputs,
    parse_stack_outputs,
    plan_outputs,
    reference_rows,
    topic_pattern,
)
from k2infra.model.plan import load_plan
from k2infra.model.stack import Stack, load_stack_file
from tests.conftest import REPO, set_stack_config
from tests.unit.test_program import PROD_SECRETS


def _plan_and_connections(stack: Stack) -> tuple:
    return stack.plan, stack.connections


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_programs_outputs_are_exactly_the_documented_model(project_dir: Path, stack: str) -> None:
    outputs = run_program(project_dir, stack, PROD_SECRETS if stack == "prod" else None).outputs
    assert tuple(sorted(outputs)) == tuple(sorted(OUTPUT_NAMES))
    parsed = StackOutputs.model_validate(outputs)
    # Nothing the program exports is outside the model, nothing in the model is left out (but the
    # registry's node list, which a stack of one registry node does not have).
    dumped = json.loads(parsed.model_dump_json())
    assert dumped.pop("schema_registry_urls") is None
    assert dumped == json.loads(json.dumps(outputs))


def test_a_stack_with_two_registry_nodes_outputs_both_as_a_list_and_as_confluents_comma_list(
    project_dir: Path,
) -> None:
    nodes = ["http://127.0.0.1:18081/apis/ccompat/v7", "http://127.0.0.1:18091/apis/ccompat/v7"]
    set_stack_config(project_dir, "dev", {"schemaRegistryUrl": f"{nodes[0]}/, {nodes[1]}"})
    outputs = run_program(project_dir, "dev").outputs
    assert outputs["schema_registry_url"] == ",".join(nodes)
    assert outputs["schema_registry_urls"] == nodes
    assert list(outputs).index("schema_registry_urls") == list(outputs).index("schema_registry_url") + 1
    parsed = StackOutputs.model_validate(outputs)
    assert json.loads(parsed.model_dump_json()) == json.loads(json.dumps(outputs))
    registry = schema_registry_config(Platform.from_outputs(outputs))
    assert registry == {"url": ",".join(nodes), "timeout": 10, "max.retries": 1, "retries.wait.ms": 250}


def test_every_field_of_the_model_is_described() -> None:
    assert [path for path, _, text in reference_rows() if not text] == []


def test_prod_outputs_say_how_to_connect_without_any_credential(project_dir: Path) -> None:
    outputs = run_program(project_dir, "prod", PROD_SECRETS).outputs
    assert outputs["kafka_security"]["security_protocol"] == "SASL_SSL"
    assert outputs["kafka_security"]["sasl_mechanism"] == "SCRAM-SHA-512"
    text = json.dumps(outputs)
    assert "kafka-s3cret" not in text and "registry-s3cret" not in text
    assert "saslUsername" not in text


def test_a_ca_certificate_path_is_exported_as_its_pem(project_dir: Path, tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (tmp_path / "ca.pem").write_text(pem)
    set_stack_config(project_dir, "dev", {"tls": True, "caCert": str(tmp_path / "ca.pem")})
    security = run_program(project_dir, "dev").outputs["kafka_security"]
    assert security == {"security_protocol": "SSL", "sasl_mechanism": None, "ca_cert": pem, "tls_skip_verify": False}


def test_exchanges_output_carries_the_metadata() -> None:
    outputs = Platform.from_topology(REPO / "config", "prod", REPO)
    asx = outputs.exchanges["equities.asx"]
    assert (asx.name, asx.country, asx.timezone) == ("Australian Securities Exchange", "AU", "Australia/Sydney")


def test_patterns_match_todays_lists_and_an_exchange_added_later() -> None:
    plan = load_plan(REPO / "config", "prod", REPO)
    platform = Platform.from_plan(plan)
    names = sorted(platform.topics)
    later = ["market.equities.trades.nyse", "market.equities.quotes.nyse", "market.crypto.trades.kraken"]
    legacy = ["market.trades.raw", "market.reference_data", "market.equities.trades.asx.extra"]

    def matching(pattern: str, candidates: list[str]) -> list[str]:
        return sorted(n for n in candidates if re.match(pattern, n))

    for ref, pattern in platform.patterns.by_exchange.items():
        assert matching(pattern, names) == platform.subscriptions.by_exchange[ref]
    for ac, pattern in platform.patterns.by_asset_class.items():
        assert matching(pattern, names) == platform.subscriptions.by_asset_class[ac]
    for dt, pattern in platform.patterns.by_data_type.items():
        assert matching(pattern, names) == platform.subscriptions.by_data_type[dt]
    assert matching(platform.patterns.all, names + legacy) == names
    assert matching(platform.patterns.by_data_type["trades"], later) == [
        "market.crypto.trades.kraken",
        "market.equities.trades.nyse",
    ]
    assert matching(platform.patterns.by_asset_class["equities"], later) == [
        "market.equities.quotes.nyse",
        "market.equities.trades.nyse",
    ]
    assert matching(platform.patterns.by_asset_class_and_data_type["equities.trades"], later + names) == [
        "market.equities.trades.asx",
        "market.equities.trades.nyse",
    ]
    for pattern in (platform.patterns.all, *platform.patterns.by_data_type.values()):
        assert not matching(pattern, legacy)


def test_a_pattern_of_several_names_matches_any_of_them_only() -> None:
    pattern = topic_pattern(asset_class="equities", data_type=["trades", "quotes"])
    assert pattern == r"^market\.equities\.(quotes|trades)\.[a-z][a-z0-9_]*$"
    assert re.match(pattern, "market.equities.quotes.nyse")
    assert not re.match(pattern, "market.equities.reference_data.asx")
    with pytest.raises(ValueError, match="matches no topic"):
        topic_pattern(data_type=[])


def _dev_outputs() -> dict:
    """The dev stack's outputs as `pulumi stack output --json` gives them (schemas from the registry)."""
    outputs = plan_outputs(*_plan_and_connections(load_stack_file(REPO / "config", "dev", REPO)))
    outputs["schemas"] = {
        "market.equities.trades-value": {"id": 7, "version": 1, "compatibility": "BACKWARD", "topics": []}
    }
    return json.loads(json.dumps(outputs))


def test_a_wrong_shape_names_every_missing_or_wrong_field() -> None:
    outputs = _dev_outputs()
    del outputs["patterns"]
    outputs["topics"]["market.equities.trades.asx"]["partitions"] = "many"
    del outputs["topics"]["market.crypto.quotes.binance"]["schema_subject"]
    outputs["kafka_security"]["security_protocol"] = "TLS"
    with pytest.raises(OutputsError) as caught:
        parse_stack_outputs(outputs, "the outputs of stack dev")
    assert caught.value.problems == [
        "topics[market.crypto.quotes.binance].schema_subject: required field is missing",
        "topics[market.equities.trades.asx].partitions: must be an integer, got 'many'",
        "patterns: required field is missing",
        "kafka_security.security_protocol: must be one of 'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT' or 'SASL_SSL', got 'TLS'",
    ]
    assert str(caught.value).startswith("the outputs of stack dev are not the outputs of a k2infra stack:\n")


def test_outputs_read_without_show_secrets_are_refused_with_the_fix() -> None:
    outputs = _dev_outputs()
    outputs["schemas"] = "[secret]"
    with pytest.raises(OutputsError, match=r"schemas: is '\[secret\]': read the outputs with .*--show-secrets"):
        Platform.from_outputs(outputs)


def test_numbers_as_floats_and_unknown_fields_are_read() -> None:
    # A StackReference may give numbers as floats; a newer stack may export more than this library knows.
    outputs = _dev_outputs()
    outputs["topics"]["market.equities.trades.asx"]["partitions"] = 3.0
    outputs["topics"]["market.equities.trades.asx"]["owner"] = "market-data team"
    outputs["a_future_output"] = {"x": 1}
    platform = Platform.from_outputs(outputs)
    assert platform.topic("market.equities.trades.asx").partitions == 3
    outputs["topics"]["market.equities.trades.asx"]["partitions"] = 3.5
    with pytest.raises(OutputsError, match=r"topics\[market.equities.trades.asx\].partitions"):
        Platform.from_outputs(outputs)


def test_a_missing_output_from_a_stack_reference_counts_as_missing() -> None:
    outputs = _dev_outputs()
    outputs["kafka_security"] = None  # StackReference.get_output of an output the stack lacks
    with pytest.raises(OutputsError) as caught:
        Platform.from_outputs(outputs)
    assert caught.value.problems == ["kafka_security: required field is missing"]


def test_null_fields_left_out_as_a_stack_reference_hands_them_over_read_as_null() -> None:
    outputs = _dev_outputs()
    del outputs["exchanges"]["crypto.binance"]["country"]
    del outputs["kafka_security"]["sasl_mechanism"], outputs["kafka_security"]["ca_cert"]
    platform = Platform.from_outputs(outputs)
    assert platform.exchanges["crypto.binance"].country is None
    assert platform.kafka_security.sasl_mechanism is None and platform.kafka_security.ca_cert is None
