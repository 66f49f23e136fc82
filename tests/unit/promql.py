"""The metric names a PromQL expression reads, for checking generated rules and dashboards against
k2infra.observe.metrics. A small scanner, enough for the expressions k2infra writes: strings, label
matchers, grouping lists, range and offset durations and comments are removed, then every name
that is not a function call, a keyword or a number is a metric."""

from __future__ import annotations

import re

_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_BRACES = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_COMMENT = re.compile(r"#[^\n]*")
_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_GO_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.S)


def metric_names(expr: str) -> set[str]:
    text = _COMMENT.sub(" ", _STRING.sub('""', expr))
    text = _GROUPING.sub(" ", _BRACES.sub(" ", text))
    text = _RANGE.sub(" ", text)
    return {
        match.group(1)
        for match in _NAME.finditer(text)
        if match.group(2) is None and match.group(1).lower() not in _KEYWORDS
    }
