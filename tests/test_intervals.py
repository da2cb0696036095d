"""AUC intervals by resampling patients, against hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liverlib import intervals, metrics


def test_auc_interval_resamples_patients():
    rng = np.random.default_rng(1)
    # 8 patients x 40 slices; each patient's scores share an offset, so slices are not independent.
    groups = np.repeat(np.arange(8), 40)
    y = rng.random(groups.size) < 0.3
    score = y * 1.0 + rng.normal(0, 0.8, groups.size) + rng.normal(0, 0.8, 8)[groups]
    auc = metrics.classification_scores(y, score)["auc"]
    low, high = intervals.auc_ci_by_patient(y, score, groups)
    assert low < auc < high and high - low > 0.05
    assert intervals.auc_ci_by_patient(y, score, groups) == [low, high]  # seeded: reproducible
    # A patient-level bootstrap is wider than resampling slices one by one would be.
    slice_low, slice_high = intervals.auc_ci_by_patient(y, score, np.arange(groups.size))
    assert high - low > slice_high - slice_low
    # A perfect score has a zero-width interval; one patient has none.
    assert intervals.auc_ci_by_patient(y, y.astype(float), groups) == [1.0, 1.0]
    assert all(math.isnan(v) for v in intervals.auc_ci_by_patient(y, score, np.zeros(groups.size)))
    # Positive slices in one patient only: no interval (it would look narrow for the wrong reason).
    one = y & (groups == 3)
    assert all(math.isnan(v) for v in intervals.auc_ci_by_patient(one, score, groups))


def test_weighted_auc_is_the_auc_of_the_repeated_slices():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.random(300) < 0.3
    score = np.round(y + rng.normal(0, 0.7, 300), 1)  # rounded: many ties, which count half
    weights = np.vstack([np.ones(300), rng.integers(0, 4, 300)])
    got = intervals.weighted_auc(y, score, weights)
    repeated = np.repeat(np.arange(300), weights[1].astype(int))
    assert got[0] == pytest.approx(roc_auc_score(y, score))
    assert got[1] == pytest.approx(roc_auc_score(y[repeated], score[repeated]))
    assert math.isnan(intervals.weighted_auc(y, score, np.where(y, 1.0, 0.0)[None])[0])  # negatives weigh 0


def test_auc_difference_interval_uses_the_same_patients_for_both_scores():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(10), 30)
    y = rng.random(groups.size) < 0.3
    patient = rng.normal(0, 1.0, 10)[groups]  # a shared patient effect: cancels in the difference
    better = y * 1.5 + patient + rng.normal(0, 0.5, groups.size)
    worse = y * 1.5 + patient + rng.normal(0, 1.5, groups.size)
    low, high = intervals.auc_difference_ci_by_patient(y, better, worse, groups)
    assert 0 < low < high  # the better score wins on every resample of patients
    assert intervals.auc_difference_ci_by_patient(y, better, better, groups) == [0.0, 0.0]
    a_low, a_high = intervals.auc_ci_by_patient(y, better, groups)
    b_low, b_high = intervals.auc_ci_by_patient(y, worse, groups)
    assert a_low < b_high  # the two separate intervals overlap: only the paired one tells them apart
