"""The shipped prod stack pointed at the secure local cluster: shared by the prod end-to-end modules.

`Pulumi.prod.yaml` is used exactly as shipped except for `prod_overrides` (where the cluster is,
whom to trust, who the admin is) and the secrets, set with `pulumi config set --secret` as the
stack file's header says. The fixtures that deploy it (`prod`, `app_passwords`, `secure_admin`)
are in tests/e2e/conftest.py, module-scoped: each module gets its own deployment on the session's
one secure cluster, destroyed when the module ends.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka.admin import AdminClient

from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import REPO, PulumiProject

STACK = "prod"
CALL = 30.0  # seconds for one admin call
EXCHANGES = {"equities": ("asx", 30), "crypto": ("binance", 40)}
DATA_TYPES = ("trades", "quotes", "reference_data")
POLICY = ("--policy-pack", str(REPO / "policy"))
# The runbook's command: the URNs of one app's ACLs and SCRAM credential (its quota is unprotected).
UNPROTECT_APP = (
    "pulumi stack --stack prod --show-urns"
    ' | grep -oE "urn:pulumi:[^ ]*::(User:$K2_APP_USER\\|[^ ]*|scram:$K2_APP_USER)$"'
    " | xargs -d '\\n' pulumi state unprotect --stack prod --yes"
)


def prod_overrides(platform: SecurePlatform) -> dict[str, str]:
    """The only keys of Pulumi.prod.yaml that differ from the shipped file: where the cluster is,
    whom to trust, and who the admin is. Secrets are set apart (`configure_prod`)."""
    return {
        "bootstrapServers": platform.bootstrap_servers,  # the three SASL_SSL brokers
        "caCert": platform.ca_path.read_text(),  # the brokers' CA, as PEM text
        "saslUsername": platform.sasl_username,  # the infra principal: least rights, no super user
        "schemaRegistryUrl": platform.schema_registry_urls,  # both nodes' https://.../apis/ccompat/v7
        "schemaRegistryUsername": platform.registry_username,  # a Keycloak client id
        # The registry's own CA setting, as a path (the platform's registry certificate is signed
        # by the same generated CA; caCert is never reused for the registry implicitly).
        "schemaRegistryCaCert": str(platform.env.get("K2_SCHEMA_REGISTRY_CA_CERT") or platform.ca_path),
    }


def mtls_overrides(platform: SecurePlatform) -> dict[str, str | None]:
    """The same, but the infra principal logs in with its client certificate on the mTLS listener
    (CN=k2infra: User:k2infra, the same least rights), no SASL."""
    return {
        **prod_overrides(platform),
        "bootstrapServers": platform.mtls_bootstrap_servers,
        "clientCert": Path(platform.env["K2_CLIENT_CERT"]).read_text(),  # PEM text, as a stack file holds it
        "saslMechanism": None,
        "saslUsername": None,
    }


def oauth_overrides(platform: SecurePlatform) -> dict[str, str | None]:
    """The same, but the infra principal logs in with a Keycloak token on the OAUTHBEARER listener (its
    client k2infra: User:k2infra from the token's azp, the same least rights); its secret is saslPassword."""
    return {
        **prod_overrides(platform),
        "bootstrapServers": platform.oauth_bootstrap_servers,
        "saslMechanism": "oauthbearer",
        "saslUsername": platform.env["K2_OAUTH_CLIENT_ID"],  # the OAuth client id, as pulumi-kafka takes it
        "saslTokenUrl": platform.oauth_token_url,
    }


LOGINS = {"scram": prod_overrides, "mtls": mtls_overrides, "oauth": oauth_overrides}


def app_names() -> list[str]:
    return sorted(yaml.safe_load((REPO / "config" / "kafka" / "apps.yaml").read_text())["apps"])


def new_app_passwords() -> dict[str, str]:
    # token_urlsafe may start with "-", which `pulumi config set` would take for a flag (1 in 64 per
    # app): the "pw-" prefix keeps every password a positional value.
    return {app: f"pw-{secrets.token_urlsafe(18)}" for app in app_names()}


def configure_prod(
    project: PulumiProject, platform: SecurePlatform, app_passwords: Mapping[str, str], *, login: str = "scram"
) -> None:
    """The shipped prod config plus the overrides of `login` (scram, mtls or oauth), and every secret the
    stack needs."""
    shipped = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]
    project.configure({**shipped, **LOGINS[login](platform)})
    if login == "mtls":
        project.set_secret("clientKey", Path(platform.env["K2_CLIENT_KEY"]).read_text())
    elif login == "oauth":
        project.set_secret("saslPassword", platform.env["K2_OAUTH_CLIENT_SECRET"])
    else:
        project.set_secret("saslPassword", platform.sasl_password)
    project.set_secret("schemaRegistryPassword", platform.registry_password)
    if login != "scram":
        return  # the apps prove their principal by their own certificate or OAuth client: no SCRAM user
    for app, password in app_passwords.items():
        project.run("config", "set", "--secret", "--path", f"k2infra:appPasswords.{app}", password)


