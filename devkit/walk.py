"""How many of the package's files a call walks through, and how often it comes back to each.

Issue 20 asks that following `config_dir` from the program and `plan` from verify visit at most half
the files, with no file entered more than three times. This measures it by running the call under
`sys.setprofile` and watching the Python frames whose file is under the package's folder:

- a file is *visited* when any of its functions runs;
- an *entry* into a file is a call whose frame is in that file while the nearest calling frame of
  the package is in another file (or there is none: the walk's first call). Library frames in
  between (pydantic calling a validator, `sorted` calling a key) are skipped, so a callback into
  the file that asked for it is no entry;
- entries are counted once per (calling line, called function): what a reader following the code
  meets, however many topics a loop runs over. The raw number of crossings is printed beside them;
- module bodies (imports done during the call) are not counted.

Run on a tree (today's or an older commit's worktree) with its own `k2infra` and `devkit`:

    .venv/bin/python devkit/walk.py load --tree ../k2-22e2882   # a worktree of an older commit
    .venv/bin/python devkit/walk.py verify --tree .
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any


@dataclass
class Walk:
    """What one call touched, by file relative to the package's parent folder."""

    visited: set[str] = field(default_factory=set)
    # file -> its entry sites: (calling file or None, calling line, called function's first line, its name)
    sites: dict[str, set[tuple[str | None, int, int, str]]] = field(default_factory=dict)
    crossings: Counter[str] = field(default_factory=Counter)  # file -> entries, every one

    def entries(self) -> dict[str, int]:
        """Distinct entries per file (a calling line and the function it calls), most first."""
        counts = {name: len(sites) for name, sites in self.sites.items()}
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def total_entries(self) -> int:
        return sum(len(sites) for sites in self.sites.values())

    def render(self, title: str, sites: bool = False) -> str:
        entries = self.entries()
        lines = [
            f"{title}: {len(self.visited)} files visited, {self.total_entries()} entries "
            f"({sum(self.crossings.values())} crossings as run), at most {max(entries.values(), default=0)} into one file",
            f"  {'entries':>7} {'crossings':>9}  file",
        ]
        for name, n in entries.items():
            lines.append(f"  {n:>7} {self.crossings[name]:>9}  {name}")
            if sites:
                for caller, line, _, function in sorted(self.sites[name], key=lambda s: (s[0] or "", s[1], s[3])):
                    lines.append(f"{'':>22}{function} <- {f'{caller}:{line}' if caller else '(the walk)'}")
        return "\n".join(lines)


def walk(package_dir: Path, call: Callable[[], Any]) -> tuple[Walk, Any]:
    """Run `call()` and record the files of `package_dir` it enters; its result is returned too."""
    root = str(package_dir.resolve()) + "/"
    base = package_dir.resolve().parent
    result = Walk()
    names: dict[str, str | None] = {}  # a code object's file -> its name in the walk, or None outside

    def name_of(frame: FrameType) -> str | None:
        file = frame.f_code.co_filename
        if file not in names:
            resolved = str(Path(file).resolve()) if file and not file.startswith("<") else ""
            names[file] = str(Path(resolved).relative_to(base)) if resolved.startswith(root) else None
        return names[file]

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or frame.f_code.co_name == "<module>":
            return
        name = name_of(frame)
        if name is None:
            return
        result.visited.add(name)
        caller = frame.f_back
        while caller is not None and name_of(caller) is None:
            caller = caller.f_back
        caller_name = name_of(caller) if caller is not None else None
        if caller_name == name:
            return
        code = frame.f_code
        site = (caller_name, caller.f_lineno if caller is not None else 0, code.co_firstlineno, code.co_name)
        result.sites.setdefault(name, set()).add(site)
        result.crossings[name] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        value = call()
    finally:
        sys.setprofile(previous)
    return result, value


# -- the two cases of issue 20 ----------------------------------------------------------------------
# Both import the tree's own k2infra and devkit, so that one script measures today's tree and an
# older commit's. Setup (imports, mocks, the fakes' answers) runs before the walk starts.


