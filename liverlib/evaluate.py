"""Evaluate a training run: test-split slice metrics and per-case three-view fusion.

``evaluate_run(run_dir, dataset_root, interim_dir)``:

1. runs every slice of the test split through ``best_model.keras`` (batched)
   and scores them (:func:`liverlib.metrics.slice_metrics`: Dice/IoU per
   region, pixel accuracy, per-image IoU, cancer AUC/ROC/PR/confusion matrix,
   overall and per view; each AUC with a 95 % interval from resampling
   patients, ``intervals.auc_ci_by_patient``);
2. predicts up to ``max_cases`` test studies from the interim cache in 3D
   (:func:`liverlib.predict.predict_volume`: three views, fusion, lesions,
   volumetry) and scores each single view and the fusion;
3. reads the fused 3D result of each such study back on its test slices (the
   fused label, and a cancer score: ``predict.fused_slice_scores`` of the
   views' tumor consensus, ``predict.tumor_consensus``; the result
   is resampled into the cube the slices were cut from, e.g. the box around
   the reference liver, ``liver_box.dataset_grid``) and scores
   them exactly like the model's own slice outputs, on the same pixels
   (``metrics.json["slice_fused"]``; its AUC's gain over the cancer head's,
   with an interval from the same resampled patients), and both cancer scores by how much
   tumor the slice shows (``"cancer_by_size"``) and by how much darker or
   brighter than the liver beside it that tumor is (``"cancer_by_contrast"``,
   :mod:`liverlib.lesion_contrast`), the AUC and 3D Dice per contrast phase
   (``"by_contrast_phase"``, :mod:`liverlib.by_phase`), and 1 - AUC split into the
   shares of groups of slices (``"cancer_shortfall"``, :mod:`liverlib.cancer_misses`);
4. writes, atomically, into the run folder::

       metrics.json                 everything above (curves included; NaN as null)
       predictions/slices/          pred_mask.npy (N, S, S) uint8, cancer_prob.npy, fused_mask.npy,
                                    cancer_fused.npy (NaN: study not predicted in 3D),
                                    seg_confidence.npy, view.npy, case_id.npy, slice_index.npy
       predictions/cases/<case_id>/ mask.nii.gz (the case's grid) and summary.json

``predictions/`` is built as ``predictions.tmp`` and swapped in, and
``metrics.json`` is written last through a temporary file, so a crash never
leaves a half-written evaluation behind. What it returns, and the tables read
off it, are in :mod:`liverlib.evaluation_result` (importable from here too).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from liverlib import intervals, metrics
from liverlib.atomic import write_json
from liverlib.by_phase import metrics_by_phase
from liverlib.cancer_misses import auc_shortfall, cancer_by_group, cancer_by_size, slice_groups
from liverlib.evaluation_result import EvaluationResult, SlicePredictions, headline, summarize_cases
from liverlib.labels import MIN_LESION_MM
from liverlib.lesion_contrast import contrast_groups, tumor_contrast, widest_window
from liverlib.paths import project_relative
from liverlib.slice_dataset import VIEWS, SliceSplit, load_split, read_manifest

log = logging.getLogger(__name__)

#: Pixel accuracy reported by the reference project (2D, all pixels), for comparison.
REFERENCE_PIXEL_ACCURACY = 0.9066


def predict_slices(model, data: SliceSplit, batch_size: int = 32) -> SlicePredictions:
    """Run every slice of a split through the model, batch by batch.

    Args:
        model: Multitask U-Net (``seg``, ``cancer``).
        data: The split (``load_split``); images float16 in [0, 1].
        batch_size: Slices per model call.

    Returns:
        The SlicePredictions.
    """
    from liverlib.predict import model_outputs

    n = len(data)
    size = int(data.images.shape[1])
    pred = np.zeros((n, size, size), np.uint8)
    cancer = np.zeros(n, np.float32)
    conf = np.zeros(n, np.float32)
    batch_size = max(1, min(int(batch_size), n))
    for start in range(0, n, batch_size):
        x = np.asarray(data.images[start : start + batch_size], np.float32)
        seg, c = model_outputs(model, x, batch_size)
        label = np.argmax(seg, axis=-1)
        top = seg.max(axis=-1)
        fg = label > 0
        counts = fg.reshape(len(x), -1).sum(1)
        conf_fg = (top * fg).reshape(len(x), -1).sum(1) / np.maximum(counts, 1)
        pred[start : start + len(x)] = label
        cancer[start : start + len(x)] = c
        conf[start : start + len(x)] = np.where(counts > 0, conf_fg, top.reshape(len(x), -1).mean(1))
    return SlicePredictions(pred, cancer, conf)


def _read_back_fused(case_id: str, fused_cube: np.ndarray, consensus: np.ndarray, ref: np.ndarray | None, data: SliceSplit,
                     slices: SlicePredictions, case_ids, views, slice_index, tumor_threshold: float,
                     pixel_mm: float, min_lesion_mm: float = 0.0) -> str | None:
    """Fill ``slices.cancer_fused`` / ``fused_mask`` for the test slices of one study.

    The label is read off the fused probabilities (with the study label's rule
    for small tumor components, ``drop_small_lesions``), the score off the views'
    tumor consensus (``predict.tumor_consensus``) inside the fused foreground.

    The slices are cut from the same cube as the fused result, so the study's
    reference label read at each slice's view and index must equal that slice's
    mask; where it does not (an interim cache rebuilt after the slice dataset,
    say), the study's slices stay unscored and the reason is returned.
    """
    from liverlib.labels import cube_label
    from liverlib.predict import fused_slice_scores, reach_slices
    from liverlib.views import view_slices

    rows = np.nonzero(case_ids == case_id)[0]
    if ref is not None:
        differ = sum(not np.array_equal(view_slices(ref, VIEWS[views[i]])[slice_index[i]], data.masks[i]) for i in rows)
        if differ:
            return (f"its interim label does not match the slice dataset in {differ} of {len(rows)} slices: "
                    "fused result not scored per slice (rebuild the dataset from this cache)")
    scores = fused_slice_scores(consensus, reach=reach_slices(pixel_mm), background=fused_cube[..., 0])
    label = cube_label(fused_cube, tumor_threshold, pixel_mm, min_lesion_mm)
    for i in rows:
        view = VIEWS[views[i]]
        slices.cancer_fused[i] = scores[view][slice_index[i]]
        slices.fused_mask[i] = view_slices(label, view)[slice_index[i]]
    return None


def _tumor_threshold(model_path: Path, given: float | None, split: str) -> tuple[float, str]:
    """The fused label's tumor threshold and where it came from (for metrics.json and the index note)."""
    from liverlib.saved_model import read_calibration

    if given is not None:
        return float(given), "set by the caller" if given < 0.5 else "argmax"
    calibration = read_calibration(model_path)
    if calibration is None:
        return 0.5, "argmax"
    source = f"chosen on {len(calibration.get('cases', []))} {calibration.get('split', '?')} studies"
    if calibration.get("split") == split:
        log.warning("the tumor threshold was chosen on the %s split, the split evaluated: its figures are optimistic", split)
        source += ", the split evaluated here: optimistic"
    return calibration["tumor_threshold"], source


