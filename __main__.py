"""Pulumi entry point: the program lives in k2infra.deploy.program."""

import sys

import pulumi

from k2infra.deploy.program import run

# The SDK's exit status for "the program has shown the user its error": the language host then
# ends the run without adding "Program exited with non-zero exit code: 1" to the report.
ERROR_ALREADY_SHOWN = 32

try:
    run()
except pulumi.RunError as exc:  # bad input, found before any resource: the report, once
    pulumi.log.error(str(exc))
    sys.exit(ERROR_ALREADY_SHOWN)
