"""The prod shape locally: `make up STACK=prod-local` and `make down STACK=prod-local`.

    python -m devkit.prod_local up      # secure cluster + the prod stack deployed on it
    python -m devkit.prod_local down    # the stack's state dropped, the cluster stopped (data deleted)

`up` starts the production-shaped local cluster (`tools/platform.sh start --secure`: three SASL_SSL
brokers, Keycloak, the HTTPS registry; its state in .state/platform-secure) and deploys to it the
stack `prod-local`: the shipped `Pulumi.prod.yaml` with only what names the cluster overridden from
the running platform's env (`tools/platform.sh env --secure`: bootstrapServers, caCert, saslUsername,
schemaRegistryUrl, schemaRegistryUsername, schemaRegistryCaCert) and the secrets set with
`pulumi config set --secret` (through k2infra.ops.pulumi_driver, as every Pulumi command here): saslPassword and schemaRegistryPassword from the platform (new at each
platform start), and appPasswords.<app> for each app of config/kafka/apps.yaml, generated once and
kept in .state/prod-local/app-passwords.json (mode 600) so that a second `up` keeps the users' passwords.
The generated `Pulumi.prod-local.yaml` and .state/ are gitignored. The policy pack runs with its
mandatory (prod) rules: there is no policy/config/prod-local.json.

`down`: the stack is protected like prod, so `pulumi destroy` would refuse; the cluster it ran on is
local and `tools/platform.sh stop --secure` deletes its data, keys and passwords anyway. So `down`
runs `k2infra destroy-check` (which lists the topics with records, as `make down` does for dev; exit
1 stops here unless ALLOW_DATA_LOSS=1), then removes the stack and its state (`pulumi stack rm
--force`, which also deletes Pulumi.prod-local.yaml), the app passwords, and stops the platform.

Both act on the repository and the cluster in .state/platform-secure; `--project-dir` and
`--platform-state-dir` name others (the e2e test deploys a copy of the project on the session's
running cluster: `tools/platform.sh start --secure` leaves a running one as it is). The state backend
is the environment's PULUMI_BACKEND_URL (the Makefile's K2_STATE=postgres sets it to tools/postgres.sh's).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from k2infra.ops.pulumi_driver import PulumiCommandError, PulumiDriver

REPO = Path(__file__).resolve().parents[1]
STACK = "prod-local"
PLATFORM_SH = REPO / "tools" / "platform.sh"
PLATFORM_STATE = REPO / ".state" / "platform-secure"


def stack_state_dir(project_dir: Path) -> Path:
    """Where prod-local keeps the app passwords of the project's stack."""
    return project_dir / ".state" / "prod-local"


def say(message: str) -> None:
    print(f"[prod-local] {message}", flush=True)


