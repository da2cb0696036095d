"""Evaluation metrics: segmentation overlap, slice-level cancer calls, lesions, volumes.

Conventions (as in LiTS and 3D-IRCADb reporting):

* **Regions**, not raw classes: *liver* is every voxel labelled 1 or 2 (the
  liver includes its tumors), *tumor* is label 2.
* **Empty cases**: Dice and IoU of two empty masks is 1.0 (nothing to find,
  nothing found) by default; per-image IoU uses NaN instead, so images without
  the region drop out of its distribution.
* Segmentation scores come from per-image 3x3 confusion matrices
  (:func:`confusion_per_image`): pooled ("global") Dice sums them over the
  images, per-image IoU uses each one; a test split of thousands of 128 x 128
  slices is processed in chunks, never expanded to one-hot.
* Curve metrics (ROC, PR, AUC, confusion matrix) are scikit-learn's; connected
  components are ``scipy.ndimage.label`` with full connectivity (26 in 3D).

Only numpy, scipy and scikit-learn are imported: fast to load, no TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np

from liverlib.slice_dataset import VIEWS

#: Region name -> label values it contains.
REGIONS = {"liver": (1, 2), "tumor": (2,)}
NUM_CLASSES = 3


# --------------------------------------------------------------------------- masks


def dice(pred: np.ndarray, true: np.ndarray, empty: float = 1.0) -> float:
    """Dice coefficient ``2|P & T| / (|P| + |T|)`` of two boolean masks.

    Args:
        pred: Predicted mask, any shape (e.g. ``label == 2`` for tumor).
        true: Reference mask, same shape.
        empty: Value when both masks are empty.

    Returns:
        Dice in [0, 1]; a 3-voxel lesion predicted as 1 of its voxels plus 1
        outside scores ``2*1 / (2 + 3) = 0.4``.
    """
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    total = int(pred.sum()) + int(true.sum())
    if total == 0:
        return float(empty)
    return 2.0 * int(np.count_nonzero(pred & true)) / total


def iou(pred: np.ndarray, true: np.ndarray, empty: float = 1.0) -> float:
    """Intersection over union (Jaccard) of two boolean masks; ``empty`` when both are empty."""
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    union = int(np.count_nonzero(pred | true))
    if union == 0:
        return float(empty)
    return int(np.count_nonzero(pred & true)) / union


def region_mask(label: np.ndarray, region: str) -> np.ndarray:
    """Boolean mask of ``liver`` (labels 1 and 2) or ``tumor`` (label 2)."""
    return np.isin(label, REGIONS[region])


def region_dice(pred_label: np.ndarray, true_label: np.ndarray) -> dict:
    """3D Dice per region of two label volumes: ``{"liver": d, "tumor": d}``."""
    return {r: dice(region_mask(pred_label, r), region_mask(true_label, r)) for r in REGIONS}


# ------------------------------------------------------------------ confusion based


def confusion_per_image(true: np.ndarray, pred: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Per-image 3x3 confusion matrices of label images.

    Args:
        true: ``(N, S, S)`` uint8 reference labels 0/1/2 (may be memory-mapped).
        pred: ``(N, S, S)`` predicted labels.
        chunk: Images per step.

    Returns:
        int64 ``(N, 3, 3)``; ``cm[n, t, p]`` counts pixels of true class ``t``
        predicted as ``p``.
    """
    n = int(true.shape[0])
    out = np.zeros((n, NUM_CLASSES, NUM_CLASSES), np.int64)
    k2 = NUM_CLASSES * NUM_CLASSES
    for start in range(0, n, chunk):
        t = np.asarray(true[start : start + chunk]).reshape(-1, int(np.prod(true.shape[1:]))).astype(np.int64)
        p = np.asarray(pred[start : start + chunk]).reshape(t.shape).astype(np.int64)
        codes = t * NUM_CLASSES + p + (np.arange(len(t))[:, None] * k2)
        counts = np.bincount(codes.ravel(), minlength=len(t) * k2)
        out[start : start + len(t)] = counts.reshape(len(t), NUM_CLASSES, NUM_CLASSES)
    return out


