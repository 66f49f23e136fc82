"""Our plugins stop on the engine's SIGINT even when they were started with SIGINT ignored.

The engine stops a plugin with SIGINT and kills it only 5 s later. Background jobs of a
non-interactive shell (and some CI runners) start with SIGINT ignored, and Go keeps an inherited
ignore unless the program asks for the signal: our language host did not, so every pulumi
command run that way waited 5 s per language host.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest


@pytest.mark.parametrize("plugin", ["pulumi-language-python", "pulumi-resource-kafka"])
def test_plugin_started_with_sigint_ignored_still_stops_on_sigint(plugin: str, pulumi_cli: str) -> None:
    path = shutil.which(plugin) or _installed_plugin(plugin)
    # The engine address is never dialled before a request arrives; the plugin only serves.
    process = subprocess.Popen(
        [path, "127.0.0.1:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), f"{plugin} did not print its port: {port!r}"
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=4)  # under the engine's 5 s
        assert time.monotonic() - started < 4
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _installed_plugin(plugin: str) -> str:
    home = Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi"))
    found = sorted(home.glob(f"plugins/resource-kafka-v*/{plugin}"))
    if not found:
        pytest.fail(f"{plugin} is not installed under {home}: run `make tools`")
    return str(found[-1])
