"""Canonical text of an Avro schema, for deciding whether a schema *changed*.

k2infra registers Avro only; text of any other schema type (a registry may hold
JSON or Protobuf schemas registered by someone else) is reported as unreadable.

Why not Avro Parsing Canonical Form (PCF)?  PCF keeps only what is needed to
*read* bytes: it drops ``default``, ``doc``, ``aliases``, ``order``,
``logicalType`` (and its ``precision``/``scale``) and every custom property.
Several of those matter here:

* ``default`` decides compatibility: adding a field *with* a default is a
  BACKWARD-compatible change, adding it without one is not.  A diff on PCF would
  not see "default added" at all, so the new schema would never be registered.
* ``logicalType`` changes how every consumer decodes the value
  (``long`` vs ``timestamp-millis``).
* ``doc`` and ``aliases`` are part of what Confluent, Karapace, Redpanda and
  Apicurio store and serve: changing them in the ``.avsc`` registers a new
  version there, so the repo and the registry would silently disagree if the
  diff ignored them.

So the canonical form here keeps every attribute and removes only what cannot
change meaning:

* whitespace and JSON key order (keys are sorted, output is compact);
* namespace spelling: every named type (record/enum/fixed/error) and every
  reference to one is written as its full name, ``namespace`` keys are
  dropped, and named-type aliases are made full names, exactly as PCF does;
* ``{"type": "long"}`` with no other attribute is written ``"long"``.

Order inside lists is kept (field order, union branch order and enum symbol
order are all significant in Avro).  The schema is also validated with
fastavro, so an invalid schema is reported before anything reaches a registry.
"""

from __future__ import annotations

import json
from typing import Any

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
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})


class SchemaTextError(ValueError):
    """The schema text is not a valid Avro schema."""


def canonical_schema(text: str, schema_type: str = "AVRO") -> str:
    """Return the canonical text of ``text``; raise SchemaTextError if it is not a valid Avro schema.

    ``schema_type`` is the type a registry reports for the text (``schemaType``, AVRO when absent).
    """
    if (schema_type or "AVRO").upper() != "AVRO":
        raise SchemaTextError(f"not an Avro schema but {schema_type}; k2infra registers Avro schemas only")
    if not isinstance(text, str) or not text.strip():
        raise SchemaTextError("the schema is empty")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaTextError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    validate_avro(raw)
    return _dump(_normalise(raw, ""))


def minified_schema(text: str) -> str:
    """The text sent to the registry: the schema as written, whitespace removed.

    Key order and namespaces are kept as the author wrote them, so the stored
    schema stays readable; whitespace is removed so that registries that
    de-duplicate by the bytes of the text (Apicurio hashes content) see the
    same bytes for a reformatted file.
    """
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def validate_avro(raw: Any) -> None:
    """Raise SchemaTextError unless ``raw`` (parsed JSON) is a valid Avro schema."""
    import fastavro.schema  # local import keeps module import cheap

    try:
        fastavro.schema.parse_schema(raw, _write_hint=False)
    except Exception as exc:  # fastavro raises several unrelated types
        raise SchemaTextError(f"not a valid Avro schema: {type(exc).__name__}: {exc}") from None


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _fullname(name: str, namespace: str) -> str:
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _normalise(node: Any, namespace: str) -> Any:
    if isinstance(node, str):
        return node if node in PRIMITIVES else _fullname(node, namespace)
    if isinstance(node, list):  # a union
        return [_normalise(branch, namespace) for branch in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if isinstance(kind, str) and kind in NAMED:
        fullname = _fullname(str(node["name"]), str(node.get("namespace") or namespace))
        inner_ns = fullname.rpartition(".")[0]
        out = {k: v for k, v in node.items() if k not in ("name", "namespace")}
        out["name"] = fullname
        if isinstance(node.get("aliases"), list):
            out["aliases"] = [_fullname(str(a), inner_ns) for a in node["aliases"]]
        if kind in ("record", "error") and isinstance(node.get("fields"), list):
            out["fields"] = [_normalise_field(f, inner_ns) for f in node["fields"]]
        return out
    if kind == "array":
        out = dict(node)
        out["items"] = _normalise(node.get("items"), namespace)
        return out
    if kind == "map":
        out = dict(node)
        out["values"] = _normalise(node.get("values"), namespace)
        return out
    if isinstance(kind, str) and kind in PRIMITIVES:
        return kind if len(node) == 1 else dict(node)
    # {"type": <named reference | nested schema>}: a wrapper around another schema.
    if len(node) == 1 and "type" in node:
        return _normalise(kind, namespace)
    out = dict(node)
    if "type" in out:
        out["type"] = _normalise(kind, namespace)
    return out


def _normalise_field(field: Any, namespace: str) -> Any:
    if not isinstance(field, dict):
        return field
    out = dict(field)
    if "type" in out:
        out["type"] = _normalise(out["type"], namespace)
    return out


def field_changes(old_text: str, new_text: str) -> list[str]:
    """Field-level differences between two Avro record schemas, in words.

    A local aid for messages when a registry says "incompatible" without
    saying why (Apicurio's compatibility endpoint gives no reasons): it lists
    what changed, not a verdict.  Nested records are followed by field path.
    """
    try:
        old = _normalise(json.loads(old_text), "")
        new = _normalise(json.loads(new_text), "")
    except (ValueError, TypeError, KeyError):
        return []
    changes: list[str] = []
    _compare_records(old, new, "", changes)
    return changes


def _record_fields(node: Any) -> dict[str, dict[str, Any]] | None:
    if isinstance(node, dict) and node.get("type") in ("record", "error"):
        return {f["name"]: f for f in node.get("fields", []) if isinstance(f, dict) and "name" in f}
    return None


def _compare_records(old: Any, new: Any, path: str, out: list[str]) -> None:
    old_fields, new_fields = _record_fields(old), _record_fields(new)
    if old_fields is None or new_fields is None:
        return
    for name, field in new_fields.items():
        where = f"{path}{name}"
        if name not in old_fields:
            default = "with a default" if "default" in field else "without a default"
            out.append(f"field '{where}' added {default}")
            continue
        before = old_fields[name]
        if _dump(before.get("type")) != _dump(field.get("type")):
            if _record_fields(before.get("type")) and _record_fields(field.get("type")):
                _compare_records(before["type"], field["type"], f"{where}.", out)
            else:
                out.append(
                    f"field '{where}' type changed from {_dump(before.get('type'))} to {_dump(field.get('type'))}"
                )
        if "default" in before and "default" not in field:
            out.append(f"field '{where}' lost its default")
        elif "default" not in before and "default" in field:
            out.append(f"field '{where}' gained a default")
    for name, field in old_fields.items():
        if name not in new_fields:
            default = "had a default" if "default" in field else "had no default"
            out.append(f"field '{path}{name}' removed (it {default})")
