"""docs/architecture.md's module table names every file under k2infra/ once, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEADING = "### Every module"
ROW = re.compile(r"^\| `(k2infra/[^`]+\.py)` \|")


def table_rows(text: str) -> list[str]:
    """The module paths of the table under HEADING, in order (the section ends at the next heading)."""
    section = text.split(HEADING, 1)[1]
    section = re.split(r"^#{1,3} ", section, maxsplit=1, flags=re.MULTILINE)[0]
    return [m.group(1) for line in section.splitlines() if (m := ROW.match(line))]


def modules(package: Path) -> set[str]:
    return {str(p.relative_to(package.parent)) for p in package.rglob("*.py")}


def mismatches(rows: list[str], files: set[str]) -> list[str]:
    missing = [f"missing from the table: {f}" for f in sorted(files - set(rows))]
    unknown = [f"no such module: {r}" for r in rows if r not in files]
    twice = [f"listed twice: {r}" for r in sorted({r for r in rows if rows.count(r) > 1})]
    return missing + unknown + twice


def test_the_architecture_table_lists_every_module_of_the_package_and_no_other() -> None:
    rows = table_rows((REPO / "docs" / "architecture.md").read_text())
    assert mismatches(rows, modules(REPO / "k2infra")) == []


def test_the_check_names_a_missing_module_an_unknown_row_and_a_repeated_one(tmp_path: Path) -> None:
    package = tmp_path / "k2infra"
    (package / "model").mkdir(parents=True)
    for name in ("__init__.py", "model/__init__.py", "model/plan.py", "model/new.py"):
        (package / name).write_text("")
    doc = "\n".join(
        [
            HEADING,
            "",
            "| module | what it is |",
            "|---|---|",
            "| `k2infra/__init__.py` | the package |",
            "| `k2infra/model/__init__.py` | the model |",
            "| `k2infra/model/plan.py` | the plan |",
            "| `k2infra/model/plan.py` | the plan again |",
            "| `k2infra/model/gone.py` | removed long ago |",
            "",
            "## Next section",
            "| `k2infra/model/new.py` | a row of another table does not count |",
        ]
    )
    assert mismatches(table_rows(doc), modules(package)) == [
        "missing from the table: k2infra/model/new.py",
        "no such module: k2infra/model/gone.py",
        "listed twice: k2infra/model/plan.py",
    ]
