"""Choose the tumor threshold of the fused 3D label on the validation split.

The fused volume is the mean of three views' probabilities. Where one view
misses a lesion's edge, the mean there drops below 0.5 although the other two
views found it, so the argmax of the fused volume shrinks every tumor (on the
demo's validation and test studies the predicted tumor volume was 0.2-0.6 of
the reference). :func:`liverlib.predict.label_from_probs` takes a tumor
threshold instead; ``calibrate_run`` predicts the validation studies in 3D,
scores the 3D tumor Dice per case (LiTS' ranking figure) of every candidate
threshold and writes the best one to ``calibration.json`` beside the model, which prediction and
evaluation then use (:func:`liverlib.saved_model.resolve_params`). The test
split is never looked at.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from liverlib.atomic import write_json
from liverlib.labels import MIN_LESION_MM
from liverlib.saved_model import CALIBRATION_FILE, model_digest

log = logging.getLogger(__name__)

#: Tumor thresholds tried (0.5 is the argmax).
CANDIDATES = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def tumor_dice_by_threshold(cases: list[tuple], candidates=CANDIDATES, min_lesion_mm: float = 0.0) -> dict:
    """3D tumor Dice of the fused label at each candidate threshold.

    The label is scored as evaluation scores it on the cube (``label_from_probs``
    at the threshold, then tumor components under ``min_lesion_mm`` become liver,
    ``drop_small_lesions``); prediction applies the same rule on the study's own
    grid, so the threshold is chosen for the label it writes, up to resampling.

    Args:
        cases: ``(fused_probs (S, S, S, 3), reference label (S, S, S), cube voxel mm)``
            per study (the voxel size, isotropic, e.g. 1.9 mm in a demo liver box,
            may be left out when ``min_lesion_mm`` is 0).
        candidates: Tumor thresholds.
        min_lesion_mm: Smallest lesion diameter kept (0 keeps every component).

    Returns:
        ``{"per_case": [...], "pooled": [...], "per_study": [[...], ...]}``, one
        value per candidate (``per_study``: one list per study).
        ``per_case`` is the mean over studies of each study's Dice, as LiTS
        ranks ("Dice per case": a study with no tumor scores 1 when none is
        predicted, else 0), so one large lesion does not decide alone and
        false positives in tumor-free studies count; ``pooled`` counts all
        voxels together. NaN without studies.
    """
    from liverlib.labels import cube_label

    counts = np.zeros((len(cases), len(candidates), 3))  # overlap, predicted, reference
    for c, (probs, ref, *voxel_mm) in enumerate(cases):
        true = ref == 2
        for i, t in enumerate(candidates):
            pred = cube_label(probs, t, voxel_mm[0] if voxel_mm else 1.0, min_lesion_mm) == 2
            counts[c, i] = ((pred & true).sum(), pred.sum(), true.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        study = np.where(counts[..., 1] + counts[..., 2] > 0, 2 * counts[..., 0] / (counts[..., 1] + counts[..., 2]), 1.0)
        total = counts.sum(axis=0)
        pooled = 2 * total[:, 0] / (total[:, 1] + total[:, 2])
    per_case = study.mean(axis=0) if len(cases) else np.full(len(candidates), np.nan)
    return {"per_case": [float(v) for v in per_case], "pooled": [float(v) for v in pooled],
            "per_study": [[float(v) for v in row] for row in study]}


def choose_threshold(candidates, dice) -> float:
    """The candidate with the highest Dice (ties: the highest candidate, nearest the argmax); 0.5 when none is defined.

    ``dice`` may hold None for undefined values (as ``calibration.json`` stores them).
    """
    best, best_dice = 0.5, -1.0
    for t, d in sorted(zip(candidates, dice), key=lambda c: -c[0]):  # highest first: ties keep the argmax side
        if d is not None and not np.isnan(d) and d > best_dice + 1e-9:
            best, best_dice = float(t), d
    return best


def calibrate_run(
    run_dir: str | Path,
    dataset_root: str | Path,
    interim_dir: str | Path,
    *,
    split: str = "valid",
    max_cases: int = 8,
    candidates=CANDIDATES,
    min_lesion_mm: float = MIN_LESION_MM,
    write: bool = True,
    progress: bool = True,
) -> dict:
    """Predict the ``split`` studies in 3D and choose the tumor threshold.

    Args:
        run_dir: Run folder with ``best_model.keras``; ``calibration.json`` is written there.
        dataset_root: Slice dataset (its manifest gives the preprocessing).
        interim_dir: Interim cache with ``cases.csv`` and the studies.
        split: Split to calibrate on (``valid``; never the test split you report).
        max_cases: At most this many studies (the first in cases.csv, i.e. source order).
        candidates: Tumor thresholds tried.
        min_lesion_mm: Tumor components under a sphere of this diameter become
            liver before scoring, as in the label prediction writes (0 keeps all).
        write: Write ``calibration.json`` (atomically).
        progress: Print one line per study.

    Returns:
        ``{"tumor_threshold": t, "split", "cases", "candidates", "tumor_dice" (mean per case, the
        criterion), "tumor_dice_pooled", "tumor_dice_per_study" (case id -> one Dice per candidate),
        "reference_tumor_voxels", "min_lesion_mm", "model_sha256"}`` (the digest ties it to this model: a retrained model ignores it);
        ``tumor_threshold`` is 0.5 (the argmax) when the split has no study with tumor.
    """
    from liverlib.cube import to_cube
    from liverlib.interim import load_case, read_cases
    from liverlib.predict import PredictParams, load_model, predict_volume
    from liverlib.saved_model import check_slicing
    from liverlib.slice_dataset import read_manifest

    run_dir = Path(run_dir)
    model = load_model(run_dir / "best_model.keras")
    manifest = read_manifest(dataset_root)
    check_slicing(run_dir / "best_model.keras", manifest, dataset_root)
    params = PredictParams.from_manifest(manifest)
    rows = [r for r in read_cases(interim_dir) if r.get("split") == split]  # source order (cases.csv)
    cases, used = [], []
    for row in rows[:max_cases]:
        volume = load_case(Path(interim_dir) / f"{row['case_id']}.npz")
        if volume.label is None:
            continue
        pred = predict_volume(volume, model, params, with_metrics=False)
        ref = to_cube(volume.label, pred.grid, order=0, fill=0, dtype=np.uint8)
        cases.append((pred.fused_cube, ref, pred.grid.cube_spacing_mm))
        used.append(row["case_id"])
        if progress:
            print(f"calibration study {len(used)}/{min(len(rows), max_cases)}: {row['case_id']}", flush=True)
    dice = tumor_dice_by_threshold(cases, candidates, min_lesion_mm)
    if not cases:
        log.warning("no labelled %s study in %s: the fused label stays the argmax (tumor threshold 0.5)", split, interim_dir)
    record = {
        "tumor_threshold": choose_threshold(candidates, dice["per_case"]),
        "split": split,
        "cases": used,
        "candidates": [float(t) for t in candidates],
        "tumor_dice": [None if np.isnan(d) else d for d in dice["per_case"]],
        "tumor_dice_pooled": [None if np.isnan(d) else d for d in dice["pooled"]],
        "tumor_dice_per_study": {case: row for case, row in zip(used, dice["per_study"])},
        "reference_tumor_voxels": int(sum((ref == 2).sum() for _, ref, _ in cases)),
        "min_lesion_mm": float(min_lesion_mm),
        "model_sha256": model_digest(run_dir / "best_model.keras"),
    }
    if write:
        write_json(run_dir / CALIBRATION_FILE, record)
    return record
