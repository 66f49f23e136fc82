"""The six Avro schema files: they parse, are documented, and model equities and crypto apart."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "config" / "schemas"
ASSET_CLASSES = ("equities", "crypto")
RECORD_NAMES = {"trades": "trade", "quotes": "quote", "reference_data": "reference_data"}
DECIMAL_PRECISION = {"equities": (18, 6), "crypto": (38, 18)}
CASES = [(asset, data_type) for asset in ASSET_CLASSES for data_type in RECORD_NAMES]


def load(asset_class: str, data_type: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / asset_class / f"{data_type}.avsc").read_text(encoding="utf-8"))


def fields(asset_class: str, data_type: str) -> dict[str, dict[str, Any]]:
    return {field["name"]: field for field in load(asset_class, data_type)["fields"]}


def types_within(schema: Any) -> Iterator[Any]:
    """Every type in a schema, nested ones included."""
    yield schema
    if isinstance(schema, list):
        for branch in schema:
            yield from types_within(branch)
    elif isinstance(schema, dict):
        for field in schema.get("fields", []):
            yield from types_within(field["type"])
        if schema.get("type") == "array":
            yield from types_within(schema["items"])


def is_decimal(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("logicalType") == "decimal"


def test_there_is_one_schema_file_per_asset_class_and_data_type() -> None:
    found = {(p.parent.name, p.stem) for p in SCHEMA_DIR.glob("*/*.avsc")}
    assert found == set(CASES)


@pytest.mark.parametrize(("asset_class", "data_type"), CASES)
def test_file_is_two_space_indented_json(asset_class: str, data_type: str) -> None:
    text = (SCHEMA_DIR / asset_class / f"{data_type}.avsc").read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert "\t" not in text
    assert all((len(line) - len(line.lstrip(" "))) % 2 == 0 for line in text.splitlines())


@pytest.mark.parametrize(("asset_class", "data_type"), CASES)
def test_parses_with_fastavro_under_the_expected_name(asset_class: str, data_type: str) -> None:
    schema = load(asset_class, data_type)
    parsed = fastavro.schema.parse_schema(schema)
    assert schema["name"] == RECORD_NAMES[data_type]
    assert schema["namespace"] == f"k2.market.{asset_class}"
    assert parsed["name"] == f"k2.market.{asset_class}.{RECORD_NAMES[data_type]}"


@pytest.mark.parametrize(("asset_class", "data_type"), CASES)
def test_symbol_is_a_required_string_partition_key(asset_class: str, data_type: str) -> None:
    symbol = fields(asset_class, data_type)["symbol"]
    assert symbol["type"] == "string"
    assert "partition key" in symbol["doc"]


@pytest.mark.parametrize(("asset_class", "data_type"), CASES)
def test_record_every_field_and_every_named_type_has_a_doc(asset_class: str, data_type: str) -> None:
    schema = load(asset_class, data_type)
    assert schema["doc"].strip()
    for field in schema["fields"]:
        assert field.get("doc", "").strip(), f"{field['name']} has no doc"
    for named in types_within(schema):
        if isinstance(named, dict) and named.get("type") in ("record", "enum"):
            assert named.get("doc", "").strip(), f"type {named['name']} has no doc"


@pytest.mark.parametrize(("asset_class", "data_type"), CASES)
def test_every_record_carries_exchange_timestamps_and_sequence(asset_class: str, data_type: str) -> None:
    by_name = fields(asset_class, data_type)
    assert by_name["exchange"]["type"] == "string"
    for timestamp in ("event_timestamp", "ingest_timestamp"):
        assert by_name[timestamp]["type"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert by_name["sequence_number"]["type"] == "long"


@pytest.mark.parametrize(("asset_class", "data_type"), CASES)
def test_optional_fields_are_null_unions_defaulting_to_null(asset_class: str, data_type: str) -> None:
    for field in load(asset_class, data_type)["fields"]:
        if isinstance(field["type"], list):
            assert field["type"][0] == "null", field["name"]
            assert "default" in field and field["default"] is None, field["name"]


@pytest.mark.parametrize(("asset_class", "data_type"), CASES)
def test_decimals_use_the_asset_class_precision_and_scale(asset_class: str, data_type: str) -> None:
    decimals = [t for t in types_within(load(asset_class, data_type)) if is_decimal(t)]
    assert decimals
    for decimal in decimals:
        assert decimal["type"] == "bytes"
        assert (decimal["precision"], decimal["scale"]) == DECIMAL_PRECISION[asset_class]


def test_trades_differ_between_equities_and_crypto() -> None:
    equities, crypto = fields("equities", "trades"), fields("crypto", "trades")
    expected = {"isin", "currency", "conditions", "venue", "trade_id", "aggressor_side"}
    assert expected <= set(equities)
    assert equities["conditions"]["type"] == {"type": "array", "items": "string"}
    assert equities["quantity"]["type"] == "long"
    assert {"base_asset", "quote_asset", "is_buyer_maker", "trade_id"} <= set(crypto)
    assert crypto["is_buyer_maker"]["type"] == "boolean"
    assert is_decimal(crypto["quantity"]["type"])
    assert "base_asset" not in equities
    assert "isin" not in crypto


def test_quotes_differ_between_equities_and_crypto() -> None:
    equities, crypto = fields("equities", "quotes"), fields("crypto", "quotes")
    for side in ("bid", "ask"):
        assert equities[f"{side}_count"]["type"] == ["null", "int"]
        assert equities[f"{side}_size"]["type"] == ["null", "long"]
        assert is_decimal(crypto[f"{side}_size"]["type"])
        assert is_decimal(crypto[f"{side}_price"]["type"])
        assert f"{side}_count" not in crypto


def test_reference_data_differs_between_equities_and_crypto() -> None:
    equities, crypto = fields("equities", "reference_data"), fields("crypto", "reference_data")
    assert {"isin", "name", "currency", "lot_size", "tick_size", "sector"} <= set(equities)
    assert equities["listed_date"]["type"] == ["null", {"type": "int", "logicalType": "date"}]
    assert equities["listing_status"]["type"]["type"] == "enum"
    assert {
        "base_asset",
        "quote_asset",
        "price_precision",
        "quantity_precision",
        "min_notional",
        "tick_size",
        "step_size",
    } <= set(crypto)
    assert crypto["status"]["type"]["type"] == "enum"
    assert "TRADING" in crypto["status"]["type"]["symbols"]
    assert "listed_date" not in crypto


NOW = datetime(2026, 1, 12, 0, 0, 1, 123456, tzinfo=UTC)
LATER = datetime(2026, 1, 12, 0, 0, 1, 123789, tzinfo=UTC)

SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("equities", "trades"): {
        "symbol": "BHP",
        "exchange": "asx",
        "isin": "AU000000BHP4",
        "venue": "XASX",
        "trade_id": "20260112-000042",
        "price": Decimal("45.670000"),
        "quantity": 1500,
        "currency": "AUD",
        "aggressor_side": "BUY",
        "conditions": [],
        "event_timestamp": NOW,
        "ingest_timestamp": LATER,
        "sequence_number": 1042,
    },
    ("equities", "quotes"): {
        "symbol": "BHP",
        "exchange": "asx",
        "isin": None,
        "currency": "AUD",
        "bid_price": Decimal("45.660000"),
        "bid_size": 3200,
        "bid_count": 7,
        "ask_price": None,
        "ask_size": None,
        "ask_count": None,
        "event_timestamp": NOW,
        "ingest_timestamp": LATER,
        "sequence_number": 1043,
    },
    ("equities", "reference_data"): {
        # A made-up listing: every field filled, dates included.
        "symbol": "KTX",
        "exchange": "asx",
        "isin": "AU0000KTX019",
        "name": "K2 EXAMPLE LIMITED",
        "security_type": "ORDINARY_SHARE",
        "currency": "AUD",
        "lot_size": 1,
        "tick_size": Decimal("0.005000"),
        "sector": "Materials",
        "listing_status": "DELISTED",
        "listed_date": date(2019, 3, 4),
        "delisted_date": date(2025, 11, 28),
        "shares_outstanding": 512000000,
        "event_timestamp": NOW,
        "ingest_timestamp": LATER,
        "sequence_number": 3,
    },
    ("crypto", "trades"): {
        "symbol": "BTCUSDT",
        "exchange": "binance",
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "trade_id": "4823716601",
        "price": Decimal("94215.010000000000000000"),
        "quantity": Decimal("0.000530000000000000"),
        "quote_quantity": None,
        "is_buyer_maker": True,
        "event_timestamp": NOW,
        "ingest_timestamp": LATER,
        "sequence_number": 4823716601,
    },
    ("crypto", "quotes"): {
        "symbol": "ETHBTC",
        "exchange": "binance",
        "base_asset": "ETH",
        "quote_asset": "BTC",
        "bid_price": Decimal("0.035120000000000000"),
        "bid_size": Decimal("12.483000000000000000"),
        "ask_price": Decimal("0.035130000000000000"),
        "ask_size": Decimal("3.001000000000000000"),
        "event_timestamp": NOW,
        "ingest_timestamp": LATER,
        "sequence_number": 61234567890,
    },
    ("crypto", "reference_data"): {
        "symbol": "BTCUSDT",
        "exchange": "binance",
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "status": "TRADING",
        "price_precision": 2,
        "quantity_precision": 5,
        "tick_size": Decimal("0.010000000000000000"),
        "step_size": Decimal("0.000010000000000000"),
        "min_quantity": Decimal("0.000010000000000000"),
        "max_quantity": None,
        "min_notional": Decimal("5.000000000000000000"),
        "order_types": ["LIMIT", "MARKET"],
        "event_timestamp": NOW,
        "ingest_timestamp": LATER,
        "sequence_number": 17,
    },
}


@pytest.mark.parametrize(("asset_class", "data_type"), CASES)
def test_a_realistic_record_round_trips_through_the_schema(asset_class: str, data_type: str) -> None:
    schema = fastavro.schema.parse_schema(load(asset_class, data_type))
    record = SAMPLES[(asset_class, data_type)]
    assert set(record) == set(fields(asset_class, data_type))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    buffer.seek(0)
    assert fastavro.schemaless_reader(buffer, schema, schema) == record
