"""devkit/walk.py counts the files a call visits and the entries into each, on a tiny package."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.walk import walk

FILES = {
    "__init__.py": "",
    # a.main calls b.twice once from one line; b.twice calls a.leaf twice from one line (a loop),
    # and a.leaf calls its neighbour in the same file: two files, b entered once, a entered twice
    # (the walk's first call, then the return trip from b), however often the loop runs.
    "a.py": (
        "from walkpkg import b\n"
        "def main():\n"
        "    return b.twice() + b.twice()\n"
        "def leaf(n):\n"
        "    return same_file(n)\n"
        "def same_file(n):\n"
        "    return n\n"
    ),
    "b.py": ("def twice():\n    from walkpkg import a\n    return sum(a.leaf(n) for n in range(2))\n"),
    # never called: not visited
    "c.py": "def unused():\n    return 0\n",
}


@pytest.fixture
def package(tmp_path: Path):
    root = tmp_path / "walkpkg"
    root.mkdir()
    for name, text in FILES.items():
        (root / name).write_text(text)
    sys.path.insert(0, str(tmp_path))
    try:
        yield root, importlib.import_module("walkpkg.a")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "walkpkg" or m.startswith("walkpkg.")]:
            del sys.modules[name]


def test_the_walk_counts_each_file_visited_and_each_entry_once_per_calling_line(package) -> None:
    root, a = package
    result, value = walk(root, a.main)
    assert value == 2
    assert result.visited == {"walkpkg/a.py", "walkpkg/b.py"}
    # a: the first call (no caller) and leaf from b's generator line; b: one calling line, twice run.
    assert result.entries() == {"walkpkg/a.py": 2, "walkpkg/b.py": 1}
    assert result.total_entries() == 3


def test_the_walk_also_counts_every_crossing_as_run(package) -> None:
    root, a = package
    result, _ = walk(root, a.main)
    # b.twice runs twice; a.leaf four times; the generator expression of b is b's own frame.
    assert result.crossings == {"walkpkg/a.py": 1 + 4, "walkpkg/b.py": 2}


def test_the_walk_leaves_the_profiler_as_it_found_it(package) -> None:
    root, a = package
    before = sys.getprofile()
    walk(root, a.main)
    assert sys.getprofile() is before


@pytest.mark.parametrize("case", ["load", "verify"])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_loading_a_stack_and_verifying_it_enter_no_module_more_than_three_times(case: str, stack: str) -> None:
    """Issue 20's bound on the real package: following `config_dir` from the program (load) and `plan`
    from verify, no file is entered more than three times. In a process of its own: the verify walk
    replaces the live reads with fakes for the rest of its process."""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(repo / "devkit" / "walk.py"), case, "--tree", str(repo), "--stack", stack],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = re.search(r"(\d+) files visited, (\d+) entries .*, at most (\d+) into one file", done.stdout)
    assert summary is not None, done.stdout
    assert int(summary.group(3)) <= 3, done.stdout
