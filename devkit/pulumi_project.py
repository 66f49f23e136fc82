"""A throwaway copy of the k2infra project driven by the real Pulumi CLI.

Each project lives in a temp dir with its own file backend and passphrase secrets provider, runs
the repository's code (k2infra/ is linked, not copied) and gets a copy of config/ that a test may
edit. Commands go through the one Pulumi driver (k2infra.ops.pulumi_driver: pulumi.automation; `run`
for a command a test spells out), each with a deadline; their output is kept for assertion messages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from k2infra.ops.pulumi_driver import PulumiCommandError, PulumiDriver

REPO = Path(__file__).resolve().parents[1]  # devkit/ sits at the repository root
PASSPHRASE = "k2-e2e-passphrase"
DEADLINE = 900.0  # seconds for one command (its process killed after)


class PulumiFailed(AssertionError):
    def __init__(self, args: list[str], result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        super().__init__(
            f"pulumi {' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout[-6000:]}"
            f"\n--- stderr\n{result.stderr[-4000:]}"
        )


def pulumi_env(backend_dir: Path, backend_url: str | None = None) -> dict[str, str]:
    """The CLI's environment: the file backend in `backend_dir`, or `backend_url` (postgres://...)."""
    env = dict(os.environ)
    env.update(
        PULUMI_BACKEND_URL=backend_url or f"file://{backend_dir}",
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_SKIP_CONFIRMATIONS="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    # Values a developer's shell may hold must not leak into a test stack.
    for key in ("PULUMI_ACCESS_TOKEN", "K2_SASL_PASSWORD", "K2_SCHEMA_REGISTRY_PASSWORD", "K2_SCHEMA_REGISTRY_TOKEN"):
        env.pop(key, None)
    return env


@dataclass
class PulumiProject:
    dir: Path
    stack: str
    env: dict[str, str]
    history: list[str] = field(default_factory=list)

    @cached_property
    def driver(self) -> PulumiDriver:
        return PulumiDriver(self.dir, self.stack, env=self.env, timeout=DEADLINE)

    @classmethod
    def create(
        cls,
        root: Path,
        stack: str,
        backend_dir: Path,
        source: Path = REPO,
        project_files: tuple[str, ...] = (),
        backend_url: str | None = None,
    ) -> PulumiProject:
        """A project in `root` from `source` (the repo, or an example under it); its state in `backend_dir`,
        or at `backend_url`."""
        root.mkdir(parents=True, exist_ok=True)
        manifest = yaml.safe_load((source / "Pulumi.yaml").read_text())
        manifest["runtime"]["options"]["virtualenv"] = str(REPO / ".venv")
        (root / "Pulumi.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        shutil.copy(source / "__main__.py", root / "__main__.py")
        for name in project_files:
            target = root / name
            if (source / name).is_dir():
                shutil.copytree(source / name, target)
            else:
                shutil.copy(source / name, target)
        if source == REPO:
            (root / "k2infra").symlink_to(REPO / "k2infra")
            shutil.copytree(REPO / "config", root / "config")
        backend_dir.mkdir(parents=True, exist_ok=True)
        project = cls(root, stack, pulumi_env(backend_dir, backend_url))
        project._automation("stack init", lambda: project.driver.create(select_existing=False) or "")
        return project

    # -- running ---------------------------------------------------------------------------
    def run(self, *args: str, check: bool = True, timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
        """`pulumi ARGS` as the test spells it (on this stack where the CLI takes one)."""
        result = self.driver.run_cli(*args, timeout=timeout)
        self.history.append(f"pulumi {' '.join(args)} -> {result.returncode}")
        if check and result.returncode != 0:
            raise PulumiFailed(list(args), result)
        return result

    def preview(self, *extra: str, check: bool = True) -> Preview:
        """`pulumi preview --json` (extra: `--policy-pack PATH` pairs only)."""
        packs = policy_packs(extra)
        result = self._automation(
            "preview --json", lambda: self.driver.preview(json=True, policy_packs=packs), check=check, split=True
        )
        return Preview.parse(result)

    def up(self, *extra: str) -> subprocess.CompletedProcess[str]:
        """`pulumi up --yes --skip-preview` (extra: `--policy-pack PATH` pairs only)."""
        packs = policy_packs(extra)
        return self._automation("up", lambda: self.driver.up(policy_packs=packs))

    def destroy(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._automation("destroy", self.driver.destroy, check=check)

    def outputs(self) -> dict[str, Any]:
        """The stack outputs, secrets masked as `pulumi stack output --json` masks them."""
        return self.driver.outputs(show_secrets=False)

    def export(self) -> str:
        """The state as stored (`pulumi stack export`: secrets encrypted)."""
        return json.dumps(self.driver.export(), indent=2)

    def _automation(
        self, what: str, operation: Callable[[], Any], *, check: bool = True, split: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """One driver operation as a CompletedProcess (stdout and stderr apart when `split`: a preview's
        JSON), PulumiFailed when it fails and `check`."""
        args = what.split()
        try:
            done = operation()
        except PulumiCommandError as exc:
            result = subprocess.CompletedProcess(args, exc.code, exc.stdout, exc.stderr)
            self.history.append(f"pulumi {exc.command} -> {exc.code}")
            if check:
                raise PulumiFailed(args, result) from None
            return result
        self.history.append(f"pulumi {what} -> 0")
        if split:
            return subprocess.CompletedProcess(args, 0, done.stdout, done.stderr)
        return subprocess.CompletedProcess(args, 0, done, "")

    # -- configuration ---------------------------------------------------------------------
    def configure(self, settings: dict[str, Any]) -> None:
        """Set `k2infra:` (or fully-qualified) keys in the stack file, keeping its encryption salt."""
        path = self.dir / f"Pulumi.{self.stack}.yaml"
        data = yaml.safe_load(path.read_text()) if path.exists() else {}
        config = data.setdefault("config", {}) or {}
        data["config"] = config
        for key, value in settings.items():
            full = key if ":" in key else f"k2infra:{key}"
            if value is None:
                config.pop(full, None)
            else:
                config[full] = value
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def set_secret(self, key: str, value: str) -> None:
        full = key if ":" in key else f"k2infra:{key}"
        self._automation("config set", lambda: self.driver.set_config(full, value, secret=True) or "")

    def topology_path(self) -> Path:
        return self.dir / "config" / "kafka" / "topics.yaml"

    def edit_topology(self, change: Any) -> None:
        data = yaml.safe_load(self.topology_path().read_text())
        change(data)
        self.topology_path().write_text(yaml.safe_dump(data, sort_keys=False))

    def schema_path(self, asset_class: str, data_type: str) -> Path:
        return self.dir / "config" / "schemas" / asset_class / f"{data_type}.avsc"


@dataclass
class Preview:
    steps: list[dict[str, Any]]
    summary: dict[str, int]
    raw: str
    # The engine's diagnostics as the user reads them (raw is JSON: `->` in it is spelt `-\u003e`).
    messages: str = ""

    @classmethod
    def parse(cls, result: subprocess.CompletedProcess[str]) -> Preview:
        text = result.stdout
        start = text.find("{")
        data = json.loads(text[start:]) if start >= 0 else {}
        messages = "\n".join(str(d.get("message", "")) for d in data.get("diagnostics", []))
        return cls(data.get("steps", []), data.get("changeSummary", {}), text + result.stderr, messages)

    def ops(self, exclude_same: bool = True) -> Counter[tuple[str, str]]:
        """(op, resource type) -> count."""
        return Counter(
            (step["op"], resource_type(step["urn"]))
            for step in self.steps
            if not (exclude_same and step["op"] == "same")
        )

    def names(self, op: str, typ: str | None = None) -> list[str]:
        return sorted(
            step["urn"].rsplit("::", 1)[1]
            for step in self.steps
            if step["op"] == op and (typ is None or resource_type(step["urn"]) == typ)
        )


def policy_packs(extra: Sequence[str]) -> list[str]:
    """The paths of `--policy-pack PATH` pairs: the one flag the suite passes to preview and up."""
    if len(extra) % 2 or any(flag != "--policy-pack" for flag in extra[::2]):
        raise ValueError(f"only --policy-pack PATH pairs here, got {list(extra)}: spell other flags with run()")
    return list(extra[1::2])


def resource_type(urn: str) -> str:
    """urn:pulumi:stack::project::parent$child::name -> child."""
    return urn.split("::")[2].rsplit("$", 1)[-1]
