"""The shipped prod stack deployed over mutual TLS as the infra principal (issue 26).

The secure local cluster's mTLS listener takes the client certificate `tools/platform.sh` issues for
the infra principal (CN=k2infra, mapped to User:k2infra: the least rights of docs/access.md, no super
user). The stack differs from the SCRAM deployment (test_prod_secure.py) only in how it logs in:
`clientCert` and the secret `clientKey` instead of `saslMechanism`/`saslPassword`. `verify` takes
the key from K2_CLIENT_KEY, as the other credentials from the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import PulumiProject
from tests.e2e.prod_support import POLICY, deployed_prod, run_k2infra

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def prod_mtls(tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str, secure, app_passwords) -> Iterator:
    yield from deployed_prod(tmp_path_factory.mktemp("project-prod-mtls"), secure, app_passwords, login="mtls")


def mtls_env(secure: SecurePlatform) -> dict[str, str]:
    """The secrets the command line reads from the environment: the client key instead of a password."""
    return {
        "K2_CLIENT_KEY": str(Path(secure.env["K2_CLIENT_KEY"])),
        "K2_SCHEMA_REGISTRY_PASSWORD": secure.registry_password,
    }


def test_verify_over_mtls_finds_no_drift_and_the_infra_principal_has_exactly_its_rights(
    prod_mtls: PulumiProject, secure: SecurePlatform
) -> None:
    done = run_k2infra(prod_mtls, "verify", env=mtls_env(secure))
    assert done.returncode == 0, done.stdout + done.stderr
    line = "infra principal User:k2infra: exactly the rights k2infra needs (docs/access.md)"
    assert line in done.stdout.splitlines(), done.stdout


def test_preview_over_mtls_expects_no_changes(prod_mtls: PulumiProject) -> None:
    prod_mtls.run("preview", "--expect-no-changes", *POLICY)


def test_recover_over_mtls_finds_the_stack_ready_with_the_least_rights(
    prod_mtls: PulumiProject, secure: SecurePlatform
) -> None:
    """`recover` reads the cluster and refreshes the state (topics, ACLs, quotas, SCRAM users) as User:k2infra."""
    done = run_k2infra(prod_mtls, "recover", env=mtls_env(secure), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    prod_mtls.run("preview", "--expect-no-changes", *POLICY)
