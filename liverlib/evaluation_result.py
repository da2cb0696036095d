"""What an evaluation holds and the tables read off it.

``SlicePredictions`` (the model's outputs per test slice, and the fused 3D
result read back on them) and ``EvaluationResult`` (``metrics.json`` with the
arrays it was computed from) are filled by :func:`liverlib.evaluate.evaluate_run`;
the tables the 04 notebook and the report show (per view, by tumor size, per
case, the 3D summary) and ``headline`` (the first figures of ``metrics.json``)
are read off them here, so that the evaluation and its presentation change
apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liverlib import intervals, metrics
from liverlib.slice_dataset import VIEWS, SliceSplit

#: Column title of the AUC's interval, in the 04 table and on the index page.
AUC_INTERVAL = "AUC 95% interval (resampling patients)"


#: Column title of the fused AUC's gain over the cancer head's (same slices, same resampled patients).
AUC_GAIN = "AUC minus the head's (95% interval)"


def gain_text(gain, ci) -> str:
    """``0.049, [-0.028, 0.102]`` -> ``"+0.049 (-0.028 to +0.102)"``; '' without a gain."""
    if gain is None or np.isnan(gain):
        return ""
    inside = interval_text(ci)
    return f"{gain:+.3f} ({ci[0]:+.3f} to {ci[1]:+.3f})" if inside else f"{gain:+.3f}"


def interval_text(ci) -> str:
    """``[0.91, 0.99]`` -> ``"0.910-0.990"``; '' for none (a view, an older metrics.json) or NaN."""
    if not ci or any(v is None or np.isnan(v) for v in ci):
        return ""
    return f"{ci[0]:.3f}-{ci[1]:.3f}"


@dataclass
class SlicePredictions:
    """Model outputs for every slice of a split.

    Args:
        pred_mask: ``(N, S, S)`` uint8 argmax of ``seg``.
        cancer_prob: ``(N,)`` ``cancer`` head output.
        seg_confidence: ``(N,)`` mean top-class probability over the pixels
            predicted liver or tumor (over all pixels when there are none).
        cancer_fused: ``(N,)`` cancer score read off the fused 3D prediction of
            the slice's study (``predict.fused_slice_scores``); NaN where the
            study was not predicted in 3D.
        fused_mask: ``(N, S, S)`` uint8 label of the fused 3D prediction in the
            slice (0 where ``cancer_fused`` is NaN).
    """

    pred_mask: np.ndarray
    cancer_prob: np.ndarray
    seg_confidence: np.ndarray
    cancer_fused: np.ndarray | None = None
    fused_mask: np.ndarray | None = None


@dataclass
class EvaluationResult:
    """What :func:`liverlib.evaluate.evaluate_run` computed (and wrote).

    Args:
        metrics: The ``metrics.json`` content.
        data: The evaluated split (memory-mapped arrays).
        slices: Slice predictions.
        per_image_iou: ``{"liver", "tumor", "mean"}`` arrays (N,).
        cases: Per-case summaries (``StudyPrediction.summary()``).
        viewer: Case id -> ``{"hu", "probs", "label"}`` cubes for the viewers.
        history: Training history (per-epoch logs) or ``{}``.
    """

    metrics: dict
    data: SliceSplit
    slices: SlicePredictions
    per_image_iou: dict
    cases: list = field(default_factory=list)
    viewer: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)

    def table(self) -> list[dict]:
        """One row per group (overall, axial, coronal, sagittal) of the slice metrics."""
        rows = []
        for name in ("overall",) + VIEWS:
            m = self.metrics["slice"].get(name)
            if not m:
                continue
            c = m["cancer"]
            rows.append({
                "group": "all slices" if name == "overall" else name, "slices": m["n_images"], "liver Dice": m["liver_dice"], "liver IoU": m["liver_iou"],
                "tumor Dice": m["tumor_dice"], "tumor IoU": m["tumor_iou"], "pixel acc.": m["pixel_accuracy"],
                "median image IoU": m["median_image_iou"], "cancer AUC": c["auc"],
                AUC_INTERVAL: interval_text(c.get("auc_ci95")),
                "sensitivity": c["sensitivity"], "specificity": c["specificity"], AUC_GAIN: "",
            })
        fused = self.metrics.get("slice_fused", {}).get("overall")
        if fused:  # the fused 3D result read back on the same test slices
            c = fused["cancer"]
            rows.append({
                "group": "fused 3D", "slices": fused["n_images"], "liver Dice": fused["liver_dice"],
                "liver IoU": fused["liver_iou"], "tumor Dice": fused["tumor_dice"], "tumor IoU": fused["tumor_iou"],
                "pixel acc.": fused["pixel_accuracy"], "median image IoU": fused["median_image_iou"],
                "cancer AUC": c["auc"], AUC_INTERVAL: interval_text(c.get("auc_ci95")),
                "sensitivity": c["sensitivity"], "specificity": c["specificity"],
                AUC_GAIN: gain_text(c.get("auc_gain_over_head"), c.get("auc_gain_over_head_ci95")),
            })
        return rows

    def size_table(self) -> list[dict]:
        """The cancer call by tumor pixels per slice (``cancer_misses.cancer_by_size``)."""
        return list(self.metrics.get("cancer_by_size", []))

    def contrast_table(self) -> list[dict]:
        """The cancer call by the tumor's contrast to the liver beside it (``lesion_contrast``)."""
        return list(self.metrics.get("cancer_by_contrast", []))

    def phase_table(self) -> list[dict]:
        """AUC and 3D Dice per contrast phase (``by_phase.metrics_by_phase``), intervals as text."""
        return [{k: interval_text(v) if isinstance(v, list) else v for k, v in row.items()}
                for row in self.metrics.get("by_contrast_phase", [])]

    def shortfall_table(self) -> list[dict]:
        """1 - AUC split into groups of slices (``cancer_misses.auc_shortfall``)."""
        return list(self.metrics.get("cancer_shortfall", []))

    def case_table(self) -> list[dict]:
        """One row per evaluated case: Dice per view and fused, gain, lesions, volumes."""
        rows = []
        for case in self.cases:
            m = case.get("metrics") or {}
            dice = m.get("dice", {})
            row = {"case": case["case_id"], "cancer score": case["cancer_score"],
                   "fused cancer score": case.get("fused_cancer_score", float("nan"))}
            for view in VIEWS + ("fused",):
                if view in dice:
                    row[f"{view} liver"] = dice[view]["liver"]
                    row[f"{view} tumor"] = dice[view]["tumor"]
            if m:
                row["gain liver"] = m["fusion_gain"]["liver"]
                row["gain tumor"] = m["fusion_gain"]["tumor"]
                row["lesion recall"] = m["lesions"]["recall"]
                row["lesion precision"] = m["lesions"]["precision"]
                if m.get("cysts"):  # the source marks benign cysts: how many the model calls tumor
                    row["cysts called tumor"] = f"{m['cysts']['called_tumor']} of {m['cysts']['n_cysts']}"
                row["liver mL error"] = m["volumetry_error"]["liver_ml_error"]
                row["tumor mL error"] = m["volumetry_error"]["tumor_ml_error"]
            rows.append(row)
        return rows

    def summary_tables(self) -> tuple[list[dict], list[dict]]:
        """``cases_summary`` as two tables: mean 3D Dice per view and fused (with the fusion gain; the
        tumor Dice also over the patients with tumor alone, where a tumor-free patient's 0 or 1 does
        not weigh), and
        lesion detection with volume errors, the benign cysts called tumor where the source marks
        cysts, and, where patients with and without tumor were
        evaluated, the patient-level cancer AUC of both scores (empty lists without studies)."""
        summary = self.metrics.get("cases_summary") or {}
        dice = summary.get("mean_dice") or {}
        rows = [{"labels from": name, "mean liver Dice": d.get("liver"), "mean tumor Dice": d.get("tumor")}
                for name, d in dice.items()]
        lesion_dice = summary.get("mean_tumor_dice_with_tumor") or {}
        column = f"mean tumor Dice, the {summary.get('n_with_tumor')} patients with tumor"
        if lesion_dice:
            for row in rows:
                row[column] = lesion_dice.get(row["labels from"])
        gain = summary.get("mean_fusion_gain")
        if rows and gain:
            rows.append({"labels from": "fused minus mean single view", "mean liver Dice": gain.get("liver"),
                         "mean tumor Dice": gain.get("tumor")})
            if lesion_dice:
                rows[-1][column] = lesion_dice["fused"] - float(np.mean([lesion_dice[v] for v in VIEWS]))
        lesions = summary.get("lesions") or {}
        detection = [{"studies": summary.get("n_cases"), "lesions": lesions.get("n_true"),
                      "predicted": lesions.get("n_pred"), "recall": lesions.get("recall"),
                      "precision": lesions.get("precision"),
                      "liver mL error (mean abs)": summary.get("mean_abs_liver_ml_error"),
                      "tumor mL error (mean abs)": summary.get("mean_abs_tumor_ml_error")}] if lesions else []
        cysts = summary.get("cysts")
        if detection and cysts:
            detection[0].update({
                "cysts called tumor": f"{cysts['called_tumor']} of {cysts['n_cysts']}, in "
                                      f"{cysts['patients']} patient{'s' if cysts['patients'] != 1 else ''}",
                "false lesions on a cyst": cysts["false_lesions_on_cysts"],
            })
        patients = summary.get("patient_cancer") or {}
        if detection and patients.get("n_with_tumor") and patients.get("n_without_tumor"):  # both kinds of patient
            detection[0].update({
                "patients with / without tumor": f"{patients['n_with_tumor']} / {patients['n_without_tumor']}",
                "patient cancer AUC, head": _or_na(patients.get("head_auc")),
                "patient cancer AUC, fused volume": _or_na(patients.get("fused_auc")),
                "fused minus head": gain_text(patients.get("fused_minus_head"), patients.get("fused_minus_head_ci95")),
            })
        return rows, detection

    def worst_slices(self, n: int = 6, require_reference: bool = True) -> np.ndarray:
        """Indices of the ``n`` slices with the lowest per-image IoU.

        Between equal IoU the slice with more pixels labelled wrong comes first: IoU 0 is common
        (a few stray pixels at a liver's tip score 0 like a whole liver section missed), and the
        gallery should show the large misses, not the first study's specks.
        """
        iou = np.asarray(self.per_image_iou["mean"], float)
        valid = ~np.isnan(iou) if require_reference else np.ones(len(iou), bool)
        wrong = np.zeros(len(iou))
        if self.data is not None:
            wrong = np.count_nonzero(np.asarray(self.slices.pred_mask) != np.asarray(self.data.masks), axis=(1, 2))
        order = np.lexsort((-wrong, np.where(valid, iou, np.inf)))  # by IoU, then by pixels wrong
        return order[: min(n, int(valid.sum()))]