def _tumor_pixels(masks, chunk: int = 512) -> np.ndarray:
    """Reference tumor pixels per slice, read in chunks (the masks may be a large memory map)."""
    return np.concatenate([(np.asarray(masks[s : s + chunk]) == 2).reshape(-1, masks.shape[1] * masks.shape[2]).sum(1)
                           for s in range(0, len(masks), chunk)] or [np.zeros(0, int)])


def _cancer_by_contrast(data: SliceSplit, windows, scores: dict, threshold: float) -> list[dict]:
    """``cancer_misses.cancer_by_group`` over ``lesion_contrast.contrast_groups``;
    empty for a dataset of images that came windowed (no HU to measure)."""
    if not windows:
        return []
    channel, window = widest_window(windows)
    contrast, why = tumor_contrast(data.images, data.masks, window, channel)
    return cancer_by_group(contrast_groups(contrast, why, data.cancer), data.cancer, scores, threshold,
                           key="tumor minus liver beside it")


def _add_auc_intervals(groups: dict, y, score, view, patients) -> None:
    """Give each group's (overall, per view) AUC its 95 % interval by patient (``cancer.auc_ci95``)."""
    view = np.asarray(view)
    for name, group in groups.items():
        sel = np.ones(len(view), bool) if name == "overall" else view == VIEWS.index(name)
        group["cancer"]["auc_ci95"] = intervals.auc_ci_by_patient(np.asarray(y)[sel], np.asarray(score)[sel], patients[sel])