def deployed_prod(
    root, platform: SecurePlatform, app_passwords: Mapping[str, str], *, login: str = "scram", **create_kwargs
) -> Iterator[PulumiProject]:
    """A throwaway project whose `prod` stack is deployed on ``platform``, logging in as `login` (scram,
    mtls or oauth); unprotected and destroyed when resumed."""
    project = PulumiProject.create(root / "project", STACK, root / "backend", **create_kwargs)
    configure_prod(project, platform, app_passwords, login=login)
    try:
        project.up(*POLICY)
        yield project
    finally:
        project.run("state", "unprotect", "--all", "--yes", check=False)
        project.destroy(check=False)


def planned_topics() -> dict[str, int]:
    """The prod topics of the shipped topology: name -> partitions."""
    return {
        f"market.{ac}.{dt}.{ex}": 1 if dt == "reference_data" else partitions
        for ac, (ex, partitions) in EXCHANGES.items()
        for dt in DATA_TYPES
    }


def run_k2infra(
    project: PulumiProject, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300, stack: str = STACK
):
    """`python -m k2infra ARGS --stack prod --project-dir <project>` as a user runs it (another stack: `stack`)."""
    return subprocess.run(
        [sys.executable, "-m", "k2infra", *args, "--stack", stack, "--project-dir", str(project.dir)],
        cwd=REPO,
        env={**project.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def secret_env(platform: SecurePlatform) -> dict[str, str]:
    """The secrets `k2infra verify` reads from the environment (it never decrypts stack secrets)."""
    return {"K2_SASL_PASSWORD": platform.sasl_password, "K2_SCHEMA_REGISTRY_PASSWORD": platform.registry_password}


# -- what a refused run must not change --------------------------------------------------------------------------


def state_of(project: PulumiProject) -> dict[str, Any]:
    """The stack's resources by URN. With --show-secrets: an export re-encrypts secrets with new
    nonces every time, so ciphertexts differ between two exports of the same state."""
    exported = json.loads(project.run("stack", "export", "--show-secrets").stdout)
    return {
        r["urn"]: {k: r.get(k) for k in ("type", "id", "inputs", "outputs", "protect")}
        for r in exported["deployment"]["resources"]
    }


def topics_of(admin: AdminClient) -> dict[str, list[tuple[int, tuple[int, ...]]]]:
    """Every market. topic: its partitions and their replica lists."""
    metadata = admin.list_topics(timeout=CALL)
    return {
        name: sorted((p.id, tuple(p.replicas)) for p in topic.partitions.values())
        for name, topic in metadata.topics.items()
        if name.startswith("market.")
    }


def timed(action: Any) -> tuple[Any, float]:
    start = time.monotonic()
    result = action()
    return result, time.monotonic() - start


def error_lines(output: str) -> list[str]:
    """The `error:` diagnostics of a pulumi run, without the engine's closing one."""
    return [
        line.strip().removeprefix("error: ")
        for line in output.splitlines()
        if line.strip().startswith("error: ") and "an unhandled error occurred" not in line
    ]


PREVIEW_BOUND = 120.0  # seconds: a refused preview took 3-5 s on an idle machine; this one is shared
VERIFY_BOUND = 60.0  # seconds: verify's own timeout is 15 s per read


@dataclass(frozen=True)
class Refusal:
    """A mistaken stack's `pulumi preview` (its whole output) and `verify` (its stderr lines), both refused."""

    preview: str
    verify: list[str]


def refused(project: PulumiProject, admin: AdminClient, verify_env: Mapping[str, str], label: str, mistake) -> Refusal:
    """Make the mistake (`mistake()`), then run `pulumi preview` and `verify` on the stack: both must fail
    within a bound and leave the stack's state and the cluster's topics as they were."""
    state_before, topics_before = state_of(project), topics_of(admin)
    mistake()
    preview, preview_s = timed(lambda: project.run("preview", *POLICY, check=False))
    verify, verify_s = timed(lambda: run_k2infra(project, "verify", env=verify_env))
    print(f"{label}: preview refused in {preview_s:.1f}s, verify in {verify_s:.1f}s")
    output = preview.stdout + preview.stderr
    assert preview.returncode != 0, output
    assert preview_s < PREVIEW_BOUND
    assert verify.returncode == 2, verify.stdout + verify.stderr
    assert verify_s < VERIFY_BOUND
    assert state_of(project) == state_before
    assert topics_of(admin) == topics_before
    return Refusal(output, [line.strip() for line in verify.stderr.strip().splitlines()])
