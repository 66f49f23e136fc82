"""The one driver of the Pulumi CLI: one stack of one project, through `pulumi.automation`.

`recover`, `destroy-check`, `Platform.from_stack`, devkit's test projects, prod-local and the
benchmarks all run the CLI through this class. It wraps a `LocalWorkspace` on the project directory
and a `Stack`, selected (or created) by the first engine operation (up, preview, refresh, import,
destroy, cancel). Reads and `config set` name the stack without selecting it: the project's current
stack stays as it was, and recover reads nothing before it has repaired what the CLI needs.

Raw CLI calls, through the same `PulumiCommand` (the same binary, environment and error types),
are kept for what Automation (pulumi 3.272.0) lacks, each at its one call site below:
- `refresh --import-pending-creates URN ID`: `Stack.refresh` has `clear_pending_creates` only;
- `import --parallel N`: `Stack.import_resources` takes no `parallel`;
- `stack export` without `--show-secrets` (and `stack import --file` of what it gave): `Workspace.export_stack` always decrypts, and the state is read
  here as it is stored (secrets stay ciphertext; recover and destroy-check never need them);
- `run_cli` and `argv`: a command spelled out by a test or a benchmark (a flag of its own, or a process
  to measure), run with the same binary and environment.

`PulumiCommand.run` has no deadline either: with `timeout`, a command still running after it is killed
(SIGKILL of the CLI, as `subprocess.run(timeout=)` does) and `PulumiTimeout` is raised.

A command that fails raises `PulumiCommandError` holding the command line and the CLI's output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from pulumi import automation as auto

# What Automation adds to every command line; left out when a failed command is shown.
_PLUMBING_WITH_VALUE = ("--exec-kind", "--event-log", "--stack")
_PLUMBING = ("--non-interactive",)
# How the CLI masks a secret output without --show-secrets.
SECRET_MASK = "[secret]"


class PulumiCommandError(Exception):
    """A `pulumi` command failed or could not run; ``str(err)`` is a complete message."""

    def __init__(
        self, command: str, stdout: str, stderr: str = "", code: int = 1, *, message: str | None = None
    ) -> None:
        self.command = command  # e.g. "refresh --skip-preview --yes --clear-pending-creates"
        self.stdout, self.stderr, self.code = stdout, stderr, code
        super().__init__(message or f"pulumi {command} failed:\n{tail(self.output)}")

    @property
    def output(self) -> str:
        """The CLI's stdout, then its stderr."""
        return _joined(self.stdout, self.stderr)


class PulumiTimeout(PulumiCommandError):
    """A command ran past its deadline and was killed."""


class PulumiNotFound(PulumiCommandError):
    """There is no `pulumi` to run (not on PATH, or not in the installation named)."""

    def __init__(self, binary: str) -> None:
        self.missing = f"the Pulumi CLI ({binary}) is not {'on PATH' if os.sep not in binary else 'there'}"
        super().__init__("version", "", message=f"{self.missing} (`. tools/env.sh` after `make tools`)")


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def shown(argv: Sequence[str]) -> str:
    """A command line as Automation ran it, without the flags Automation adds to every command, and
    without what follows `--` (where Automation puts a config value, which may be a secret)."""
    argv = list(argv)
    argv = argv[: argv.index("--")] if "--" in argv else argv
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _PLUMBING_WITH_VALUE:
            skip = True
        elif arg not in _PLUMBING:
            out.append(arg)
    return " ".join(out)


