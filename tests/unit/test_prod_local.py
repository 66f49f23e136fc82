"""devkit/prod_local.py: the prod-local stack file and secrets, from a secure platform's env.

The e2e module (tests/e2e/test_prod_faults.py) runs the same `configure` against the session's real
secure cluster and previews the result; here the Pulumi CLI under pulumi.automation is a recording
stand-in (the command lines asserted are the ones Automation builds).
"""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from devkit import prod_local
from k2infra.ops.pulumi_driver import PulumiDriver
from tests.conftest import REPO
from tests.unit.test_pulumi_driver import Recorder

OVERRIDDEN = {
    "k2infra:bootstrapServers",
    "k2infra:caCert",
    "k2infra:saslUsername",
    "k2infra:schemaRegistryUrl",
    "k2infra:schemaRegistryUsername",
    "k2infra:schemaRegistryCaCert",
}


def platform_env(tmp_path: Path) -> dict[str, str]:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    return {
        "K2_BOOTSTRAP_SERVERS": "127.0.0.1:19192,127.0.0.1:19193,127.0.0.1:19194",
        "K2_CA_CERT": str(ca),
        "K2_SASL_USERNAME": "k2infra",
        "K2_SASL_PASSWORD": "kafka-pw",
        "K2_SCHEMA_REGISTRY_URL": "https://127.0.0.1:18443/apis/ccompat/v7",
        "K2_SCHEMA_REGISTRY_USERNAME": "k2-registry",
        "K2_SCHEMA_REGISTRY_PASSWORD": "registry-pw",
        "K2_SCHEMA_REGISTRY_CA_CERT": str(ca),
    }


def test_the_stack_file_is_the_shipped_prod_one_with_only_the_cluster_keys_overridden(
    project_dir: Path, tmp_path: Path
) -> None:
    env = platform_env(tmp_path)
    (project_dir / "Pulumi.prod-local.yaml").write_text("encryptionsalt: v1:salt\n")  # as `pulumi stack init` leaves it
    recorder = Recorder()
    path = prod_local.configure(
        project_dir, env, tmp_path / "state", PulumiDriver(project_dir, prod_local.STACK, command=recorder)
    )
    # `config set [--path] KEY --secret --stack prod-local -- VALUE`, as Automation spells it
    calls = [[*c[:2], *c[2 : c.index("--stack")], c[-1]] for c in recorder.calls]
    written = yaml.safe_load(path.read_text())
    shipped = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]
    assert written["encryptionsalt"] == "v1:salt"
    assert {k: v for k, v in written["config"].items() if k not in OVERRIDDEN} == {
        k: v for k, v in shipped.items() if k not in OVERRIDDEN
    }
    assert set(written["config"]) == set(shipped) | OVERRIDDEN  # the shipped file sets no CA
    assert written["config"]["k2infra:caCert"] == Path(env["K2_CA_CERT"]).read_text()
    assert written["config"]["k2infra:bootstrapServers"] == env["K2_BOOTSTRAP_SERVERS"]
    apps = prod_local.app_names(project_dir)
    assert [c[:-1] for c in calls] == [
        ["config", "set", "k2infra:saslPassword", "--secret"],
        ["config", "set", "k2infra:schemaRegistryPassword", "--secret"],
        *[["config", "set", "--path", f"k2infra:appPasswords.{app}", "--secret"] for app in apps],
    ]
    assert all(c[c.index("--stack") + 1] == prod_local.STACK for c in recorder.calls)
    assert calls[0][-1] == "kafka-pw" and calls[1][-1] == "registry-pw"
    assert "kafka-pw" not in path.read_text() and "registry-pw" not in path.read_text()


def test_app_passwords_are_generated_once_kept_private_and_reused(project_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = prod_local.app_passwords(project_dir, state)
    assert sorted(first) == prod_local.app_names(project_dir)
    assert len(set(first.values())) == len(first)
    assert stat.S_IMODE((state / "app-passwords.json").stat().st_mode) == 0o600
    assert prod_local.app_passwords(project_dir, state) == first


def test_the_generated_files_are_gitignored() -> None:
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "/Pulumi.prod-local.yaml" in ignored and ".state/" in ignored
