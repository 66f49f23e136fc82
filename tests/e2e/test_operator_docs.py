"""An operator's first day, as the docs tell it: the README's quickstart and docs/runbook.md §0-§2
run as written in a fresh copy of the repository, against the real local platform and Pulumi CLI.

The commands are read from the markdown, so the docs and this test cannot drift apart:
- every ```bash block of the README's *Quickstart* and of runbook §0-§2 runs, line by line, in one
  shell (so `eval "$(make env)"` carries to the next commands); a failing command fails the test,
  naming it. `make test` is left out: it is the suite this test is part of.
- a ```yaml block whose first line is `# <file>` is merged into that file (comments kept).

The one change made to the copy: the platform's ports. `make up` uses 19092/18081, which another
checkout on the machine may hold, so the copy's platform gets free ports (K2_KAFKA_PORT,
K2_REGISTRY_PORT) and its Pulumi.dev.yaml points at them. The copy shares the test's virtualenv and
the built tools (as a second checkout on the same machine would share the tools).

It also measures `make up` on a warm machine (the second one, runbook §0): under 40 lines.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devkit.pulumi_project import REPO

SKIPPED = {"make test"}  # the suite itself
WARM_MAKE_UP_LINES = 40
SCRIPT_TIMEOUT = 3600  # a loaded 2-core machine: two `make up`, three previews, two ups, the platform start


@dataclass(frozen=True)
class Step:
    source: str  # where the docs say it, for the failure message
    command: str | None = None  # a shell command, or
    file: str | None = None  # a file the yaml below is merged into
    yaml: str | None = None


def _section(text: str, start: str, end: str) -> str:
    i = text.index(start)
    j = text.index(end, i + len(start))
    return text[i:j]


_FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[a-z]*)\s*$")


def _blocks(text: str) -> Iterator[tuple[str, str, int]]:
    """(language, body, line) of each fenced block, indentation of list items removed."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, lang, body = len(opening["indent"]), opening["lang"], []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][indent:])
            i += 1
        yield lang, "\n".join(body) + "\n", i
        i += 1


def _commands(body: str) -> Iterator[str]:
    """Shell commands of a block: continuation lines joined, comments and blank lines dropped."""
    joined = body.replace("\\\n", " ")
    for line in joined.splitlines():
        command = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if command:
            yield command


def documented_steps() -> list[Step]:
    steps: list[Step] = []
    readme = (REPO / "README.md").read_text()
    runbook = (REPO / "docs" / "runbook.md").read_text()
    sources = [
        ("README.md Quickstart", _section(readme, "## Quickstart", "\n## What it builds")),
        ("docs/runbook.md §0-§2", _section(runbook, "## 0. Shell setup", "\n## 3. ")),
    ]
    for name, text in sources:
        for lang, body, line in _blocks(text):
            where = f"{name}, block ending at section line {line}"
            if lang == "bash":
                steps += [Step(where, command=c) for c in _commands(body) if c not in SKIPPED]
            elif lang == "yaml" and body.startswith("# ") and "\n" in body:
                first, rest = body.split("\n", 1)
                steps.append(Step(where, file=first[2:].strip(), yaml=rest))
    return steps


def test_the_docs_hold_the_steps_this_test_runs() -> None:
    """The extraction itself: the first day is all there, in order (a rename of a section shows here)."""
    commands = [s.command or f"edit {s.file}" for s in documented_steps()]
    assert commands[0] == "make up"
    assert commands[1] == 'eval "$(make env)"'
    for expected in (
        "pulumi stack select dev",
        "edit config/kafka/topics.yaml",
        "python -m k2infra validate --stack dev",
        "make preview",
        "python -m k2infra verify --stack dev",
        "edit Pulumi.dev.yaml",
    ):
        assert expected in commands, commands
    assert commands.index("edit config/kafka/topics.yaml") < commands.index("make preview")


