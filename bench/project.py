"""A throwaway Pulumi project per benchmark size, driven by the real CLI.

Built like the end-to-end tests build theirs (devkit/pulumi_project.py): a temp dir with its
own file backend and passphrase, the repository's k2infra/ linked in, and a copy of config/ whose
topics.yaml is the synthetic topology. Timed commands go through bench.measure.run_measured, which
starts the CLI itself to sample its process tree: their command lines come from the Pulumi driver
(`argv`), and everything untimed (the state read, the clean-up) is one of its Automation operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bench import topologies
from bench.measure import Run, run_measured
from devkit.pulumi_project import PulumiProject
from k2infra.client.naming import load_plan
from k2infra.model.plan import Plan
from k2infra.ops.pulumi_driver import PulumiCommandError, PulumiDriver, PulumiTimeout


@dataclass
class BenchProject:
    project: PulumiProject
    topology: topologies.SyntheticTopology
    deployed: bool = False

    @classmethod
    def create(
        cls,
        root: Path,
        topology: topologies.SyntheticTopology,
        bootstrap_servers: str,
        schema_registry_url: str,
        backend_url: str | None = None,
    ) -> BenchProject:
        """The project of `topology`; its state in a file backend of its own, or at `backend_url`."""
        project = PulumiProject.create(root / "project", topologies.STACK, root / "backend", backend_url=backend_url)
        topologies.write_config(topology, project.dir / "config")
        topologies.write_stack_file(project.dir, topologies.stack_settings(bootstrap_servers, schema_registry_url))
        return cls(project, topology)

    @property
    def dir(self) -> Path:
        return self.project.dir

    @property
    def config_dir(self) -> Path:
        return self.project.dir / "config"

    @cached_property
    def plan(self) -> Plan:
        """The stack's plan (read once: at 3000 topics loading it takes a few tenths of a second)."""
        return load_plan(self.config_dir, topologies.STACK, self.dir)

    def argv(self, *args: str) -> list[str]:
        return self.project.driver.argv(*args)

    def timed(self, *args: str, timeout: float, env: dict[str, str] | None = None) -> Run:
        """One measured pulumi command (its whole process tree sampled for memory)."""
        return run_measured(
            self.argv(*args), env=self.project.driver.process_env(env), cwd=self.dir, timeout=timeout, sample_tree=True
        )

    def up(self, parallel: int, *, timeout: float, env: dict[str, str] | None = None) -> Run:
        # The update alone: --skip-preview, so the figure is not a preview plus an update.
        run = self.timed("up", "--yes", "--skip-preview", "--parallel", str(parallel), timeout=timeout, env=env)
        self.deployed = True
        return run

    def preview(self, parallel: int, timeout: float) -> Run:
        # --expect-no-changes: a run that would change something fails (it is not a no-change figure).
        return self.timed("preview", "--expect-no-changes", "--parallel", str(parallel), timeout=timeout)

    def destroy(self, parallel: int, timeout: float, env: dict[str, str] | None = None) -> Run:
        run = self.timed("destroy", "--yes", "--skip-preview", "--parallel", str(parallel), timeout=timeout, env=env)
        if run.ok:
            self.deployed = False
        return run

    def resource_count(self) -> int:
        """Resources in the stack's state (0 for an empty stack; -1 if it cannot be read)."""
        try:
            state = self._driver(300).export()
        except (PulumiCommandError, ValueError):
            return -1
        return len((state.get("deployment") or {}).get("resources") or [])

    def _driver(self, timeout: float) -> PulumiDriver:
        return PulumiDriver(self.dir, self.project.stack, env=self.project.env, timeout=timeout)

    def cleanup(self, timeout: float = 3600, destroy: bool = True) -> list[str]:
        """Destroy what the stack holds (unless `destroy` is False: a platform about to be thrown
        away) and remove the stack; returns problems (empty when clean)."""
        problems = []
        try:
            if destroy and (self.deployed or self.resource_count() != 0):
                self._driver(timeout).destroy(parallel=32)
                self.deployed = False
        except PulumiTimeout as exc:
            return [f"cleanup timed out: {exc}"]
        except PulumiCommandError as exc:
            problems.append(f"destroy failed: {exc.stderr[-500:]}")
        try:
            self._driver(300).remove(force=True)
        except PulumiTimeout as exc:
            problems.append(f"cleanup timed out: {exc}")
        except PulumiCommandError:
            pass  # the stack lives in the run's temp backend, removed with it
        return problems
