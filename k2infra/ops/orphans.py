"""Pulumi plugin processes of a project, the orphans among them, and ending those.

The engine starts each plugin (language host, resource providers) in its own process group, with
the project directory as working directory. When the CLI is killed (SIGKILL of its process group),
a plugin that does not notice keeps running, re-parented to pid 1: upstream's pulumi-kafka
provider does (it does not watch its engine), as does any dynamic provider that never loaded
k2infra. Such a process serves no engine (a plugin talks only to the engine that started it),
holds its port and its broker connections, and would stay until the machine restarts; so
`recover` ends it (`end_orphans`): SIGTERM, then SIGKILL after a bounded wait.

An orphan here is a process that is all of: a Pulumi plugin by its command line, running with the
project directory (or one below it) as working directory, and re-parented to pid 1; or the child
of such a process (the `pulumi-resource-pulumi-python` launcher runs its Python as a child, which
serves no engine either). A process with any other live parent is never one.

A sub-reaper: when an ancestor of the killed CLI marked itself PR_SET_CHILD_SUBREAPER (systemd's
user manager, `tini -s`, some CI runners and container inits), the kernel re-parents the plugins to
that ancestor rather than to pid 1. Their parent is then alive and not an engine, but nothing here
can tell a sub-reaper from an engine that still runs, so they are not orphans: `recover` leaves
them, and `ps -o pid,ppid,args` in the project directory shows them to end by hand.

Linux only (/proc); elsewhere nothing is found.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# How long `end_orphans` waits for the processes to exit after SIGTERM, and again after SIGKILL.
# A plugin stops within a second on an idle machine; the margin is for a loaded one.
END_WAIT_SECONDS = 10.0

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
    start: int = 0  # start time in clock ticks since boot (/proc/PID/stat): tells a reused pid apart

    @property
    def orphan(self) -> bool:
        return self.ppid == 1

    def describe(self) -> str:
        shown = self.cmdline if len(self.cmdline) <= 160 else self.cmdline[:157] + "..."
        return f"pid {self.pid} (parent {self.ppid}): {shown}"

    def short(self) -> str:
        return self.cmdline if len(self.cmdline) <= 120 else self.cmdline[:117] + "..."


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
        fields = _stat_fields(stat)
        if fields and fields[0] == "Z":
            continue  # exited, waiting to be reaped
        start = int(fields[19]) if len(fields) > 19 else 0
        found.append(PluginProcess(int(entry.name), int(fields[1]), cmdline, cwd, start))
    return sorted(found, key=lambda p: p.pid)


def _stat_fields(stat: str) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state, ppid, ... (starttime is [19])."""
    return stat[stat.rfind(")") + 2 :].split()


def orphans(project_dir: Path, proc: Path = Path("/proc")) -> list[PluginProcess]:
    """Plugin processes of the project whose engine is gone (parent pid 1), and their children."""
    processes = plugin_processes(project_dir, proc)
    orphan_pids = {p.pid for p in processes if p.orphan}
    # A launcher script (pulumi-resource-pulumi-python) runs its Python as a child: report both.
    return [p for p in processes if p.pid in orphan_pids or p.ppid in orphan_pids]


@dataclass(frozen=True)
class Ending:
    """What `end_orphans` did with one orphan."""

    process: PluginProcess
    signal: str  # what ended it: "SIGTERM" or "SIGKILL"; "" in a dry run or when it could not
    error: str | None = None  # why it could not be ended
    dry_run: bool = False

    def line(self) -> str:
        p = self.process
        if self.dry_run:
            return f"would end orphaned plugin pid {p.pid} ({p.short()}): it serves no engine"
        if self.error is not None:
            return (
                f"could not end orphaned plugin pid {p.pid} ({p.short()}): {self.error}; stop it with: kill -9 {p.pid}"
            )
        how = "" if self.signal == "SIGTERM" else " (it outlived SIGTERM: SIGKILL)"
        return f"ended orphaned plugin pid {p.pid} ({p.short()}): it served no engine{how}"


def end_orphans(
    project_dir: Path,
    *,
    dry_run: bool = False,
    proc: Path = Path("/proc"),
    wait: float = END_WAIT_SECONDS,
    send: Callable[[int, int], None] = os.kill,
) -> list[Ending]:
    """End the project's orphaned plugin processes: SIGTERM, then SIGKILL those left after `wait` seconds.

    Each process is checked again just before each signal (same start time, still an orphan or the
    child of one), so a pid reused meanwhile, or a process that found a parent, is never signalled.
    """
    targets = orphans(project_dir, proc)
    if dry_run:
        return [Ending(p, "", dry_run=True) for p in targets]
    pids = {p.pid for p in targets}
    errors: dict[int, str] = {}

    def signal_all(processes: list[PluginProcess], signum: int) -> set[int]:
        """Send `signum` to each; returns the pids that are no longer that orphan (not signalled)."""
        not_ours = set()
        for p in processes:
            if not _same_orphan(p, pids, proc):
                not_ours.add(p.pid)  # exited (its pid maybe reused already), or adopted
                continue
            try:
                send(p.pid, signum)
            except ProcessLookupError:
                pass  # exited meanwhile
            except OSError as exc:
                errors[p.pid] = f"{signal.Signals(signum).name}: {exc.strerror or exc}"
        return not_ours

    skipped = signal_all(targets, signal.SIGTERM)
    left = _wait_gone([p for p in targets if p.pid not in errors and p.pid not in skipped], proc, wait)
    killed = {p.pid for p in left} - signal_all(left, signal.SIGKILL)  # the others exited meanwhile
    stayed = {p.pid for p in _wait_gone([p for p in left if p.pid in killed and p.pid not in errors], proc, wait)}
    endings = []
    for p in targets:
        if p.pid in errors:
            endings.append(Ending(p, "", errors[p.pid]))
        elif p.pid in stayed:
            endings.append(Ending(p, "", f"still running {wait:g}s after SIGKILL"))
        elif p.pid not in skipped:
            endings.append(Ending(p, "SIGKILL" if p.pid in killed else "SIGTERM"))
    return endings


def _same_orphan(p: PluginProcess, pids: set[int], proc: Path) -> bool:
    """Is `p` still that process (not a reused pid), with pid 1 or one of the orphans as parent?"""
    try:
        fields = _stat_fields((proc / str(p.pid) / "stat").read_text())
    except OSError:
        return False
    if len(fields) < 2 or fields[0] == "Z":
        return False
    start = int(fields[19]) if len(fields) > 19 else 0
    ppid = int(fields[1])
    return start == p.start and (ppid == 1 or ppid in pids)


def _running(p: PluginProcess, proc: Path) -> bool:
    try:
        fields = _stat_fields((proc / str(p.pid) / "stat").read_text())
    except OSError:
        return False
    start = int(fields[19]) if len(fields) > 19 else 0
    return bool(fields) and fields[0] != "Z" and start == p.start


def _wait_gone(processes: list[PluginProcess], proc: Path, wait: float) -> list[PluginProcess]:
    """Poll until none of `processes` runs, at most `wait` seconds; returns those still running."""
    deadline = time.monotonic() + wait
    while True:
        left = [p for p in processes if _running(p, proc)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)
