"""`make up STACK=prod-local K2_STATE=postgres`: the prod stack on the secure cluster, its state in PostgreSQL.

The test runs what the Makefile runs for it, on the session's secure cluster and PostgreSQL cluster:
`tools/postgres.sh start` (the session's `state_db`, a new database of it for this stack),
`python -m k2infra state check`, then `python -m devkit.prod_local up --policy-pack policy` (its
`tools/platform.sh start --secure` finds the cluster running and leaves it), with PULUMI_BACKEND_URL
the postgres:// URL as `K2_STATE=postgres` exports it. `make` itself is not run: it would deploy the
checkout's own prod-local stack, and `make down STACK=prod-local` stops the cluster, which every
secured module of the session shares. So prod_local runs on a copy of the project, and the stack is
destroyed as a protected stack is (unprotected, then `pulumi destroy`) rather than with the cluster.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from devkit import prod_local
from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import REPO, PulumiProject
from devkit.state_db import StateDb
from k2infra.ops import postgres_state
from tests.e2e.prod_support import CALL, POLICY, planned_topics, run_k2infra, secret_env

pytestmark = pytest.mark.e2e


def test_prod_local_deploys_verifies_and_is_destroyed_with_its_state_in_postgres(
    pulumi_cli: str, secure: SecurePlatform, secure_admin: AdminClient, state_db: StateDb, tmp_path: Path
) -> None:
    if secure.state_dir is None:
        pytest.fail("the secure platform's state dir is unknown (K2_PLATFORM_STATE_DIR unset): prod_local needs it")
    url = state_db.new_database("prodlocal")
    project = PulumiProject.create(tmp_path / "project", prod_local.STACK, tmp_path / "backend", backend_url=url)
    shutil.copy(REPO / "Pulumi.prod.yaml", project.dir)  # the shipped file prod-local is made from
    try:
        checked = subprocess.run(
            [sys.executable, "-m", "k2infra", "state", "check"],
            cwd=REPO, env=project.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.strip() == f"state backend {postgres_state.masked(url)}: usable"

        up = subprocess.run(
            [sys.executable, "-m", "devkit.prod_local", "up", "--policy-pack", str(REPO / "policy"),
             "--project-dir", str(project.dir), "--platform-state-dir", str(secure.state_dir)],
            cwd=REPO, env=project.env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        assert up.returncode == 0, up.stdout[-6000:] + up.stderr[-4000:]
        print("\n".join(line for line in up.stdout.splitlines() if line.startswith(("[prod-local]", "recover"))))
        assert "secure platform already running" in up.stdout + up.stderr, up.stdout[:3000]
        assert postgres_state.lock_rows(url, "k2infra", prod_local.STACK) == []
        stored = project.driver.export()["deployment"]["resources"]
        assert {r["inputs"]["name"] for r in stored if r["type"] == "kafka:index/topic:Topic"} == set(planned_topics())

        verified = run_k2infra(project, "verify", env=secret_env(secure), stack=prod_local.STACK)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        project.run("preview", "--expect-no-changes", *POLICY)
    finally:
        project.run("state", "unprotect", "--all", "--yes", check=False)
        destroyed = project.destroy(check=False)
    assert destroyed.returncode == 0, destroyed.stdout[-4000:] + destroyed.stderr[-2000:]
    assert not set(planned_topics()) & set(secure_admin.list_topics(timeout=CALL).topics)
    assert project.driver.export()["deployment"].get("resources") in (None, []), "the state still holds resources"
