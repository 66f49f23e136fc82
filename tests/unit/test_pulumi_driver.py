"""The Pulumi driver: what it asks pulumi.automation to run, and how a failure reads.

The CLI is replaced by a recorder under Automation (the command lines are the SDK's own); the
end-to-end tests run the real CLI through the same driver.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

from k2infra.ops.pulumi_driver import PulumiCommandError, PulumiDriver, PulumiNotFound, PulumiTimeout

# One entry of `pulumi stack history --json`, which Automation reads after each operation.
HISTORY = [
    {
        "kind": "update",
        "startTime": "2026-12-01T10:00:00.000Z",
        "message": "",
        "environment": {},
        "config": {},
        "result": "succeeded",
    }
]


class Recorder(PulumiCommand):
    def __init__(self, answers: Mapping[str, CommandResult] | None = None) -> None:
        self.command, self.version = "pulumi", VersionInfo.parse("3.274.1")
        self.answers = answers or {}
        self.calls: list[list[str]] = []
        self.envs: list[dict[str, str]] = []
        self.files: list[Any] = []

    def run(
        self, args: list[str], cwd: str, additional_env: Mapping[str, str], on_output: Any = None, on_error: Any = None
    ) -> CommandResult:
        args = [a for a in args if a != "--non-interactive"]
        self.calls.append(args)
        self.envs.append(dict(additional_env))
        if "--file" in args:
            self.files.append(json.loads(Path(args[args.index("--file") + 1]).read_text()))
        key = " ".join(args[:2])
        result = self.answers.get(key) or self.answers.get(args[0])
        if result is None:
            stdout = json.dumps(HISTORY) if key == "stack history" else "{}" if key == "stack output" else ""
            result = CommandResult(stdout=stdout, stderr="", code=0)
        if result.code != 0:
            raise create_command_error(result)
        for line in result.stdout.splitlines():
            if on_output:
                on_output(line)
        return result


def driver(tmp_path: Path, recorder: Recorder, **kw: Any) -> PulumiDriver:
    return PulumiDriver(tmp_path, "dev", command=recorder, **kw)


def test_a_failed_command_says_which_command_and_what_the_cli_printed(tmp_path: Path) -> None:
    recorder = Recorder({"refresh": CommandResult(stdout="Refreshing (dev)", stderr="error: boom", code=255)})
    with pytest.raises(PulumiCommandError) as failed:
        driver(tmp_path, recorder).refresh(clear_pending_creates=True, parallel=4)
    assert failed.value.command == "refresh --skip-preview --yes --clear-pending-creates --parallel 4"
    assert failed.value.output == "Refreshing (dev)\nerror: boom"
    assert str(failed.value) == (
        "pulumi refresh --skip-preview --yes --clear-pending-creates --parallel 4 failed:\nRefreshing (dev)\nerror: boom"
    )


def test_reads_name_the_stack_without_selecting_it(tmp_path: Path) -> None:
    missing = CommandResult(stdout="", stderr="error: no stack named 'dev' found", code=255)
    recorder = Recorder({"stack export": missing})
    with pytest.raises(PulumiCommandError) as failed:
        driver(tmp_path, recorder).export()
    assert "no stack named 'dev' found" in failed.value.output
    driver(tmp_path, recorder).outputs()
    assert [c[:2] for c in recorder.calls] == [["stack", "export"], ["stack", "output"], ["stack", "output"]]
    assert all(c[-2:] == ["--stack", "dev"] for c in recorder.calls)


def test_a_missing_cli_is_named(tmp_path: Path) -> None:
    with pytest.raises(PulumiNotFound, match=r"the Pulumi CLI \(.*/nowhere/bin/pulumi\) is not there"):
        PulumiDriver(tmp_path, "dev", pulumi_root=tmp_path / "nowhere")


def test_pending_creates_to_import_use_the_raw_flag_automation_lacks(tmp_path: Path) -> None:
    recorder = Recorder()
    driver(tmp_path, recorder).refresh(import_pending_creates=[("urn:a", "a"), ("urn:b", "b")], env={"X": "1"})
    [refresh] = recorder.calls
    assert refresh == [
        "refresh",
        "--yes",
        "--skip-preview",
        *("--import-pending-creates", "urn:a", "--import-pending-creates", "a"),
        *("--import-pending-creates", "urn:b", "--import-pending-creates", "b"),
        *("--stack", "dev"),
    ]
    assert recorder.envs[0]["X"] == "1"


def test_an_import_in_parallel_writes_the_same_file_as_automation(tmp_path: Path) -> None:
    resources = [{"type": "kafka:index/topic:Topic", "name": "t", "id": "t", "parent": "k2", "provider": "kafka"}]
    names = {"k2": "urn:k2", "kafka": "urn:kafka"}
    recorder = Recorder()
    driver(tmp_path, recorder).import_resources(resources, names, protect=True)
    driver(tmp_path, recorder).import_resources(resources, names, protect=True, parallel=8)
    imports = [c for c in recorder.calls if c[0] == "import"]
    assert recorder.files == [{"resources": resources, "nameTable": names}] * 2
    for call in imports:
        assert {"--yes", "--skip-preview", "--protect=true", "--generate-code=false"} <= set(call)
    assert "--parallel" not in imports[0] and imports[1][imports[1].index("--parallel") + 1] == "8"


def test_variables_left_out_of_the_environment_reach_the_cli_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K2_SASL_PASSWORD", "from-the-developer-shell")
    recorder = Recorder()
    env = {"PULUMI_CONFIG_PASSPHRASE": "p"}
    driver(tmp_path, recorder, env=env).outputs()
    assert all(e["K2_SASL_PASSWORD"] == "" and e["PULUMI_CONFIG_PASSPHRASE"] == "p" for e in recorder.envs)


def test_outputs_mask_secrets_unless_asked(tmp_path: Path) -> None:
    masked = CommandResult(stdout='{"a": 1, "pw": "[secret]"}', stderr="", code=0)
    recorder = Recorder({"stack output": masked})
    assert driver(tmp_path, recorder).outputs(show_secrets=False) == {"a": 1, "pw": "[secret]"}


def test_up_streams_the_cli_output_when_asked(tmp_path: Path) -> None:
    echo = io.StringIO()
    recorder = Recorder({"up": CommandResult(stdout="Updating (dev)\nResources: 3 unchanged", stderr="", code=0)})
    driver(tmp_path, recorder, echo=echo).up(target=["urn:a"], policy_packs=["policy"], stream=True)
    assert echo.getvalue() == "  | Updating (dev)\n  | Resources: 3 unchanged\n"
    up = next(c for c in recorder.calls if c[0] == "up")
    assert up[up.index("--target") + 1] == "urn:a" and up[up.index("--policy-pack") + 1] == "policy"


def test_spelled_out_commands_take_the_stack_where_the_cli_does(tmp_path: Path) -> None:
    d = driver(tmp_path, Recorder())
    assert d.argv("preview", "--json")[-2:] == ["--stack", "dev"]
    assert d.argv("stack", "output", "--json")[-2:] == ["--stack", "dev"]
    assert "--stack" not in d.argv("stack", "init", "app")
    assert "--stack" not in d.argv("plugin", "ls")


def test_a_failed_config_set_never_shows_the_value(tmp_path: Path) -> None:
    recorder = Recorder({"config set": CommandResult(stdout="", stderr="error: no passphrase", code=255)})
    with pytest.raises(PulumiCommandError) as failed:
        driver(tmp_path, recorder).set_config("k2infra:appPasswords.x", "s3cret-value", secret=True, path=True)
    assert recorder.calls[0][-2:] == ["--", "s3cret-value"]  # on the command line, never echoed by the CLI
    assert "s3cret-value" not in str(failed.value)
    assert failed.value.command == "config set --path k2infra:appPasswords.x --secret"


class Hanging(Recorder):
    """A CLI that hangs: a real child process in the project directory, as Automation starts the CLI."""

    def run(
        self, args: list[str], cwd: str, additional_env: Mapping[str, str], on_output: Any = None, on_error: Any = None
    ) -> CommandResult:
        if args[0] != "up":
            return super().run(args, cwd, additional_env, on_output, on_error)
        process = subprocess.run([sys.executable, "-c", "import time; time.sleep(600)"], cwd=cwd, check=False)
        raise create_command_error(CommandResult(stdout="Updating (dev)", stderr="", code=process.returncode))


def test_a_command_past_its_deadline_is_killed_and_says_so(tmp_path: Path) -> None:
    with pytest.raises(PulumiTimeout, match=r"pulumi up --yes --skip-preview ran past its deadline \(1 s\)") as late:
        driver(tmp_path, Hanging(), timeout=1).up()
    assert late.value.code == -9 and late.value.stdout == "Updating (dev)"