def _or_na(value):
    return "n/a" if value is None else value


def summarize_cases(cases: list[dict]) -> dict:
    """Mean Dice per view and fused (tumor Dice also over the patients with tumor,
    ``mean_tumor_dice_with_tumor``), mean gain, pooled lesion detection over
    cases, the benign cysts called tumor summed over the patients whose source
    marks cysts (``cysts``: ``patients``, ``n_cysts``, ``called_tumor``,
    ``false_lesions_on_cysts``; absent when none does), and the patient-level
    cancer AUC of both scores (``patient_cancer``, :func:`patient_cancer_auc`)."""
    scored = [c["metrics"] for c in cases if c.get("metrics")]
    if not scored:
        return {"n_cases": len(cases)}
    out = {"n_cases": len(cases), "mean_dice": {}}
    for name in VIEWS + ("fused",):
        out["mean_dice"][name] = {r: float(np.mean([m["dice"][name][r] for m in scored])) for r in metrics.REGIONS}
    out["mean_fusion_gain"] = {r: float(np.mean([m["fusion_gain"][r] for m in scored])) for r in metrics.REGIONS}
    # A tumor-free patient scores tumor Dice 1 with no false voxel and 0 with one (the LiTS
    # convention): a mean over all patients moves with those; this one is the lesions' own.
    with_tumor = [m for m in scored if m["volumetry_true"]["tumor_ml"] > 0]
    out["n_with_tumor"] = len(with_tumor)
    if with_tumor:
        out["mean_tumor_dice_with_tumor"] = {
            name: float(np.mean([m["dice"][name]["tumor"] for m in with_tumor])) for name in VIEWS + ("fused",)}
    n_true = sum(m["lesions"]["n_true"] for m in scored)
    n_pred = sum(m["lesions"]["n_pred"] for m in scored)
    out["lesions"] = {
        "n_true": n_true, "n_pred": n_pred,
        "recall": sum(m["lesions"]["detected"] for m in scored) / n_true if n_true else float("nan"),
        "precision": sum(m["lesions"]["true_positive"] for m in scored) / n_pred if n_pred else float("nan"),
    }
    with_cysts = [m["cysts"] for m in scored if m.get("cysts")]
    if with_cysts:  # benign cysts the source marks (3D-IRCADb liverkyst, the phantoms): how many called tumor
        out["cysts"] = {"patients": len(with_cysts), **{
            k: sum(c[k] for c in with_cysts) for k in ("n_cysts", "called_tumor", "false_lesions_on_cysts")}}
    out["mean_abs_liver_ml_error"] = float(np.mean([abs(m["volumetry_error"]["liver_ml_error"]) for m in scored]))
    out["mean_abs_tumor_ml_error"] = float(np.mean([abs(m["volumetry_error"]["tumor_ml_error"]) for m in scored]))
    out["patient_cancer"] = patient_cancer_auc([c for c in cases if c.get("metrics")])
    return out


