"""The machine and the versions a benchmark ran with, and the toolchain on PATH."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


def use_toolchain() -> None:
    """What `source tools/env.sh` does, for `python -m bench` run without it."""
    tools = Path(os.environ.setdefault("K2_TOOLS_DIR", str(Path.home() / ".cache" / "k2infra" / "tools")))
    os.environ.setdefault("PULUMI_HOME", str(tools / "pulumi-home"))
    bin_dir = str(tools / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    os.environ["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = "true"


def machine() -> dict[str, Any]:
    def proc(name: str, pattern: str) -> str | None:
        try:
            found = re.search(pattern, Path(f"/proc/{name}").read_text(), re.M)
        except OSError:
            return None
        return found.group(1).strip() if found else None

    memory = proc("meminfo", r"^MemTotal:\s*(\d+) kB")
    return {
        "cpu": proc("cpuinfo", r"^model name\s*:\s*(.+)$"),
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory) / 1024 / 1024, 1) if memory else None,
        "kernel": platform.release(),
        "loadavg": loadavg(),
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def default_parallelism() -> int:
    """`pulumi up --parallel` default, as the CLI states it (4 x cores in recent CLIs)."""
    found = re.search(r"--parallel int\S*\s.*\(default (\d+)\)", _run(["pulumi", "up", "--help"]) or "")
    return int(found.group(1)) if found else 4 * (os.cpu_count() or 1)


def versions(platform_env: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"python": sys.version.split()[0], "pulumi_cli": _run(["pulumi", "version"])}
    for package in ("pulumi", "pulumi_kafka", "confluent-kafka", "matplotlib"):  # all in requirements-dev.txt
        out[f"{package} (pip)"] = metadata.version(package)
    import confluent_kafka

    out["librdkafka"] = confluent_kafka.libversion()[0]
    try:
        plugins = json.loads(_run(["pulumi", "plugin", "ls", "--json"]) or "[]")
    except json.JSONDecodeError:
        plugins = []
    found = sorted(p["version"] for p in plugins if p.get("name") == "kafka" and p.get("kind") == "resource")
    out["kafka_provider_plugin"] = ", ".join(found) or None
    # A platform from the environment: `tools/platform.sh env` exports its versions too.
    env = {**os.environ, **(platform_env or {})}
    out["kafka"] = env.get("K2_KAFKA_VERSION") or "unknown (platform from the environment)"
    out["apicurio"] = env.get("K2_APICURIO_VERSION") or "unknown (platform from the environment)"
    java = shutil.which("java")
    java_version = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr if java else ""
    out["java"] = java_version.splitlines()[0].strip() if java_version else None
    return out


def _run(argv: list[str]) -> str | None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None
