"""Write a file so that readers see the old version or the new one, never half.

Every file liverlib writes (caches, manifests, histories, metrics, reports) goes
through here: the content lands in a temporary file beside the target, then
``os.replace`` renames it in one step, so an interrupted run never leaves a
truncated ``metrics.json`` or ``cases.csv`` behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders created).

    Args:
        path: Target file.
        data: Its full content.

    Returns:
        The path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The pid keeps parallel workers writing the same file from sharing a temp file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj, **dumps_kwargs) -> Path:
    """Write ``json.dumps(obj, **dumps_kwargs)`` atomically (indent 2 by default)."""
    dumps_kwargs.setdefault("indent", 2)
    return write_text(path, json.dumps(obj, **dumps_kwargs))
