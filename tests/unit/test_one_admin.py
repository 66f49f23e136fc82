"""Every Kafka admin call outside the Pulumi provider goes through k2infra.live.admin.KafkaAdmin.

The product (k2infra/), the benchmarks (bench/) and the development kit (devkit/) construct no
confluent-kafka AdminClient of their own: one client means one wording of its failures
(`kafka_failure`), one capture of librdkafka's log lines and one place to batch requests.

Tests are exempt on purpose: integration and end-to-end tests check what the product did with a
raw client of their own, an independent witness that does not share the admin's code (or its bugs).
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ADMIN = REPO / "k2infra" / "live" / "admin.py"
CHECKED = ("k2infra", "bench", "devkit")
CONSTRUCTION = re.compile(r"\bAdminClient\(")


def admin_constructions(roots: list[Path], base: Path = REPO) -> list[str]:
    """'path:line' (from `base`) of every `AdminClient(` in the Python files under `roots`, the admin module aside."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if path == ADMIN:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if CONSTRUCTION.search(line.split("#", 1)[0]):
                    found.append(f"{path.relative_to(base)}:{number}")
    return found


def test_only_the_admin_module_constructs_an_admin_client() -> None:
    assert admin_constructions([REPO / name for name in CHECKED]) == []


def test_the_admin_module_is_where_the_client_is_constructed() -> None:
    assert CONSTRUCTION.search(ADMIN.read_text())


def test_the_rule_finds_a_construction_elsewhere_and_ignores_comments(tmp_path: Path) -> None:
    (tmp_path / "devkit").mkdir()
    (tmp_path / "devkit" / "stray.py").write_text(
        "from confluent_kafka.admin import AdminClient\n# AdminClient(config) in a comment\nadmin = AdminClient({})\n"
    )
    assert admin_constructions([tmp_path / "devkit"], base=tmp_path) == ["devkit/stray.py:3"]
