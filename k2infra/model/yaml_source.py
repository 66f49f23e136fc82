"""The YAML inputs: loading that remembers where every value came from, and the shape pass they share.

PyYAML forgets line numbers once it builds Python objects, and silently keeps the last of two
duplicate keys. Both matter to a user fixing a typo in a topology, so the loader below records the
line of each value by its dotted path and turns duplicate keys into problems.

topology.yaml and apps.yaml are then validated as pydantic models (the shape pass), then checked for
meaning; both report an unknown key with the keys allowed at that place, found by walking the
model's annotations, so that a typo gets "did you mean" and anything else the list to pick from.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from k2infra.model.errors import InputError, Problem, did_you_mean, display_path

# libyaml's composer when PyYAML has it (several times faster on a topology of thousands of
# topics, same marks); a syntax error is re-read by the pure-Python one, whose messages name the
# offending character.
_FAST_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class YamlSource:
    """A parsed YAML document plus the line of each value, keyed by path tuple."""

    file: str
    data: Any
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def problem(self, path: tuple[str | int, ...], message: str) -> Problem:
        return Problem(self.file, self.line_of(path), dotted(path), message)


def dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int) or "." in part:
            out += f"[{part}]"  # list index, or a key that holds dots such as 'retention.ms'
        else:
            out += f".{part}" if out else part
    return out


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[tuple[str | int, ...], int] = {}
        self.problems: list[Problem] = []
        self._scalar = yaml.SafeLoader("")  # only used for its scalar constructors

    def build(self, node: Node, path: tuple[str | int, ...]) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar.construct_object(node, deep=True)

    def _mapping(self, node: MappingNode, path: tuple[str | int, ...]) -> dict[Any, Any]:
        self._scalar.flatten_mapping(node)  # resolves YAML merge keys (<<)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.build(key_node, (*path, "<key>"))
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if key in result:
                first = self.lines.get(child)
                self.problems.append(
                    Problem(self.file, line, dotted(child), f"duplicate key (first defined on line {first})")
                )
                continue
            self.lines[child] = line
            result[key] = self.build(value_node, child)
        return result


def load_yaml(path: Path, display_name: str | None = None) -> YamlSource:
    """Parse `path`; raise InputError for unreadable files, syntax errors and duplicate keys.

    Problems name the file as `display_name`, else as the user knows it (errors.display_path)."""
    name = display_name or display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError([Problem(name, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(name, None, "", f"cannot read file: {exc}")]) from None
    return parse_yaml(text, name)


def _compose(text: str) -> Node | None:
    try:
        return yaml.compose(text, Loader=_FAST_COMPOSER)
    except yaml.YAMLError:
        return yaml.compose(text, Loader=yaml.SafeLoader)


def parse_yaml(text: str, name: str) -> YamlSource:
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        detail = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise InputError([Problem(name, line, "", f"invalid YAML: {detail}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(name, None, "", f"invalid YAML: {exc}")]) from None
    if node is None:
        raise InputError([Problem(name, None, "", "the file is empty; expected a mapping")])
    builder = _Builder(name)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise InputError(
            [Problem(name, mark.line + 1 if mark else None, "", f"invalid YAML value: {exc.problem}")]
        ) from None
    if builder.problems:
        raise InputError(builder.problems)
    if not isinstance(data, dict):
        found = type(data).__name__
        raise InputError([Problem(name, node.start_mark.line + 1, "", f"the top level must be a mapping, got {found}")])
    return YamlSource(name, data, builder.lines)


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
