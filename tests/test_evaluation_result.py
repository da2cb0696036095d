"""The read-outs of an evaluation: per-case summary, headline, tables, worst slices."""

import numpy as np
import pytest

from liverlib.evaluation_result import (
    AUC_GAIN,
    AUC_INTERVAL,
    EvaluationResult,
    SlicePredictions,
    gain_text,
    headline,
    interval_text,
    summarize_cases,
)
from liverlib.slice_dataset import VIEWS


def _case(case_id, liver, tumor, n_true, detected, n_pred, true_positive, liver_err, tumor_err):
    dice = {name: {"liver": liver - 0.02, "tumor": tumor - 0.1} for name in VIEWS}
    dice["fused"] = {"liver": liver, "tumor": tumor}
    return {"case_id": case_id, "cancer_score": 0.9, "metrics": {
        "dice": dice, "fusion_gain": {"liver": 0.02, "tumor": 0.1},
        "lesions": {"n_true": n_true, "detected": detected, "n_pred": n_pred, "true_positive": true_positive,
                    "recall": detected / n_true if n_true else float("nan"), "precision": true_positive / n_pred},
        "volumetry_error": {"liver_ml_error": liver_err, "tumor_ml_error": tumor_err},
        "volumetry_true": {"liver_ml": 1500.0, "tumor_ml": 10.0 * n_true}}}


def test_summarize_cases_pools_lesions_over_studies():
    # 3 of 4 true lesions found over two studies; 3 of 5 predicted ones are real.
    cases = [_case("a", 0.96, 0.7, 3, 3, 3, 3, 20.0, -5.0), _case("b", 0.94, 0.5, 1, 0, 2, 0, -10.0, 1.0),
             {"case_id": "c", "cancer_score": 0.1, "metrics": None}]  # no reference: counted, not scored
    out = summarize_cases(cases)
    assert out["n_cases"] == 3
    assert out["mean_dice"]["fused"] == pytest.approx({"liver": 0.95, "tumor": 0.6})
    assert out["lesions"] == {"n_true": 4, "n_pred": 5, "recall": 0.75, "precision": 0.6}
    assert out["mean_abs_liver_ml_error"] == pytest.approx(15.0)
    assert out["mean_abs_tumor_ml_error"] == pytest.approx(3.0)
    assert summarize_cases([]) == {"n_cases": 0}
    assert "cysts" not in out  # no source marked cysts
    cases[0]["metrics"]["cysts"] = {"n_cysts": 3, "called_tumor": 1, "false_lesions_on_cysts": 1}
    cases[1]["metrics"]["cysts"] = {"n_cysts": 2, "called_tumor": 2, "false_lesions_on_cysts": 0}
    assert summarize_cases(cases)["cysts"] == {"patients": 2, "n_cysts": 5, "called_tumor": 3,
                                               "false_lesions_on_cysts": 1}
    # Both scored patients have tumor: no patient-level AUC.
    assert out["patient_cancer"] == {"n_with_tumor": 2, "n_without_tumor": 0, "head_auc": None, "fused_auc": None}


def test_patient_cancer_auc_ranks_patients_by_each_score():
    from liverlib.evaluation_result import patient_cancer_auc

    cases = [_case(c, 0.95, 0.6, n, n, max(n, 1), n, 0.0, 0.0) for c, n in (("a", 2), ("b", 1), ("c", 0), ("d", 0))]
    for case, head, fused in zip(cases, (0.9, 0.5, 0.7, 0.2), (0.9, 0.8, 0.1, 0.3), strict=True):
        case["cancer_score"], case["fused_cancer_score"] = head, fused
    out = patient_cancer_auc(cases)
    assert out["n_with_tumor"] == 2 and out["n_without_tumor"] == 2
    assert out["head_auc"] == 0.75 and out["fused_auc"] == 1.0  # the head puts tumor-free c above b
    assert out["fused_minus_head"] == 0.25 and len(out["fused_minus_head_ci95"]) == 2
    # A summary written before the fused score (null in JSON): that AUC is None, the head's stays.
    cases[1]["fused_cancer_score"] = None
    out = patient_cancer_auc(cases)
    assert out["head_auc"] == 0.75 and out["fused_auc"] is None and "fused_minus_head" not in out


