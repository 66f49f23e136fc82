"""Timing and peak-memory helpers: one child process per measurement, median and spread.

`run_measured` starts a command in its own process group, times it with a monotonic clock and
reaps it with `os.wait4`, whose rusage gives the peak RSS of that child alone (not the
cumulative maximum of every child so far, as RUSAGE_CHILDREN would). For commands that fan out
into several processes (the Pulumi CLI, its language host, the Python program, the providers),
`sample_tree=True` also samples the summed RSS of the whole process tree every SAMPLE_INTERVAL
seconds: a lower bound of the true peak, close to it for runs that last seconds.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_INTERVAL = 0.25
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


class MeasureTimeout(RuntimeError):
    """The command outlived its timeout; it and its process group were killed."""

    def __init__(self, argv: Sequence[str], timeout: float) -> None:
        self.timeout = timeout
        super().__init__(f"{' '.join(argv[:4])} ... ran past its {timeout:g} s timeout and was killed")


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

    def spread(self) -> float:
        return self.high - self.low


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
    keep_stdout: bool = True,
) -> Run:
    """Run `argv` to completion (or kill it at `timeout`) and measure it."""
    with tempfile.TemporaryDirectory(prefix="k2bench-run-") as tmp:
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                list(argv),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out if keep_stdout else subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,  # its own process group, so a timeout kills it all
            )
        reaped: dict[str, object] = {}

        def reap() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            reaped["end"] = time.perf_counter()
            reaped["status"] = status
            reaped["usage"] = usage

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        sampler = TreeSampler(proc.pid) if sample_tree else None
        if sampler:
            sampler.start()
        try:
            waiter.join(timeout)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM): the child runs in its own session, so end it here.
            _kill_group(proc.pid)
            waiter.join(30)
            raise
        finally:
            if sampler:
                sampler.stop()
        if waiter.is_alive():
            _kill_group(proc.pid)
            waiter.join(30)
            raise MeasureTimeout(list(argv), timeout)
        status = int(reaped["status"])  # type: ignore[call-overload]
        proc.returncode = os.waitstatus_to_exitcode(status)
        usage = reaped["usage"]
        # ru_maxrss is in KiB on Linux.
        peak = usage.ru_maxrss / 1024  # type: ignore[attr-defined]
        return Run(
            argv=list(argv),
            seconds=float(reaped["end"]) - start,  # type: ignore[arg-type]
            returncode=proc.returncode,
            peak_rss_mb=peak,
            tree_peak_mb=sampler.peak_mb if sampler else None,
            stdout=out_path.read_text(errors="replace") if keep_stdout else "",
            stderr=err_path.read_text(errors="replace"),
        )


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


class TreeSampler:
    """Samples the summed RSS of a process and all its descendants, in a background thread."""

    def __init__(self, root: int, interval: float = SAMPLE_INTERVAL) -> None:
        self.root = root
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.root))
            self._stop.wait(self.interval)


def tree_rss_mb(root: int) -> float:
    """Summed resident memory of `root` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(pid, ()))
    return total / MB


def timed(func, *args, **kwargs):  # type: ignore[no-untyped-def]
    """(result, seconds) of one in-process call."""
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - start