def platform_env(state_dir: Path = PLATFORM_STATE) -> dict[str, str]:
    """The K2_* variables `tools/platform.sh env --secure` prints for the running secure platform."""
    done = subprocess.run(
        ["bash", str(PLATFORM_SH), "env", "--secure", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"[prod-local] {done.stderr.strip() or 'tools/platform.sh env --secure failed'}")
    values: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, sep, value = line.removeprefix("export ").partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def overrides(env: Mapping[str, str]) -> dict[str, str]:
    """The only keys of Pulumi.prod.yaml that prod-local sets otherwise: where the cluster is, whom
    to trust and who the admin is (the same keys tests/e2e/prod_support.py overrides)."""
    return {
        "k2infra:bootstrapServers": env["K2_BOOTSTRAP_SERVERS"],
        "k2infra:caCert": Path(env["K2_CA_CERT"]).read_text(),  # PEM text, as the Kafka provider takes it
        "k2infra:saslUsername": env["K2_SASL_USERNAME"],
        # both registry nodes of the secure platform, comma-separated
        "k2infra:schemaRegistryUrl": env.get("K2_SCHEMA_REGISTRY_URLS") or env["K2_SCHEMA_REGISTRY_URL"],
        "k2infra:schemaRegistryUsername": env["K2_SCHEMA_REGISTRY_USERNAME"],
        "k2infra:schemaRegistryCaCert": env.get("K2_SCHEMA_REGISTRY_CA_CERT") or env["K2_CA_CERT"],
    }


def app_names(project_dir: Path) -> list[str]:
    return sorted(yaml.safe_load((project_dir / "config" / "kafka" / "apps.yaml").read_text())["apps"])


def app_passwords(project_dir: Path, state_dir: Path) -> dict[str, str]:
    """One SCRAM password per declared app: kept from an earlier `up`, new ones generated for new apps."""
    path = state_dir / "app-passwords.json"
    kept: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    passwords = {app: kept.get(app) or secrets.token_urlsafe(18) for app in app_names(project_dir)}
    state_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(json.dumps(passwords, indent=2) + "\n")
    return passwords


def configure(project_dir: Path, env: Mapping[str, str], state_dir: Path, pulumi: PulumiDriver) -> Path:
    """Write Pulumi.prod-local.yaml (shipped prod config + overrides) and set every secret.

    The stack must exist (its file holds the passphrase provider's encryption salt, kept here)."""
    shipped = yaml.safe_load((project_dir / "Pulumi.prod.yaml").read_text())["config"]
    stack_file = project_dir / f"Pulumi.{STACK}.yaml"
    data = (yaml.safe_load(stack_file.read_text()) if stack_file.exists() else None) or {}
    data["config"] = {**shipped, **overrides(env)}
    header = (
        "# Generated by `make up STACK=prod-local` (devkit/prod_local.py): Pulumi.prod.yaml with the keys that\n"
        "# name the local secure cluster overridden. Gitignored; rewritten at every `up`.\n"
    )
    stack_file.write_text(header + yaml.safe_dump(data, sort_keys=False))
    pulumi.set_config("k2infra:saslPassword", env["K2_SASL_PASSWORD"], secret=True)
    pulumi.set_config("k2infra:schemaRegistryPassword", env["K2_SCHEMA_REGISTRY_PASSWORD"], secret=True)
    for app, password in app_passwords(project_dir, state_dir).items():
        pulumi.set_config(f"k2infra:appPasswords.{app}", password, secret=True, path=True)
    return stack_file


def _driver(project_dir: Path) -> PulumiDriver:
    """The prod-local stack of the project; long commands show the CLI's output as it comes."""
    driver = PulumiDriver(project_dir, STACK, echo=sys.stdout)
    driver.echo_prefix = ""
    return driver


def up(policy: Sequence[str], project_dir: Path = REPO, platform_state: Path = PLATFORM_STATE) -> int:
    say("starting the secure local cluster (tools/platform.sh start --secure; 1-3 min, ~19 min the first time)")
    start = ["bash", str(PLATFORM_SH), "start", "--secure", "--state-dir", str(platform_state)]
    subprocess.run(start, cwd=REPO, check=True)
    env = platform_env(platform_state)
    pulumi = _driver(project_dir)
    try:
        pulumi.create()  # `pulumi stack select --create`
        stack_file = configure(project_dir, env, stack_state_dir(project_dir), pulumi)
    except PulumiCommandError as exc:
        raise SystemExit(f"[prod-local] {exc}") from None  # the value set is never shown (k2infra.ops.pulumi_driver)
    say(f"{stack_file.name}: Pulumi.prod.yaml with bootstrapServers, caCert, saslUsername, schemaRegistryUrl, ")
    say("  schemaRegistryUsername, schemaRegistryCaCert from the platform; secrets set with pulumi config set --secret")
    verify_env = {**os.environ, "K2_SASL_PASSWORD": env["K2_SASL_PASSWORD"]}
    verify_env["K2_SCHEMA_REGISTRY_PASSWORD"] = env["K2_SCHEMA_REGISTRY_PASSWORD"]
    # An earlier run that was killed is recovered first, as `make up` does for dev.
    recover = [sys.executable, "-m", "k2infra", "recover", "--stack", STACK, "--project-dir", str(project_dir)]
    recovered = subprocess.run(recover, cwd=REPO, env=verify_env)
    if recovered.returncode != 0:
        return recovered.returncode
    # --refresh: a restarted platform starts empty, so the state of an earlier session is reconciled first.
    try:
        pulumi.up(refresh=True, policy_packs=policy, stream=True)
    except PulumiCommandError as exc:
        raise SystemExit(f"[prod-local] failed: pulumi {exc.command} (its output above)") from None
    say("deployed. Check it against the cluster with:")
    say(f'  eval "$(tools/platform.sh env --secure)"; python -m k2infra verify --stack {STACK}')
    return 0


def down(allow_data_loss: bool, project_dir: Path = REPO, platform_state: Path = PLATFORM_STATE) -> int:
    env = os.environ.copy()
    running = subprocess.run(
        ["bash", str(PLATFORM_SH), "status", "--secure", "--state-dir", str(platform_state)],
        cwd=REPO,
        capture_output=True,
        check=False,
    ).returncode
    pulumi = _driver(project_dir)
    try:
        has_stack = pulumi.exists()
    except PulumiCommandError:
        has_stack = False  # as before: a CLI that cannot list stacks has none to remove
    if running == 0 and has_stack:
        env.update(
            {
                k: v
                for k, v in platform_env(platform_state).items()
                if k in ("K2_SASL_PASSWORD", "K2_SCHEMA_REGISTRY_PASSWORD")
            }
        )
        check = [sys.executable, "-m", "k2infra", "destroy-check", "--stack", STACK, "--project-dir", str(project_dir)]
        if subprocess.run([*check, *(["--allow-data-loss"] if allow_data_loss else [])], cwd=REPO, env=env).returncode:
            return 1
    if has_stack:
        # Protected like prod, so `pulumi destroy` would refuse; the topics go with the platform's data.
        say(f"removing stack {STACK} and its state (protected: not destroyed one by one; the cluster's data goes next)")
        try:
            pulumi.remove(force=True)
        except PulumiCommandError as exc:
            say(str(exc))  # the platform is stopped anyway
    (stack_state_dir(project_dir) / "app-passwords.json").unlink(missing_ok=True)
    say("stopping the secure local cluster (tools/platform.sh stop --secure: data, keys and passwords deleted)")
    stop = ["bash", str(PLATFORM_SH), "stop", "--secure", "--state-dir", str(platform_state)]
    return subprocess.run(stop, cwd=REPO, check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.prod_local", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--allow-data-loss", action="store_true", help="down: even if topics hold records")
    parser.add_argument("--policy-pack", default=str(REPO / "policy"), help="up: the policy pack (default: policy)")
    parser.add_argument("--project-dir", type=Path, default=REPO, help="the Pulumi project (default: the repository)")
    parser.add_argument(
        "--platform-state-dir",
        type=Path,
        default=PLATFORM_STATE,
        help="the secure cluster's state dir (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.command == "up":
        return up([args.policy_pack], args.project_dir.resolve(), args.platform_state_dir)
    return down(args.allow_data_loss, args.project_dir.resolve(), args.platform_state_dir)


if __name__ == "__main__":
    sys.exit(main())
