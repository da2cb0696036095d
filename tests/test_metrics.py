"""Metrics against hand-computed cases: perfect, empty, disjoint, partial."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liverlib import metrics


def test_dice_iou_hand_computed():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert metrics.dice(a, b) == 1.0 and metrics.iou(a, b) == 1.0  # empty vs empty
    a[0, :3] = True  # 3 pixels
    assert metrics.dice(a, a) == 1.0 and metrics.iou(a, a) == 1.0  # perfect
    assert metrics.dice(a, b) == 0.0 and metrics.iou(a, b) == 0.0  # missed entirely
    b[3, :2] = True
    assert metrics.dice(a, b) == 0.0  # disjoint
    b[0, 0] = True  # overlap 1, |a| 3, |b| 3
    assert metrics.dice(a, b) == pytest.approx(2 / 6)
    assert metrics.iou(a, b) == pytest.approx(1 / 5)


def test_region_dice_counts_tumor_as_liver():
    true = np.array([[1, 1, 2, 0]], np.uint8)
    pred = np.array([[1, 2, 1, 0]], np.uint8)
    d = metrics.region_dice(pred, true)
    assert d["liver"] == 1.0  # every liver-or-tumor voxel found
    assert d["tumor"] == 0.0  # tumor voxel labelled liver, liver voxel called tumor


def test_confusion_and_segmentation_scores():
    true = np.zeros((2, 2, 3), np.uint8)
    pred = np.zeros((2, 2, 3), np.uint8)
    true[0, 0, :2] = 1  # image 0: 2 liver px, predicted 1 of them + 1 false
    pred[0, 0, 1:] = 1
    true[1, 1, 2] = 2  # image 1: 1 tumor px, predicted exactly
    pred[1, 1, 2] = 2
    cm = metrics.confusion_per_image(true, pred, chunk=1)
    assert cm.shape == (2, 3, 3)
    assert cm[0].tolist() == [[3, 1, 0], [1, 1, 0], [0, 0, 0]]
    assert cm[1, 2, 2] == 1 and cm[1].sum() == 6
    s = metrics.segmentation_scores(cm)
    # liver region: tp = 1 + 1 (tumor px), fp 1, fn 1 -> 4 / 6
    assert s["liver_dice"] == pytest.approx(4 / 6)
    assert s["liver_iou"] == pytest.approx(2 / 4)
    assert s["tumor_dice"] == 1.0
    assert s["pixel_accuracy"] == pytest.approx(10 / 12)
    iou = metrics.per_image_iou(cm)
    assert iou["liver"][0] == pytest.approx(1 / 3)
    assert math.isnan(iou["tumor"][0])  # no tumor anywhere in image 0
    assert iou["mean"][1] == 1.0


def test_classification_scores():
    y = np.array([0, 0, 1, 1])
    score = np.array([0.1, 0.6, 0.4, 0.9])
    c = metrics.classification_scores(y, score, threshold=0.5)
    assert c["auc"] == pytest.approx(0.75)
    assert c["confusion"] == [[1, 1], [1, 1]]
    assert c["sensitivity"] == 0.5 and c["specificity"] == 0.5
    assert c["roc"]["fpr"][0] == 0.0 and c["roc"]["tpr"][-1] == 1.0
    perfect = metrics.classification_scores(y, y.astype(float))
    assert perfect["auc"] == 1.0 and perfect["sensitivity"] == 1.0 and perfect["specificity"] == 1.0
    one_class = metrics.classification_scores(np.zeros(3), np.array([0.2, 0.7, 0.1]))
    assert math.isnan(one_class["auc"]) and one_class["specificity"] == pytest.approx(2 / 3)


def test_slice_metrics_per_view():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 3, (6, 8, 8)).astype(np.uint8)
    view = np.array([0, 0, 1, 1, 2, 2])
    cancer = (true == 2).reshape(6, -1).any(1).astype(int)
    out = metrics.slice_metrics(true, true.copy(), cancer, cancer.astype(float), view)
    for name in ("overall", "axial", "coronal", "sagittal"):
        assert out[name]["liver_dice"] == 1.0 and out[name]["pixel_accuracy"] == 1.0
    assert out["axial"]["n_images"] == 2
    wrong = np.where(true == 2, 1, true).astype(np.uint8)  # tumor missed
    out = metrics.slice_metrics(true, wrong, cancer, cancer.astype(float), view)
    assert out["overall"]["tumor_dice"] == 0.0 and out["overall"]["liver_dice"] == 1.0


def test_lesion_detection_cases():
    true = np.zeros((10, 10, 10), bool)
    true[1:3, 1:3, 1:3] = True  # lesion A
    true[6:9, 6:9, 6:9] = True  # lesion B
    perfect = metrics.lesion_detection(true, true)
    assert perfect["recall"] == 1.0 and perfect["precision"] == 1.0 and perfect["n_true"] == 2
    empty = metrics.lesion_detection(np.zeros_like(true), np.zeros_like(true))
    assert empty["n_true"] == 0 and math.isnan(empty["recall"]) and math.isnan(empty["precision"])
    disjoint = np.zeros_like(true)
    disjoint[0, 9, 0] = True
    d = metrics.lesion_detection(disjoint, true)
    assert d["recall"] == 0.0 and d["precision"] == 0.0 and d["false_positive"] == 1
    partial = np.zeros_like(true)
    partial[2, 2, 2] = True  # touches A only
    partial[0, 9, 9] = True  # false alarm
    p = metrics.lesion_detection(partial, true)
    assert p["detected"] == 1 and p["recall"] == 0.5 and p["precision"] == 0.5


def test_cyst_calls_count_cysts_called_tumor_and_false_lesions_on_them():
    true = np.zeros((8, 20, 20), bool)
    true[2:4, 2:5, 2:5] = True  # one tumor
    cyst = np.zeros_like(true)
    cyst[2:4, 10:13, 10:13] = True  # cyst A: called, its false lesion counted
    cyst[5:7, 15:18, 2:5] = True  # cyst B: left alone
    cyst[5:7, 2:5, 2:5] = True  # cyst C: touched by the lesion that also covers the tumor
    pred = np.zeros_like(true)
    pred[2:4, 11:12, 11:12] = True
    pred[2:7, 3:4, 3:4] = True  # one component from the tumor into cyst C: a true lesion, not a false one
    out = metrics.cyst_calls(pred, true, cyst)
    assert out == {"n_cysts": 3, "called_tumor": 2, "false_lesions_on_cysts": 1}
    assert metrics.cyst_calls(np.zeros_like(true), true, cyst)["called_tumor"] == 0


def test_volumetry_matches_decode_and_errors():
    from liverlib.decode import volumetry
    from liverlib.volume import Volume

    label = np.zeros((6, 6, 6), np.uint8)
    label[1:5, 1:5, 1:5] = 1
    label[2, 2, 2] = 2
    label[4, 4, 4] = 2
    vol = Volume(np.zeros(label.shape, np.int16), (2.0, 1.0, 1.0), "t", label=label)
    mine = metrics.label_volumetry(label, vol.voxel_ml)
    ref = volumetry(vol)
    assert mine["n_lesions"] == ref["n_lesions"] == 2
    assert mine["liver_ml"] == pytest.approx(64 * 0.002)
    assert round(mine["liver_ml"], 2) == ref["liver_ml"]  # decode rounds to 0.01 mL
    err = metrics.volumetry_errors({"liver_ml": 110.0, "tumor_ml": 0.0, "n_lesions": 0},
                                   {"liver_ml": 100.0, "tumor_ml": 0.0, "n_lesions": 1})
    assert err["liver_ml_rel_error"] == pytest.approx(0.1) and math.isnan(err["tumor_ml_rel_error"])
    assert err["n_lesions_error"] == -1


def test_jsonable_replaces_nan():
    out = metrics.jsonable({"a": np.float32(0.5), "b": float("nan"), "c": np.arange(2), "d": (np.int64(3),)})
    assert out == {"a": 0.5, "b": None, "c": [0, 1], "d": [3]}
