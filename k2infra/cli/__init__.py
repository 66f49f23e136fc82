"""`python -m k2infra`: the command line, on top of everything else."""

from k2infra.cli.main import main

__all__ = ["main"]
