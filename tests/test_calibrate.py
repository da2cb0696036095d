import json
import logging

import numpy as np
import pytest

from liverlib.calibrate import CANDIDATES, choose_threshold, tumor_dice_by_threshold
from liverlib.errors import StudyError
from liverlib.predict import label_from_probs
from liverlib.saved_model import (
    CALIBRATION_FILE,
    calibrated_tumor_threshold,
    model_digest,
    resolve_params,
)


def probs_of(*rows):
    return np.array(rows, np.float32)


def test_label_from_probs_adds_tumor_inside_the_foreground_only():
    p = probs_of([0.40, 0.35, 0.25], [0.60, 0.10, 0.30], [0.30, 0.50, 0.20], [0.2, 0.3, 0.5])
    assert list(label_from_probs(p, 0.5)) == list(np.argmax(p, -1)) == [0, 0, 1, 2]
    assert list(label_from_probs(p, 0.2)) == [2, 0, 2, 2]  # background 0.60 stays background
    assert list(label_from_probs(p, 0.25)) == [2, 0, 1, 2]
    rng = np.random.default_rng(0)
    random = rng.dirichlet((1, 1, 1), size=(4, 5, 6)).astype(np.float32)
    assert np.array_equal(label_from_probs(random, 0.5), np.argmax(random, -1))
    ties = probs_of([0.5, 0.5, 0.0], [0.2, 0.4, 0.4], [0.4, 0.2, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.5, 0.5])
    assert list(label_from_probs(ties, 0.5)) == list(np.argmax(ties, -1)) == [0, 1, 0, 0, 1]  # ties: the lower class


def ball_case(size=24):
    """Reference tumor: a ball of radius 6 in a liver; the model is sure (0.6) only inside radius 4, unsure
    (0.3) in the shell, and has a 0.2 false positive elsewhere in the liver."""
    z, y, x = np.mgrid[:size, :size, :size]
    r = np.sqrt((z - 12) ** 2 + (y - 12) ** 2 + (x - 12) ** 2)
    ref = np.where(r < 10, 1, 0).astype(np.uint8)
    ref[r < 6] = 2
    tumor = np.where(r < 4, 0.6, np.where(r < 6, 0.3, 0.0))
    tumor[(r >= 7) & (r < 9) & (x < 8)] = 0.2
    liver = np.where(r < 10, 1.0 - tumor, 0.0)
    probs = np.stack([1.0 - liver - tumor, liver, tumor], -1).astype(np.float32)
    return probs, ref


def test_dice_and_choice_on_a_shrunken_tumor():
    probs, ref = ball_case()
    dice = tumor_dice_by_threshold([(probs, ref)], CANDIDATES)["per_case"]
    inner, ball = (probs[..., 2] >= 0.6).sum(), (ref == 2).sum()
    assert dice[CANDIDATES.index(0.5)] == pytest.approx(2 * inner / (inner + ball))  # argmax: the inner ball only
    assert dice[CANDIDATES.index(0.3)] == pytest.approx(1.0)  # the whole ball, no false positive
    assert dice[CANDIDATES.index(0.2)] < 1.0  # the 0.2 false positive joins
    assert choose_threshold(CANDIDATES, dice) == 0.3  # 0.25 ties with 0.3: the one nearer the argmax wins
    assert choose_threshold(CANDIDATES, [float("nan")] * len(CANDIDATES)) == 0.5
    assert choose_threshold((0.2, 0.3, 0.5), [None, 0.4, 0.4]) == 0.5  # None as stored in calibration.json; ties: highest
    assert np.isnan(tumor_dice_by_threshold([], CANDIDATES)["per_case"]).all()


def test_dice_per_case_counts_each_study_and_tumor_free_false_positives():
    probs, ref = ball_case()
    free_ref = np.where(ref > 0, 1, 0).astype(np.uint8)  # the same study without its tumor
    quiet = probs.copy()
    quiet[..., 1] += quiet[..., 2]
    quiet[..., 2] = 0  # ... and a model that sees none
    dice = tumor_dice_by_threshold([(probs, ref), (quiet, free_ref), (probs, free_ref)], CANDIDATES)
    i = CANDIDATES.index(0.3)
    # Per case: 1.0 (the ball), 1.0 (nothing either side), 0.0 (tumor predicted in a tumor-free study).
    assert dice["per_case"][i] == pytest.approx(2 / 3)
    ball = (ref == 2).sum()
    assert dice["pooled"][i] == pytest.approx(2 * ball / (2 * ball + ball))
    assert [row[i] for row in dice["per_study"]] == [pytest.approx(1.0), 1.0, 0.0]