def result_of(error: auto.CommandError) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a failed command. The SDK's CommandError keeps only the text of
    its CommandResult: '\\n code: N\\n stdout: ...\\n stderr: ...'."""
    text = str(error)
    head, sep, stderr = text.partition("\n stderr: ")
    code_text, _, stdout = head.partition("\n stdout: ")
    try:
        code = int(code_text.partition("code: ")[2])
    except ValueError:
        code = 1
    return (code, stdout, stderr) if sep else (code, text, "")


class _Recorded(auto.PulumiCommand):
    """A PulumiCommand that notes each command line before it runs (for the messages of failures)."""

    def __init__(self, inner: auto.PulumiCommand, history: list[list[str]]) -> None:  # no super(): no `pulumi version`
        self.inner = inner
        self.command = inner.command
        self.version = inner.version
        self.history = history

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: auto.OnOutput | None = None,
        on_error: auto.OnOutput | None = None,
    ) -> auto.CommandResult:
        self.history.append(list(args))
        return self.inner.run(args, cwd, additional_env, on_output, on_error)


class PulumiDriver:
    """One stack of the project in `project_dir`.

    `env` is the whole environment of the CLI (default: this process's). Automation starts the CLI
    with this process's environment updated by the workspace's variables, so a variable `env`
    leaves out is passed empty, which the CLI and the program read as unset.
    """

    def __init__(
        self,
        project_dir: Path | str,
        stack: str,
        *,
        env: Mapping[str, str] | None = None,
        echo: TextIO | None = None,
        pulumi_root: Path | str | None = None,
        timeout: float | None = None,
        command: auto.PulumiCommand | None = None,
    ) -> None:
        self.project_dir = Path(project_dir)
        self.stack_name = stack
        self.echo = echo  # where long commands stream their output, when asked to
        self.echo_prefix = "  | "  # before each line streamed
        self.history: list[list[str]] = []
        self.timeout = timeout  # seconds for each operation (its CLI commands together), None: no deadline
        self._timed_out = False
        self._in_deadline = False
        self.env = dict(env) if env is not None else None
        variables = dict(self.env) if self.env is not None else {}
        if self.env is not None:
            variables.update({key: "" for key in os.environ if key not in self.env})
        root = str(pulumi_root) if pulumi_root is not None else None
        try:
            # The CLI is built at another version than the SDK's pin: no version check.
            inner = command or auto.PulumiCommand(root=root, skip_version_check=True)
        except FileNotFoundError:
            raise PulumiNotFound(os.path.join(root, "bin", "pulumi") if root else "pulumi") from None
        self.workspace = auto.LocalWorkspace(
            work_dir=str(self.project_dir), env_vars=variables, pulumi_command=_Recorded(inner, self.history)
        )
        self._stack: auto.Stack | None = None

    # -- the stack -------------------------------------------------------------------------------
    @property
    def stack(self) -> auto.Stack:
        """The stack, selected on first use (`pulumi stack select`); StackNotFound if there is none."""
        if self._stack is None:
            self._stack = self._call(lambda: auto.Stack.select(self.stack_name, self.workspace))
        return self._stack

    def create(self, *, select_existing: bool = True) -> None:
        """`pulumi stack init` (or select it if it exists and `select_existing`)."""
        make = auto.Stack.create_or_select if select_existing else auto.Stack.create
        self._stack = self._call(lambda: make(self.stack_name, self.workspace))

    def exists(self) -> bool:
        return any(s.name == self.stack_name for s in self._call(self.workspace.list_stacks))

    def list_stacks(self) -> list[str]:
        return [s.name for s in self._call(self.workspace.list_stacks)]

    def remove(self, *, force: bool = False) -> None:
        """`pulumi stack rm --yes [--force]`: the stack, its state and its Pulumi.<stack>.yaml."""
        self._call(lambda: self.workspace.remove_stack(self.stack_name, force=force))
        self._stack = None

    def backend_url(self) -> str:
        """The backend URL the CLI uses for this project (`pulumi whoami`), else PULUMI_BACKEND_URL."""
        try:
            url = self.workspace.who_am_i().url
        except (auto.CommandError, ValueError, KeyError):
            url = None
        if url:
            return url
        return (self.env if self.env is not None else os.environ).get("PULUMI_BACKEND_URL", "")

    def set_config(self, key: str, value: str, *, secret: bool = False, path: bool = False) -> None:
        """`pulumi config set [--path] KEY --secret|--plaintext -- VALUE` (the CLI never echoes the value)."""
        config = auto.ConfigValue(value, secret=secret)
        self._call(lambda: self.workspace.set_config(self.stack_name, key, config, path=path))

    # -- reading ---------------------------------------------------------------------------------
    # Reads name the stack (--stack) without selecting it: the project's current stack stays as it
    # was, and recover reads the state only after it has repaired what the CLI needs to load it.
    def export(self) -> dict[str, Any]:
        """`pulumi stack export` as a document: {"version", "deployment", ...}, secrets as stored (encrypted)."""
        # Raw: Automation's export_stack adds --show-secrets.
        text = self._raw(["stack", "export"], None).stdout
        return json.loads(text[text.find("{") :])

    def import_state(self, document: Mapping[str, Any]) -> None:
        """`pulumi stack import --file` of a document as `export` gives it (secrets stay as they were stored)."""
        # Raw, as export: Automation's import_stack takes a Deployment and adds nothing we need.
        with tempfile.TemporaryDirectory(prefix="k2infra-state-") as work:
            path = Path(work) / "state.json"
            path.write_text(json.dumps(document))
            self._raw(["stack", "import", "--file", str(path)], None)

    def outputs(self, *, show_secrets: bool = True) -> dict[str, Any]:
        """The stack outputs (`pulumi stack output --json`); a secret is masked unless `show_secrets`."""
        values = self._call(lambda: self.workspace.stack_outputs(self.stack_name))
        return {k: v.value if show_secrets or not v.secret else SECRET_MASK for k, v in values.items()}

    # -- the engine ------------------------------------------------------------------------------
    def up(
        self,
        *,
        target: Sequence[str] = (),
        parallel: int | None = None,
        policy_packs: Sequence[str] = (),
        refresh: bool = False,
        diff: bool = False,
        expect_no_changes: bool = False,
        stream: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """`pulumi up --yes --skip-preview`; returns the CLI's output."""
        result = self._call(
            lambda: self.stack.up(
                target=list(target) or None,
                parallel=parallel,
                policy_packs=list(policy_packs) or None,
                refresh=refresh or None,
                diff=diff or None,
                expect_no_changes=expect_no_changes or None,
                **self._streams(stream),
            ),
            env,
        )
        return _joined(result.stdout, result.stderr)

    def preview(
        self,
        *,
        parallel: int | None = None,
        policy_packs: Sequence[str] = (),
        expect_no_changes: bool = False,
        refresh: bool = False,
        diff: bool = False,
        json: bool = False,
        stream: bool = False,
        on_event: Callable[[auto.events.EngineEvent], None] | None = None,
    ) -> auto.PreviewResult:
        return self._call(
            lambda: self.stack.preview(
                parallel=parallel,
                policy_packs=list(policy_packs) or None,
                expect_no_changes=expect_no_changes or None,
                refresh=refresh or None,
                diff=diff or None,
                json=json or None,
                on_event=on_event,
                **self._streams(stream),
            )
        )

    def refresh(
        self,
        *,
        clear_pending_creates: bool = False,
        import_pending_creates: Sequence[tuple[str, str]] = (),
        parallel: int | None = None,
        expect_no_changes: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """`pulumi refresh --yes --skip-preview`; pending creates cleared, or imported as (URN, ID)."""
        if import_pending_creates:
            # Automation's refresh has clear_pending_creates but not --import-pending-creates, which
            # takes URN and ID as two values of the flag.
            args = ["refresh", "--yes", "--skip-preview"]
            for urn, id_ in import_pending_creates:
                args += ["--import-pending-creates", urn, "--import-pending-creates", id_]
            if parallel:
                args += ["--parallel", str(parallel)]
            if expect_no_changes:
                args.append("--expect-no-changes")
            return _output(self._raw(args, env))
        result = self._call(
            lambda: self.stack.refresh(
                clear_pending_creates=clear_pending_creates or None,
                parallel=parallel,
                expect_no_changes=expect_no_changes or None,
            ),
            env,
        )
        return _joined(result.stdout, result.stderr)

    def import_resources(
        self,
        resources: Sequence[Mapping[str, Any]],
        name_table: Mapping[str, str],
        *,
        protect: bool,
        parallel: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """`pulumi import --file` of `resources` in one operation, without generating code."""
        if parallel:
            return self._import_in_parallel(resources, name_table, protect, parallel, env)
        result = self._call(
            lambda: self.stack.import_resources(
                resources=[dict(r) for r in resources],  # type: ignore[misc]
                name_table=dict(name_table),
                protect=protect,
                generate_code=False,
            ),
            env,
        )
        return _joined(result.stdout, result.stderr)

    def _import_in_parallel(
        self,
        resources: Sequence[Mapping[str, Any]],
        name_table: Mapping[str, str],
        protect: bool,
        parallel: int,
        env: Mapping[str, str] | None,
    ) -> str:
        # Automation's import_resources takes no `parallel`: the same file and flags, and --parallel.
        with tempfile.TemporaryDirectory(prefix="k2infra-import-") as work:
            path = Path(work) / "import.json"
            path.write_text(json.dumps({"resources": [dict(r) for r in resources], "nameTable": dict(name_table)}))
            args = ["import", "--yes", "--skip-preview", "--file", str(path), f"--protect={str(protect).lower()}"]
            args += ["--generate-code=false", "--parallel", str(parallel)]
            return _output(self._raw(args, env))

    def destroy(
        self, *, parallel: int | None = None, remove: bool = False, env: Mapping[str, str] | None = None
    ) -> str:
        """`pulumi destroy --yes --skip-preview` (and the stack removed after, with `remove`)."""
        result = self._call(lambda: self.stack.destroy(parallel=parallel, remove=remove or None), env)
        if remove:
            self._stack = None
        return _joined(result.stdout, result.stderr)

    def cancel(self) -> None:
        """`pulumi cancel --yes`: deletes every lock of the stack, whoever holds it."""
        self._call(self.stack.cancel)

    # -- spelled out -----------------------------------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        """The command line of `pulumi ARGS` on this stack, for a caller that runs the process itself."""
        argv = [self.workspace.pulumi_command.command, *args, "--non-interactive", "--cwd", str(self.project_dir)]
        return [*argv, "--stack", self.stack_name] if _takes_stack(args) else argv

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment the CLI runs with (what `argv` needs)."""
        base = dict(self.env) if self.env is not None else dict(os.environ)
        return {**base, **(extra or {})}

    def run_cli(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """`pulumi ARGS` as spelled, with a deadline (PulumiCommand.run has none); never raises on exit codes."""
        return subprocess.run(
            self.argv(*args),
            env=self.process_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    # -- plumbing --------------------------------------------------------------------------------
    def _streams(self, stream: bool) -> dict[str, auto.OnOutput]:
        if not (stream and self.echo is not None):
            return {}
        echo, prefix = self.echo, self.echo_prefix

        def show(line: str) -> None:
            echo.write(f"{prefix}{line}\n")
            echo.flush()

        return {"on_output": show, "on_error": show}

    def _raw(self, args: list[str], env: Mapping[str, str] | None) -> auto.CommandResult:
        command = self.workspace.pulumi_command
        with self._extra_env(env), self._deadline():
            variables = dict(self.workspace.env_vars)
            try:
                result = command.run([*args, "--stack", self.stack_name], str(self.project_dir), variables)
            except auto.CommandError as exc:
                raise self._failure(exc) from None
        return result

    def _call(self, operation: Callable[[], Any], env: Mapping[str, str] | None = None) -> Any:
        with self._extra_env(env), self._deadline():
            try:
                return operation()
            except auto.CommandError as exc:
                raise self._failure(exc) from exc

    def _failure(self, exc: auto.CommandError) -> PulumiCommandError:
        command = shown(self.history[-1]) if self.history else "(no command)"
        code, stdout, stderr = result_of(exc)
        if self._timed_out:
            message = f"pulumi {command} ran past its deadline ({self.timeout:.0f} s) and was killed:\n"
            return PulumiTimeout(command, stdout, stderr, code, message=message + tail(_joined(stdout, stderr)))
        return PulumiCommandError(command, stdout, stderr, code)

    @contextlib.contextmanager
    def _deadline(self) -> Iterator[None]:
        if self.timeout is None or self._in_deadline:  # nested (the stack selected inside an operation): one deadline
            yield
            return
        timer = threading.Timer(self.timeout, self._kill_running)
        timer.daemon = True
        self._in_deadline, self._timed_out = True, False
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            self._in_deadline = False

    def _kill_running(self) -> None:
        """SIGKILL the CLI this process runs in the project directory (its plugins notice and exit)."""
        self._timed_out = True
        root = os.path.realpath(self.project_dir)
        for pid in _children(os.getpid()):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/cwd") == root:
                    os.kill(pid, signal.SIGKILL)

    @contextlib.contextmanager
    def _extra_env(self, extra: Mapping[str, str] | None) -> Iterator[None]:
        """Variables for one command (e.g. PULUMI_SKIP_CHECKPOINTS), on top of the workspace's."""
        if not extra:
            yield
            return
        saved = self.workspace.env_vars
        self.workspace.env_vars = {**saved, **extra}
        try:
            yield
        finally:
            self.workspace.env_vars = saved


def _children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (Linux /proc; elsewhere none)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rfind(")") + 2 :].split()[1]) == parent:
                    found.append(int(entry.name))
    return found


def _output(result: auto.CommandResult) -> str:
    return _joined(result.stdout, result.stderr)


def _joined(stdout: str, stderr: str) -> str:
    return "\n".join(part for part in (stdout.rstrip(), stderr.rstrip()) if part)


def _takes_stack(args: Sequence[str]) -> bool:
    """Commands on the stack take --stack; `stack init|ls|rm|select NAME`, login, plugin and whoami do not."""
    head = tuple(args[:2])
    return bool(args) and (args[0] not in ("stack", "login", "plugin", "version", "whoami") or head in _STACK_READS)


_STACK_READS = (("stack", "output"), ("stack", "export"))
