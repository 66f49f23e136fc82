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

``SecurePlatform`` is the same for the production-shaped cluster
(``tools/platform.sh start --secure``): three KRaft brokers on SASL_SSL/SCRAM-SHA-512,
Keycloak, and a registry on HTTPS that checks HTTP Basic client credentials against
Keycloak. ``SecurePlatform.from_env()`` takes one described by ``K2_PROFILE=secure`` and
the other ``K2_*`` variables that ``tools/platform.sh env --secure`` prints;
``SecurePlatform.start(state_dir)`` starts one on free ports. ``kafka_config()`` gives a
confluent-kafka client config, ``registry_auth`` the registry's Basic credentials, and
``stop_broker(n)`` / ``start_broker(n)`` take a node (1-3) down and back for fault tests.
Both restart their registry with ``restart_registry()`` (its schemas are in Kafka: they come
back); ``LocalPlatform.stop_broker()`` / ``start_broker()`` do the same for the plain one's node.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
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
# The secure platform's first start also resolves Keycloak (~180 MB), builds it and
# prepares its realm database (several minutes on 2 cores); later starts take far less.
SECURE_START_TIMEOUT = 1800.0
BROKER_TIMEOUT = 300.0
# A registry restart replays its journal from Kafka; platform.sh bounds the wait itself.
REGISTRY_RESTART_TIMEOUT = 600.0


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

        None also when K2_PROFILE=secure: those variables then describe the secure cluster, which
        plain clients cannot use (the tests that need a plain platform start their own).
        Raises ValueError when only one of the two is set (a half-described
        platform is a configuration mistake, not a reason to start another).
        """
        environ = os.environ if environ is None else environ
        if environ.get("K2_PROFILE", "").strip() == "secure":
            return None  # the secure cluster's variables: SecurePlatform.from_env takes them
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
        state, env, result = start_platform_sh([], state_dir, timeout, extra_env)
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
            run_platform_sh(["stop", "--state-dir", str(state)], env=env, timeout=DEFAULT_STOP_TIMEOUT)
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

    def restart_registry(self, timeout: float = REGISTRY_RESTART_TIMEOUT) -> None:
        """Stop the registry and start it again; returns once it serves the Confluent API."""
        self._command("restart-registry", timeout=timeout)

    def stop_broker(self, timeout: float = BROKER_TIMEOUT) -> None:
        """Stop the Kafka node, keeping its data (the registry's journal among it)."""
        self._command("stop-broker", timeout=timeout)

    def start_broker(self, timeout: float = BROKER_TIMEOUT) -> None:
        """Start the Kafka node again on its data; returns once it answers a Metadata request."""
        self._command("start-broker", timeout=timeout)

    def _command(self, command: str, timeout: float) -> None:
        if self.state_dir is None:
            raise PlatformError(f"{command}: this platform was not started here (its state dir is unknown)")
        env = self.script_env or dict(os.environ)
        result = run_platform_sh([command, "--state-dir", str(self.state_dir)], env=env, timeout=timeout)
        if result.returncode != 0:
            raise PlatformError(f"tools/platform.sh {command} failed:\n{result.stdout}{result.stderr}")

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop the platform if this object started it; no-op otherwise."""
        if not self.owned or self._stopped or self.state_dir is None:
            return
        env = self.script_env or dict(os.environ)
        result = run_platform_sh(["stop", "--state-dir", str(self.state_dir)], env=env, timeout=timeout)
        if result.returncode != 0:
            raise PlatformError(f"tools/platform.sh stop failed:\n{result.stdout}{result.stderr}")
        self._stopped = True

    def __enter__(self) -> LocalPlatform:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


SECURE_KEYS = (
    "K2_BOOTSTRAP_SERVERS",
    "K2_CA_CERT",
    "K2_SASL_USERNAME",
    "K2_SASL_PASSWORD",
    "K2_SCHEMA_REGISTRY_URL",
    "K2_SCHEMA_REGISTRY_USERNAME",
    "K2_SCHEMA_REGISTRY_PASSWORD",
)


@dataclass
class SecurePlatform:
    """The secure local cluster: 3 brokers (SASL_SSL, SCRAM-SHA-512), Keycloak, HTTPS registry."""

    bootstrap_servers: str
    ca_path: Path
    sasl_username: str
    sasl_password: str
    schema_registry_url: str
    registry_username: str
    registry_password: str
    client_properties: Path | None = None
    admin_username: str = ""  # the cluster's super user (the brokers' own principal): seeds and reads records
    admin_password: str = field(default="", repr=False)
    kafka_version: str = ""
    state_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict, repr=False)
    owned: bool = False
    script_env: dict[str, str] | None = field(default=None, repr=False)
    start_output: str = field(default="", repr=False)
    _stopped: bool = field(default=False, repr=False)

    sasl_mechanism = "SCRAM-SHA-512"
    security_protocol = "SASL_SSL"

    # ------------------------------------------------------------ creation
    @classmethod
    def from_values(
        cls, values: Mapping[str, str], *, state_dir: Path | None = None, owned: bool = False
    ) -> SecurePlatform:
        missing = [key for key in SECURE_KEYS if not values.get(key, "").strip()]
        if missing:
            raise ValueError(f"the secure platform description lacks {', '.join(missing)}")
        properties = values.get("K2_KAFKA_CLIENT_PROPERTIES")
        return cls(
            bootstrap_servers=values["K2_BOOTSTRAP_SERVERS"],
            ca_path=Path(values["K2_CA_CERT"]),
            sasl_username=values["K2_SASL_USERNAME"],
            sasl_password=values["K2_SASL_PASSWORD"],
            schema_registry_url=values["K2_SCHEMA_REGISTRY_URL"].rstrip("/"),
            registry_username=values["K2_SCHEMA_REGISTRY_USERNAME"],
            registry_password=values["K2_SCHEMA_REGISTRY_PASSWORD"],
            client_properties=Path(properties) if properties else None,
            admin_username=values.get("K2_ADMIN_USERNAME", ""),
            admin_password=values.get("K2_ADMIN_PASSWORD", ""),
            kafka_version=values.get("K2_KAFKA_VERSION", ""),
            state_dir=state_dir,
            env=dict(values),
            owned=owned,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecurePlatform | None:
        """The secure platform described by the environment (K2_PROFILE=secure + K2_*), or None.

        Such a platform is not ours: ``stop()`` leaves it running. ``stop_broker``/``start_broker``
        work when K2_PLATFORM_STATE_DIR names its state dir (``tools/platform.sh env`` prints it).
        """
        environ = os.environ if environ is None else environ
        if environ.get("K2_PROFILE", "").strip() != "secure":
            return None
        state = environ.get("K2_PLATFORM_STATE_DIR", "").strip()
        return cls.from_values(environ, state_dir=Path(state) if state else None, owned=False)

    @classmethod
    def start(
        cls,
        state_dir: os.PathLike[str] | str,
        *,
        timeout: float = SECURE_START_TIMEOUT,
        extra_env: Mapping[str, str] | None = None,
    ) -> SecurePlatform:
        """Start the secure platform on free ports with its state in ``state_dir``."""
        state, env, result = start_platform_sh(["--secure"], state_dir, timeout, extra_env)
        try:
            platform = cls.from_values(parse_env_file(state / "platform.env"), state_dir=state, owned=True)
        except (OSError, ValueError) as exc:
            run_platform_sh(["stop", "--secure", "--state-dir", str(state)], env=env, timeout=DEFAULT_STOP_TIMEOUT)
            raise PlatformError(f"{state / 'platform.env'}: {exc}\n{result.stdout}") from exc
        platform.script_env = env
        platform.start_output = result.stdout
        return platform

    # ------------------------------------------------------------ use
    @property
    def brokers(self) -> list[str]:
        """``host:port`` of node 1, 2 and 3, in that order."""
        return self.bootstrap_servers.split(",")

    @property
    def schema_registry_urls(self) -> str:
        """Every registry node, comma-separated (K2_SCHEMA_REGISTRY_URLS), as a stack's
        `k2infra:schemaRegistryUrl` and Confluent's clients take them; the one URL without it."""
        return self.env.get("K2_SCHEMA_REGISTRY_URLS") or self.schema_registry_url

    @property
    def registry_auth(self) -> tuple[str, str]:
        """HTTP Basic credentials of the registry (a Keycloak client id and secret)."""
        return (self.registry_username, self.registry_password)

    @property
    def registry_base_url(self) -> str:
        return self.env.get("K2_REGISTRY_BASE_URL") or self.schema_registry_url.split("/apis/")[0]

    def kafka_config(self, **overrides: object) -> dict[str, object]:
        """A confluent-kafka (librdkafka) config for the infra principal (least rights: no records, no groups);
        ``overrides`` win."""
        config: dict[str, object] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": str(self.ca_path),
        }
        config.update(overrides)
        return config

    def admin_config(self, **overrides: object) -> dict[str, object]:
        """A confluent-kafka config for the cluster's super user: the infra principal may not touch records."""
        if not self.admin_username or not self.admin_password:
            raise PlatformError("the secure platform's description lacks K2_ADMIN_USERNAME / K2_ADMIN_PASSWORD")
        return self.kafka_config(
            **{"sasl.username": self.admin_username, "sasl.password": self.admin_password, **overrides}
        )

    @property
    def admin_properties(self) -> Path | None:
        """The super user's client properties for Kafka's CLI tools (K2_ADMIN_CLIENT_PROPERTIES)."""
        path = self.env.get("K2_ADMIN_CLIENT_PROPERTIES", "")
        return Path(path) if path else None

    @property
    def mtls_bootstrap_servers(self) -> str:
        """The brokers' mTLS listener (K2_MTLS_BOOTSTRAP_SERVERS), where a client certificate is the login."""
        return self.env.get("K2_MTLS_BOOTSTRAP_SERVERS", "")

    def mtls_config(self, cert: Path | None = None, key: Path | None = None, **overrides: object) -> dict[str, object]:
        """A confluent-kafka config over the mTLS listener: the infra principal's certificate (User:k2infra)
        unless another `cert`/`key` is given; ``overrides`` win."""
        cert = cert or Path(self.env.get("K2_CLIENT_CERT", ""))
        key = key or Path(self.env.get("K2_CLIENT_KEY", ""))
        if not self.mtls_bootstrap_servers or not cert.is_file() or not key.is_file():
            raise PlatformError(
                "the secure platform's description lacks K2_MTLS_BOOTSTRAP_SERVERS / K2_CLIENT_CERT / K2_CLIENT_KEY"
            )
        config: dict[str, object] = {
            "bootstrap.servers": self.mtls_bootstrap_servers,
            "security.protocol": "SSL",
            "ssl.ca.location": str(self.ca_path),
            "ssl.certificate.location": str(cert),
            "ssl.key.location": str(key),
        }
        config.update(overrides)
        return config

    @property
    def oauth_bootstrap_servers(self) -> str:
        """The brokers' SASL/OAUTHBEARER listener (K2_OAUTH_BOOTSTRAP_SERVERS): a Keycloak token is the login."""
        return self.env.get("K2_OAUTH_BOOTSTRAP_SERVERS", "")

    @property
    def oauth_token_url(self) -> str:
        return self.env.get("K2_OAUTH_TOKEN_URL", "")

    def oauth_config(self, client_id: str = "", secret: str = "", **overrides: object) -> dict[str, object]:
        """A confluent-kafka config over the OAUTH listener: the infra principal's Keycloak client
        (User:k2infra) unless another `client_id`/`secret` is given; ``overrides`` win."""
        client_id = client_id or self.env.get("K2_OAUTH_CLIENT_ID", "")
        secret = secret or self.env.get("K2_OAUTH_CLIENT_SECRET", "")
        if not self.oauth_bootstrap_servers or not self.oauth_token_url or not client_id or not secret:
            raise PlatformError(
                "the secure platform's description lacks K2_OAUTH_BOOTSTRAP_SERVERS / K2_OAUTH_TOKEN_URL / "
                "K2_OAUTH_CLIENT_ID / K2_OAUTH_CLIENT_SECRET"
            )
        config: dict[str, object] = {
            "bootstrap.servers": self.oauth_bootstrap_servers,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.client.id": client_id,
            "sasl.oauthbearer.client.secret": secret,
            "sasl.oauthbearer.token.endpoint.url": self.oauth_token_url,
            "ssl.ca.location": str(self.ca_path),
        }
        config.update(overrides)
        return config

    def client(self, name: str, *options: str, timeout: float = 120.0) -> dict[str, str]:
        """`tools/platform.sh client NAME [OPTIONS]`: an app's certificate, key and Keycloak client, as the
        K2_APP_* variables it prints (``--revoke`` prints none)."""
        result = self.platform_sh("client", name, *options, "--secure", timeout=timeout)
        if result.returncode != 0:
            raise PlatformError(f"tools/platform.sh client {name} failed:\n{result.stdout}{result.stderr}")
        lines = [line.removeprefix("export ") for line in result.stdout.splitlines() if line.startswith("export ")]
        return dict(line.split("=", 1) for line in lines)

    def as_env(self) -> dict[str, str]:
        """The variables that describe this platform (to pass to subprocesses)."""
        return {key: value for key, value in self.env.items() if key.startswith("K2_")}

    def stop_broker(self, node: int, timeout: float = BROKER_TIMEOUT) -> None:
        """Stop node ``node`` (1-3), keeping its data; returns once its JVM has exited."""
        self._node_command("stop-broker", node, timeout)

    def start_broker(self, node: int, timeout: float = BROKER_TIMEOUT) -> None:
        """Start node ``node`` again; returns once it answers with 3 brokers registered."""
        self._node_command("start-broker", node, timeout)

    def restart_registry(self, timeout: float = REGISTRY_RESTART_TIMEOUT, node: int = 1) -> None:
        """Stop registry node ``node`` (1 or 2) if it runs and start it again; returns once it answers
        authenticated requests."""
        self._node_command("restart-registry", node, timeout, nodes=(1, 2))

    def stop_registry(self, node: int = 1, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop registry node ``node`` (1 or 2) as an operator does, keeping its settings; returns once
        its JVM has exited (``restart_registry`` starts it again)."""
        self._node_command("stop-registry", node, timeout, nodes=(1, 2))

    def kill_registry(self, node: int, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """SIGKILL registry node ``node`` (1 or 2), as a crash would; returns once its JVM is gone."""
        if self.state_dir is None:
            raise PlatformError("kill_registry: this platform's state dir is unknown (set K2_PLATFORM_STATE_DIR)")
        name = "registry" if node == 1 else f"registry-{node}"
        pid = int((self.state_dir / name / f"{name}.pid").read_text().strip())
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists():
            if time.monotonic() > deadline:
                raise PlatformError(f"{name} (pid {pid}) still runs {timeout:g}s after SIGKILL")
            time.sleep(0.1)

    def _node_command(self, command: str, node: int, timeout: float, nodes: tuple[int, ...] = (1, 2, 3)) -> None:
        if node not in nodes:
            raise ValueError(f"node must be {', '.join(map(str, nodes[:-1]))} or {nodes[-1]}, got {node!r}")
        if self.state_dir is None:
            raise PlatformError(f"{command}: this platform's state dir is unknown (set K2_PLATFORM_STATE_DIR)")
        env = self.script_env or dict(os.environ)
        result = run_platform_sh(
            [command, str(node), "--secure", "--state-dir", str(self.state_dir)], env=env, timeout=timeout
        )
        if result.returncode != 0:
            raise PlatformError(f"tools/platform.sh {command} {node} failed:\n{result.stdout}{result.stderr}")

    def platform_sh(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run ``tools/platform.sh ARGS... --state-dir <ours>`` (e.g. ``status``, ``cli ...``)."""
        env = self.script_env or dict(os.environ)
        state = ["--state-dir", str(self.state_dir)] if self.state_dir is not None else []
        if args and args[0] == "cli":
            return run_platform_sh(["cli", *state, *args[1:]], env=env, timeout=timeout)
        return run_platform_sh([*args, *state], env=env, timeout=timeout)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop the platform if this object started it; no-op otherwise."""
        if not self.owned or self._stopped or self.state_dir is None:
            return
        env = self.script_env or dict(os.environ)
        result = run_platform_sh(["stop", "--secure", "--state-dir", str(self.state_dir)], env=env, timeout=timeout)
        if result.returncode != 0:
            raise PlatformError(f"tools/platform.sh stop --secure failed:\n{result.stdout}{result.stderr}")
        self._stopped = True

    def __enter__(self) -> SecurePlatform:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_platform_sh(
    profile: list[str], state_dir: os.PathLike[str] | str, timeout: float, extra_env: Mapping[str, str] | None
) -> tuple[Path, dict[str, str], subprocess.CompletedProcess[str]]:
    """`tools/platform.sh start PROFILE --state-dir STATE` on free ports: (state dir, env, result).

    A platform the environment describes must not leak into the new one, so its variables are
    dropped. On failure whatever was started is stopped (platform.sh does so on a readiness
    failure; this covers a script that died some other way) and PlatformError carries the output.
    """
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key not in (*SECURE_KEYS, ENV_REGISTRY, "K2_PROFILE")}
    env["K2_PORTS"] = "free"
    env.update(extra_env or {})
    result = run_platform_sh(["start", *profile, "--state-dir", str(state)], env=env, timeout=timeout)
    if result.returncode != 0:
        run_platform_sh(["stop", *profile, "--state-dir", str(state)], env=env, timeout=DEFAULT_STOP_TIMEOUT)
        command = " ".join(["tools/platform.sh start", *profile])
        raise PlatformError(f"{command} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    return state, env, result


def run_platform_sh(args: list[str], *, env: Mapping[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """`bash tools/platform.sh ARGS...` with its output captured; never raises on a failed exit."""
    return subprocess.run(
        ["bash", str(PLATFORM_SH), *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
