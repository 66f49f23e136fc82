"""The command-line options every example shares: where the platform's description comes from."""

from __future__ import annotations

import argparse
import sys

from k2infra.client import AppCredentials, OutputsError, Platform, PlatformLoadError


def add_platform_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--outputs", metavar="FILE", help="a file holding `pulumi stack output --json --show-secrets`")
    source.add_argument("--stack", metavar="NAME", help="read the outputs of this k2infra stack with the Pulumi CLI")
    parser.add_argument("--cwd", metavar="DIR", help="the k2infra project directory, with --stack (default: here)")


def load_platform(args: argparse.Namespace) -> Platform:
    """The platform, or exit 2 with the library's message (which names the field or file at fault)."""
    try:
        if args.outputs:
            return Platform.from_outputs_file(args.outputs)
        return Platform.from_stack(args.stack, cwd=args.cwd)
    except (OutputsError, PlatformLoadError) as exc:
        sys.exit(f"error: {exc}")


def credentials() -> AppCredentials:
    """The app's own credentials: K2_APP_SASL_USERNAME, K2_APP_SASL_PASSWORD, K2_APP_SCHEMA_REGISTRY_*."""
    return AppCredentials.from_env()
