import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from liverlib.cancer_misses import (
    auc_shortfall,
    cancer_by_size,
    next_to_tumor,
    slice_groups,
    slice_misses,
)


def test_cancer_by_size_groups_positives_against_all_negatives():
    pixels = np.array([0, 0, 0, 3, 12, 50, 60])
    y = (pixels > 0).astype(int)
    head = np.array([0.1, 0.2, 0.6, 0.3, 0.7, 0.9, 0.8])
    other = np.array([0.1, 0.2, 0.3, np.nan, 0.7, 0.9, 0.8])
    rows = cancer_by_size(pixels, y, {"head": head, "other": other}, threshold=0.5, edges=(1, 10, 40))
    assert [r["tumor pixels"] for r in rows] == ["1-9", "10-39", ">=40"]
    assert [r["slices"] for r in rows] == [1, 1, 2]
    # The 3-pixel slice (0.3) outranks 2 of the 3 negatives (0.1, 0.2, not 0.6); the 12-pixel one (0.7) all.
    assert rows[0]["head AUC"] == pytest.approx(2 / 3) and rows[1]["head AUC"] == 1.0 and rows[2]["head AUC"] == 1.0
    assert rows[0]["head sensitivity"] == 0.0 and rows[2]["head sensitivity"] == 1.0
    assert math.isnan(rows[0]["other AUC"]) and rows[1]["other AUC"] == 1.0  # NaN score: not counted
    assert "head slices" not in rows[0] and rows[0]["other slices"] == 0  # counted only where it differs


def test_each_side_adds_up_to_one_minus_auc_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    score = np.round(rng.random(300) * 0.6 + 0.4 * y, 1)  # rounded: many ties
    miss = slice_misses(y, score)
    lost = 1 - roc_auc_score(y, score)
    assert miss[y].mean() == pytest.approx(lost) and miss[~y].mean() == pytest.approx(lost)
    assert lost > 0.05  # the case is not trivially perfect


def test_one_negative_above_every_positive_carries_the_whole_loss():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    score = np.array([0.6, 0.7, 0.8, 0.9, 0.1, 0.2, 0.3])
    groups = {"tumor": y == 1, "the loud one": np.arange(7) == 3, "quiet": (y == 0) & (np.arange(7) != 3)}
    rows = {r["group"]: r for r in auc_shortfall(y, {"s": score}, groups)}
    assert rows["all (1 - AUC)"]["s share of 1-AUC"] == pytest.approx(1 - roc_auc_score(y, score)) == pytest.approx(0.25)
    assert rows["the loud one"]["s share of 1-AUC"] == pytest.approx(0.25) and rows["quiet"]["s share of 1-AUC"] == 0
    assert rows["tumor"]["s share of 1-AUC"] == pytest.approx(0.25) and rows["the loud one"]["s mean score"] == 0.9


def test_next_to_tumor_follows_the_sampled_order_per_study_and_view():
    # study a, axial: indices 0,5,10,15,20 with tumor at 10; given out of order
    y = np.array([0, 1, 0, 0, 0, 0, 0])
    case = np.array(["a", "a", "a", "a", "a", "a", "b"])
    view = np.array([0, 0, 0, 0, 0, 1, 0])
    index = np.array([5, 10, 20, 0, 15, 10, 10])
    beside = next_to_tumor(y, case, view, index)
    assert beside.tolist() == [True, False, False, False, True, False, False]  # 5 and 15; not other views/studies


def test_slice_groups_cover_each_side_once():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    pixels = np.array([3, 25, 400, 0, 0, 0, 0])
    case = np.array(["a", "a", "a", "a", "a", "b", "b"])
    view = np.zeros(7, int)
    index = np.array([10, 15, 20, 25, 50, 10, 15])
    groups = slice_groups(y, pixels, case, view, index)
    assert [int(m.sum()) for m in groups.values()] == [1, 1, 1, 1, 1, 2]
    stacked = np.stack(list(groups.values()))
    assert (stacked.sum(0) == 1).all()  # every slice in exactly one group
    assert groups["no tumor, next to a tumor slice"][3] and groups["no tumor, patient without tumor"][5:].all()


def test_nan_scores_are_left_out():
    y = np.array([1, 0, 1, 0])
    score = np.array([0.9, 0.1, np.nan, 0.95])
    rows = auc_shortfall(y, {"s": score}, {"pos": y == 1, "neg": y == 0})
    ok = ~np.isnan(score)
    assert rows[-1]["s share of 1-AUC"] == pytest.approx(1 - roc_auc_score(y[ok], score[ok])) == pytest.approx(0.5)
    assert rows[0]["slices"] == 2 and rows[0]["s slices"] == 1 and rows[0]["s mean score"] == pytest.approx(0.9)
    assert "s slices" not in rows[1]  # every tumor-free slice is scored


def test_no_auc_no_shares():
    y = np.zeros(4, int)  # a cohort without tumor: no AUC, so nothing to split
    rows = auc_shortfall(y, {"s": np.array([0.1, 0.2, 0.3, 0.4])}, {"neg": y == 0})
    assert np.isnan(rows[0]["s share of 1-AUC"]) and np.isnan(rows[-1]["s share of 1-AUC"])