def _fused_slice_metrics(data: SliceSplit, slices: SlicePredictions, threshold: float) -> dict:
    """``metrics.slice_metrics`` of the fused 3D result on the slices of the studies predicted in 3D ({} if none),
    with the AUC's 95 % interval by patient (``intervals.auc_ci_by_patient``) and its gain over the cancer head's
    AUC on the same slices, with the interval of that difference (``intervals.auc_difference_ci_by_patient``)."""
    covered = ~np.isnan(slices.cancer_fused)
    if not covered.any():
        return {}
    idx = np.nonzero(covered)[0]
    if covered.all():  # no copy of the (memory-mapped) masks
        out = metrics.slice_metrics(data.masks, slices.fused_mask, data.cancer, slices.cancer_fused, data.view, threshold)
    else:
        out = metrics.slice_metrics(np.asarray(data.masks)[idx], slices.fused_mask[idx], np.asarray(data.cancer)[idx],
                                    slices.cancer_fused[idx], np.asarray(data.view)[idx], threshold)
    out.pop("per_image_iou")
    y, patients = np.asarray(data.cancer)[idx], np.asarray(data.case_id, dtype=str)[idx]
    _add_auc_intervals(out, y, slices.cancer_fused[idx], np.asarray(data.view)[idx], patients)
    cancer = out["overall"]["cancer"]
    # Fused against the cancer head on the same slices and the same resampled patients.
    head_auc = metrics.classification_scores(y, slices.cancer_prob[idx])["auc"]
    cancer["auc_gain_over_head"] = cancer["auc"] - head_auc
    cancer["auc_gain_over_head_ci95"] = intervals.auc_difference_ci_by_patient(
        y, slices.cancer_fused[idx], slices.cancer_prob[idx], patients)
    return out


def _write_json(path: Path, obj) -> None:
    write_json(path, metrics.jsonable(obj))