def _group(liver, auc, n):
    return {"n_images": n, "liver_dice": liver, "liver_iou": liver - 0.05, "tumor_dice": 0.6, "tumor_iou": 0.45,
            "pixel_accuracy": 0.99, "median_image_iou": 0.8,
            "cancer": {"auc": auc, "sensitivity": 0.8, "specificity": 0.9}}


def _result(per_image_mean, cases=()):
    overall, fused = _group(0.95, 0.91, 30), _group(0.96, 0.96, 30)
    overall["cancer"]["auc_ci95"], fused["cancer"]["auc_ci95"] = [0.85, 0.95], [0.9, 0.99]
    fused["cancer"].update(auc_gain_over_head=0.05, auc_gain_over_head_ci95=[-0.01, 0.1])
    record = {"slice": {"overall": overall, **{v: _group(0.94, 0.9, 10) for v in VIEWS}},
              "slice_fused": {"overall": fused}, "tumor_threshold": 0.4,
              "tumor_threshold_source": "chosen on 8 valid studies", "cases_summary": summarize_cases(list(cases))}
    n = len(per_image_mean)
    slices = SlicePredictions(np.zeros((n, 2, 2), np.uint8), np.zeros(n, np.float32), np.ones(n, np.float32))
    return EvaluationResult(record, None, slices, {"mean": np.asarray(per_image_mean)}, list(cases))


def test_headline_and_table_read_the_same_figures():
    result = _result([0.5])
    head = headline(result.metrics)
    assert head["all views"]["cancer_auc"] == 0.91 and head["axial"]["n_slices"] == 10
    assert head["fused"]["cancer_auc"] == 0.96
    assert head["fused"]["tumor_threshold"] == 0.4
    assert head["fused"]["cancer_auc_ci95"] == [0.9, 0.99] and head["all views"]["cancer_auc_ci95"] == [0.85, 0.95]
    assert "cancer_auc_ci95" not in head["axial"]
    rows = result.table()
    assert [r["group"] for r in rows] == ["all slices", *VIEWS, "fused 3D"]
    assert rows[-1]["liver Dice"] == 0.96 and rows[0]["cancer AUC"] == 0.91
    assert rows[-1][AUC_INTERVAL] == "0.900-0.990" and rows[1][AUC_INTERVAL] == ""
    assert rows[-1][AUC_GAIN] == "+0.050 (-0.010 to +0.100)" and rows[0][AUC_GAIN] == ""  # the fused row only
    assert head["fused"]["cancer_auc_gain_over_head_ci95"] == [-0.01, 0.1]
    # Records written before the intervals: no interval keys, empty cells.
    del result.metrics["slice_fused"]["overall"]["cancer"]["auc_ci95"]
    assert "cancer_auc_ci95" not in headline(result.metrics)["fused"]
    assert result.table()[-1][AUC_INTERVAL] == ""


def test_interval_and_gain_text():
    assert interval_text([0.8641, 0.9908]) == "0.864-0.991"
    assert interval_text(None) == interval_text([float("nan"), float("nan")]) == interval_text([None, None]) == ""
    assert gain_text(0.049, [-0.028, 0.102]) == "+0.049 (-0.028 to +0.102)"
    assert gain_text(0.049, [float("nan"), float("nan")]) == "+0.049"
    assert gain_text(None, None) == gain_text(float("nan"), None) == ""


