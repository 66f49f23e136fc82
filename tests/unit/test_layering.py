"""Imports point one way through the package: model -> (client | registry) -> live -> (ops | deploy | observe) -> review -> cli.

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
    # State-changing or engine-driving work (recover, destroy-check, the Pulumi driver): reads through live.
    "ops": frozenset({"model", "registry", "live", "console"}),
    "deploy": frozenset({"model", "registry", "live", "client"}),
    # observe: lag, feed health, alert rules and dashboards; only the cli imports it.
    "observe": frozenset({"model", "client", "live"}),
    # review: the change summary of a preview (pure, over the guards' and the state's vocabulary) and its reads.
    "review": frozenset({"model", "registry", "live", "deploy", "ops", "console"}),
    "cli": frozenset({"model", "registry", "live", "client", "console", "deploy", "ops", "observe", "review"}),
    # Every `import k2infra` (an app's too) runs the package's __init__: it names deploy only for the
    # engine watch, started inside the registry's dynamic-provider process and nowhere else.
    "__init__": frozenset({"deploy"}),
    # `python -m k2infra`: the CLI's entry.
    "__main__": frozenset({"cli"}),
}
# (part, module) imported inside a function only: the part works without it until that function runs.
LAZY: dict[tuple[str, str], str] = {
    # Platform.from_stack reads the outputs through the one Pulumi driver; an app that calls it has
    # the CLI and the `deploy` extra (the SDK), and the rest of the client never imports Pulumi.
    ("client", "k2infra.ops.pulumi_driver"): "k2infra/client/platform.py",
}
# part -> third-party top-level modules it must never import.
DENIED: dict[str, frozenset[str]] = {
    "model": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker", "requests", "urllib3", "confluent_kafka"}),
    "client": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker", "requests"}),
    "__init__": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker", "requests", "confluent_kafka"}),
    "live": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker"}),
    # ops drives the engine through pulumi.automation only: never the resource SDKs of the program.
    "ops": frozenset({"pulumi_kafka", "pulumi_docker"}),
    "cli": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker"}),
    "observe": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker"}),
    # review reads a preview's document: it never drives the engine or declares a resource.
    "review": frozenset({"pulumi", "pulumi_kafka", "pulumi_docker"}),
}


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    yield from _imports_of(ast.parse(path.read_text(), filename=str(path)))


def _imports_of(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            if node.module == "k2infra":  # `from k2infra import live` names the part in the alias
                for alias in node.names:
                    yield node.lineno, f"k2infra.{alias.name}"


def _in_functions(path: Path) -> set[tuple[int, str]]:
    """The imports made inside a function body (run when it is called, not when the module is loaded)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return {found for function in functions for found in _imports_of(function)}


def part_of(package_root: Path, path: Path) -> str:
    relative = path.relative_to(package_root)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 0 else ""


def wrong_way_imports(package_root: Path) -> list[str]:
    """One line per import that runs against the flow: 'file:line: part imports X (...)'."""
    out: list[str] = []
    for path in sorted(package_root.rglob("*.py")):
        part = part_of(package_root, path)
        if part not in ALLOWED:
            out.append(f"{path.relative_to(package_root.parent)}: {part} is not in the layering table of {__name__}")
            continue
        shown = path.relative_to(package_root.parent)
        lazy = _in_functions(path)
        for line, module in _imports(path):
            top, _, rest = module.partition(".")
            if LAZY.get((part, module)) == str(shown) and (line, module) in lazy:
                continue
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


def test_the_check_reports_live_importing_ops_and_ops_importing_a_resource_sdk(tmp_path: Path) -> None:
    package = tmp_path / "k2infra"
    (package / "live").mkdir(parents=True)
    (package / "live" / "cluster.py").write_text("from k2infra.ops.recover import run_recover\n")
    (package / "ops").mkdir()
    (package / "ops" / "recover.py").write_text(
        "import pulumi.automation\nimport pulumi_kafka\nfrom k2infra.cli import main\n"
    )
    assert wrong_way_imports(package) == [
        "k2infra/live/cluster.py:1: live imports k2infra.ops (allowed: console, model, registry)",
        "k2infra/ops/recover.py:2: ops imports pulumi_kafka, which ops/ must not need",
        "k2infra/ops/recover.py:3: ops imports k2infra.cli (allowed: console, live, model, registry)",
    ]


def test_the_client_may_import_the_pulumi_driver_only_inside_from_stack(tmp_path: Path) -> None:
    package = tmp_path / "k2infra"
    (package / "client").mkdir(parents=True)
    lazy = "def from_stack():\n    from k2infra.ops.pulumi_driver import PulumiDriver\n"
    (package / "client" / "platform.py").write_text(lazy)
    assert wrong_way_imports(package) == []
    (package / "client" / "platform.py").write_text("from k2infra.ops.pulumi_driver import PulumiDriver\n" + lazy)
    (package / "client" / "naming.py").write_text(lazy)
    assert wrong_way_imports(package) == [
        "k2infra/client/naming.py:2: client imports k2infra.ops (allowed: model)",
        "k2infra/client/platform.py:1: client imports k2infra.ops (allowed: model)",
    ]


def test_the_package_init_is_checked_too(tmp_path: Path) -> None:
    package = tmp_path / "k2infra"
    package.mkdir()
    (package / "__init__.py").write_text("import pulumi\nfrom k2infra.live import verify\n")
    assert wrong_way_imports(package) == [
        "k2infra/__init__.py:1: __init__ imports pulumi, which __init__/ must not need",
        "k2infra/__init__.py:2: __init__ imports k2infra.live (allowed: deploy)",
    ]


def test_a_new_part_must_be_placed_in_the_layering_table(tmp_path: Path) -> None:
    package = tmp_path / "k2infra"
    (package / "extras").mkdir(parents=True)
    (package / "extras" / "thing.py").write_text("x = 1\n")
    assert wrong_way_imports(package) == [f"k2infra/extras/thing.py: extras is not in the layering table of {__name__}"]


def test_nothing_but_the_cli_imports_observe(tmp_path: Path) -> None:
    package = tmp_path / "k2infra"
    (package / "deploy").mkdir(parents=True)
    (package / "deploy" / "program.py").write_text("from k2infra.observe.alerts import rules\n")
    assert wrong_way_imports(package) == [
        "k2infra/deploy/program.py:1: deploy imports k2infra.observe (allowed: client, live, model, registry)"
    ]


def test_benchmarks_and_devkit_stand_without_the_tests() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}: imports {module}"
        for folder in ("bench", "devkit", "k2infra", "policy", "tools")
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, module in _imports(path)
        if module == "tests" or module.startswith("tests.")
    ]
    assert offenders == []
