"""The shape pass every YAML input shares: a pydantic model's errors as located problems.

topology.yaml and apps.yaml are first validated as pydantic models (shape), then checked for
meaning; both report an unknown key with the keys allowed at that place, found by walking the
model's annotations, so that a typo gets "did you mean" and anything else the list to pick from.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel

from k2infra.model.errors import Problem, did_you_mean
from k2infra.model.yaml_source import YamlSource


def unknown_key_problem(source: YamlSource, model: type[BaseModel], loc: tuple[str | int, ...]) -> Problem:
    """`loc` is an extra_forbidden error's location: its last part is the key nobody expects."""
    known = known_fields(model, loc[:-1])
    close = did_you_mean(str(loc[-1]), known)
    hint = f" (did you mean '{close}'?)" if close else f" (expected one of: {', '.join(known)})"
    return source.problem(loc, f"unknown key{hint}")


def known_fields(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys allowed at `loc` under `model` (as users type them: aliases where there are)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for name, f in current.model_fields.items() if part in (name, f.alias)), None)
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]  # the part was a key of the mapping or an index
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Optional[X] -> X, Annotated[X, ...] -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def as_mapping(value: Any) -> dict[str, Any]:
    """The meaning pass runs on raw YAML, where the shape pass may already have refused a value."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