def test_summary_tables_add_the_fusion_gain_row():
    result = _result([0.5], [_case("a", 0.96, 0.7, 2, 1, 4, 2, 5.0, 1.0)])
    dice_rows, detection = result.summary_tables()
    assert [r["labels from"] for r in dice_rows] == [*VIEWS, "fused", "fused minus mean single view"]
    assert dice_rows[-1]["mean tumor Dice"] == pytest.approx(0.1)
    assert detection[0]["recall"] == 0.5 and detection[0]["precision"] == 0.5
    row = result.case_table()[0]
    assert row["fused tumor"] == 0.7 and row["axial tumor"] == pytest.approx(0.6)
    assert row["lesion recall"] == 0.5 and row["tumor mL error"] == 1.0
    assert np.isnan(row["fused cancer score"])  # a summary written before the fused score existed
    assert _result([0.5]).summary_tables() == ([], [])
    assert "patient cancer AUC, head" not in detection[0]  # one patient: no patient-level AUC
    assert "cysts called tumor" not in detection[0] and "cysts called tumor" not in row
    with_cyst = _case("a", 0.96, 0.7, 2, 1, 4, 2, 5.0, 1.0)
    with_cyst["metrics"]["cysts"] = {"n_cysts": 4, "called_tumor": 1, "false_lesions_on_cysts": 1}
    cyst_result = _result([0.5], [with_cyst])
    assert cyst_result.case_table()[0]["cysts called tumor"] == "1 of 4"
    detection_cysts = cyst_result.summary_tables()[1][0]
    assert detection_cysts["cysts called tumor"] == "1 of 4, in 1 patient" and detection_cysts["false lesions on a cyst"] == 1
    healthy = _case("b", 0.96, 1.0, 0, 0, 1, 0, 5.0, 0.0)
    healthy["cancer_score"], healthy["fused_cancer_score"] = 0.95, 0.1
    result = _result([0.5], [{**_case("a", 0.96, 0.7, 2, 1, 4, 2, 5.0, 1.0), "fused_cancer_score": 0.8}, healthy])
    detection = result.summary_tables()[1][0]
    assert detection["patients with / without tumor"] == "1 / 1"
    assert detection["patient cancer AUC, head"] == 0.0 and detection["patient cancer AUC, fused volume"] == 1.0
    assert detection["fused minus head"].startswith("+1.000")
    del result.cases[1]["fused_cancer_score"]
    result.metrics["cases_summary"] = summarize_cases(result.cases)
    detection = result.summary_tables()[1][0]  # the head's figure still shows
    assert detection["patient cancer AUC, head"] == 0.0 and detection["patient cancer AUC, fused volume"] == "n/a"


def test_worst_slices_skip_slices_without_reference():
    result = _result([0.9, np.nan, 0.2, 0.5])
    assert result.worst_slices(2).tolist() == [2, 3]
    assert result.worst_slices(10).tolist() == [2, 3, 0]  # the slice without a reference is never "worst"


def test_between_equal_iou_the_slice_with_more_pixels_wrong_is_worse():
    from types import SimpleNamespace

    result = _result([0.0, 0.0, 0.0, 0.5])
    masks = np.zeros((4, 2, 2), np.uint8)
    result.slices.pred_mask[0, 0, 0] = 1  # one stray pixel
    result.slices.pred_mask[2] = 1  # a whole section wrong
    result.slices.pred_mask[1, 0, :] = 1  # two pixels
    result.data = SimpleNamespace(masks=masks)
    assert result.worst_slices(3).tolist() == [2, 1, 0]


def test_tumor_dice_is_also_averaged_over_the_patients_with_tumor_alone():
    # A tumor-free patient: tumor Dice 0 in every view (a false speck each), 1 fused (none left).
    healthy = _case("b", 0.96, 1.0, 0, 0, 1, 0, 5.0, 0.0)
    for view in VIEWS:
        healthy["metrics"]["dice"][view]["tumor"] = 0.0
    sick = _case("a", 0.96, 0.5, 2, 1, 4, 2, 5.0, 1.0)  # views 0.4, fused 0.5
    out = summarize_cases([sick, healthy])
    assert out["mean_dice"]["fused"]["tumor"] == pytest.approx(0.75)  # the healthy patient's 1 lifts it
    assert out["n_with_tumor"] == 1
    assert out["mean_tumor_dice_with_tumor"] == pytest.approx({"axial": 0.4, "coronal": 0.4, "sagittal": 0.4,
                                                               "fused": 0.5})
    rows = _result([0.5], [sick, healthy]).summary_tables()[0]
    column = "mean tumor Dice, the 1 patients with tumor"
    assert rows[0][column] == pytest.approx(0.4) and rows[3][column] == pytest.approx(0.5)
    assert rows[-1][column] == pytest.approx(0.5 - 0.4)  # fused minus the views' mean, with tumor
