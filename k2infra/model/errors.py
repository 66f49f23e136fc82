"""Bad input, reported all at once: located problems, and the wording every validator shares
(values as the user wrote them, "did you mean", pydantic errors in our voice)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, located as precisely as we can."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class K2Error(Exception):
    """Every failure a user can act on. The command line's exit code follows the class
    (k2infra.cli.main.EXIT_CODES), so that each command need not decide it again. A command that
    has written what went wrong already (verify, recover) returns the error as its outcome."""


class InputError(K2Error):
    """Bad input (a topology, apps, schema or stack file, a missing secret), raised with every
    problem found so that a user fixes them in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.path, p.message))
        super().__init__(self.report())

    @classmethod
    def single(cls, file: str, path: str, message: str) -> InputError:
        return cls([Problem(file, None, path, message)])

    def report(self) -> str:
        """The problems under a heading per file they are about (topology, schema, apps, stack file)."""
        lines: list[str] = []
        files = list(dict.fromkeys(p.file for p in self.problems))
        for file in files:
            mine = [p for p in self.problems if p.file == file]
            lines.append(f"{len(mine)} problem{'s' if len(mine) != 1 else ''} in {file}:")
            lines += [f"  {p}" for p in mine]
        return "\n".join(lines)


class TopologyError(InputError):
    """Problems of the topology (config/kafka/topics.yaml) and its schema files."""


class ConnectionFailed(K2Error):
    """A cluster or registry could not be reached or refused us; ``str(err)`` is one complete line
    naming the address and the setting to check."""


class Refused(K2Error):
    """A guard refused a change (data loss, shrinking partitions, brokers down, a retirement)."""


class Drift(K2Error):
    """The live cluster or registry differs from the plan (`verify`); the report says how."""


class StateError(K2Error):
    """The stack's state or the Pulumi CLI that holds it could not be read or repaired."""


def display_path(path: Path) -> str:
    """A path as the user will recognise it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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


def did_you_mean(word: str, known: Iterable[str]) -> str | None:
    """The closest known spelling of a mistyped word, if one is close enough."""
    close = difflib.get_close_matches(word, sorted(known), n=1)
    return close[0] if close else None
