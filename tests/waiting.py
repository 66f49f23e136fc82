"""One bounded poll for the tests that wait on a broker, a consumer group or a server, and one bounded stop
of a process a test started."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy and return it; fail naming `what` and the last
    answer at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g}s for {what}; last answer: {result!r}")
        time.sleep(interval)


def terminate(process: subprocess.Popen[Any], what: str, timeout: float) -> None:
    """SIGTERM `process` and wait; past `timeout`, kill it and fail naming `what` (a clean stop is part of the test)."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
        pytest.fail(f"{what} did not stop on SIGTERM within {timeout:g}s")
