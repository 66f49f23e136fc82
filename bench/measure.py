"""One child process per measurement: wall time, peak memory (`os.wait4` rusage of that child
alone; with `sample_tree`, the summed RSS of its process tree, sampled: a lower bound of the true
peak of a CLI that fans out into a language host, the program and providers); with `cpu_by`, the
CPU seconds of each role in its process tree; median and spread.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_INTERVAL = 0.25
# CPU is sampled more often: a process's last sample stands for its total, and most of a pulumi
# run's children live for well under a second.
CPU_SAMPLE_INTERVAL = 0.02
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024


class MeasureTimeout(RuntimeError):
    """The command outlived its timeout; it and its process group were killed."""


@dataclass(frozen=True)
class Stat:
    """Median and spread (min-max) of repeated figures."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat | None:
        if not values:
            return None
        return cls(statistics.median(values), min(values), max(values), len(values))


@dataclass
class Run:
    """One measured process."""

    argv: list[str]
    seconds: float
    returncode: int
    peak_rss_mb: float  # the child process itself (wait4 rusage)
    tree_peak_mb: float | None  # the summed RSS of its process tree, sampled
    stdout: str = field(repr=False, default="")
    stderr: str = field(repr=False, default="")
    cpu_seconds: float | None = None  # user + system time of the child (wait4 rusage): less load-bound than wall time
    # With `cpu_by`: CPU seconds (user + system) per role of the process tree, a lower bound by up to
    # one CPU_SAMPLE_INTERVAL of each process's last slice.
    cpu_by_role: dict[str, float] | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure(self, limit: int = 3000) -> str:
        return (
            f"{' '.join(self.argv)} exited {self.returncode} after {self.seconds:.1f} s\n"
            f"--- stdout (tail)\n{self.stdout[-limit:]}\n--- stderr (tail)\n{self.stderr[-limit:]}"
        )


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float,
    sample_tree: bool = False,
    cpu_by: Callable[[list[str]], str] | None = None,
) -> Run:
    """Run `argv` to completion (or kill its process group at `timeout`) and measure it. `cpu_by`
    names a process's role from its command line; the tree's CPU is then summed per role."""
    with tempfile.TemporaryDirectory(prefix="k2bench-run-") as tmp:
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                list(argv),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group, so a timeout kills it all
            )
        reaped: dict[str, object] = {}

        def reap() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            reaped.update(end=time.perf_counter(), status=status, usage=usage)

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        peak, deadline = 0.0, start + timeout
        interval = CPU_SAMPLE_INTERVAL if cpu_by is not None else SAMPLE_INTERVAL
        cpu_seen: dict[int, tuple[str, float]] = {}
        try:
            while waiter.is_alive() and time.perf_counter() < deadline:
                if sample_tree:
                    peak = max(peak, tree_rss_mb(proc.pid))
                if cpu_by is not None:
                    _sample_cpu(proc.pid, cpu_by, cpu_seen)
                waiter.join(min(interval, max(0.0, deadline - time.perf_counter())))
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM): the child runs in its own session, so end it here.
            _kill_group(proc.pid)
            waiter.join(30)
            raise
        if waiter.is_alive():
            _kill_group(proc.pid)
            waiter.join(30)
            raise MeasureTimeout(f"{' '.join(argv[:4])} ... ran past its {timeout:g} s timeout and was killed")
        proc.returncode = os.waitstatus_to_exitcode(int(reaped["status"]))  # type: ignore[call-overload]
        return Run(
            argv=list(argv),
            seconds=float(reaped["end"]) - start,  # type: ignore[arg-type]
            returncode=proc.returncode,
            peak_rss_mb=reaped["usage"].ru_maxrss / 1024,  # type: ignore[attr-defined]  # KiB on Linux
            tree_peak_mb=peak if sample_tree else None,
            stdout=out_path.read_text(errors="replace"),
            stderr=err_path.read_text(errors="replace"),
            cpu_seconds=reaped["usage"].ru_utime + reaped["usage"].ru_stime,  # type: ignore[attr-defined]
            cpu_by_role=_by_role(cpu_seen) if cpu_by is not None else None,
        )


def _sample_cpu(root: int, role: Callable[[list[str]], str], seen: dict[int, tuple[str, float]]) -> None:
    """Each process of the tree: its role (named at its first sample) and its CPU seconds so far."""
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                words = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        seen[pid] = (seen[pid][0] if pid in seen else role(words), (int(fields[11]) + int(fields[12])) / CLOCK_TICK)


def _by_role(seen: Mapping[int, tuple[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for role, seconds in seen.values():
        out[role] = out.get(role, 0.0) + seconds
    return out


def _kill_group(pid: int) -> None:
    """SIGTERM, then SIGKILL, to the process group this module started (its id is the child's pid)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def tree_rss_mb(root: int) -> float:
    """Summed resident memory of `root` and its descendants, from /proc."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            pass
    return total / MB


def process_tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            # The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
            children.setdefault(int(stat[stat.rfind(b")") + 2 :].split()[1]), []).append(int(entry.name))
    out, stack = [], [root]
    while stack:
        out.append(pid := stack.pop())
        stack.extend(children.get(pid, ()))
    return out
