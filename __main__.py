"""Pulumi entry point: the program lives in k2infra.deploy.program."""

from k2infra.deploy.program import run

run()
