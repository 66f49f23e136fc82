"""The shipped prod stack deployed over mutual TLS as the infra principal (issue 26).

The secure local cluster's mTLS listener takes the client certificate `tools/platform.sh` issues for
the infra principal (CN=k2infra, mapped to User:k2infra: the least rights of docs/access.md, no super
user). The stack differs from the SCRAM deployment (test_prod_secure.py) only in how it logs in:
`clientCert` and the secret `clientKey` instead of `saslMechanism`/`saslPassword`. `verify` takes
the key from K2_CLIENT_KEY, as the other credentials from the environment.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from devkit.certificates import self_signed
from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import PulumiProject
from tests.e2e.access_matrix import check_the_matrix, library_login
from tests.e2e.prod_support import POLICY, deployed_prod, error_lines, refused, run_k2infra

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


MTLS_MISTAKES = ["another-ca", "expired", "wrong-key"]
STACK_FILE = r"(?:/\S+/)?Pulumi\.prod\.yaml:\d+: "  # as preview names it, or by its path (verify)


def mistaken_certificate(secure: SecurePlatform, mistake: str) -> tuple[bytes, bytes]:
    """(certificate, key) PEM for CN=k2infra: valid but of a CA the brokers do not trust, expired, or the
    platform's own certificate with another key."""
    now = datetime.now(UTC)
    if mistake == "another-ca":
        return self_signed("k2infra", now - timedelta(minutes=5), now + timedelta(days=1))
    if mistake == "expired":
        return self_signed("k2infra", now - timedelta(days=20), now - timedelta(days=10))
    _, other_key = self_signed("k2infra", now - timedelta(minutes=5), now + timedelta(days=1))
    return Path(secure.env["K2_CLIENT_CERT"]).read_bytes(), other_key


def mistake_line(secure: SecurePlatform, mistake: str) -> str:
    """The one line, as a pattern (the checks before connecting name the stack file's line)."""
    if mistake == "another-ca":
        return re.escape(
            f"the brokers at {secure.mtls_bootstrap_servers} refused the client certificate of k2infra:clientCert "
            "(TLS alert bad certificate): they do not trust the CA that signed it, or it expired or was revoked; "
            "use one signed by the CA their mTLS listener trusts"
        )
    if mistake == "expired":
        return STACK_FILE + r"k2infra:clientCert: expired on .*: the brokers refuse it; renew the certificate"
    return (
        STACK_FILE + r"k2infra:clientKey: does not match clientCert: it is not the key the certificate was issued for"
    )


@pytest.mark.parametrize("mistake", MTLS_MISTAKES)
def test_a_certificate_mistake_is_one_clear_line_in_preview_and_verify_and_changes_nothing(
    prod_mtls: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient, tmp_path: Path, mistake: str
) -> None:
    """A certificate of another CA passes the settings' checks (it parses, matches its key, has not expired)
    and the brokers refuse it; an expired one or a key that is not the certificate's is named before
    anything connects."""
    cert, key = mistaken_certificate(secure, mistake)
    (tmp_path / "mistaken-key.pem").write_bytes(key)
    stack_file = prod_mtls.dir / "Pulumi.prod.yaml"
    shutil.copy(stack_file, tmp_path / "Pulumi.prod.yaml.saved")
    verify_env = {**mtls_env(secure), "K2_CLIENT_KEY": str(tmp_path / "mistaken-key.pem")}

    def mistake_made() -> None:
        prod_mtls.configure({"clientCert": cert.decode()})
        prod_mtls.set_secret("clientKey", key.decode())

    try:
        refusal = refused(prod_mtls, secure_admin, verify_env, mistake, mistake_made)
    finally:
        shutil.copy(tmp_path / "Pulumi.prod.yaml.saved", stack_file)
    expected = mistake_line(secure, mistake)
    if mistake == "another-ca":  # at the brokers: the one line
        [line] = error_lines(refusal.preview) or [refusal.preview]
        assert re.fullmatch(expected, line), refusal.preview
        assert len(refusal.verify) == 1 and re.fullmatch("error: " + expected, refusal.verify[0]), refusal.verify
    else:  # before connecting: the settings' problem, at its line of the stack file
        assert error_lines(refusal.preview) == ["1 problem in Pulumi.prod.yaml:"], refusal.preview
        assert any(re.fullmatch(expected, line.strip()) for line in refusal.preview.splitlines()), refusal.preview
        # verify names the stack file by the path it was given (--project-dir)
        assert refusal.verify[0] == f"1 problem in {stack_file}:", refusal.verify
        assert len(refusal.verify) == 2 and re.fullmatch(expected, refusal.verify[1]), refusal.verify
    prod_mtls.run("preview", "--expect-no-changes", *POLICY)


def test_each_app_reads_and_writes_exactly_what_it_declares_logged_in_by_its_certificate(
    prod_mtls: PulumiProject, secure: SecurePlatform, secure_admin: AdminClient
) -> None:
    """The access matrix of test_access_secure.py, each app logged in through the client library by
    its certificate (CN = its user name): the stack created no SCRAM user, the ACLs of its principal decide."""
    counts = check_the_matrix(prod_mtls, secure, secure_admin, library_login(prod_mtls, secure, "mtls"))
    # 5 apps x 6 topics: 6 reads of the consumers, 6 of the monitor and 4 writes allowed; the rest refused.
    assert counts == {"read read": 12, "read refused": 18, "write written": 4, "write refused": 26}
