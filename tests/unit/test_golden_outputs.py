"""What the shipped config produces stays byte-identical through refactoring.

The stack outputs of dev, staging and prod (the program under mocks), every resource the program
registers (type, name, inputs, options that matter), and the command line's JSON and text answers
are compared with files under tests/unit/golden/. A change of behaviour that is meant must update
them on purpose: `K2_UPDATE_GOLDEN=1 pytest tests/unit/test_golden_outputs.py`, and the diff is
reviewed like code.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from devkit.pulumi_mocks import run_program
from k2infra.cli.main import main as cli_main
from tests.conftest import REPO, SHIPPED_APPS

GOLDEN = Path(__file__).parent / "golden"
STACKS = ("dev", "staging", "prod")
APPS = SHIPPED_APPS
# Fixed stand-ins: the golden files must not change with random test secrets.
SECRETS = {
    "saslPassword": "kafka-s3cret",
    "schemaRegistryPassword": "registry-s3cret",
    "appPasswords": json.dumps({app: f"{app}-s3cret" for app in APPS}),
}


def _compare(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("K2_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with K2_UPDATE_GOLDEN=1 once and review it"
    assert text == path.read_text(), f"{name} differs from {path} (K2_UPDATE_GOLDEN=1 rewrites it on purpose)"


def _dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str) + "\n"


def _secrets(stack: str) -> dict[str, str]:
    return SECRETS if stack in ("staging", "prod") else {}


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_outputs_are_unchanged(stack: str) -> None:
    run = run_program(REPO, stack, _secrets(stack))
    _compare(f"outputs.{stack}.json", _dump(run.outputs))


@pytest.mark.parametrize("stack", STACKS)
def test_the_registered_resources_are_unchanged(stack: str) -> None:
    run = run_program(REPO, stack, _secrets(stack))
    resources = [
        {
            "type": r.typ,
            "name": r.name,
            # The registry provider's pickled code is an implementation detail, not a contract.
            "inputs": {k: v for k, v in r.inputs.items() if k != "__provider"},
            "provider": r.provider or "",
        }
        for r in run.mocks.resources
    ]
    resources.sort(key=lambda r: (r["type"], r["name"]))
    _compare(f"resources.{stack}.json", _dump(resources))


CLI_CASES = {
    "validate": ["validate"],
    "topics": ["topics", "--json"],
    "subscriptions-exchange": ["subscriptions", "--exchange", "equities.asx", "--json"],
    "subscriptions-asset-class": ["subscriptions", "--asset-class", "crypto", "--data-types", "trades", "--json"],
    "subscriptions-data-type": ["subscriptions", "--data-type", "quotes", "--json"],
    "access-app": ["access", "--app", "equities-analytics", "--json"],
    "access-topic": ["access", "--topic", "market.crypto.trades.binance", "--json"],
    "access-text": ["access", "--app", "crypto-risk"],
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_the_command_line_answers_are_unchanged(stack: str, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out, err = io.StringIO(), io.StringIO()
    code = cli_main([*CLI_CASES[case], "--stack", stack], stdout=out, stderr=err)
    _compare(f"cli.{stack}.{case}.txt", f"exit {code}\n--- stdout\n{out.getvalue()}--- stderr\n{err.getvalue()}")
