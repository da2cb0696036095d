"""Predict one study: three views through the model, fused back onto the study's grid.

``predict_volume(volume, model, params)``:

1. the study becomes its ``(S, S, S)`` cube with the *same* preprocessing as
   the training slices (:func:`liverlib.cube.prepare_volume`, the manifest's
   image size, spacing and HU windows);
2. every slice of the axial, coronal and sagittal stacks
   (:func:`liverlib.views.view_slices`, display orientation) goes through the
   model in batches: ``seg`` probabilities per slice and the ``cancer`` score;
3. each view's probabilities are put back in cube order
   (:func:`~liverlib.views.view_slices_inverse`), averaged (the fusion), and
   mapped once onto the study's own voxels (:func:`~liverlib.cube.to_study_grid`;
   linear interpolation commutes with the mean); :func:`label_from_probs` gives
   the label 0/1/2 (argmax, with the tumor threshold chosen on the validation
   split: ``PredictParams.tumor_threshold``);
   With a model trained on liver-box slices (``PredictParams.crop ==
   "liver"``, the default dataset), steps 1-3 are a first pass: the largest
   component of its liver gives a box, the box becomes a finer cube
   (:mod:`liverlib.liver_box`; about 1.6 mm pixels against 2.8 mm) and steps
   2-3 run again on it; the result is the second pass inside the box and the
   first outside it;
4. volumetry, lesion count, a patient-level cancer score and, when the study
   has a label, 3D Dice of every single view and of the fusion, lesion
   detection and volume errors (:mod:`liverlib.metrics`).

The result, and the rules read off it (fusion, label, per-slice scores,
metrics), live in :mod:`liverlib.study_prediction` and are re-exported here.

``predict_path`` does it for a file or folder ``read_study`` accepts and writes
``mask.nii.gz`` (the study's own geometry and voxel order), ``summary.json``
(no PHI) and ``overlay.png``; ``python -m liverlib predict`` is its command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from liverlib import metrics
from liverlib.atomic import write_json
from liverlib.cube import AIR_HU, StudyGrid, prepare_volume, to_cube
from liverlib.liver_box import (
    cube_box_mm,
    largest_component,
    liver_box_grid,
    locate_liver,
)
from liverlib.overlay import focus_point, save_overlay_png
from liverlib.saved_model import PredictParams, load_model, patient_role, resolve_params
from liverlib.slice_dataset import VIEWS
from liverlib.study_prediction import (
    FUSED_SCORE_REACH_MM,
    StudyPrediction,
    fuse,
    fused_slice_scores,
    fused_study_score,
    label_from_probs,
    reach_slices,
    study_metrics,
    tumor_consensus,
    view_score,
)
from liverlib.views import (
    CONTEXT_STEP,
    DEFAULT_WINDOWS,
    input_channels,
    slice_inputs,
    view_slices,
    view_slices_inverse,
)
from liverlib.volume import Volume

__all__ = [
    "FUSED_SCORE_REACH_MM", "PredictParams", "StudyPrediction", "focus_point", "fuse", "fused_slice_scores",
    "fused_study_score", "label_from_probs", "load_model", "predict_path", "predict_stack", "predict_volume",
    "reach_slices", "resolve_params", "save_overlay_png", "study_metrics", "tumor_consensus", "view_score",
]


def model_outputs(model, x: np.ndarray, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One batch through the model: ``(seg (B, S, S, 3), cancer (B,))`` as float32 numpy.

    Uses ``predict_on_batch`` (a compiled inference step, about 1.3x faster
    than an eager call on CPU); a short batch is padded to ``batch_size`` so
    the step is traced once.
    """
    n = len(x)
    if batch_size and n < batch_size:
        x = np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:], x.dtype)])
    out = model.predict_on_batch(x)
    seg = np.asarray(out["seg"], np.float32)[:n]
    cancer = np.asarray(out["cancer"], np.float32).reshape(-1)[:n]
    return seg, cancer