def patient_cancer_auc(cases: list[dict]) -> dict:
    """Patient-level cancer call: how the head's ``cancer_score`` and the fused
    volume's ``fused_cancer_score`` rank patients with tumor (reference tumor
    volume > 0) above those without.

    Returns:
        ``{"n_with_tumor", "n_without_tumor", "head_auc", "fused_auc",
        "fused_minus_head", "fused_minus_head_ci95"}``. An AUC is None unless
        both kinds of patient are there and every case has that score
        (summaries written before ``fused_cancer_score`` lack it); the
        difference's 95 % interval resamples patients
        (:func:`liverlib.intervals.auc_difference_ci_by_patient`). With few
        tumor-free patients (the demo's test split has one) read the held-out
        cohort's figures.
    """
    from sklearn.metrics import roc_auc_score

    truth = np.array([c["metrics"]["volumetry_true"]["tumor_ml"] > 0 for c in cases], bool)
    out = {"n_with_tumor": int(truth.sum()), "n_without_tumor": int((~truth).sum())}
    scores = {}
    for key, name in (("head_auc", "cancer_score"), ("fused_auc", "fused_cancer_score")):
        values = np.array([np.nan if c.get(name) is None else c[name] for c in cases], float)
        usable = truth.any() and (~truth).any() and not np.isnan(values).any()
        out[key] = float(roc_auc_score(truth, values)) if usable else None
        scores[key] = values
    if out["head_auc"] is not None and out["fused_auc"] is not None:
        out["fused_minus_head"] = out["fused_auc"] - out["head_auc"]
        out["fused_minus_head_ci95"] = intervals.auc_difference_ci_by_patient(
            truth.astype(int), scores["fused_auc"], scores["head_auc"], np.arange(len(cases)))
    return out