def _region_counts(cm: np.ndarray, region: str):
    """(tp, fp, fn) of a region from confusion matrices ``(..., 3, 3)``."""
    inside = np.zeros(NUM_CLASSES, bool)
    inside[list(REGIONS[region])] = True
    tp = cm[..., inside, :][..., :, inside].sum(axis=(-2, -1))
    fp = cm[..., ~inside, :][..., :, inside].sum(axis=(-2, -1))
    fn = cm[..., inside, :][..., :, ~inside].sum(axis=(-2, -1))
    return tp, fp, fn


def segmentation_scores(cm: np.ndarray) -> dict:
    """Pooled Dice/IoU per region and pixel accuracy from per-image confusion matrices.

    Args:
        cm: ``(N, 3, 3)`` from :func:`confusion_per_image` (or one ``(3, 3)``).

    Returns:
        ``{"liver_dice", "liver_iou", "tumor_dice", "tumor_iou", "pixel_accuracy",
        "mean_iou", "n_images"}``; pixel accuracy counts every pixel, background
        included (comparable with the reference project's 90.66%).
    """
    cm = np.asarray(cm).reshape(-1, NUM_CLASSES, NUM_CLASSES)
    total = cm.sum(axis=0)
    out = {}
    for region in REGIONS:
        tp, fp, fn = (int(v) for v in _region_counts(total, region))
        denom = 2 * tp + fp + fn
        out[f"{region}_dice"] = 2 * tp / denom if denom else 1.0
        out[f"{region}_iou"] = tp / (tp + fp + fn) if denom else 1.0
    pixels = int(total.sum())
    out["pixel_accuracy"] = float(np.trace(total)) / pixels if pixels else float("nan")
    out["mean_iou"] = (out["liver_iou"] + out["tumor_iou"]) / 2
    out["n_images"] = int(cm.shape[0])
    return out


def per_image_iou(cm: np.ndarray) -> dict:
    """IoU of each image per region (NaN where the region is absent from both).

    Args:
        cm: ``(N, 3, 3)`` per-image confusion matrices.

    Returns:
        ``{"liver": (N,), "tumor": (N,), "mean": (N,)}`` float arrays; ``mean``
        averages the regions present in the image (NaN for an image with
        neither liver nor tumor in prediction or reference).
    """
    out = {}
    for region in REGIONS:
        tp, fp, fn = _region_counts(np.asarray(cm), region)
        union = (tp + fp + fn).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[region] = np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)
    stacked = np.stack([out[r] for r in REGIONS])
    present = ~np.isnan(stacked)
    with np.errstate(invalid="ignore"):
        out["mean"] = np.where(present.any(0), np.nansum(stacked, 0) / np.maximum(present.sum(0), 1), np.nan)
    return out


# ------------------------------------------------------------------ classification


def classification_scores(y_true: np.ndarray, score: np.ndarray, threshold: float = 0.5) -> dict:
    """Slice-level cancer call: AUC, curves, confusion matrix, sensitivity, specificity.

    Args:
        y_true: ``(N,)`` 0/1, tumor present in the slice.
        score: ``(N,)`` predicted cancer probability (the ``cancer`` head).
        threshold: A slice is called cancer when ``score >= threshold``.

    Returns:
        ``{"auc", "average_precision", "threshold", "confusion" [[tn, fp], [fn, tp]],
        "sensitivity", "specificity", "precision", "accuracy", "n", "n_positive",
        "roc": {"fpr", "tpr", "thresholds"}, "pr": {"precision", "recall"}}``;
        AUC and the curves are NaN / empty when only one class is present.
    """
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    y_true = np.asarray(y_true).astype(int).ravel()
    score = np.asarray(score, float).ravel()
    pred = (score >= threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y_true, pred, labels=[0, 1]).ravel())
    both = len(np.unique(y_true)) == 2
    out = {
        "n": int(len(y_true)),
        "n_positive": int(y_true.sum()),
        "threshold": float(threshold),
        "confusion": [[tn, fp], [fn, tp]],
        "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "accuracy": (tp + tn) / len(y_true) if len(y_true) else float("nan"),
        "auc": float(roc_auc_score(y_true, score)) if both else float("nan"),
        "average_precision": float(average_precision_score(y_true, score)) if both else float("nan"),
        "roc": {"fpr": [], "tpr": [], "thresholds": []},
        "pr": {"precision": [], "recall": []},
    }
    if both:
        fpr, tpr, thr = roc_curve(y_true, score)
        prec, rec, _ = precision_recall_curve(y_true, score)
        thr = np.minimum(thr, 1.0)  # sklearn puts +inf first
        out["roc"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thr.tolist()}
        out["pr"] = {"precision": prec.tolist(), "recall": rec.tolist()}
    return out


