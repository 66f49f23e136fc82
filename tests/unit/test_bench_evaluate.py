"""bench.evaluate's phases: what each mode's timed span holds (a fake clock; nothing timed for real)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pulumi
import pytest

import devkit.pulumi_mocks
from bench import evaluate

SETUP_SECONDS = 100.0  # what the fake clock moves while the mocks are installed


class _Mocks:
    def __init__(self) -> None:
        self.resources: dict[str, Any] = {}

    def of_type(self, _type: str) -> list[Any]:
        return []


def test_the_sdk_floors_timed_run_leaves_out_its_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The floor is the SDK's registrations alone; installing the mocks (which imports k2infra's
    # preflight) once ran inside its span and made the floor's settle look a quarter-second longer.
    offset = [0.0]
    real = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: real() + offset[0])

    def install_mocks(*_args: Any, **_kwargs: Any) -> _Mocks:
        offset[0] += SETUP_SECONDS
        return _Mocks()

    monkeypatch.setattr(devkit.pulumi_mocks, "install_mocks", install_mocks)
    monkeypatch.setattr(devkit.pulumi_mocks, "stack_config", lambda *_a, **_k: ({}, []))
    monkeypatch.setattr(pulumi.runtime, "test", lambda function: lambda *_a: None)
    topics, result = tmp_path / "topics.json", tmp_path / "result.json"
    topics.write_text("[]")
    argv = ["--project-dir", str(tmp_path), "--result", str(result), "--mode", "sdk-floor", "--topics", str(topics)]

    assert evaluate.main(argv) == 0

    report = json.loads(result.read_text())
    assert report["mode"] == "sdk-floor"
    assert report["run"] < SETUP_SECONDS, report
