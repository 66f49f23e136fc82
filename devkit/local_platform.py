"""The real local platform (Kafka broker + Schema Registry) for tests.

Two ways to get one:

* ``LocalPlatform.from_env()`` -- an already-running platform described by
  ``K2_BOOTSTRAP_SERVERS`` and ``K2_SCHEMA_REGISTRY_URL`` (e.g. after
  ``eval "$(tools/platform.sh env)"``); returns ``None`` when neither is set.
  Such a platform is not ours: ``stop()`` leaves it running.
* ``LocalPlatform.start(state_dir)`` -- runs ``tools/platform.sh start`` with
  free ports (``K2_PORTS=free``) in ``state_dir`` and parses
  ``<state_dir>/platform.env``; ``stop()`` runs ``tools/platform.sh stop``.

A pytest fixture would typically do::

    platform = LocalPlatform.from_env() or LocalPlatform.start(tmp_path_factory.mktemp("platform"))
    yield platform
    platform.stop()
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PLATFORM_SH = REPO_ROOT / "tools" / "platform.sh"

ENV_BOOTSTRAP = "K2_BOOTSTRAP_SERVERS"
ENV_REGISTRY = "K2_SCHEMA_REGISTRY_URL"

# Cold start includes resolving Kafka (~60 MB) and Apicurio (~160 MB) from
# Maven Central; readiness itself is bounded by K2_START_TIMEOUT in the script.
DEFAULT_START_TIMEOUT = 900.0
DEFAULT_STOP_TIMEOUT = 120.0


class PlatformError(RuntimeError):
    """tools/platform.sh failed; the message carries its output."""


def parse_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines (platform.env); blank lines and comments ignored."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


@dataclass
class LocalPlatform:
    bootstrap_servers: str
    schema_registry_url: str
    state_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    owned: bool = False
    script_env: dict[str, str] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    # ------------------------------------------------------------ creation
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalPlatform | None:
        """The platform named by K2_BOOTSTRAP_SERVERS / K2_SCHEMA_REGISTRY_URL, or None.

        Raises ValueError when only one of the two is set (a half-described
        platform is a configuration mistake, not a reason to start another).
        """
        environ = os.environ if environ is None else environ
        bootstrap = environ.get(ENV_BOOTSTRAP, "").strip()
        registry = environ.get(ENV_REGISTRY, "").strip()
        if not bootstrap and not registry:
            return None
        if not bootstrap or not registry:
            missing = ENV_BOOTSTRAP if not bootstrap else ENV_REGISTRY
            raise ValueError(f"{missing} is not set while the other platform variable is")
        return cls(
            bootstrap_servers=bootstrap,
            schema_registry_url=registry.rstrip("/"),
            env={ENV_BOOTSTRAP: bootstrap, ENV_REGISTRY: registry.rstrip("/")},
            owned=False,
        )

    @classmethod
    def start(
        cls,
        state_dir: os.PathLike[str] | str,
        *,
        timeout: float = DEFAULT_START_TIMEOUT,
        extra_env: Mapping[str, str] | None = None,
    ) -> LocalPlatform:
        """Start Kafka + registry on free ports with their state in ``state_dir``."""
        state = Path(state_dir).resolve()
        state.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["K2_PORTS"] = "free"
        # Don't let a platform described in the environment leak into this one.
        env.pop(ENV_BOOTSTRAP, None)
        env.pop(ENV_REGISTRY, None)
        if extra_env:
            env.update(extra_env)
        result = _run(["start", "--state-dir", str(state)], env=env, timeout=timeout)
        if result.returncode != 0:
            # platform.sh already stops what it started on a readiness failure;
            # make sure nothing is left if it died some other way.
            _run(["stop", "--state-dir", str(state)], env=env, timeout=DEFAULT_STOP_TIMEOUT)
            raise PlatformError(
                f"tools/platform.sh start failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
        values = parse_env_file(state / "platform.env")
        try:
            platform = cls(
                bootstrap_servers=values[ENV_BOOTSTRAP],
                schema_registry_url=values[ENV_REGISTRY],
                state_dir=state,
                env=values,
                owned=True,
                script_env=env,
            )
        except KeyError as exc:
            _run(["stop", "--state-dir", str(state)], env=env, timeout=DEFAULT_STOP_TIMEOUT)
            raise PlatformError(f"{state / 'platform.env'} lacks {exc.args[0]}:\n{result.stdout}") from exc
        return platform

    # ------------------------------------------------------------ use
    @property
    def registry_base_url(self) -> str:
        """Registry root (without /apis/ccompat/v7), e.g. for Apicurio's own API."""
        return self.env.get("K2_REGISTRY_BASE_URL") or self.schema_registry_url.split("/apis/")[0]

    def as_env(self) -> dict[str, str]:
        """The variables that describe this platform (to pass to subprocesses)."""
        return {ENV_BOOTSTRAP: self.bootstrap_servers, ENV_REGISTRY: self.schema_registry_url}

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop the platform if this object started it; no-op otherwise."""
        if not self.owned or self._stopped or self.state_dir is None:
            return
        env = self.script_env or dict(os.environ)
        result = _run(["stop", "--state-dir", str(self.state_dir)], env=env, timeout=timeout)
        if result.returncode != 0:
            raise PlatformError(f"tools/platform.sh stop failed:\n{result.stdout}{result.stderr}")
        self._stopped = True

    def __enter__(self) -> LocalPlatform:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _run(args: list[str], *, env: Mapping[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PLATFORM_SH), *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
