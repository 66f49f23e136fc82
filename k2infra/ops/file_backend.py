"""The file backend's storage around a checkpoint, and the one way a kill breaks it.

The file backend stores each object through gocloud.dev's fileblob: the object is written to a
temporary file, then its attributes (content type, MD5) to `<object>.attrs`, then the temporary
file is renamed over the object. The rename is atomic, so a checkpoint is never half-written; the
attributes file is not. A CLI killed while writing it leaves `<stack>.json.attrs` empty (or cut
short) beside the previous, intact checkpoint, and every later command fails with
`error: failed to load checkpoint: EOF`, because fileblob cannot decode the attributes.

fileblob reads an object without an attributes file as plain bytes, so removing an unreadable one
makes the checkpoint readable again without touching its content. That is all this module does.
"""

from __future__ import annotations

import json
from pathlib import Path

CHECKPOINT_SUFFIXES = (".json", ".json.gz", ".json.zst")


def checkpoint_attrs(backend: Path, project: str, stack: str) -> list[Path]:
    """The attribute files of the stack's checkpoint and its backup (project-scoped and legacy layouts)."""
    stacks = backend / ".pulumi" / "stacks"
    found = []
    for base in (stacks / project / stack, stacks / stack):
        for suffix in CHECKPOINT_SUFFIXES:
            for name in (f"{base.name}{suffix}.attrs", f"{base.name}{suffix}.bak.attrs"):
                path = base.with_name(name)
                if path.is_file():
                    found.append(path)
    return found


def unreadable(path: Path) -> str | None:
    """Why an attributes file cannot be decoded (None if it can)."""
    try:
        text = path.read_text()
    except OSError as exc:
        return f"cannot be read: {exc}"
    if not text.strip():
        return "is empty"
    try:
        json.loads(text)
    except ValueError as exc:
        return f"is cut short ({exc})"
    return None