def predict_stack(model, hu_stack: np.ndarray, windows, batch_size: int = 64, timings: dict | None = None,
                  context_slices: int = 0, context_step: int = CONTEXT_STEP):
    """Run a stack of HU slices through the model in batches.

    Slices that are air only (every pixel below all windows, e.g. cube
    padding) give an all-zero input: the model runs once on such a slice and
    its (identical) output is copied, which is exact and saves time.

    Args:
        model: The multitask U-Net (``seg`` and ``cancer`` outputs).
        hu_stack: ``(N, S, S)`` HU slices (e.g. ``view_slices(cube_hu, "coronal")``).
        windows: HU windows, one channel each (the training manifest's).
        batch_size: Slices per model call.
        timings: Optional dict; ``window_s`` and ``model_s`` are added to it.
        context_slices: 2.5D neighbours each side, as the model was trained
            (``views.slice_inputs``).
        context_step: Cube slices between those neighbours.

    Returns:
        ``(seg, cancer)``: float32 ``(N, S, S, 3)`` and ``(N,)``.
    """
    n, size = hu_stack.shape[0], hu_stack.shape[1]
    seg = np.empty((n, size, size, 3), np.float32)
    cancer = np.empty(n, np.float32)
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    w = np.asarray(windows, np.float32).reshape(-1, 2)
    lowest = float(np.min(w[:, 0] - w[:, 1] / 2))
    air = hu_stack.reshape(n, -1).max(axis=1) <= lowest
    empty = air.copy()
    for k in range(1, context_slices + 1):  # with 2.5D input, the neighbours must be air too
        for offset in (-k * context_step, k * context_step):
            empty &= air[np.clip(np.arange(n) + offset, 0, n - 1)]
    todo = np.flatnonzero(~empty)
    if empty.any():
        todo = np.concatenate([todo, np.flatnonzero(empty)[:1]])  # one representative
    timings["window_s"] = timings.get("window_s", 0.0) + time.perf_counter() - t0
    batch_size = max(1, min(int(batch_size), len(todo)))
    for start in range(0, len(todo), batch_size):
        idx = todo[start : start + batch_size]
        t0 = time.perf_counter()
        x = slice_inputs(hu_stack, idx, windows, context_slices, context_step)
        t1 = time.perf_counter()
        seg[idx], cancer[idx] = model_outputs(model, x, batch_size)
        timings["window_s"] = timings.get("window_s", 0.0) + t1 - t0
        timings["model_s"] = timings.get("model_s", 0.0) + time.perf_counter() - t1
    if empty.any():
        first = np.flatnonzero(empty)[0]
        seg[empty], cancer[empty] = seg[first], cancer[first]
    return seg, cancer


def _predict_views(model, cube_hu: np.ndarray, params: PredictParams, batch_size: int, timings: dict, views):
    """Every slice of each view of one HU cube through the model: ``(cube_probs, slice_cancer)``."""
    cube_probs, slice_cancer = {}, {}
    for view in views:
        seg, cancer = predict_stack(model, view_slices(cube_hu, view), params.windows, batch_size, timings,
                                    params.context_slices, params.context_step)
        cube_probs[view] = view_slices_inverse(seg, view)
        slice_cancer[view] = cancer
    return cube_probs, slice_cancer


def _touches_faces(mask: np.ndarray) -> bool:
    """Whether a cube mask has a voxel on any of the cube's six faces."""
    return bool(any(np.take(mask, i, axis=a).any() for a in range(3) for i in (0, -1)))


#: A scan range shorter than this (mm) may miss a liver (an adult's spans 150-200 mm craniocaudally).
MIN_RANGE_MM = 100.0
#: Liver voxels on a face of the study that count as the liver cut off there (a stray voxel does not).
EDGE_VOXELS = 20


def study_edges_touched(liver: np.ndarray, min_voxels: int = EDGE_VOXELS) -> list[str]:
    """Where a liver mask on the study grid ``(z, y, x)`` reaches the study's own edges.

    Args:
        liver: Boolean liver (+ tumor) mask in the study's canonical array.
        min_voxels: Voxels on a face that count (a speck of a false positive does not).

    Returns:
        Some of ``"inferior end"``, ``"superior end"`` (the first and last slices of the scan
        range) and ``"field of view"`` (the in-plane border): the liver goes on beyond them,
        so its volume is a lower bound; ``[]`` when it lies inside.
    """
    if liver.ndim != 3 or not liver.any():
        return []
    faces = []
    if np.count_nonzero(liver[0]) >= min_voxels:
        faces.append("inferior end")
    if np.count_nonzero(liver[-1]) >= min_voxels:
        faces.append("superior end")
    rim = sum(np.count_nonzero(np.take(liver, i, axis=a)) for a in (1, 2) for i in (0, -1))
    if rim >= min_voxels:
        faces.append("field of view")
    return faces


