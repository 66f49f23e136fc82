"""`python -m k2infra state check|migrate` on input that never reaches a backend (the real moves:
tests/integration/test_state_backend.py)."""

from __future__ import annotations

import io
from pathlib import Path

from k2infra.cli.main import main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


def test_moving_a_stack_to_the_backend_it_is_on_is_refused(tmp_path: Path) -> None:
    url = "postgres://k2state:hunter2@db:5432/k2state?sslmode=disable"
    code, _, err = run("state", "migrate", "--stack", "dev", "--project-dir", str(tmp_path), "--from", url, "--to", url)
    assert code == 2
    assert (
        err
        == "error: --to is the stack's current backend (postgres://k2state:****@db:5432/k2state?sslmode=disable): nothing to move\n"
    )


def test_check_without_a_backend_says_how_to_set_one(monkeypatch) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    code, _, err = run("state", "check")
    assert code == 2
    assert err.startswith("error: state backend (none): PULUMI_BACKEND_URL is not set; fix: ")


def test_a_file_backend_whose_folder_cannot_exist_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "state"
    code, out, err = run("state", "check", "--backend", f"file://{missing}")
    assert code == 2 and out == ""
    assert err == f"error: state backend file://{missing}: {missing} does not exist; fix: mkdir -p {missing}\n"
    code, out, _ = run("state", "check", "--backend", f"file://{tmp_path}")
    assert code == 0 and out == f"state backend file://{tmp_path}: usable\n"