def headline(record: dict) -> dict:
    """The figures a reader looks at first: Dice and AUC per view, overall and fused.

    Returns:
        ``{"axial" | "coronal" | "sagittal" | "all views": {"liver_dice", "tumor_dice",
        "cancer_auc", "pixel_accuracy", "n_slices"}, "fused": {...the same keys, "tumor_threshold",
        "tumor_threshold_source", "cancer_auc_gain_over_head" and its "cancer_auc_gain_over_head_ci95"}}``;
        ``"all views"`` and ``"fused"`` also hold ``"cancer_auc_ci95"`` (95 % interval by patient); the
        interval keys are absent from records written before them. All on
        the test slices: ``fused`` is the fused 3D result of the studies predicted
        in 3D read back on their slices (``slice_fused``; the per-patient 3D Dice
        is in ``cases_summary``).
    """
    out = {}
    for name, label in [(v, v) for v in VIEWS] + [("overall", "all views")]:
        group = record["slice"].get(name)
        if group:
            out[label] = {
                "liver_dice": group["liver_dice"],
                "tumor_dice": group["tumor_dice"],
                "cancer_auc": group["cancer"]["auc"],
                "pixel_accuracy": group["pixel_accuracy"],
                "n_slices": group["n_images"],
            }
            if "auc_ci95" in group["cancer"]:
                out[label]["cancer_auc_ci95"] = group["cancer"]["auc_ci95"]
    fused = record.get("slice_fused", {}).get("overall")
    if fused:
        out["fused"] = {
            "liver_dice": fused["liver_dice"],
            "tumor_dice": fused["tumor_dice"],
            "cancer_auc": fused["cancer"]["auc"],
            "pixel_accuracy": fused["pixel_accuracy"],
            "n_slices": fused["n_images"],
            "tumor_threshold": record.get("tumor_threshold", 0.5),
            "tumor_threshold_source": record.get("tumor_threshold_source", "argmax"),
        }
        for key in ("auc_ci95", "auc_gain_over_head", "auc_gain_over_head_ci95"):
            if key in fused["cancer"]:
                out["fused"][f"cancer_{key}"] = fused["cancer"][key]
    return out
