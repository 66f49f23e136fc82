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

REPO = Path(__file__).resolve().parents[1]
KAFKA_PLUGIN = "kafka"


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
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "loadavg": _loadavg(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        info["cpu"] = model.group(1).strip() if model else None
        info["cores"] = len(re.findall(r"^processor\s*:", cpuinfo, re.M)) or info["cores"]
    except OSError:
        info["cpu"] = None
    try:
        meminfo = Path("/proc/meminfo").read_text()
        total = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
        info["memory_gb"] = round(int(total.group(1)) / 1024 / 1024, 1) if total else None
    except OSError:
        info["memory_gb"] = None
    return info


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def loadavg() -> list[float] | None:
    return _loadavg()


def default_parallelism() -> int:
    """`pulumi up --parallel` default, as the CLI states it (4 x cores in recent CLIs)."""
    try:
        text = subprocess.run(["pulumi", "up", "--help"], capture_output=True, text=True, timeout=60).stdout
        found = re.search(r"--parallel int\S*\s.*\(default (\d+)\)", text)
        if found:
            return int(found.group(1))
    except (OSError, subprocess.TimeoutExpired):
        pass
    return 4 * (os.cpu_count() or 1)


def versions(platform_env: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"python": sys.version.split()[0]}
    out["pulumi_cli"] = _run(["pulumi", "version"])
    for package in ("pulumi", "pulumi_kafka", "confluent-kafka", "matplotlib"):
        try:
            out[f"{package} (pip)"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[f"{package} (pip)"] = None
    try:
        import confluent_kafka

        out["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        out["librdkafka"] = None
    out["kafka_provider_plugin"] = _kafka_plugin()
    # A platform from the environment: `tools/platform.sh env` exports its versions too.
    env = {
        **{k: v for k, v in os.environ.items() if k in ("K2_KAFKA_VERSION", "K2_APICURIO_VERSION")},
        **(platform_env or {}),
    }
    out["kafka"] = env.get("K2_KAFKA_VERSION") or "unknown (platform from the environment)"
    out["apicurio"] = env.get("K2_APICURIO_VERSION") or "unknown (platform from the environment)"
    out["java"] = _java_version()
    go = _run(["go", "version"]) if shutil.which("go") else None
    out["go (pprof)"] = go.removeprefix("go version ") if go else None
    return out


def _kafka_plugin() -> str | None:
    text = _run(["pulumi", "plugin", "ls", "--json"])
    if not text:
        return None
    try:
        plugins = json.loads(text)
    except json.JSONDecodeError:
        return None
    found = [p.get("version") for p in plugins if p.get("name") == KAFKA_PLUGIN and p.get("kind") == "resource"]
    return ", ".join(sorted(v for v in found if v)) or None


def _java_version() -> str | None:
    java = shutil.which("java")
    if not java:
        return None
    try:
        text = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    return text.splitlines()[0].strip() if text else None


def _run(argv: list[str]) -> str | None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None
