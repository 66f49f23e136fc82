"""Regions on the secured shape: SASL_SSL on both sides, least-privilege MirrorMaker 2, real processes.

The session's secured cluster is the home (the shipped prod stack); a second secured platform on
free ports is the region (`tokyo`, its registry read-only on the mirrored journal). Both stacks are
deployed with the real Pulumi CLI from one project, with access control on, so each creates
MirrorMaker 2's principal `User:k2-mirror-tokyo` (its SCRAM user, ACLs and quota:
k2infra.model.mirror_access). MirrorMaker 2 runs on `mirror-config`'s properties, logged in as that
principal on both clusters: neither cluster makes it a super user, so every ACL it lacks shows as a
refusal in its log or as records that never arrive.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition

from devkit.local_platform import SecurePlatform
from devkit.pulumi_project import PulumiProject, pulumi_env
from tests.conftest import REPO
from tests.e2e.access_matrix import Declared, observed_writes, produce_markers, scram_login
from tests.e2e.prod_support import CALL, STACK, configure_prod, new_app_passwords, run_k2infra, secret_env
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

MIRRORMAKER = REPO / "tools" / "mirror" / "mirrormaker.sh"
REGION = "tokyo"
MIRROR_USER = f"k2-mirror-{REGION}"
SELECT = [{"asset_class": "crypto"}]
WAIT = 300.0  # seconds one wait may take on a loaded 2-core machine (MirrorMaker 2 starts in ~20-60 s)
REFUSED = re.compile(r"AuthorizationException|AUTHORIZATION_FAILED|not authorized|Authentication failed", re.I)


def poll(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    return wait_for(what, check, timeout, interval=2)


@dataclass
class SecuredRegions:
    home: PulumiProject
    tokyo: PulumiProject
    home_cluster: SecurePlatform
    tokyo_cluster: SecurePlatform
    passwords: dict[str, str]  # the apps' and MirrorMaker 2's SCRAM passwords (the same on both stacks)
    mirrormaker_log: Path


@pytest.fixture(scope="module")
def secured_regions(
    tmp_path_factory: pytest.TempPathFactory, pulumi_cli: str, secure: SecurePlatform
) -> Iterator[SecuredRegions]:
    started = time.monotonic()
    subprocess.run(["bash", str(MIRRORMAKER), "install"], check=True, capture_output=True, timeout=1800)
    root = tmp_path_factory.mktemp("regions-secure")
    # The region: a second secured platform; its registry serves the home's schemas from the mirrored journal.
    tokyo_cluster = SecurePlatform.start(
        root / "tokyo-platform", extra_env={"K2_REGISTRY_JVM_OPTS": "-Dapicurio.storage.read-only.enabled=true"}
    )
    passwords = new_app_passwords() | {MIRROR_USER: f"pw-mirror-{os.urandom(8).hex()}"}
    home = PulumiProject.create(root / "project", STACK, root / "backend")
    tokyo = PulumiProject(home.dir, REGION, pulumi_env(root / "backend"))
    mirrormaker: subprocess.Popen[bytes] | None = None
    log = root / "mm2.log"
    try:
        tokyo.driver.create(select_existing=False)
        # The region's file first: the home stack reads it to learn that tokyo carries its crypto topics.
        configure_prod(tokyo, tokyo_cluster, passwords)
        tokyo.configure({"region": REGION, "mirrorFrom": {"stack": STACK, "select": SELECT}})
        configure_prod(home, secure, passwords)
        home.up()
        tokyo.up()
        properties = root / "mm2.properties"
        written = subprocess.run(
            [sys.executable, "-m", "k2infra", "mirror-config", "--stack", REGION, "--out", str(properties)],
            cwd=home.dir,
            capture_output=True,
            text=True,
            check=False,
        )
        assert written.returncode == 0, written.stderr
        env = {
            **os.environ,
            "K2_MIRROR_SOURCE_PASSWORD": passwords[MIRROR_USER],
            "K2_MIRROR_TARGET_PASSWORD": passwords[MIRROR_USER],
        }
        with log.open("ab") as out:
            mirrormaker = subprocess.Popen(
                ["bash", str(MIRRORMAKER), "run", str(properties)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        print(
            f"\nregions (secured): two clusters, two stacks and MirrorMaker 2 started in {time.monotonic() - started:.0f} s"
        )
        yield SecuredRegions(home, tokyo, secure, tokyo_cluster, passwords, log)
    finally:
        if mirrormaker is not None and mirrormaker.poll() is None:
            os.killpg(mirrormaker.pid, signal.SIGKILL)
            mirrormaker.wait(timeout=60)
        try:
            for project in (tokyo, home):
                project.run("state", "unprotect", "--all", "--yes", check=False)
                project.destroy(check=False)
        finally:
            tokyo_cluster.stop()


def refusals(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if REFUSED.search(line)]


def copied(regions: SecuredRegions, markers: dict[str, tuple[int, bytes]]) -> dict[str, bytes] | None:
    """topic -> the marker's key read back from the region at the marker's offset, once all arrived."""
    consumer = Consumer(regions.tokyo_cluster.admin_config(**{"group.id": "e2e-regions-secure", "log_level": 2}))
    got: dict[str, bytes] = {}
    try:
        consumer.assign([TopicPartition(topic, 0, offset) for topic, (offset, _) in markers.items()])
        deadline = time.monotonic() + 10
        while set(got) != set(markers) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.offset() == markers[msg.topic()][0]:
                got[msg.topic()] = msg.key()
    finally:
        consumer.close()
    return got if set(got) == set(markers) else None


def test_mirrormaker_copies_over_sasl_ssl_with_only_the_acls_the_stacks_grant(secured_regions: SecuredRegions) -> None:
    regions = secured_regions
    copies = sorted(t for t in regions.tokyo.outputs()["topics"] if t.startswith("market.crypto."))
    assert copies, regions.tokyo.outputs()["topics"]
    started = time.monotonic()
    markers = produce_markers(regions.home_cluster, copies)  # as the home's super user
    got = poll(f"MirrorMaker 2 to copy a marker of each of {copies} into the region", lambda: copied(regions, markers))
    print(f"\nregions (secured): {len(copies)} markers copied in {time.monotonic() - started:.1f} s")
    assert got == {topic: key for topic, (_, key) in markers.items()}
    assert refusals(regions.mirrormaker_log) == []
    # Both stacks declare the one principal MirrorMaker 2 logs in as (the platforms make no client a super user).
    for project in (regions.home, regions.tokyo):
        assert MIRROR_USER in project.outputs()["apps"]


def test_the_regional_registry_serves_the_homes_ids_from_the_journal_mirrored_over_sasl_ssl(
    secured_regions: SecuredRegions,
) -> None:
    regions = secured_regions

    def ids(platform: SecurePlatform) -> dict[str, int] | None:
        out = {}
        for subject in ("market.crypto.trades-value", "market.crypto.quotes-value"):
            answer = requests.get(
                f"{platform.schema_registry_url}/subjects/{subject}/versions/latest",
                auth=platform.registry_auth,
                verify=str(platform.ca_path),
                timeout=CALL,
            )
            if answer.status_code != 200:
                return None
            out[subject] = answer.json()["id"]
        return out

    home = ids(regions.home_cluster)
    assert home is not None
    poll("the regional registry to serve the home's schema IDs", lambda: ids(regions.tokyo_cluster) == home)


def test_an_app_in_the_region_is_refused_a_write_on_a_copy_by_the_brokers(secured_regions: SecuredRegions) -> None:
    regions = secured_regions
    normaliser = "market-data-normaliser"  # produces crypto at home; in the region it may write no copy
    app = Declared(normaliser, f"k2-{normaliser}-{REGION}", frozenset(), frozenset(), None, (), {})
    login = scram_login(regions.tokyo_cluster, regions.passwords)
    assert observed_writes(login, app, ["market.crypto.trades.binance"]) == {"market.crypto.trades.binance": "refused"}


def test_verify_of_the_region_passes_over_sasl_ssl_on_both_sides(secured_regions: SecuredRegions) -> None:
    regions = secured_regions
    env = {
        **secret_env(regions.tokyo_cluster),  # the region's own infra principal and registry client
        "K2_MIRROR_SOURCE_PASSWORD": regions.home_cluster.sasl_password,  # the home stack's, to read its end offsets
        "K2_MIRROR_SOURCE_REGISTRY_PASSWORD": regions.home_cluster.registry_password,  # to compare schema IDs
    }
    done = run_k2infra(regions.home, "verify", env=env, stack=REGION)
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"\nregions (secured): verify --stack {REGION}:\n{done.stdout}")
