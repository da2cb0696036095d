"""When a step of ``python -m liverlib run`` is up to date: fingerprints and the run's state.

A step reruns when its fingerprint changes (liverlib's code, the notebook, its
parameters, the steps before it, another run's model it reads) or, for the
decoding step, when the data it left or reads changed (``data_state``). The
state of a run is ``outputs/runs/<run_id>/steps.json``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path

from liverlib.paths import project_path, project_root

STATE_FILE = "steps.json"

#: Files of another run that a step reads through its ``model_dir`` parameter (04): when they
#: change (that run was retrained or recalibrated) the step is out of date.
MODEL_DIR_FILES = ("best_model.keras", "calibration.json", "preprocessing.json")


@functools.cache
def code_digest() -> str:
    """Hash of liverlib's own files: after a code change (a pull, an edit) every step is out of date."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in (".py", ".html", ".css", ".js")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def effective_parameters(declared: dict, step_params: dict) -> dict:
    """A step's parameter values: the profile's, else the notebook's literal defaults."""
    values = {}
    for key, info in declared.items():
        try:
            values[key] = ast.literal_eval(info.get("default", ""))
        except (ValueError, SyntaxError):
            continue
    return {**values, **step_params}


def data_state(values: dict, root: Path) -> str | None:
    """What a decoding step (one that reads ``source``) leaves under ``data/`` and reads from ``source``.

    The slice dataset's build fingerprint (it covers ``cases.csv``, each cached
    study and the slicing parameters; "-" when the dataset is missing) and, for a
    folder of studies, each file's name, size and mtime. Recorded after the step
    ran; a later run finds it out of date when the dataset was removed or rebuilt
    or studies were added or changed, and the steps after it rerun only when the
    dataset it leaves differs. None for the other steps.
    """
    if "source" not in values:
        return None
    digest = hashlib.sha256()
    manifest = (project_path(values.get("data_root", "data"), root) / "processed" / str(values.get("dataset", ""))
                / str(values.get("image_size", "")) / "manifest.json")
    try:
        digest.update(str(json.loads(manifest.read_text()).get("fingerprint")).encode())
    except (OSError, ValueError):
        digest.update(b"-")
    source = project_path(str(values["source"]), root)
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source] if source.is_file() else []
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while listing
            continue
        digest.update(f"{path.relative_to(source).as_posix() if path != source else ''}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def step_fingerprint(notebook: Path, params: dict, upstream: str) -> str:
    """What makes a step out of date: liverlib's code, the notebook, its parameters, the steps
    before it (``upstream``) and, with ``model_dir``, that run's model files."""
    digest = hashlib.sha256()
    digest.update(code_digest().encode())
    digest.update(notebook.read_bytes())
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    digest.update(upstream.encode())
    if params.get("model_dir"):
        for name in MODEL_DIR_FILES:
            path = project_path(params["model_dir"], project_root(notebook.parent)) / name
            digest.update(name.encode() + (hashlib.sha256(path.read_bytes()).digest() if path.exists() else b"-"))
    return digest.hexdigest()


def read_state(run_dir: Path) -> dict:
    """The run's ``steps.json`` (empty before its first step)."""
    path = run_dir / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}
