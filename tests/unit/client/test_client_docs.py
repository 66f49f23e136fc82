"""docs/applications.md works as written: its Python blocks run, its output table is the model's."""

from __future__ import annotations

import re

import pytest

from k2infra.model.outputs import reference_table
from tests.conftest import REPO

GUIDE = REPO / "docs" / "applications.md"
# A Python block, with its marker on the line before it: <!-- doctest --> (run here, from the
# repository root), <!-- doctest: e2e --> (run by tests/e2e/test_applications.py on a deployed
# stack) or <!-- excerpt: FILE --> (lines of a program that an e2e test runs).
BLOCK = re.compile(r"(?:<!-- (?P<kind>doctest|excerpt)(?:: (?P<arg>[^ ]+))? -->\n)?```python\n(?P<code>.*?)```", re.S)


def blocks(where: str | None) -> list[str]:
    return [m["code"] for m in BLOCK.finditer(GUIDE.read_text()) if m["kind"] == "doctest" and m["arg"] == where]


def test_every_python_block_of_the_guide_is_run_by_a_test() -> None:
    found = list(BLOCK.finditer(GUIDE.read_text()))
    assert [m["code"].splitlines()[0] for m in found if m["kind"] is None] == []
    assert blocks(None) and blocks("e2e")
    for m in found:
        if m["kind"] == "excerpt":
            assert m["code"].strip() in (REPO / m["arg"]).read_text(), m["arg"]


def test_the_guides_producer_and_consumer_usage_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    namespace: dict[str, object] = {}
    for code in blocks(None):
        exec(compile(code, str(GUIDE), "exec"), namespace)
    assert namespace["topic"] == "market.equities.trades.asx"


def test_the_guides_output_table_is_the_model() -> None:
    assert reference_table() in GUIDE.read_text(), "docs/applications.md must hold this table:\n" + reference_table()