def slice_metrics(
    true_masks: np.ndarray,
    pred_masks: np.ndarray,
    cancer_true: np.ndarray,
    cancer_score: np.ndarray,
    view: np.ndarray,
    threshold: float = 0.5,
) -> dict:
    """All slice metrics of a split, overall and per view.

    Args:
        true_masks: ``(N, S, S)`` reference labels (the split's ``masks``).
        pred_masks: ``(N, S, S)`` argmax of the ``seg`` head.
        cancer_true: ``(N,)`` 0/1.
        cancer_score: ``(N,)`` ``cancer`` head probabilities.
        view: ``(N,)`` 0 axial, 1 coronal, 2 sagittal.
        threshold: Cancer decision threshold, e.g. 0.5.

    Returns:
        ``{"overall": {...}, "axial": {...}, "coronal": {...}, "sagittal": {...},
        "per_image_iou": {"liver", "tumor", "mean"} arrays}``; each group holds
        :func:`segmentation_scores` plus ``"cancer"``: :func:`classification_scores`
        and ``"median_image_iou"``.
    """
    cm = confusion_per_image(true_masks, pred_masks)
    ious = per_image_iou(cm)
    view = np.asarray(view)
    groups = {"overall": np.ones(len(view), bool)}
    groups.update({name: view == v for v, name in enumerate(VIEWS)})
    out = {}
    for name, sel in groups.items():
        if not sel.any():
            continue
        scores = segmentation_scores(cm[sel])
        scores["median_image_iou"] = _nanmedian(ious["mean"][sel])
        scores["cancer"] = classification_scores(np.asarray(cancer_true)[sel], np.asarray(cancer_score)[sel], threshold)
        out[name] = scores
    out["per_image_iou"] = ious
    return out


def _nanmedian(values: np.ndarray) -> float:
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else float("nan")


# ------------------------------------------------------------------ lesions, volumes


def cyst_calls(pred_tumor: np.ndarray, true_tumor: np.ndarray, cyst: np.ndarray) -> dict:
    """Benign cysts a prediction calls tumor, and its false lesions that lie on one.

    A cyst (a connected component of ``cyst``, full connectivity) is *called*
    when a predicted tumor voxel lies in it; a predicted lesion is *on a cyst*
    when it touches a cyst and no reference tumor: a false lesion the cyst
    explains (a 3D-IRCADb ``liverkyst``, or a phantom's 0-20 HU simple cyst).

    Args:
        pred_tumor: Boolean predicted tumor mask, e.g. ``pred_label == 2``.
        true_tumor: Boolean reference tumor mask.
        cyst: Boolean mask of the reference's benign cysts (label 1 there).

    Returns:
        ``{"n_cysts", "called_tumor", "false_lesions_on_cysts"}``.
    """
    from scipy import ndimage as ndi

    pred_tumor, true_tumor, cyst = (np.asarray(a, bool) for a in (pred_tumor, true_tumor, cyst))
    structure = np.ones((3,) * cyst.ndim)
    cyst_lab, n_cysts = ndi.label(cyst, structure=structure)
    called = len(np.setdiff1d(np.unique(cyst_lab[pred_tumor]), [0]))
    pred_lab, _ = ndi.label(pred_tumor, structure=structure)
    on_cyst = np.setdiff1d(np.unique(pred_lab[cyst]), [0])
    on_tumor = np.unique(pred_lab[true_tumor])
    return {"n_cysts": int(n_cysts), "called_tumor": int(called),
            "false_lesions_on_cysts": int(len(np.setdiff1d(on_cyst, on_tumor)))}


