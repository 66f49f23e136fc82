"""A throwaway PostgreSQL cluster for the state backend's tests (tools/postgres.sh, as `make` runs it).

Its state dir is made outside pytest's temp dirs: those are 0700 and root's, and PostgreSQL runs as
another user when the suite runs as root (tools/postgres.sh). It is stopped and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "postgres.sh"


@dataclass
class StateDb:
    dir: Path
    url: str  # postgres://k2state:PASSWORD@127.0.0.1:PORT/k2state?sslmode=disable

    @classmethod
    def start(cls) -> StateDb:
        folder = Path(tempfile.mkdtemp(prefix="k2-state-db-"))
        folder.chmod(0o755)
        started = _script("start", folder)
        if started.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"tools/postgres.sh start failed:\n{started.stdout}{started.stderr}")
        return cls(folder, _script("url", folder).stdout.strip())

    def stop(self) -> None:
        _script("stop", self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def password(self) -> str:
        return (self.dir / "password").read_text().strip()

    @property
    def port(self) -> int:
        return int((self.dir / "port").read_text())

    def url_for(self, *, user: str = "k2state", password: str | None = None, database: str = "k2state") -> str:
        secret = self.password if password is None else password
        return f"postgres://{user}:{secret}@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def new_database(self, prefix: str = "t") -> str:
        """The URL of a new, empty database of the cluster: a test's (or module's) own state."""
        name = f"{prefix}{uuid.uuid4().hex[:10]}"
        self.psql(f"CREATE DATABASE {name}", database="postgres")
        return self.url_for(database=name)

    def client_env(self) -> dict[str, str]:
        """What psql, pg_dump and pg_restore need to reach the cluster as its owner."""
        return {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": "k2state",
            "PGPASSWORD": self.password,
            "PGDATABASE": "k2state",
        }

    def psql(self, sql: str, *extra: str, database: str = "k2state") -> str:
        done = subprocess.run(
            [bin_dir() / "psql", "-v", "ON_ERROR_STOP=1", "-tA", "-d", database, *extra, "-c", sql],
            env=self.client_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql {sql!r} failed: {done.stderr}")
        return done.stdout


def bin_dir() -> Path:
    """The newest installed server's binaries (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not found:
        raise RuntimeError("no PostgreSQL under /usr/lib/postgresql: bash tools/postgres.sh install")
    return found[-1]


def _script(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), command, "--state-dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
