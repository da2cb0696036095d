"""A saved model and the preprocessing it was trained with.

A ``.keras`` file does not say how its input slices were made; training writes
``preprocessing.json`` beside it (image size, isotropic spacing, HU windows), and
prediction reads it back so a new study is prepared exactly like the training
slices.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from liverlib.views import CONTEXT_STEP, DEFAULT_IMAGE_SIZE, DEFAULT_SPACING_MM, DEFAULT_WINDOWS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictParams:
    """Preprocessing a model was trained with (from the slice dataset's manifest).

    Args:
        image_size: Slice side S, e.g. 128.
        spacing_mm: Isotropic resampling step, e.g. 1.6 mm.
        windows: HU ``(level, width)`` per channel, e.g. ``((60, 400), (60, 150))``.
        context_slices: 2.5D neighbours each side (``views.slice_inputs``).
        context_step: Cube slices between those neighbours.
    """

    image_size: int = DEFAULT_IMAGE_SIZE
    spacing_mm: float = DEFAULT_SPACING_MM
    windows: tuple = DEFAULT_WINDOWS
    context_slices: int = 0
    context_step: int = CONTEXT_STEP

    @classmethod
    def from_manifest(cls, manifest: dict) -> PredictParams:
        return cls(
            image_size=int(manifest.get("image_size", DEFAULT_IMAGE_SIZE)),
            spacing_mm=float(manifest.get("spacing_mm", DEFAULT_SPACING_MM)),
            windows=tuple(tuple(float(v) for v in w) for w in manifest.get("windows", DEFAULT_WINDOWS)),
            context_slices=int(manifest.get("context_slices", 0)),
            context_step=int(manifest.get("context_step", CONTEXT_STEP)),
        )

    def to_dict(self) -> dict:
        return {"image_size": self.image_size, "spacing_mm": self.spacing_mm, "windows": [list(w) for w in self.windows],
                "context_slices": self.context_slices, "context_step": self.context_step}


def resolve_params(model_path: str | Path | None = None, manifest: dict | str | Path | None = None) -> PredictParams:
    """Find the preprocessing of a model.

    Looks, in order, at ``manifest`` (a dict or a ``manifest.json``/dataset
    folder), at ``manifest.json`` or ``preprocessing.json`` beside the model,
    and at the dataset named in ``training_history.json`` beside the model
    (``config.dataset_root``); falls back to the defaults of
    :mod:`liverlib.views`.

    Args:
        model_path: ``outputs/runs/<run>/best_model.keras``.
        manifest: Explicit manifest or its path.

    Returns:
        The PredictParams.
    """
    if isinstance(manifest, dict):
        return PredictParams.from_manifest(manifest)
    candidates = []
    if manifest is not None:
        path = Path(manifest)
        candidates.append(path / "manifest.json" if path.is_dir() else path)
    if model_path is not None:
        folder = Path(model_path).parent
        candidates += [folder / "preprocessing.json", folder / "manifest.json"]
        history = folder / "training_history.json"
        if history.exists():
            root = json.loads(history.read_text()).get("config", {}).get("dataset_root")
            if root:
                candidates.append(Path(root) / "manifest.json")
    for path in candidates:
        if path.exists():
            return PredictParams.from_manifest(json.loads(path.read_text()))
    log.warning("no preprocessing.json or manifest found for %s; using the defaults %s", model_path, PredictParams())
    return PredictParams()


def load_model(model_path: str | Path):
    """Load a ``.keras`` model with ``safe_mode=True``, naming the file on failure."""
    import keras

    from liverlib.errors import StudyError

    try:
        return keras.saving.load_model(str(model_path), safe_mode=True, compile=False)
    except Exception as exc:
        raise StudyError(model_path, f"not a loadable Keras model ({exc})") from None
