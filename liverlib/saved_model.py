"""A saved model and the preprocessing it was trained with.

A ``.keras`` file does not say how its input slices were made; training writes
``preprocessing.json`` beside it (image size, isotropic spacing, HU windows), and
prediction reads it back so a new study is prepared exactly like the training
slices. ``calibration.json`` beside it (:mod:`liverlib.calibrate`, written by
04_evaluate from the validation split) adds the tumor threshold of the fused label.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from liverlib.cube import DEFAULT_IMAGE_SIZE, DEFAULT_SPACING_MM
from liverlib.labels import MIN_LESION_MM
from liverlib.liver_box import LIVER_MARGIN_MM
from liverlib.paths import project_path
from liverlib.views import CONTEXT_STEP, DEFAULT_WINDOWS

log = logging.getLogger(__name__)

#: Written beside the model by :func:`liverlib.calibrate.calibrate_run`.
CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class PredictParams:
    """Preprocessing a model was trained with (from the slice dataset's manifest).

    Args:
        image_size: Slice side S, e.g. 128.
        spacing_mm: Isotropic resampling step, e.g. 1.6 mm.
        windows: HU ``(level, width)`` per channel, e.g. ``((60, 400), (60, 150))``.
        context_slices: 2.5D neighbours each side (``views.slice_inputs``).
        context_step: Cube slices between those neighbours.
        tumor_threshold: Fused tumor probability that makes a foreground voxel
            tumor (:func:`liverlib.predict.label_from_probs`; 0.5 = argmax).
        crop: ``liver``: the model was trained on liver-box slices, so a study
            is predicted in two passes (body cube, then the box around the
            liver it found: :mod:`liverlib.liver_box`); ``body``: one pass on
            the body cube (datasets built before the liver box have no
            ``crop`` and read as ``body``).
        liver_margin_mm: Margin of the liver box, mm.
        antialias: HU blurred before sampling a coarser cube
            (:func:`liverlib.cube.to_cube`); datasets built before it have no
            ``antialias`` and read as False, so their models see the slices
            they were trained on.
        min_lesion_mm: Tumor components of the label smaller than a sphere of
            this diameter (5 mm: 65 mm^3) become liver
            (:func:`liverlib.labels.drop_small_lesions`); 0 keeps all.
    """

    image_size: int = DEFAULT_IMAGE_SIZE
    spacing_mm: float = DEFAULT_SPACING_MM
    windows: tuple = DEFAULT_WINDOWS
    context_slices: int = 0
    context_step: int = CONTEXT_STEP
    tumor_threshold: float = 0.5
    crop: str = "body"
    liver_margin_mm: float = LIVER_MARGIN_MM
    antialias: bool = True
    min_lesion_mm: float = MIN_LESION_MM

    @classmethod
    def from_manifest(cls, manifest: dict) -> PredictParams:
        return cls(
            image_size=int(manifest.get("image_size", DEFAULT_IMAGE_SIZE)),
            spacing_mm=float(manifest.get("spacing_mm", DEFAULT_SPACING_MM)),
            windows=tuple(tuple(float(v) for v in w) for w in manifest.get("windows", DEFAULT_WINDOWS)),
            context_slices=int(manifest.get("context_slices", 0)),
            context_step=int(manifest.get("context_step", CONTEXT_STEP)),
            tumor_threshold=float(manifest.get("tumor_threshold", 0.5)),
            crop=str(manifest.get("crop", "body")),
            liver_margin_mm=float(manifest.get("liver_margin_mm", LIVER_MARGIN_MM)),
            antialias=bool(manifest.get("antialias", False)),
            min_lesion_mm=float(manifest.get("min_lesion_mm", MIN_LESION_MM)),
        )

    def to_dict(self) -> dict:
        return {"image_size": self.image_size, "spacing_mm": self.spacing_mm, "windows": [list(w) for w in self.windows],
                "context_slices": self.context_slices, "context_step": self.context_step,
                "tumor_threshold": self.tumor_threshold, "crop": self.crop, "liver_margin_mm": self.liver_margin_mm,
                "antialias": self.antialias, "min_lesion_mm": self.min_lesion_mm}


def resolve_params(model_path: str | Path | None = None, manifest: dict | str | Path | None = None) -> PredictParams:
    """Find the preprocessing of a model.

    Looks, in order, at ``manifest`` (a dict or a ``manifest.json``/dataset
    folder), at ``manifest.json`` or ``preprocessing.json`` beside the model,
    and at the dataset named in ``training_history.json`` beside the model
    (``config.dataset_root``); falls back to the defaults of
    :mod:`liverlib.views`. The tumor threshold comes from ``calibration.json``
    beside the model when there is one (else 0.5, the argmax), unless a
    manifest dict sets ``tumor_threshold`` itself.

    Args:
        model_path: ``outputs/runs/<run>/best_model.keras``.
        manifest: Explicit manifest or its path.

    Returns:
        The PredictParams.
    """
    params = PredictParams.from_manifest(manifest) if isinstance(manifest, dict) else None
    candidates = []
    if manifest is not None and params is None:
        path = Path(manifest)
        candidates.append(path / "manifest.json" if path.is_dir() else path)
    if model_path is not None and params is None:
        folder = Path(model_path).parent
        candidates += [folder / "preprocessing.json", folder / "manifest.json"]
        history = folder / "training_history.json"
        if history.exists():
            root = json.loads(history.read_text()).get("config", {}).get("dataset_root")
            if root:
                candidates.append(project_path(root) / "manifest.json")  # recorded relative to the project root
    for path in candidates:
        if path.exists():
            params = PredictParams.from_manifest(json.loads(path.read_text()))
            break
    if params is None:
        params = PredictParams()
        log.warning("no preprocessing.json or manifest found for %s; using the defaults %s (one pass on the body cube:"
                    " a model trained on liver-box slices needs crop='liver')", model_path, params)
    explicit = isinstance(manifest, dict) and "tumor_threshold" in manifest
    threshold = None if explicit else calibrated_tumor_threshold(model_path)
    return params if threshold is None else replace(params, tumor_threshold=threshold)


#: Preprocessing keys whose value, when the model and the dataset disagree, makes scoring meaningless,
#: with the value a file written before the key existed stands for.
SLICING_KEYS = {"crop": "body", "antialias": False}


def check_slicing(model_path: str | Path, manifest: dict, dataset_root: str | Path) -> None:
    """Refuse to score a model on slices made otherwise than the ones it was trained on.

    A model trained on whole-body slices (older runs: no ``crop``) run on a
    dataset rebuilt with liver boxes would predict in two passes at a scale it
    never saw; one trained on unblurred cubes (no ``antialias``) would be
    evaluated and calibrated on anti-aliased ones while ``predict`` feeds it
    unblurred cubes. Either way the figures would not be the model's.

    Raises:
        ValueError: naming both files, when ``preprocessing.json`` beside the
            model and the dataset's manifest disagree on ``crop`` or ``antialias``.
    """
    path = Path(model_path).parent / "preprocessing.json"
    if not path.exists():
        return
    trained = json.loads(path.read_text())
    for key, before in SLICING_KEYS.items():
        if trained.get(key, before) != manifest.get(key, before):
            raise ValueError(
                f"{path}: the model was trained on {key}={trained.get(key, before)!r} slices, but "
                f"{Path(dataset_root) / 'manifest.json'} has {key}={manifest.get(key, before)!r} slices: "
                f"rebuild the dataset as the model's (01_decode with the liverlib that trained it) or retrain"
            )


def pseudonym_key() -> str:
    """A digest of this checkout's pseudonym salt (``deid.project_salt``): two records of case ids
    are comparable only when they carry the same key. The salt itself cannot be read back from it."""
    import hashlib

    from liverlib.deid import project_salt

    return hashlib.sha256(b"liverlib pseudonym key\x1f" + project_salt()).hexdigest()[:16]


def patients_record(splits: dict) -> dict:
    """What ``preprocessing.json`` keeps of a model's patients: the pseudonyms of its training and
    validation patients (the latter chose its best epoch and tumor threshold) and the pseudonym key."""
    return {"train_cases": sorted(splits.get("train", [])), "valid_cases": sorted(splits.get("valid", [])),
            "pseudonym_key": pseudonym_key()}


def _model_patients(path: Path) -> tuple[dict, str | None]:
    """A model's ``preprocessing.json`` record and why its patient lists cannot be used, if they
    cannot: ``"unlisted"`` (a model trained before the lists existed) or ``"other salt"``
    (pseudonyms keyed in another checkout)."""
    record = json.loads(path.read_text()) if path.exists() else {}
    if "train_cases" not in record:
        return record, "unlisted"
    if record.get("pseudonym_key", pseudonym_key()) != pseudonym_key():
        return record, "other salt"
    return record, None


def check_unseen(model_path: str | Path, case_ids, where: str | Path) -> None:
    """Refuse to score a model on patients it was trained on.

    ``preprocessing.json`` beside the model lists the pseudonyms of its
    training and validation patients. Within one dataset the splits keep them
    apart; evaluating the model on another cohort (04's ``model_dir``) does
    not: a second phantom cohort drawn with the training cohort's seed holds
    the very same patients. Validation patients are allowed with a warning
    (they chose the model's best epoch and tumor threshold: optimistic). A
    model without the list (trained before it existed) or trained where
    pseudonyms are keyed with another salt cannot be checked: a warning says so.

    Raises:
        DatasetError: naming ``where`` and how many of the studies trained the model.
    """
    path = Path(model_path).parent / "preprocessing.json"
    record, problem = _model_patients(path)
    if problem == "unlisted":
        log.warning("%s does not list the model's training patients: cannot check that %s holds none of them",
                    path, where)
        return
    if problem == "other salt":
        log.warning("%s: the model's patients were named with another pseudonym salt (another checkout): "
                    "cannot check that %s holds none of them", path, where)
        return
    case_ids = {str(c) for c in case_ids}
    seen = sorted(case_ids.intersection(record["train_cases"]))
    if seen:
        from liverlib.errors import DatasetError

        raise DatasetError(where, f"{len(seen)} of its studies trained the model {model_path} (e.g. {seen[0]}): "
                                  f"its figures would not be a test; use other patients (another phantom seed)")
    validated = sorted(case_ids.intersection(record.get("valid_cases", [])))
    if validated:
        log.warning("%s: %d of its studies are the model's validation patients (they chose its best epoch and tumor "
                    "threshold): the figures are optimistic", where, len(validated))


def patient_role(model_path: str | Path, case_id: str) -> str | None:
    """``"train"`` or ``"valid"`` when the model's ``preprocessing.json`` lists ``case_id`` among
    those patients, else None (also when the list is absent or keyed with another salt)."""
    try:
        record, problem = _model_patients(Path(model_path).parent / "preprocessing.json")
    except (OSError, ValueError):
        return None
    if problem:
        return None
    for role in ("train", "valid"):
        if case_id in record.get(f"{role}_cases", []):
            return role
    return None


def model_digest(model_path: str | Path) -> str:
    """SHA-256 of a model file (ties ``calibration.json`` to the model it was made for)."""
    import hashlib

    return hashlib.sha256(Path(model_path).read_bytes()).hexdigest()


def read_calibration(model_path: str | Path | None) -> dict | None:
    """The ``calibration.json`` record beside the model (``calibrate.calibrate_run``).

    Returns:
        The record, or None without a calibration file or when it cannot be
        tied to this model (the run was retrained since, or the model file is
        missing: a warning says so).

    Raises:
        StudyError: The file is not a calibration record (names the file).
    """
    if model_path is None:
        return None
    path = Path(model_path).parent / CALIBRATION_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        record["tumor_threshold"] = float(record["tumor_threshold"])
    except (ValueError, KeyError, TypeError) as exc:
        from liverlib.errors import StudyError

        raise StudyError(path, f"not a calibration file ({exc}); delete it or rerun the calibration") from None
    if not Path(model_path).exists() or record.get("model_sha256") != model_digest(model_path):
        log.warning("%s was not made for the model %s (retrained or missing): ignored, the fused label is the argmax; "
                    "rerun the calibration (04_evaluate)", path, model_path)
        return None
    return record


def calibrated_tumor_threshold(model_path: str | Path | None) -> float | None:
    """The tumor threshold of :func:`read_calibration`, or None without a usable one."""
    record = read_calibration(model_path)
    return None if record is None else record["tumor_threshold"]


def load_model(model_path: str | Path):
    """Load a ``.keras`` model with ``safe_mode=True``, naming the file on failure."""
    import keras

    from liverlib.errors import StudyError

    try:
        return keras.saving.load_model(str(model_path), safe_mode=True, compile=False)
    except Exception as exc:
        raise StudyError(model_path, f"not a loadable Keras model ({exc})") from None
