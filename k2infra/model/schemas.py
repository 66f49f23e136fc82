"""Avro schema files: load, parse, check against the topology; the compatibility levels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro.schema
from fastavro.schema import SchemaParseException, UnknownType

from k2infra.model.errors import Problem, display_path

SCHEMA_DIR = Path("schemas")


# The subject compatibility levels of the Confluent API, as every compatible registry names them.
COMPATIBILITY_LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)


@dataclass(frozen=True)
class AvroSchema:
    """One schema file as registered under an asset-class subject."""

    path: str
    name: str  # the record's short name, e.g. 'trade'
    full_name: str  # with namespace, e.g. 'k2.market.equities.trade'
    text: str  # the file as written: what the registry receives
    field_names: tuple[str, ...]


def schema_path(config_dir: Path, asset_class: str, data_type: str) -> Path:
    return config_dir / SCHEMA_DIR / asset_class / f"{data_type}.avsc"


def parse_avro(text: str, path: str) -> AvroSchema:
    """Parse one schema text; raise ValueError with a located message."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaFileError(exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    try:
        parsed = fastavro.schema.parse_schema(raw, _write_hint=False)
    except (SchemaParseException, UnknownType, TypeError, KeyError, AttributeError, ValueError) as exc:
        raise SchemaFileError(None, f"not a valid Avro schema: {exc}") from None
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise SchemaFileError(None, "the top level must be an Avro record")
    full_name = str(parsed["name"])
    return AvroSchema(
        path=path,
        name=full_name.rsplit(".", 1)[-1],
        full_name=full_name,
        text=text,
        field_names=tuple(str(f["name"]) for f in raw.get("fields", [])),
    )


class SchemaFileError(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_topology_schemas(
    config_dir: Path, data: dict[str, Any]
) -> tuple[dict[tuple[str, str], AvroSchema], list[Problem]]:
    """Load the schema of every (asset class, data type) that some exchange carries.

    Works on the raw topology mapping so that schema problems are reported together with
    problems elsewhere in the topology file.
    """
    schemas: dict[tuple[str, str], AvroSchema] = {}
    problems: list[Problem] = []
    data_types = data.get("data_types") if isinstance(data.get("data_types"), dict) else {}
    asset_classes = data.get("asset_classes") if isinstance(data.get("asset_classes"), dict) else {}
    for asset_class, spec in asset_classes.items():
        for data_type in sorted(_carried(spec, data_types)):
            dt_spec = data_types.get(data_type)
            if not isinstance(dt_spec, dict):
                continue
            path = schema_path(config_dir, asset_class, data_type)
            shown = display_path(path)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                problems.append(Problem(shown, None, "", f"missing schema file for {asset_class}/{data_type}"))
                continue
            try:
                schema = parse_avro(text, shown)
            except SchemaFileError as exc:
                problems.append(Problem(shown, exc.line, "", exc.message))
                continue
            expected = dt_spec.get("schema")
            if isinstance(expected, str) and schema.name != expected:
                problems.append(
                    Problem(
                        shown,
                        1,
                        "name",
                        f"record name {schema.name!r} differs from data_types.{data_type}.schema {expected!r}",
                    )
                )
            key = dt_spec.get("partition_key")
            if isinstance(key, str) and key and key not in schema.field_names:
                problems.append(
                    Problem(
                        shown,
                        1,
                        "fields",
                        f"lacks the partition key field {key!r} (data_types.{data_type}.partition_key)",
                    )
                )
            schemas[(asset_class, data_type)] = schema
    return schemas, problems


def _carried(asset_class_spec: Any, data_types: dict[str, Any]) -> set[str]:
    exchanges = asset_class_spec.get("exchanges") if isinstance(asset_class_spec, dict) else None
    carried: set[str] = set()
    for exchange in (exchanges or {}).values() if isinstance(exchanges, dict) else []:
        selected = exchange.get("data_types") if isinstance(exchange, dict) else None
        if isinstance(selected, list):
            carried.update(dt for dt in selected if isinstance(dt, str) and dt in data_types)
        else:
            carried.update(data_types)
    return carried
