"""The Schema Registry's whole state as a client of its Confluent API sees it, for tests that restart
it (or its broker) and compare: every subject's versions with their IDs and schemas, and the
compatibility levels."""

from __future__ import annotations

import time
from typing import Any

import requests

REGISTRY_BACK = 300.0  # seconds a restarted registry (or one whose broker restarted) may take to answer

RegistryState = dict[str, Any]


def registry_state(url: str, **request: Any) -> RegistryState:
    """Every subject's versions (id, schema) and compatibility, and the global compatibility."""

    def get(path: str) -> requests.Response:
        return requests.get(f"{url}{path}", timeout=30, **request)

    subjects: dict[str, Any] = {}
    for subject in sorted(get("/subjects").json()):
        versions = {}
        for version in get(f"/subjects/{subject}/versions").json():
            answer = get(f"/subjects/{subject}/versions/{version}")
            body = answer.json()
            # a listed version the registry cannot serve stays in the state as its answer, for the diff
            versions[version] = (body["id"], body["schema"]) if "id" in body else (answer.status_code, body)
        config = get(f"/config/{subject}")
        level = config.json().get("compatibilityLevel") if config.status_code == 200 else None
        subjects[subject] = {"versions": versions, "compatibility": level}
    return {"subjects": subjects, "global": get("/config").json().get("compatibilityLevel")}


def wait_for_state(url: str, expected: RegistryState, timeout: float = REGISTRY_BACK, **request: Any) -> RegistryState:
    """Polls until the registry answers with `expected` or the timeout; returns the last state seen."""
    started = time.monotonic()
    deadline = started + timeout
    last: RegistryState | str = "no answer"
    first: RegistryState | str | None = None
    while time.monotonic() < deadline:
        try:
            last = registry_state(url, **request)
            if last == expected:
                if first is not None:  # shown with the test's output: what it answered before it was back
                    print(f"registry state back after {time.monotonic() - started:.1f}s; first answer: {first}")
                return last
            first = last if first is None else first
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:  # starting, or reconnecting
            last = f"no answer: {exc}"
        time.sleep(1)
    raise AssertionError(f"the registry at {url} did not answer with its state within {timeout:g}s; last: {last}")
