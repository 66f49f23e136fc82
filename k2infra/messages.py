"""Wording shared by every validator: values as the user wrote them, pydantic errors in our voice."""

from __future__ import annotations

from typing import Any


def describe(value: Any) -> str:
    """A value as the user wrote it in YAML, for 'got ...' in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def pydantic_message(err: Any) -> str:
    """One pydantic error (from ValidationError.errors()) as 'must be ..., got ...'."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = describe(err.get("input"))
    expected = {
        "int_type": "an integer",
        "int_parsing": "an integer",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "string_type": "a string",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "list_type": "a list",
        "float_type": "a number",
        "literal_error": f"one of {ctx.get('expected', '')}",
        "greater_than_equal": f">= {ctx.get('ge')}",
        "less_than_equal": f"<= {ctx.get('le')}",
    }.get(kind)
    if kind == "missing":
        return "required field is missing"
    if expected is not None:
        return f"must be {expected}, got {got}"
    message = str(err["msg"]).removeprefix("Value error, ")
    return message if "got" in message else f"{message}, got {got}"