def _secrets(tree: Path, stack: str) -> dict[str, str]:
    """Placeholder secrets for a secured stack (its passwords, each app's); none for a plain one."""
    import json

    import yaml

    stack_file = tree / f"Pulumi.{stack}.yaml"
    secrets: dict[str, str] = {}
    if "saslMechanism" in stack_file.read_text():
        apps = (yaml.safe_load((tree / "config/kafka/apps.yaml").read_text()) or {}).get("apps") or {}
        secrets = {
            "saslPassword": "walk",
            "schemaRegistryPassword": "walk",
            "appPasswords": json.dumps({app: "walk" for app in apps}),
        }
    return secrets


def _install_stack(tree: Path, stack: str) -> None:
    """The engine's config for `stack`, as devkit.pulumi_mocks gives it to the unit tests."""
    from devkit.pulumi_mocks import install_mocks, stack_config

    config, secret_keys = stack_config(tree / f"Pulumi.{stack}.yaml", _secrets(tree, stack))
    install_mocks(stack, config, secret_keys)


def load_case(tree: Path, stack: str) -> Callable[[], Any]:
    """Following `config_dir` from the program: the first call `deploy.program.run` makes with it, from
    the config folder to what the program declares its resources from (today `read_stack`: the Stack
    and its credentials; before issue 20 `load_stack_plan`: the Plan and its credentials), under
    devkit.pulumi_mocks configured from the stack file as the engine would be."""
    from k2infra.deploy import program

    _install_stack(tree, stack)
    first = getattr(program, "read_stack", None) or program.load_stack_plan
    config_dir = tree / "config"
    return lambda: first(config_dir)


def program_case(tree: Path, stack: str) -> Callable[[], Any]:
    """`config_dir` followed to the end: the whole program (`deploy.program.run`) under
    devkit.pulumi_mocks' `run_program`, every resource declared and every output resolved; the
    guards' reads are answered by the mocks. Not one of issue 20's walks: it shows what the program
    as a whole enters (the component, the guards, access, outputs) beside the load."""
    import k2infra.deploy.program  # noqa: F401  imported before the walk, as the other cases are
    from devkit.pulumi_mocks import run_program

    secrets = _secrets(tree, stack)
    return lambda: run_program(tree, stack, secrets)


def verify_case(tree: Path, stack: str) -> Callable[[], Any]:
    """`plan` from verify: `run_verify` from a loaded plan to its JSON report. The live reads stop at the
    read boundary: `live.cluster.read_topics` and `read_subjects` are answered by fakes that return the
    plan's own topics and subjects (no drift), so every planned topic and subject is compared; where
    the stack controls access, `read_live_access` answers an empty cluster (every planned ACL and user
    is compared and found missing)."""
    import io

    from k2infra.deploy import program
    from k2infra.live import access, cluster, verify

    _install_stack(tree, stack)
    first = getattr(program, "read_stack", None) or program.load_stack_plan
    loaded = first(tree / "config")[0]  # a Stack today, a Plan before issue 20: run_verify takes it
    plan = getattr(loaded, "plan", loaded)
    topics = {
        t.name: cluster.LiveTopic(t.name, t.partitions, t.replication_factor, 0, 0, dict(t.config))
        for t in plan.managed_topics()
    }
    subjects = {
        s.subject: cluster.LiveSubject(s.subject, 1, 1, s.schema, compatibility=s.compatibility) for s in plan.subjects
    }
    cluster.read_topics = lambda *_a, **_k: topics  # type: ignore[assignment]
    cluster.read_subjects = lambda *_a, **_k: subjects  # type: ignore[assignment]
    verify.read_live_access = lambda *_a, **_k: access.LiveAccess()  # type: ignore[assignment]
    return lambda: verify.run_verify(loaded, json_output=True, out=io.StringIO(), err=io.StringIO())


CASES = {"load": load_case, "verify": verify_case, "program": program_case}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--tree", type=Path, default=Path("."), help="a checkout of k2infra (default: here)")
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--sites", action="store_true", help="list each entry: the function and where it is called")
    args = parser.parse_args(argv)
    tree = args.tree.resolve()
    sys.path.insert(0, str(tree))  # the tree's k2infra and devkit, not this file's
    call = CASES[args.case](tree, args.stack)
    result, _ = walk(tree / "k2infra", call)
    print(result.render(f"{args.case} ({args.stack}) at {tree}", sites=args.sites))
    return 0


if __name__ == "__main__":
    sys.exit(main())