def test_dice_scores_the_label_after_the_small_lesion_rule():
    probs, ref = ball_case()
    free_ref = np.where(ref > 0, 1, 0).astype(np.uint8)
    speck = probs.copy()  # a tumor-free study where the model calls one 2x2x2-voxel speck tumor
    speck[..., 1] += speck[..., 2]
    speck[..., 2] = 0
    speck[3:5, 12:14, 12:14] = (0.1, 0.1, 0.8)
    cases = [(probs, ref, 1.0), (speck, free_ref, 1.0)]  # 1 mm voxels: the speck is 8 mm^3, the ball 900 mm^3
    i = CANDIDATES.index(0.3)
    kept = tumor_dice_by_threshold(cases, CANDIDATES)["per_study"]
    dropped = tumor_dice_by_threshold(cases, CANDIDATES, min_lesion_mm=5.0)["per_study"]
    assert kept[1][i] == 0.0 and dropped[1][i] == 1.0  # the speck no longer counts as a false lesion
    assert dropped[0][i] == pytest.approx(1.0)  # the 12 mm ball is kept


def test_calibration_file_is_tied_to_its_model(tmp_path, caplog):
    model = tmp_path / "best_model.keras"
    model.write_bytes(b"weights v1")
    (tmp_path / "preprocessing.json").write_text(json.dumps({"image_size": 64}))
    path = tmp_path / CALIBRATION_FILE
    assert calibrated_tumor_threshold(model) is None and resolve_params(model).tumor_threshold == 0.5
    path.write_text(json.dumps({"tumor_threshold": 0.2, "model_sha256": model_digest(model)}))
    assert calibrated_tumor_threshold(model) == 0.2
    params = resolve_params(model)
    assert params.tumor_threshold == 0.2 and params.image_size == 64
    assert resolve_params(model, {"image_size": 32}).tumor_threshold == 0.2  # an explicit manifest keeps it
    model.write_bytes(b"weights v2, retrained")
    with caplog.at_level(logging.WARNING):
        assert calibrated_tumor_threshold(model) is None
    assert "retrained or missing" in caplog.text
    assert resolve_params(model, {"image_size": 32, "tumor_threshold": 0.5}).tumor_threshold == 0.5  # explicit wins
    path.write_text(json.dumps({"tumor_threshold": 0.2, "model_sha256": model_digest(model)}))
    model.unlink()
    assert calibrated_tumor_threshold(model) is None  # no model to tie it to
    path.write_text("{not json")
    with pytest.raises(StudyError, match=CALIBRATION_FILE):
        calibrated_tumor_threshold(model)


def test_threshold_figure_marks_the_choice():
    from liverlib.figures_eval import threshold_figure

    record = {"candidates": [0.2, 0.3, 0.5], "tumor_dice": [0.7, 0.8, 0.6], "tumor_dice_pooled": [0.9, 0.8, 0.5],
              "tumor_dice_per_study": {"a": [0.4, 0.6, 0.2], "b": [1.0, 1.0, 1.0]},
              "tumor_threshold": 0.3, "split": "valid", "cases": ["a", "b"]}
    fig = threshold_figure(record)
    by_name = {}
    for trace in fig.data:
        by_name.setdefault(trace.name, []).append(trace)
    assert list(by_name["Dice pooled"][0].y) == [0.9, 0.8, 0.5]  # for information
    assert [list(t.y) for t in by_name["each study"]] == [[0.4, 0.6, 0.2], [1.0, 1.0, 1.0]]
    assert list(by_name["chosen: 0.3"][0].x) == [0.3] and list(by_name["chosen: 0.3"][0].y) == [0.8]  # per case
    assert "2 valid studies: 0.3" in fig.layout.title.text
    assert not threshold_figure(None).data and "argmax" in threshold_figure(None).layout.title.text