def lesion_detection(pred_tumor: np.ndarray, true_tumor: np.ndarray) -> dict:
    """Lesion-wise detection as in LiTS: connected components that overlap.

    A reference lesion is *detected* when it shares at least one voxel with a
    predicted lesion; a predicted lesion is a *true positive* when it touches a
    reference lesion. Components use full connectivity (26 in 3D, 8 in 2D).

    Args:
        pred_tumor: Boolean predicted tumor mask, e.g. ``pred_label == 2``.
        true_tumor: Boolean reference tumor mask.

    Returns:
        ``{"n_true", "n_pred", "detected", "true_positive", "false_positive",
        "recall", "precision", "f1"}``; recall (precision) is NaN when there are
        no reference (predicted) lesions.
    """
    from scipy import ndimage as ndi

    pred_tumor, true_tumor = np.asarray(pred_tumor, bool), np.asarray(true_tumor, bool)
    structure = np.ones((3,) * pred_tumor.ndim)
    true_lab, n_true = ndi.label(true_tumor, structure=structure)
    pred_lab, n_pred = ndi.label(pred_tumor, structure=structure)
    detected = len(np.setdiff1d(np.unique(true_lab[pred_tumor]), [0]))
    tp_pred = len(np.setdiff1d(np.unique(pred_lab[true_tumor]), [0]))
    recall = detected / n_true if n_true else float("nan")
    precision = tp_pred / n_pred if n_pred else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if n_true and n_pred and precision + recall > 0 else (
        0.0 if n_true and n_pred else float("nan")
    )
    return {
        "n_true": int(n_true), "n_pred": int(n_pred), "detected": int(detected),
        "true_positive": int(tp_pred), "false_positive": int(n_pred - tp_pred),
        "recall": recall, "precision": precision, "f1": f1,
    }


def label_volumetry(label: np.ndarray, voxel_ml: float) -> dict:
    """Liver mL (tumors included), tumor mL and lesion count of a label volume.

    Args:
        label: uint8 ``(z, y, x)`` 0/1/2.
        voxel_ml: One voxel in mL, e.g. ``2.5 * 0.78 * 0.78 / 1000``.

    Returns:
        ``{"liver_ml", "tumor_ml", "n_lesions"}`` (same rules as
        ``liverlib.decode.volumetry``).
    """
    from scipy import ndimage as ndi

    tumor = label == 2
    n_lesions = int(ndi.label(tumor, structure=np.ones((3, 3, 3)))[1]) if tumor.any() else 0
    return {
        "liver_ml": float(np.count_nonzero(label > 0)) * voxel_ml,
        "tumor_ml": float(np.count_nonzero(tumor)) * voxel_ml,
        "n_lesions": n_lesions,
    }


def volumetry_errors(pred: dict, true: dict) -> dict:
    """Errors of predicted volumetry against the reference.

    Args:
        pred: :func:`label_volumetry` of the prediction.
        true: :func:`label_volumetry` of the reference.

    Returns:
        ``{"liver_ml_error", "liver_ml_rel_error", "tumor_ml_error",
        "tumor_ml_rel_error", "n_lesions_error"}``: signed (predicted minus
        reference; relative to the reference, NaN when it is 0).
    """
    out = {}
    for key in ("liver_ml", "tumor_ml"):
        err = pred[key] - true[key]
        out[f"{key}_error"] = err
        out[f"{key}_rel_error"] = err / true[key] if true[key] else float("nan")
    out["n_lesions_error"] = int(pred["n_lesions"]) - int(true["n_lesions"])
    return out


def jsonable(obj):
    """Nested dict/list with numpy scalars and arrays as Python values, NaN/inf as None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj
