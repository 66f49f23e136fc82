"""Locks of a stack on the file backend, and whether the update holding each is still alive.

The file ("diy") backend locks a stack while an update runs by writing
`<backend>/.pulumi/locks/organization/<project>/<stack>/<uuid>.json` (older layouts:
`.pulumi/locks/<stack>/`), holding `{"pid", "username", "hostname", "timestamp"}` of the CLI.
When the CLI is killed the file stays, and every later command fails with "the stack is
currently locked". `pulumi cancel` deletes every lock of the stack, whoever holds it. The PostgreSQL
backend keeps the same JSON in a row of its table (k2infra.ops.postgres_state): `judge_content`
decides for both.

Here a lock is judged on its own:
- `stale`: written on this host, and its pid is not running, or is running a process that started
  after the lock was written (the pid was reused). It can be released: its file alone is deleted.
- `live`: written on this host by a process that still runs. Never touched.
- `unknown`: written on another host (or unreadable): nothing here can tell whether that update
  still runs, so nothing is changed and the user is told what to check and what to run.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

# A process whose start is within this margin after the lock's timestamp still counts as the
# writer: the CLI writes its lock a little after it starts, and clocks are read at different times.
START_MARGIN_SECONDS = 2.0


@dataclass(frozen=True)
class StackLock:
    path: Path | str  # the lock file; on the PostgreSQL backend, the key of its row
    pid: int | None
    username: str
    hostname: str
    timestamp: datetime | None
    verdict: str  # stale | live | unknown
    reason: str  # one line for a human

    def describe(self) -> str:
        when = self.timestamp.isoformat(timespec="seconds") if self.timestamp else "an unknown time"
        return f"{self.username}@{self.hostname} (pid {self.pid}) at {when}"


def backend_dir(backend_url: str) -> Path | None:
    """The directory of a file:// backend URL, or None for any other backend."""
    if not backend_url.startswith("file://"):
        return None
    parts = urlsplit(backend_url)
    raw = unquote(parts.netloc + parts.path)
    if raw.startswith("~"):
        raw = os.path.expanduser(raw)
    return Path(raw)


def lock_files(backend: Path, project: str, stack: str) -> list[Path]:
    """Every lock file of `stack` in a file backend (project-scoped and legacy layouts)."""
    locks = backend / ".pulumi" / "locks"
    found: list[Path] = []
    for folder in (locks / "organization" / project / stack, locks / stack):
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".json")
    return found


def process_start(pid: int) -> datetime | None:
    """When a process started (Linux /proc), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        ticks = int(fields[19])  # field 22 of stat(5): starttime, after pid and comm
    except (IndexError, ValueError):
        return None
    return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), tz=UTC)


def pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    # A zombie has exited: its lock cannot be held any more.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def this_host() -> str:
    return socket.gethostname()


def judge(
    path: Path,
    *,
    host: str | None = None,
    running: Callable[[int], bool] = pid_running,
    started: Callable[[int], datetime | None] = process_start,
) -> StackLock:
    """Read one lock file and decide whether its update is gone (see the module docstring)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        return StackLock(path, None, "?", "?", None, "unknown", f"unreadable lock file: {exc}")
    if not isinstance(data, dict):
        return StackLock(path, None, "?", "?", None, "unknown", "unreadable lock file: not a JSON object")
    return judge_content(path, data, host=host, running=running, started=started)


def judge_content(
    path: Path | str,
    data: Mapping[str, object],
    *,
    host: str | None = None,
    running: Callable[[int], bool] = pid_running,
    started: Callable[[int], datetime | None] = process_start,
) -> StackLock:
    """Decide on a lock's JSON (`{"pid", "username", "hostname", "timestamp"}`), wherever it was stored."""
    host = host or this_host()
    pid = data.get("pid") if isinstance(data.get("pid"), int) else None
    username = str(data.get("username", "?"))
    hostname = str(data.get("hostname", "?"))
    timestamp = _timestamp(data.get("timestamp"))
    lock = StackLock(path, pid, username, hostname, timestamp, "unknown", "")
    if hostname != host:
        return _with(
            lock, "unknown", f"written on host {hostname}, not this one ({host}): cannot tell if it still runs"
        )
    if pid is None or pid <= 0:
        return _with(lock, "unknown", "the lock records no process id")
    if not running(pid):
        return _with(lock, "stale", f"pid {pid} is not running on {host}")
    start = started(pid)
    if start is not None and timestamp is not None and (start - timestamp).total_seconds() > START_MARGIN_SECONDS:
        return _with(
            lock,
            "stale",
            f"pid {pid} now belongs to a process started at {start.isoformat(timespec='seconds')}, "
            "after the lock was written (the pid was reused)",
        )
    return _with(lock, "live", f"pid {pid} is still running on {host}")


def release(lock: StackLock) -> None:
    """Delete the file of a stale lock (and nothing else)."""
    if lock.verdict != "stale":
        raise ValueError(f"refusing to release a {lock.verdict} lock: {lock.path}")
    path = Path(lock.path)
    path.unlink(missing_ok=True)
    # The file backend (gocloud.dev fileblob) keeps each object's attributes beside it.
    path.with_name(path.name + ".attrs").unlink(missing_ok=True)


def _with(lock: StackLock, verdict: str, reason: str) -> StackLock:
    return StackLock(lock.path, lock.pid, lock.username, lock.hostname, lock.timestamp, verdict, reason)


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    # Go writes RFC 3339 with nanoseconds (and 'Z' or an offset); Python takes microseconds at most.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    text = text.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
