"""Imports point one way through the package: model -> (client | registry) -> live -> deploy -> cli.

A part (a subpackage, or a top-level module) may import itself and the parts listed for it, and
no third-party module that it is denied. The check reads the source (nothing is executed).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

# part -> the k2infra parts it may import (itself always). Top-level leaf modules count as parts.
ALLOWED: dict[str, frozenset[str]] = {
    "model": frozenset(),
    "console": frozenset(),
    "client": frozenset({"model"}),
    "registry": frozenset({"model"}),
    "live": frozenset({"model", "registry", "console"}),
    "deploy": frozenset({"model", "registry", "live", "client"}),
    "cli": frozenset({"model", "registry", "live", "client", "console", "deploy"}),
}
# part -> third-party top-level modules it must never import.
DENIED: dict[str, frozenset[str]] = {
    "model": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker", "requests", "urllib3", "confluent_kafka"}),
    "client": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker", "requests"}),
    "live": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker"}),
    "cli": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker"}),
}


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            if node.module == "k2infra":  # `from k2infra import live` names the part in the alias
                for alias in node.names:
                    yield node.lineno, f"k2infra.{alias.name}"


def part_of(package_root: Path, path: Path) -> str:
    relative = path.relative_to(package_root)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 0 else ""


def wrong_way_imports(package_root: Path) -> list[str]:
    """One line per import that runs against the flow: 'file:line: part imports X (...)'."""
    out: list[str] = []
    for path in sorted(package_root.rglob("*.py")):
        part = part_of(package_root, path)
        if part in ("__init__", "__main__"):
            continue
        if part not in ALLOWED:
            out.append(f"{path.relative_to(package_root.parent)}: {part} is not in the layering table of {__name__}")
            continue
        shown = path.relative_to(package_root.parent)
        for line, module in _imports(path):
            top, _, rest = module.partition(".")
            if top == "k2infra":
                target = rest.partition(".")[0]
                if target and target != part and target not in ALLOWED.get(part, frozenset()):
                    out.append(f"{shown}:{line}: {part} imports k2infra.{target} (allowed: {_allowed(part)})")
            elif top in DENIED.get(part, frozenset()):
                out.append(f"{shown}:{line}: {part} imports {top}, which {part}/ must not need")
    return out


def _allowed(part: str) -> str:
    return ", ".join(sorted(ALLOWED.get(part, frozenset()))) or "nothing else in k2infra"


# -- the tests ----------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def test_every_import_in_the_package_points_down_the_flow() -> None:
    assert wrong_way_imports(REPO / "k2infra") == []


def test_the_check_reports_a_model_module_that_imports_pulumi_or_the_deploy_side(tmp_path: Path) -> None:
    package = tmp_path / "k2infra"
    (package / "model").mkdir(parents=True)
    (package / "model" / "plan.py").write_text("import os\nimport pulumi\nfrom k2infra.deploy.program import run\n")
    (package / "deploy").mkdir()
    (package / "deploy" / "program.py").write_text("from k2infra.model.plan import Plan\n")
    assert wrong_way_imports(package) == [
        "k2infra/model/plan.py:2: model imports pulumi, which model/ must not need",
        "k2infra/model/plan.py:3: model imports k2infra.deploy (allowed: nothing else in k2infra)",
    ]


def test_the_check_reports_a_client_that_names_live_through_from_k2infra_import(tmp_path: Path) -> None:
    package = tmp_path / "k2infra"
    (package / "client").mkdir(parents=True)
    (package / "client" / "naming.py").write_text("from k2infra import live\n")
    assert wrong_way_imports(package) == ["k2infra/client/naming.py:1: client imports k2infra.live (allowed: model)"]


def test_a_new_part_must_be_placed_in_the_layering_table(tmp_path: Path) -> None:
    package = tmp_path / "k2infra"
    (package / "extras").mkdir(parents=True)
    (package / "extras" / "thing.py").write_text("x = 1\n")
    assert wrong_way_imports(package) == [f"k2infra/extras/thing.py: extras is not in the layering table of {__name__}"]


def test_benchmarks_and_devkit_stand_without_the_tests() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}: imports {module}"
        for folder in ("bench", "devkit", "k2infra", "policy", "tools")
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, module in _imports(path)
        if module == "tests" or module.startswith("tests.")
    ]
    assert offenders == []
