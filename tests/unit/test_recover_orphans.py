"""recover ends the project's orphaned plugin processes (k2infra.ops.orphans.end_orphans).

An orphan: a Pulumi plugin by its command line, working in the project directory, re-parented to
pid 1 (or the child of such a process). A fake /proc tree checks the choice and the signals; real
processes check it against the kernel: one re-parented to pid 1 is ended, one adopted by a
PR_SET_CHILD_SUBREAPER ancestor (whose parent is alive) is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from k2infra.ops import orphans

# -- a fake /proc ---------------------------------------------------------------------------------


def fake_proc(root: Path, pid: int, ppid: int, cmdline: list[str], cwd: Path, state: str = "S", start: int = 500):
    entry = root / str(pid)
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in cmdline) + b"\0")
    set_stat(root, pid, ppid, state, start)
    if not (entry / "cwd").is_symlink():
        (entry / "cwd").symlink_to(cwd)


def set_stat(root: Path, pid: int, ppid: int, state: str, start: int = 500) -> None:
    # Fields after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime priority nice threads itrealvalue starttime ...
    rest = [state, str(ppid), *["0"] * 17, str(start), "0", "0"]
    (root / str(pid) / "stat").write_text(f"{pid} (a b) {' '.join(rest)}\n")


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    proc, project, elsewhere = tmp_path / "proc", tmp_path / "project", tmp_path / "other"
    project.mkdir()
    elsewhere.mkdir()
    fake_proc(proc, 10, 1, ["/tools/pulumi-resource-kafka", "127.0.0.1:1"], project)
    fake_proc(proc, 11, 1, ["/bin/sh", "/tools/bin/pulumi-resource-pulumi-python", "127.0.0.1:1"], project)
    fake_proc(proc, 12, 11, ["/venv/bin/python", "-u", "-m", "pulumi.dynamic", "127.0.0.1:1"], project / "sub")
    fake_proc(proc, 13, 99, ["/tools/pulumi-language-python", "127.0.0.1:1"], project)  # its engine runs
    fake_proc(proc, 14, 1, ["/tools/pulumi-resource-kafka", "127.0.0.1:1"], elsewhere)  # another project
    fake_proc(proc, 15, 1, ["/usr/bin/vim", "pulumi-resource-kafka.go"], project)  # not a plugin
    fake_proc(proc, 16, 1, ["/tools/pulumi-resource-kafka"], project, state="Z")  # already exited
    return proc, project


class Signals:
    """A stand-in for os.kill on the fake tree: records each signal; the processes named in
    `obey` exit on SIGTERM, every process exits on SIGKILL (becomes a zombie)."""

    def __init__(self, proc: Path, obey: set[int]) -> None:
        self.proc, self.obey, self.sent = proc, obey, []

    def __call__(self, pid: int, signum: int) -> None:
        self.sent.append((pid, signal.Signals(signum).name))
        if signum == signal.SIGKILL or pid in self.obey:
            fields = (self.proc / str(pid) / "stat").read_text().split(") ", 1)[1].split()
            set_stat(self.proc, pid, int(fields[1]), "Z", int(fields[19]))


def test_only_plugins_of_the_project_whose_engine_is_gone_are_ended(tree: tuple[Path, Path]) -> None:
    proc, project = tree
    send = Signals(proc, obey={10, 11, 12})
    endings = orphans.end_orphans(project, proc=proc, send=send, wait=5)
    assert send.sent == [(10, "SIGTERM"), (11, "SIGTERM"), (12, "SIGTERM")]
    assert [e.line() for e in endings] == [
        "ended orphaned plugin pid 10 (/tools/pulumi-resource-kafka 127.0.0.1:1): it served no engine",
        "ended orphaned plugin pid 11 (/bin/sh /tools/bin/pulumi-resource-pulumi-python 127.0.0.1:1): "
        "it served no engine",
        "ended orphaned plugin pid 12 (/venv/bin/python -u -m pulumi.dynamic 127.0.0.1:1): it served no engine",
    ]


def test_an_orphan_that_outlives_sigterm_gets_sigkill_after_the_wait(tree: tuple[Path, Path]) -> None:
    proc, project = tree
    send = Signals(proc, obey={11, 12})
    [kafka, *_] = orphans.end_orphans(project, proc=proc, send=send, wait=0.3)
    assert send.sent == [(10, "SIGTERM"), (11, "SIGTERM"), (12, "SIGTERM"), (10, "SIGKILL")]
    assert kafka.line() == (
        "ended orphaned plugin pid 10 (/tools/pulumi-resource-kafka 127.0.0.1:1): it served no engine "
        "(it outlived SIGTERM: SIGKILL)"
    )


def test_a_dry_run_signals_nothing(tree: tuple[Path, Path]) -> None:
    proc, project = tree
    send = Signals(proc, obey=set())
    endings = orphans.end_orphans(project, proc=proc, send=send, dry_run=True)
    assert send.sent == []
    assert endings[0].line() == (
        "would end orphaned plugin pid 10 (/tools/pulumi-resource-kafka 127.0.0.1:1): it serves no engine"
    )


def test_a_pid_reused_or_adopted_since_the_scan_is_not_signalled(tree: tuple[Path, Path]) -> None:
    proc, project = tree
    sent: list[tuple[int, int]] = []

    def send(pid: int, signum: int) -> None:
        sent.append((pid, signum))
        if pid == 10:  # meanwhile 11's pid went to a new process, and 12 was adopted by a live one
            set_stat(proc, 11, 1, "S", start=999)
            set_stat(proc, 12, 4242, "S")
            set_stat(proc, 10, 1, "Z")

    endings = orphans.end_orphans(project, proc=proc, send=send, wait=0.2)
    assert [pid for pid, _ in sent] == [10]
    assert [(e.process.pid, e.signal) for e in endings] == [(10, "SIGTERM")]
    assert (proc / "12" / "stat").read_text().split()[3] == "S"  # left running


def test_an_orphan_that_cannot_be_signalled_is_reported_with_the_command(tree: tuple[Path, Path]) -> None:
    proc, project = tree

    def send(pid: int, signum: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    [kafka, *_] = orphans.end_orphans(project, proc=proc, send=send, wait=0.1)
    assert kafka.line() == (
        "could not end orphaned plugin pid 10 (/tools/pulumi-resource-kafka 127.0.0.1:1): "
        "SIGTERM: Operation not permitted; stop it with: kill -9 10"
    )


# -- real processes -------------------------------------------------------------------------------

WAIT = 60.0  # for a process to start or to show up as re-parented, on a loaded machine

PLUGIN = """\
#!{python}
import pathlib, signal, sys, time
if "--ignore-sigterm" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).write_text("ready")
time.sleep(600)
"""


def plugin_script(project: Path) -> Path:
    """A stand-in plugin: its command line names it as one; it waits, optionally ignoring SIGTERM."""
    path = project / "bin" / "pulumi-resource-orphantest"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PLUGIN.format(python=sys.executable))
    path.chmod(0o755)
    return path


def orphan(project: Path, *args: str, launcher: list[str] | None = None) -> tuple[int, subprocess.Popen[str] | None]:
    """Start the stand-in plugin from a shell that exits at once, so the kernel re-parents it.

    With `launcher`, that shell runs under it (e.g. a sub-reaper); returns (pid, launcher process).
    """
    ready = project / f"ready-{time.monotonic_ns()}"
    shell = ["sh", "-c", '"$0" "$1" "$2" </dev/null >/dev/null 2>&1 & echo $!', str(plugin_script(project))]
    shell += [str(ready), *args] if args else [str(ready), ""]
    holder = None
    if launcher is None:
        pid = int(subprocess.run(shell, cwd=project, capture_output=True, text=True, check=True).stdout)
    else:
        holder = subprocess.Popen(
            [*launcher, *shell], cwd=project, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout is not None
        pid = int(holder.stdout.readline())
    deadline = time.monotonic() + WAIT
    while not ready.exists():
        assert time.monotonic() < deadline, f"the stand-in plugin (pid {pid}) did not start within {WAIT:g}s"
        time.sleep(0.05)
    return pid, holder


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def describe_parent(pid: int) -> str:
    with contextlib.suppress(OSError):
        return f"{pid} ({Path(f'/proc/{pid}/comm').read_text().strip()})"
    return str(pid)


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("ignores_sigterm", [False, True], ids=["stops-on-sigterm", "ignores-sigterm"])
def test_a_real_orphan_reparented_to_pid_1_is_ended(tmp_path: Path, ignores_sigterm: bool) -> None:
    project = tmp_path / "project"
    project.mkdir()
    pid, _ = orphan(project, *(["--ignore-sigterm"] if ignores_sigterm else []))
    try:
        # The shell has been waited for: the kernel re-parented the process as the shell exited.
        if parent_of(pid) != 1:
            # An ancestor of this test marked itself PR_SET_CHILD_SUBREAPER and adopted the process:
            # on this machine no process of ours is ever re-parented to pid 1, and the next test
            # covers what recover does with such a one.
            pytest.skip(f"re-parented to the sub-reaper {describe_parent(parent_of(pid))}, not to pid 1")
        endings = orphans.end_orphans(project, wait=3)
        assert [(e.process.pid, e.signal, e.error) for e in endings] == [
            (pid, "SIGKILL" if ignores_sigterm else "SIGTERM", None)
        ]
        assert endings[0].line().startswith(f"ended orphaned plugin pid {pid} (")
        assert not running(pid)
        assert orphans.plugin_processes(project) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


SUBREAPER = """\
import ctypes, subprocess, sys
PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
print(subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True).stdout.strip(), flush=True)
sys.stdin.read()  # stays, as a sub-reaper does, until the test closes this pipe
"""


def test_a_plugin_adopted_by_a_live_subreaper_is_left_alone(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    pid, reaper = orphan(project, launcher=[sys.executable, "-c", SUBREAPER])
    assert reaper is not None
    try:
        assert parent_of(pid) == reaper.pid, f"not adopted by the sub-reaper: parent {parent_of(pid)}"
        assert pid in [p.pid for p in orphans.plugin_processes(project)]  # beside the sub-reaper itself
        assert orphans.end_orphans(project, wait=1) == []
        assert running(pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        assert reaper.stdin is not None
        reaper.stdin.close()
        reaper.wait(timeout=WAIT)
