"""Pulumi entry point: the program lives in k2infra.program."""

from k2infra.program import run

run()