#: Times the liver box may be widened when the liver found in it reaches its faces.
MAX_BOX_GROWTH = 2
#: A widened box gets this many margins around the liver found so far.
GROWTH_MARGINS = 3


def _grown_box(body_grid: StudyGrid, grid: StudyGrid, box, cube_liver: np.ndarray, margin_mm: float):
    """A wider liver box when the liver found in ``grid``'s cube reaches one of its
    faces (the pass before saw less liver than there is).

    Args:
        body_grid: The body cube's grid.
        grid: The current liver box.
        box: ``(lo_mm, hi_mm)``, the liver found so far (no margin).
        cube_liver: Liver+tumor mask found in ``grid``'s cube.
        margin_mm: The liver box margin; a widened box gets ``GROWTH_MARGINS`` of them.

    Returns:
        ``(grid, box)``, the widened box and the liver found so far, or None
        when the liver stays off the faces or the box would not change.
    """
    liver = largest_component(cube_liver)
    if not _touches_faces(liver):
        return None
    lo, hi = cube_box_mm(grid, liver)
    box = (np.minimum(lo, box[0]), np.maximum(hi, box[1]))
    # Three margins: the liver goes on beyond the face by an unknown amount, and each widening costs a pass.
    grown = liver_box_grid(body_grid, *box, GROWTH_MARGINS * margin_mm)
    return None if grown == grid else (grown, box)


