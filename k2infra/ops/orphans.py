"""Pulumi plugin processes of a project, and the orphans among them.

The engine starts each plugin (language host, resource providers) in its own process group, with
the project directory as working directory. When the CLI is killed (SIGKILL of its process group),
a plugin that does not notice keeps running, re-parented to pid 1. Our own plugins now exit on
their own when the engine is gone; this module finds any that did not (an older build, a plugin
we do not build) so that `recover` can report them.

Linux only (/proc); elsewhere nothing is found.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# A Pulumi plugin binary or launcher, or the Python entry points the plugins run.
_PLUGIN = re.compile(
    r"(?:^|/)pulumi-(?:language|resource|analyzer)-[A-Za-z0-9_.-]+(?:\s|$)"
    r"|(?:^|\s)-m\s+pulumi\.(?:dynamic|policy)(?:\s|$)"
)


@dataclass(frozen=True)
class PluginProcess:
    pid: int
    ppid: int
    cmdline: str
    cwd: str

    @property
    def orphan(self) -> bool:
        return self.ppid == 1

    def describe(self) -> str:
        shown = self.cmdline if len(self.cmdline) <= 160 else self.cmdline[:157] + "..."
        return f"pid {self.pid} (parent {self.ppid}): {shown}"


def is_plugin_cmdline(cmdline: str) -> bool:
    return bool(_PLUGIN.search(cmdline))


def plugin_processes(project_dir: Path, proc: Path = Path("/proc")) -> list[PluginProcess]:
    """Every running plugin process whose working directory is `project_dir` or below it."""
    root = os.path.realpath(project_dir)
    found: list[PluginProcess] = []
    try:
        entries = [p for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return []
    for entry in entries:
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            if not cmdline or not is_plugin_cmdline(cmdline):
                continue
            cwd = os.readlink(entry / "cwd")
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone, or not ours to read
        if cwd != root and not cwd.startswith(root.rstrip("/") + "/"):
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields and fields[0] == "Z":
            continue  # exited, waiting to be reaped
        found.append(PluginProcess(int(entry.name), int(fields[1]), cmdline, cwd))
    return sorted(found, key=lambda p: p.pid)


def orphans(project_dir: Path, proc: Path = Path("/proc")) -> list[PluginProcess]:
    """Plugin processes of the project whose engine is gone (parent pid 1), and their children."""
    processes = plugin_processes(project_dir, proc)
    orphan_pids = {p.pid for p in processes if p.orphan}
    # A launcher script (pulumi-resource-pulumi-python) runs its Python as a child: report both.
    return [p for p in processes if p.pid in orphan_pids or p.ppid in orphan_pids]
