"""Relative paths mean the project root, wherever Python was started.

JupyterLab starts a notebook's kernel in ``notebooks/``, papermill and the
command line usually in the project root; ``data`` must name the same folder
in all of them. The project root is the nearest folder holding
``pyproject.toml`` above the working directory (else the working directory).
"""

from __future__ import annotations

from pathlib import Path


def project_root(start: str | Path | None = None) -> Path:
    """The folder with ``pyproject.toml`` at or above ``start`` (default: the working directory), else ``start``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists():
            return folder
    return here


def project_path(path: str | Path, root: str | Path | None = None) -> Path:
    """Resolve a relative path against the project root.

    Args:
        path: e.g. ``"data"`` or ``"/abs/data"`` (returned unchanged).
        root: The project root (default: :func:`project_root`).

    Returns:
        An absolute path, e.g. ``<root>/data`` from the root or from ``<root>/notebooks``.
    """
    path = Path(path).expanduser()
    return path if path.is_absolute() else Path(root or project_root()) / path


def project_relative(path: str | Path, root: str | Path | None = None) -> str:
    """How a path is shown and recorded: relative to the project root when inside it.

    Args:
        path: e.g. ``/home/me/liverlib/outputs/runs/demo``.
        root: The project root (default: :func:`project_root`).

    Returns:
        ``"outputs/runs/demo"``; a path outside the project stays absolute
        (reports and run states do not show where the project lives).
    """
    root = Path(root or project_root()).resolve()
    path = project_path(path, root)
    for candidate in (path, path.resolve()):  # as given first: a symlinked data folder stays "data/raw/x"
        try:
            relative = candidate.relative_to(root)
        except ValueError:
            continue
        if ".." not in relative.parts:
            return relative.as_posix()
    return str(path.resolve())