def test_a_failing_documented_command_stops_the_run_and_is_named(tmp_path: Path) -> None:
    """The runner itself: a command that fails ends the script there, with its step number; a yaml
    step merges into its file keeping the rest."""
    (tmp_path / ".merge.py").write_text(MERGE)
    (tmp_path / "f.yaml").write_text("# kept\nconfig:\n  a: 1\n")
    steps = [
        Step("doc", command="echo first"),
        Step("doc", file="f.yaml", yaml="config:\n  b: 2\n"),
        Step("doc", command="false"),
        Step("doc", command="echo never"),
    ]
    (tmp_path / "s.sh").write_text(_script(steps, sys.executable))
    done = subprocess.run(["bash", "s.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "@@failed 2" in done.stdout and "never" not in done.stdout and done.returncode == 1
    assert _outputs(done.stdout)[0] == "first\n"
    assert (tmp_path / "f.yaml").read_text() == "# kept\nconfig:\n  a: 1\n  b: 2\n"


# -- the run -------------------------------------------------------------------------------------


def _free_port_pair() -> int:
    """A port p with p+1 free too (the broker and its controller; the registry and its management)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two free consecutive ports on 127.0.0.1")


def _fresh_copy(target: Path) -> None:
    """The tracked files as they are in the working tree: a clone with the uncommitted changes."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, names.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    # The test's virtualenv, shared: a directory of links, and the marker `make` checks.
    venv = target / ".venv"
    venv.mkdir()
    for entry in Path(sys.prefix).iterdir():
        if entry.name != ".installed":
            (venv / entry.name).symlink_to(entry)
    (venv / ".installed").touch()


MERGE = textwrap.dedent(
    """
    import sys
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    path = sys.argv[1]
    with open(path) as f:
        document = yaml.load(f)
    def merge(into, new):
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value
    merge(document, yaml.load(sys.stdin.read()))
    with open(path, "w") as f:
        yaml.dump(document, f)
    """
)


def _script(steps: list[Step], python: str) -> str:
    lines = ["set -uo pipefail", f'merge() {{ {shlex.quote(python)} .merge.py "$1"; }}']
    for n, step in enumerate(steps):
        lines.append(f"echo '@@step {n}'")
        if step.command is not None:
            lines.append(f"{step.command} || {{ echo '@@failed {n}'; exit 1; }}")
        else:
            lines.append(f"merge {shlex.quote(step.file or '')} <<'K2_YAML' || {{ echo '@@failed {n}'; exit 1; }}")
            lines.append((step.yaml or "").rstrip("\n"))
            lines.append("K2_YAML")
    lines.append("echo '@@done'")
    return "\n".join(lines) + "\n"


def _outputs(log: str) -> dict[int, str]:
    """Each step's output, by step number."""
    out: dict[int, str] = {}
    parts = re.split(r"^@@step (\d+)\n", log, flags=re.MULTILINE)
    for number, text in zip(parts[1::2], parts[2::2], strict=True):
        out[int(number)] = text
    return out


@pytest.fixture
def copy_dir(tmp_path: Path, pulumi_cli: str) -> Iterator[Path]:
    target = tmp_path / "k2infra"
    target.mkdir()
    _fresh_copy(target)
    kafka, registry = _free_port_pair(), _free_port_pair()
    stack = target / "Pulumi.dev.yaml"
    text = stack.read_text().replace("127.0.0.1:19092", f"127.0.0.1:{kafka}")
    stack.write_text(text.replace("127.0.0.1:18081", f"127.0.0.1:{registry}"))
    (target / ".merge.py").write_text(MERGE)
    os.environ["K2_DOC_KAFKA_PORT"], os.environ["K2_DOC_REGISTRY_PORT"] = str(kafka), str(registry)
    try:
        yield target
    finally:
        env = _environment(target)
        subprocess.run(
            ["make", "down", "ALLOW_DATA_LOSS=1"], cwd=target, env=env, capture_output=True, timeout=600, check=False
        )
        subprocess.run(["bash", "tools/platform.sh", "stop"], cwd=target, env=env, capture_output=True, timeout=300)
        for key in ("K2_DOC_KAFKA_PORT", "K2_DOC_REGISTRY_PORT"):
            os.environ.pop(key, None)


def _environment(copy: Path) -> dict[str, str]:
    """A new operator's shell: nothing of the test's Pulumi or platform settings, the copy's ports."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PULUMI_", "K2_")) and k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV")
    }
    # the toolchain's location is the machine's, not the shell's: keep it if the suite moved it
    for key in ("K2_TOOLS_DIR",):
        if key in os.environ:
            env[key] = os.environ[key]
    env["K2_KAFKA_PORT"] = os.environ["K2_DOC_KAFKA_PORT"]
    env["K2_REGISTRY_PORT"] = os.environ["K2_DOC_REGISTRY_PORT"]
    # without the tools on PATH, as a fresh shell has it: the docs must put them there
    tools_bin = str(Path(env.get("K2_TOOLS_DIR", Path.home() / ".cache/k2infra/tools")) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != tools_bin and ".venv" not in p)
    return env


def test_the_quickstart_and_runbook_sections_0_to_2_work_as_written(copy_dir: Path) -> None:
    steps = documented_steps()
    (copy_dir / ".first-day.sh").write_text(_script(steps, str(copy_dir / ".venv" / "bin" / "python")))
    done = subprocess.run(
        ["bash", ".first-day.sh"],
        cwd=copy_dir,
        env=_environment(copy_dir),
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    log = done.stdout + done.stderr
    outputs = _outputs(done.stdout)
    failed = re.search(r"^@@failed (\d+)$", done.stdout, flags=re.MULTILINE)
    if failed or "@@done" not in done.stdout:
        number = int(failed[1]) if failed else max(outputs, default=0)
        step = steps[number]
        what = step.command or f"the yaml block for {step.file}"
        pytest.fail(
            f"a documented command failed: {what}\n(from {step.source})\n--- its output:\n"
            f"{outputs.get(number, '')[-6000:]}\n--- stderr:\n{done.stderr[-3000:]}"
        )
    assert done.returncode == 0, log[-6000:]

    # make up on a warm machine (the second one: runbook §0 after the quickstart's) is short
    ups = [n for n, s in enumerate(steps) if s.command == "make up"]
    assert len(ups) >= 2, "the docs run make up twice (quickstart, runbook §0)"
    warm = outputs[ups[1]]
    print(f"warm `make up`: {len(warm.splitlines())} lines\n{warm}")
    assert len(warm.splitlines()) < WARM_MAKE_UP_LINES, warm
    assert "resources:" in warm and 'next: eval "$(make env)"' in warm
    # what the first day built: the new exchange's topics, with the dev cap, then ASX raised
    verify_steps = [n for n, s in enumerate(steps) if s.command == "python -m k2infra verify --stack dev"]
    assert all("no drift" in outputs[n] for n in verify_steps), [outputs[n] for n in verify_steps]
    topics = subprocess.run(
        [str(copy_dir / ".venv" / "bin" / "python"), "-m", "k2infra", "topics", "--stack", "dev", "--json"],
        cwd=copy_dir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"name": "market.equities.trades.nyse"' in topics

    # make down with a record in a topic: the refusal, and nothing that looks like a destroy or a stop
    env = _environment(copy_dir)
    produced = subprocess.run(
        [
            "bash",
            "tools/platform.sh",
            "cli",
            "kafka-console-producer",
            "--bootstrap-server",
            f"127.0.0.1:{env['K2_KAFKA_PORT']}",
            "--topic",
            "market.equities.trades.nyse",
        ],
        cwd=copy_dir,
        env=env,
        input="a test record\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert produced.returncode == 0, produced.stderr
    down = subprocess.run(["make", "down"], cwd=copy_dir, env=env, capture_output=True, text=True, timeout=600)
    said = down.stdout + down.stderr
    assert down.returncode != 0, said
    assert "market.equities.trades.nyse: 1 records" in said and "make down ALLOW_DATA_LOSS=1" in said, said
    assert not any(line.startswith(("pulumi destroy", "stopping the local platform")) for line in said.splitlines())
    status = subprocess.run(["bash", "tools/platform.sh", "status"], cwd=copy_dir, env=env, capture_output=True)
    assert status.returncode == 0  # still running: the refusal stopped nothing