def predict_volume(
    volume: Volume,
    model,
    params: PredictParams | dict | None = None,
    batch_size: int = 64,
    views=VIEWS,
    with_metrics: bool = True,
) -> StudyPrediction:
    """Segment a study in three views and fuse them onto its own grid.

    Args:
        volume: The study (HU, e.g. liver 100-130 HU); its ``label`` (if any)
            is the reference for the metrics.
        model: Keras model with ``seg`` (softmax, 3 classes) and ``cancer``
            outputs, input ``(S, S, C)``.
        params: Preprocessing (PredictParams or a manifest dict); default: the
            views defaults with the model's input size.
        batch_size: Slices per model call (64 suits 2 CPU cores).
        views: Views to run and fuse.
        with_metrics: Compute the metrics when the study has a label.

    Returns:
        The StudyPrediction.
    """
    start = time.perf_counter()
    if params is None:  # defaults, with 2.5D neighbours read off the model's input channels
        channels = int(model.input_shape[-1])
        params = PredictParams(image_size=int(model.input_shape[1]),
                               context_slices=max(0, (channels - len(DEFAULT_WINDOWS)) // 2))
    elif isinstance(params, dict):
        params = PredictParams.from_manifest(params)
    expected = (params.image_size, params.image_size, input_channels(len(params.windows), params.context_slices))
    if tuple(model.input_shape[1:]) != expected:
        raise ValueError(f"model input {tuple(model.input_shape[1:])} does not match the preprocessing {expected}")
    timings: dict = {}
    passes = 1
    unlabeled = Volume(volume.hu, volume.spacing, volume.case_id)
    cube_hu, _, grid = prepare_volume(unlabeled, params.spacing_mm, params.image_size, params.antialias)
    timings["prepare_s"] = time.perf_counter() - start
    cube_probs, slice_cancer = _predict_views(model, cube_hu, params, batch_size, timings, views)
    body_grid = body_probs = body_consensus = None
    if params.crop == "liver":  # second pass: the box around the liver the first pass found
        t0 = time.perf_counter()
        first = fuse(cube_probs)
        located = locate_liver(grid, label_from_probs(first), params.liver_margin_mm)
        timings["locate_s"] = time.perf_counter() - t0
        if located is not None:
            body_grid, body_probs, (grid, box) = grid, first, located
            body_consensus = tumor_consensus(cube_probs)
            t0 = time.perf_counter()
            cube_hu = to_cube(unlabeled.hu, grid, order=1, fill=AIR_HU, antialias=params.antialias)
            timings["box_cube_s"] = time.perf_counter() - t0
            cube_probs, slice_cancer = _predict_views(model, cube_hu, params, batch_size, timings, views)
            passes = 2
            for _ in range(MAX_BOX_GROWTH):  # the first pass missed part of the liver: widen the box
                t0 = time.perf_counter()
                grown = _grown_box(body_grid, grid, box, label_from_probs(fuse(cube_probs)) > 0, params.liver_margin_mm)
                timings["locate_s"] += time.perf_counter() - t0
                if grown is None:
                    break
                grid, box = grown
                t0 = time.perf_counter()
                cube_hu = to_cube(unlabeled.hu, grid, order=1, fill=AIR_HU, antialias=params.antialias)
                timings["box_cube_s"] += time.perf_counter() - t0
                cube_probs, slice_cancer = _predict_views(model, cube_hu, params, batch_size, timings, views)
                passes += 1
    t0 = time.perf_counter()
    fused = fuse(cube_probs)
    study_score = fused_study_score(cube_probs, background=fused[..., 0])
    t1 = time.perf_counter()
    pred = StudyPrediction(
        case_id=volume.case_id, grid=grid, params=params, cube_hu=cube_hu, cube_probs=cube_probs,
        slice_cancer=slice_cancer, label=None, view_scores={}, cancer_score=float("nan"),
        volumetry={}, voxel_ml=volume.voxel_ml, timings=timings, body_grid=body_grid, body_probs=body_probs,
        body_consensus=body_consensus, fused_cancer_score=study_score, passes=passes,
    )
    pred.label = pred.labels_on_study_grid([fused])[0]  # mapped back and labelled slab by slab
    t2 = time.perf_counter()
    if body_grid is not None:
        pred.liver_at_box_edge = _touches_faces(largest_component(label_from_probs(fused) > 0))
    pred.liver_at_study_edge = study_edges_touched(largest_component(pred.label > 0))  # not a stray speck
    pred.view_scores = {v: view_score(s) for v, s in slice_cancer.items()}
    pred.cancer_score = float(np.mean(list(pred.view_scores.values())))
    pred.volumetry = metrics.label_volumetry(pred.label, volume.voxel_ml)
    t3 = time.perf_counter()
    timings.update(fusion_s=t1 - t0, map_back_s=t2 - t1, volumetry_s=t3 - t2)
    if with_metrics and volume.label is not None:
        pred.metrics = study_metrics(pred, volume.label, volume.cyst)
        timings["metrics_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - start
    return pred


def predict_path(
    study_path: str | Path,
    model_path: str | Path,
    out_dir: str | Path,
    batch_size: int = 64,
    manifest: dict | str | Path | None = None,
    case_id: str | None = None,
    model=None,
    tumor_threshold: float | None = None,
    min_lesion_mm: float | None = None,
) -> dict:
    """Predict a study from disk and write ``mask.nii.gz``, ``summary.json``, ``overlay.png``.

    Args:
        study_path: Anything ``read_study`` accepts: a DICOM series folder, a
            3D-IRCADb case, a LiTS ``volume-N.nii.gz``, an MSD image.
        model_path: ``best_model.keras`` of a training run.
        out_dir: Output folder (created).
        batch_size: Slices per model call.
        manifest: Preprocessing override (see :func:`resolve_params`).
        case_id: Pseudonym to use instead of the study's keyed hash.
        model: An already loaded model (skips loading ``model_path``).
        tumor_threshold: Tumor threshold of the fused label (default: the
            model's ``calibration.json``, else 0.5 = argmax).
        min_lesion_mm: Tumor components smaller than a sphere of this
            diameter become liver (default 5 mm; 0 keeps every component).

    Returns:
        The summary dict (as written), with ``"files"`` naming the outputs.
    """
    from liverlib.nifti_io import write_label_nifti
    from liverlib.study import read_study

    volume = read_study(study_path, case_id=case_id)
    model = model if model is not None else load_model(model_path)
    params = resolve_params(model_path, manifest)
    if tumor_threshold is not None:
        params = dataclasses.replace(params, tumor_threshold=float(tumor_threshold))
    if min_lesion_mm is not None:
        params = dataclasses.replace(params, min_lesion_mm=float(min_lesion_mm))
    if params.image_size != int(model.input_shape[1]):
        params = dataclasses.replace(params, image_size=int(model.input_shape[1]))
    pred = predict_volume(volume, model, params, batch_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Another study's outputs here must not outlive this one's in part: summary.json, written last,
    # then marks a complete set.
    for name in ("summary.json", "mask.nii.gz", "overlay.png"):
        (out / name).unlink(missing_ok=True)
    files = {
        "mask": str(write_label_nifti(pred.label, volume, out / "mask.nii.gz")),
        "overlay": str(save_overlay_png(pred, out / "overlay.png")),
    }
    summary = pred.summary()
    summary["input"] = {
        "layout": volume.meta.get("layout", "unknown"), "shape": list(volume.shape),
        "spacing_mm": list(volume.spacing), "has_label": volume.label is not None,
        "orientation_unknown": bool(volume.meta.get("orientation_unknown", False)),
    }
    summary["model"] = {
        "file": Path(model_path).name, "input_shape": list(model.input_shape[1:]),
        "parameters": int(model.count_params()),
    }
    summary["files"] = {k: Path(v).name for k, v in files.items()}
    # A study the model trained (or chose its epoch and threshold) on says little about new patients.
    summary["model_patient"] = patient_role(model_path, volume.case_id)
    write_json(out / "summary.json", summary)
    files["summary"] = str(out / "summary.json")
    return {**summary, "files": files}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m liverlib predict``."""
    parser.add_argument("study", help="DICOM folder, 3D-IRCADb case, LiTS volume-N.nii.gz or MSD image")
    parser.add_argument("--model", required=True, help="trained model, e.g. outputs/runs/demo/best_model.keras")
    parser.add_argument("--out", required=True, help="output folder for mask.nii.gz, summary.json, overlay.png")
    parser.add_argument("--batch-size", type=int, default=64, help="slices per model call")
    parser.add_argument("--manifest", default=None, help="slice dataset manifest.json (default: found from the run)")
    parser.add_argument("--case-id", default=None, help="pseudonym to use (default: keyed hash of the study)")
    parser.add_argument("--tumor-threshold", type=float, default=None,
                        help="fused tumor probability that makes a voxel tumor (default: calibration.json beside "
                             "the model, else 0.5 = argmax)")
    parser.add_argument("--min-lesion-mm", type=float, default=None,
                        help="tumor components smaller than a sphere of this diameter become liver (default 5; 0 keeps all)")


def _score_text(score) -> str:
    return "n/a" if score is None or score != score else f"{score:.3f}"  # JSON null, or NaN


def run(args: argparse.Namespace) -> int:
    """Run ``predict`` from parsed arguments; prints the volumetry and the cancer score."""
    # A StudyError (a study that cannot be read) reaches the command line's handler: one line on stderr, exit 2.
    summary = predict_path(args.study, args.model, args.out, args.batch_size, args.manifest, args.case_id,
                           tumor_threshold=args.tumor_threshold, min_lesion_mm=args.min_lesion_mm)
    print(
        f"{summary['case_id']}: liver {summary['liver_ml']:.1f} mL, tumor {summary['tumor_ml']:.1f} mL, "
        f"{summary['n_lesions']} lesion(s), cancer score {_score_text(summary.get('cancer_score'))} (head), "
        f"{_score_text(summary.get('fused_cancer_score'))} (fused volume) -> {args.out}"
    )
    passes = summary.get("passes", 1)
    box = "1 pass" if passes == 2 else f"{passes - 1} passes"
    where = "the body cube" if passes == 1 else f"the body cube, then the liver box ({box})"
    print(f"  {passes} {'pass' if passes == 1 else 'passes'} through the model: {where}; "
          f"{summary['pixel_mm']:.2f} mm pixels in the last")
    if summary.get("liver_at_box_edge"):
        print("  warning: the liver reaches the liver box's edge even after widening it: check overlay.png")
    if summary["input"].get("orientation_unknown"):
        print("  warning: the NIfTI header gives no orientation (qform and sform codes 0): read on a guessed one, "
              "which may mirror the anatomy and mislead the model; check overlay.png")
    if not summary.get("liver_found", True):
        extent = summary["input"]["shape"][0] * summary["input"]["spacing_mm"][0]
        print(f"  no liver found in the {extent:.0f} mm the study covers: the cancer score says nothing about the "
              "liver" + (" (a scan this short may just miss it)" if extent < MIN_RANGE_MM else ""))
    if summary.get("liver_at_study_edge"):
        print(f"  warning: the liver reaches the study's {' and '.join(summary['liver_at_study_edge'])}: it is cut "
              "off there, its volume is a lower bound")
    if summary.get("metrics"):
        d = summary["metrics"]["dice"]["fused"]
        print(f"  fused Dice: liver {d['liver']:.3f}, tumor {d['tumor']:.3f}")
    role = summary.get("model_patient")
    if role:
        what = "trained the model" if role == "train" else "chose the model's best epoch and tumor threshold"
        print(f"  warning: this study is one of the model's {'training' if role == 'train' else 'validation'} "
              f"patients (it {what}): its figures do not say how the model does on new patients")
    return 0