def evaluate_run(
    run_dir: str | Path,
    dataset_root: str | Path,
    interim_dir: str | Path | None = None,
    *,
    model_path: str | Path | None = None,
    split: str = "test",
    threshold: float = 0.5,
    batch_size: int = 32,
    max_cases: int = 6,
    tumor_threshold: float | None = None,
    min_lesion_mm: float = MIN_LESION_MM,
    write: bool = True,
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate a run's model on a split of the slice dataset and its studies.

    Args:
        run_dir: ``outputs/runs/<run_id>`` (holds ``best_model.keras`` and
            ``training_history.json``); ``metrics.json`` and ``predictions/``
            are written here.
        dataset_root: Slice dataset, e.g. ``data/processed/phantoms/128``.
        interim_dir: Interim cache with ``cases.csv`` (for the 3D per-case
            evaluation); None skips it.
        model_path: Model to evaluate (default ``run_dir/best_model.keras``); one
            of another run checks that model on this run's dataset (a second
            cohort, decoded with every study in ``split``) without touching
            that run's own ``metrics.json``. Its training curves and
            ``calibration.json`` are read beside it.
        split: ``test`` (or ``valid``).
        threshold: Cancer decision threshold for sensitivity/specificity.
        batch_size: Slices per model call.
        max_cases: At most this many studies for the 3D evaluation (0: none).
        tumor_threshold: Tumor threshold of the fused label
            (``predict.label_from_probs``); None: ``calibration.json`` beside
            the model (chosen on the validation split by
            ``calibrate.calibrate_run``) or 0.5, the argmax, without one.
            ``metrics.json`` records it and its source.
        min_lesion_mm: Tumor components of the 3D labels smaller than a
            sphere of this diameter become liver (``drop_small_lesions``; 0 keeps all).
        write: Write ``metrics.json`` and ``predictions/``.
        progress: Print one line per case.

    Returns:
        The EvaluationResult.
    """
    from liverlib.cube import to_cube
    from liverlib.interim import load_case, read_cases
    from liverlib.liver_box import dataset_grid
    from liverlib.nifti_io import write_label_nifti
    from liverlib.plots_training import load_history
    from liverlib.predict import PredictParams, load_model, predict_volume
    from liverlib.saved_model import check_slicing, check_unseen

    run_dir, dataset_root = Path(run_dir), Path(dataset_root)
    model_path = Path(model_path) if model_path else run_dir / "best_model.keras"
    model = load_model(model_path)
    manifest = read_manifest(dataset_root)
    data = load_split(dataset_root, split)
    check_slicing(model_path, manifest, dataset_root)  # before any work: refuse what would not be the model's figures
    check_unseen(model_path, np.unique(np.asarray(data.case_id, dtype=str)), dataset_root / split)
    slices = predict_slices(model, data, batch_size)
    sm = metrics.slice_metrics(data.masks, slices.pred_mask, data.cancer, slices.cancer_prob, data.view, threshold)
    per_image = sm.pop("per_image_iou")
    case_ids = np.asarray(data.case_id, dtype=str)
    _add_auc_intervals(sm, data.cancer, slices.cancer_prob, data.view, case_ids)
    valid = per_image["mean"][~np.isnan(per_image["mean"])]
    iou_stats = {"n": int(valid.size)}
    if valid.size:
        iou_stats.update(zip(("q25", "median", "q75"), np.percentile(valid, [25, 50, 75]).tolist()))
        iou_stats["mean"] = float(valid.mean())

    cases, viewer, failures = [], {}, []
    slices.cancer_fused = np.full(len(data), np.nan, np.float32)
    slices.fused_mask = np.zeros_like(slices.pred_mask)
    views, slice_index = np.asarray(data.view), np.asarray(data.slice_index)
    if write:
        shutil.rmtree(run_dir / "predictions.tmp", ignore_errors=True)  # left by a crashed run
    tumor_threshold, threshold_source = _tumor_threshold(model_path, tumor_threshold, split)
    params = replace(PredictParams.from_manifest(manifest), tumor_threshold=tumor_threshold,
                     min_lesion_mm=float(min_lesion_mm))
    case_rows = read_cases(interim_dir) if interim_dir is not None else []
    if case_rows and max_cases > 0:
        rows = [r for r in case_rows if r.get("split") == split]
        for row in rows[:max_cases]:  # cases.csv's (source) order: the same studies in every checkout
            path = Path(interim_dir) / f"{row['case_id']}.npz"
            try:
                volume = load_case(path)
                pred = predict_volume(volume, model, params, batch_size=max(batch_size, 32))
            except Exception as err:  # one bad study never stops the evaluation
                failures.append({"case_id": row["case_id"], "reason": f"{type(err).__name__}: {err}"})
                continue
            summary = pred.summary()
            cases.append(summary)
            fused_cube = pred.fused_cube
            ref = to_cube(volume.label, pred.grid, order=0, fill=0, dtype=np.uint8) if volume.label is not None else None
            # The test slices were cut from the box around the *reference* liver: read the result there.
            slice_grid = dataset_grid(volume, params.spacing_mm, params.image_size, params.crop, params.liver_margin_mm)
            slice_ref = ref if slice_grid == pred.grid or ref is None else to_cube(
                volume.label, slice_grid, order=0, fill=0, dtype=np.uint8)
            reason = _read_back_fused(pred.case_id, pred.fused_in(slice_grid), pred.tumor_consensus_in(slice_grid),
                                      slice_ref, data, slices, case_ids,
                                      views, slice_index, params.tumor_threshold, slice_grid.cube_spacing_mm,
                                      params.min_lesion_mm)
            if reason:
                failures.append({"case_id": pred.case_id, "reason": reason})
            viewer[pred.case_id] = {"hu": pred.cube_hu.astype(np.float16), "probs": fused_cube.astype(np.float16),
                                    "label": ref}
            if write:
                folder = run_dir / "predictions.tmp" / "cases" / pred.case_id
                folder.mkdir(parents=True, exist_ok=True)
                write_label_nifti(pred.label, volume, folder / "mask.nii.gz")
                _write_json(folder / "summary.json", summary)
            if progress:
                dice = (summary.get("metrics") or {}).get("dice", {}).get("fused", {})
                print(f"case {pred.case_id}: fused Dice liver {dice.get('liver', float('nan')):.3f} "
                      f"tumor {dice.get('tumor', float('nan')):.3f}, cancer score {pred.cancer_score:.3f} (head), "
                      f"{pred.fused_cancer_score:.3f} (fused volume)", flush=True)

    history_path = model_path.parent / "training_history.json"  # the run that trained the model
    history = load_history(history_path) if history_path.exists() else {}
    tumor_pixels = _tumor_pixels(data.masks)
    head_scores = {"cancer head": slices.cancer_prob}
    if not np.isnan(slices.cancer_fused).all():
        head_scores["fused 3D"] = slices.cancer_fused
    record = {
        "split": split,
        "threshold": float(threshold),
        "tumor_threshold": params.tumor_threshold,
        "min_lesion_mm": params.min_lesion_mm,
        "tumor_threshold_source": threshold_source,
        "model": model_path.name,
        "model_dir": project_relative(model_path.parent),  # another run's folder when 04's model_dir named one
        "dataset": {"name": dataset_root.name, "image_size": manifest.get("image_size"),
                    "spacing_mm": manifest.get("spacing_mm"), "windows": manifest.get("windows"),
                    "crop": manifest.get("crop", "body")},
        "reference_pixel_accuracy": REFERENCE_PIXEL_ACCURACY,
        "slice": sm,
        "per_image_iou": iou_stats,
        "slice_fused": _fused_slice_metrics(data, slices, threshold),
        "cancer_by_size": cancer_by_size(tumor_pixels, data.cancer, head_scores, threshold),
        "cancer_by_contrast": _cancer_by_contrast(data, manifest.get("windows"), head_scores, threshold),
        "by_contrast_phase": metrics_by_phase(
            {r["case_id"]: r.get("contrast_phase") for r in case_rows},
            data.case_id, data.cancer, head_scores, cases,
        ),
        "cancer_shortfall": auc_shortfall(
            data.cancer, head_scores,
            slice_groups(data.cancer, tumor_pixels, data.case_id, data.view, data.slice_index),
        ),
        "cases": cases,
        "cases_summary": summarize_cases(cases),
        "failures": failures,
    }
    record["headline"] = headline(record)
    if write:
        tmp = run_dir / "predictions.tmp" / "slices"
        tmp.mkdir(parents=True, exist_ok=True)
        arrays = {
            "pred_mask": slices.pred_mask, "cancer_prob": slices.cancer_prob, "fused_mask": slices.fused_mask,
            "cancer_fused": slices.cancer_fused,
            "seg_confidence": slices.seg_confidence,
            "view": np.asarray(data.view), "case_id": np.asarray(data.case_id, dtype=str),
            "slice_index": np.asarray(data.slice_index),
        }
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array, allow_pickle=False)
        final, old = run_dir / "predictions", run_dir / "predictions.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(run_dir / "predictions.tmp", final)
        shutil.rmtree(old, ignore_errors=True)
        _write_json(run_dir / "metrics.json", record)
    return EvaluationResult(record, data, slices, per_image, cases, viewer, history)
