"""The canonical schema form that diffs compare (k2infra.model.avro_canonical)."""

from __future__ import annotations

import json

import fastavro.schema
import pytest

from k2infra.model.avro_canonical import (
    SchemaTextError,
    canonical_schema,
    field_changes,
    minified_schema,
)

TRADE = {
    "type": "record",
    "name": "Trade",
    "namespace": "k2.market.equities",
    "doc": "One executed trade.",
    "fields": [
        {"name": "symbol", "type": "string", "doc": "Ticker"},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 6}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
        {"name": "prev_side", "type": ["null", "Side"], "default": None},
    ],
}


def text(schema: dict, **dump_kw) -> str:
    return json.dumps(schema, **dump_kw)


def test_whitespace_and_key_order_are_no_change():
    a = canonical_schema(text(TRADE))
    b = canonical_schema(json.dumps(TRADE, indent=4, sort_keys=True))
    c = canonical_schema("\n\n  " + json.dumps(TRADE, separators=(",", ":")) + "\n")
    assert a == b == c


def test_namespace_spelling_and_primitive_wrappers_are_no_change():
    respelled = json.loads(text(TRADE))
    del respelled["namespace"]
    respelled["name"] = "k2.market.equities.Trade"
    respelled["fields"][0]["type"] = {"type": "string"}
    respelled["fields"][3]["type"]["namespace"] = "k2.market.equities"
    respelled["fields"][4]["type"] = ["null", "k2.market.equities.Side"]
    assert canonical_schema(text(respelled)) == canonical_schema(text(TRADE))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s["fields"][4].pop("default"), id="default removed"),
        pytest.param(lambda s: s["fields"][0].update(doc="Ticker symbol"), id="field doc"),
        pytest.param(lambda s: s.update(doc="changed"), id="record doc"),
        pytest.param(lambda s: s["fields"][2]["type"].update(logicalType="timestamp-millis"), id="logical type"),
        pytest.param(lambda s: s["fields"][1]["type"].update(scale=4), id="decimal scale"),
        pytest.param(lambda s: s["fields"].insert(0, s["fields"].pop(1)), id="field order"),
        pytest.param(lambda s: s["fields"][3]["type"]["symbols"].reverse(), id="enum symbol order"),
        pytest.param(
            lambda s: s["fields"].append({"name": "venue", "type": "string", "default": ""}), id="field added"
        ),
        pytest.param(lambda s: s.update(aliases=["OldTrade"]), id="alias"),
    ],
)
def test_meaningful_changes_are_changes(change):
    changed = json.loads(text(TRADE))
    change(changed)
    assert canonical_schema(text(changed)) != canonical_schema(text(TRADE))


def test_parsing_canonical_form_would_miss_a_default():
    """Why PCF is not used: it cannot see a default being added or removed."""
    without_default = json.loads(text(TRADE))
    without_default["fields"][4].pop("default")
    pcf = fastavro.schema.to_parsing_canonical_form
    assert pcf(without_default) == pcf(TRADE)
    assert canonical_schema(text(without_default)) != canonical_schema(text(TRADE))


def test_names_are_full_names():
    canon = json.loads(canonical_schema(text(TRADE)))
    assert canon["name"] == "k2.market.equities.Trade"
    assert "namespace" not in canon
    assert canon["fields"][4]["type"] == ["null", "k2.market.equities.Side"]


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        (
            json.dumps({"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}),
            "not a valid Avro schema",
        ),
        (json.dumps({"type": "record", "fields": []}), "not a valid Avro schema"),
    ],
)
def test_invalid_schemas_raise(bad, fragment):
    with pytest.raises(SchemaTextError, match=fragment):
        canonical_schema(bad)


def test_minified_keeps_author_order_and_drops_whitespace():
    pretty = json.dumps(TRADE, indent=2)
    mini = minified_schema(pretty)
    assert mini == json.dumps(TRADE, separators=(",", ":"))
    assert mini.index('"type"') < mini.index('"name"')


@pytest.mark.parametrize("schema_type", ["JSON", "PROTOBUF", "XML"])
def test_only_avro_is_read(schema_type):
    """A registry may hold other types (``verify`` reads whatever is there): they are not Avro."""
    with pytest.raises(SchemaTextError, match=f"not an Avro schema but {schema_type}"):
        canonical_schema('{"type": "string"}', schema_type)
    assert canonical_schema('{"type": "string"}', "avro") == canonical_schema('"string"') == '"string"'


def test_field_changes_describe_what_changed():
    new = json.loads(text(TRADE))
    new["fields"].append({"name": "venue", "type": "string"})
    new["fields"].append({"name": "qty", "type": "long", "default": 0})
    new["fields"][1]["type"] = "double"
    new["fields"][4].pop("default")
    del new["fields"][0]
    assert field_changes(text(TRADE), text(new)) == [
        "field 'price' type changed from "
        '{"logicalType":"decimal","precision":18,"scale":6,"type":"bytes"} to "double"',
        "field 'prev_side' lost its default",
        "field 'venue' added without a default",
        "field 'qty' added with a default",
        "field 'symbol' removed (it had no default)",
    ]
    assert field_changes(text(TRADE), json.dumps(TRADE, indent=3)) == []
    assert field_changes("not json", text(TRADE)) == []
