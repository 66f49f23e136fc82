"""The shipped prod stack deployed over SASL/OAUTHBEARER as the infra principal (issue 26).

The secure local cluster's OAUTH listener takes a token from the platform's Keycloak (client-credentials
grant), checks its signature against the realm's JWKS, its issuer and its audience (`kafka`), and makes
the token's `azp` (the OAuth client id) the principal: the Keycloak client k2infra is User:k2infra, the
least rights of docs/access.md, no super user. The stack differs from the SCRAM deployment only in how
it logs in: `saslMechanism: oauthbearer`, `saslTokenUrl`, the client id as `saslUsername` and its secret
as `saslPassword` (pulumi-kafka's names); `verify` takes the secret from K2_SASL_PASSWORD.

Then the two OAuth mistakes a user meets: a client whose tokens lack the brokers' audience, and a
revoked (disabled) client. Each is one line through `pulumi preview` and `verify`, and changes nothing.
The clients are made by `tools/platform.sh client` (never k2infra's own, which the session shares).
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import PulumiProject
from tests.e2e.access_matrix import check_the_matrix, library_login
from tests.e2e.prod_support import POLICY, deployed_prod, error_lines, refused, run_k2infra

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def prod_oauth(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str, secure, app_passwords) -> Iterator:
    yield from deployed_prod(tmp_path_factory.mktemp("project-prod-oauth"), secure, app_passwords, login="oauth")


def oauth_env(secure: SecurePlatform, secret: str | None = None) -> dict[str, str]:
    """The secrets the command line reads from the environment: the OAuth client's secret as the password."""
    return {
        "K2_SASL_PASSWORD": secret or secure.env["K2_OAUTH_CLIENT_SECRET"],
        "K2_SCHEMA_REGISTRY_PASSWORD": secure.registry_password,
    }


def test_verify_over_oauth_finds_no_drift_and_the_infra_principal_has_exactly_its_rights(
    prod_oauth: PulumiProject, secure: SecurePlatform
) -> None:
    done = run_k2infra(prod_oauth, "verify", env=oauth_env(secure))
    assert done.returncode == 0, done.stdout + done.stderr
    line = "infra principal User:k2infra: exactly the rights k2infra needs (docs/access.md)"
    assert line in done.stdout.splitlines(), done.stdout


def test_preview_over_oauth_expects_no_changes(prod_oauth: PulumiProject) -> None:
    prod_oauth.run("preview", "--expect-no-changes", *POLICY)


def test_recover_over_oauth_finds_the_stack_ready_with_the_least_rights(
    prod_oauth: PulumiProject, secure: SecurePlatform
) -> None:
    """`recover` reads the cluster and refreshes the state (topics, ACLs, quotas) as User:k2infra, its
    token fetched by the Kafka provider plugin and by k2infra's own client alike."""
    done = run_k2infra(prod_oauth, "recover", env=oauth_env(secure), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    prod_oauth.run("preview", "--expect-no-changes", *POLICY)


@pytest.fixture
def restored_oauth_stack(prod_oauth: PulumiProject, tmp_path: Path) -> Iterator[PulumiProject]:
    """The deployed stack file as it is now, put back after the test whatever happens."""
    stack_file = prod_oauth.dir / "Pulumi.prod.yaml"
    saved = tmp_path / "Pulumi.prod.yaml.saved"
    shutil.copy(stack_file, saved)
    try:
        yield prod_oauth
    finally:
        shutil.copy(saved, stack_file)


def refused_lines(secure: SecurePlatform, client: str) -> dict[str, tuple[str, str]]:
    """Per mistake: (the line `pulumi preview` shows, the line `verify` shows)."""
    token_url = secure.oauth_token_url
    revoked = (
        f"the token endpoint {token_url} refused OAuth client {client} (k2infra:saslUsername): invalid_client "
        "(HTTP 401): a wrong or rotated secret, or a disabled client (check {secret} and k2infra:saslUsername)"
    )
    audience = (
        f"the brokers at {secure.oauth_bootstrap_servers} refused the OAuth token of OAuth client {client} "
        "(k2infra:saslUsername) (invalid_token): its audience, issuer or signature is not what they expect "
        "(their sasl.oauthbearer.expected.audience / expected.issuer / jwks.endpoint.url); have the identity "
        "provider add the brokers' audience to the client's tokens, and check that k2infra:saslTokenUrl is the "
        "brokers' issuer"
    )
    return {
        "revoked-client": (
            revoked.format(secret="k2infra:saslPassword"),
            revoked.format(secret="K2_SASL_PASSWORD"),
        ),
        "wrong-audience": (audience, audience),
    }


@pytest.mark.parametrize("mistake", ["revoked-client", "wrong-audience"])
def test_an_oauth_mistake_is_one_clear_line_in_preview_and_verify_and_changes_nothing(
    restored_oauth_stack: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient, mistake: str
) -> None:
    project = restored_oauth_stack
    name = f"k2-e2e-{mistake}-{secrets.token_hex(3)}"
    client = secure.client(name, *(["--no-audience"] if mistake == "wrong-audience" else []))
    if mistake == "revoked-client":
        secure.client(name, "--revoke")
    preview_line, verify_line = refused_lines(secure, name)[mistake]

    def mistake_made() -> None:  # the stack logs in as that client, as a user pointing it at another would
        project.run("config", "set", "k2infra:saslUsername", name)
        project.set_secret("saslPassword", client["K2_APP_OAUTH_CLIENT_SECRET"])

    env = oauth_env(secure, client["K2_APP_OAUTH_CLIENT_SECRET"])
    refusal = refused(project, secure_admin, env, mistake, mistake_made)
    assert error_lines(refusal.preview) == [preview_line], refusal.preview
    assert refusal.verify == [f"error: {verify_line}"]


def test_the_oauth_stack_file_is_back_as_deployed(prod_oauth: PulumiProject) -> None:
    """Each mistake was undone: the deployed stack previews without changes."""
    prod_oauth.run("preview", "--expect-no-changes", *POLICY)


def test_each_app_reads_and_writes_exactly_what_it_declares_logged_in_by_its_oauth_client(
    prod_oauth: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient
) -> None:
    """The access matrix of test_access_secure.py, each app logged in through the client library by
    its OAuth client (client id = its user name): the stack created no SCRAM user, the ACLs of its principal decide."""
    counts = check_the_matrix(prod_oauth, secure, secure_admin, library_login(prod_oauth, secure, "oauthbearer"))
    # 5 apps x 6 topics: 6 reads of the consumers, 6 of the monitor and 4 writes allowed; the rest refused.
    assert counts == {"read read": 12, "read refused": 18, "write written": 4, "write refused": 26}
