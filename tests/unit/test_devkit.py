"""devkit finds the repository it serves, wherever the tests or the benchmarks run from."""

from __future__ import annotations

from devkit import local_platform, pulumi_project
from tests.conftest import REPO


def test_devkit_locates_the_platform_script_and_the_pulumi_project() -> None:
    assert local_platform.PLATFORM_SH == REPO / "tools" / "platform.sh"
    assert local_platform.PLATFORM_SH.is_file()
    assert pulumi_project.REPO == REPO
    assert (pulumi_project.REPO / "Pulumi.yaml").is_file()
