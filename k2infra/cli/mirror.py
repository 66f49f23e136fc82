"""`python -m k2infra mirror-config --stack S`: MirrorMaker 2's dedicated-mode properties of a regional stack.

    python -m k2infra mirror-config --stack prod-tokyo                 # to stdout
    python -m k2infra mirror-config --stack prod-tokyo --out mm2.properties
    connect-mirror-maker.sh mm2.properties                             # K2_MIRROR_*_PASSWORD set if SASL

Written from the regional stack and the stack its `k2infra:mirrorFrom` names (k2infra.model.mirrormaker);
no password is written (the file reads them from the environment when MirrorMaker 2 starts).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from k2infra.console import EXIT_OK
from k2infra.model.mirrormaker import mirrormaker_properties
from k2infra.model.stack import Stack


def add_parser(commands: Any, common: Any) -> None:
    mirror = commands.add_parser("mirror-config", help="MirrorMaker 2's properties for a regional stack")
    common(mirror)
    mirror.add_argument("--out", type=Path, help="write the properties to this file (default: stdout)")
    mirror.add_argument(
        "--no-registry-journal",
        action="store_true",
        help="leave the registry's journal out (a registry that does not keep its schemas in Kafka)",
    )


def run(args: argparse.Namespace, stack: Stack, out: TextIO, err: TextIO) -> int:
    text = mirrormaker_properties(stack, registry_journal=not args.no_registry_journal)
    if args.out is None:
        out.write(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out} (MirrorMaker 2, {stack.plan.mirror.stack} -> {stack.plan.stack})", file=out)  # type: ignore[union-attr]
    return EXIT_OK
