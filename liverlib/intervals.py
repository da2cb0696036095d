"""How sure an AUC is: intervals from resampling whole patients.

Slices of one patient are not independent (neighbouring slices of one lesion
rise and fall together), so the bootstrap here resamples patients (a cluster
bootstrap), and an AUC on resampled data is computed without building the
replicate (:func:`weighted_auc`). Patients are numbered in the order they first
appear (the dataset's source order), so every checkout resamples the same ones.

Only numpy: fast to load, no TensorFlow.
"""

from __future__ import annotations

import numpy as np


def weighted_auc(y_true: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of the slices counted ``weights[b, i]`` times, for each row ``b`` at once.

    The Mann-Whitney form (the share of positive-negative pairs ranked right, ties
    counting half), so one row of ones gives ``sklearn.metrics.roc_auc_score``
    and a row of integer counts gives the AUC of the slices repeated that often:
    a bootstrap replicate without building it.

    Args:
        y_true: ``(N,)`` 0/1.
        score: ``(N,)`` scores.
        weights: ``(B, N)`` non-negative weights.

    Returns:
        ``(B,)`` AUCs; NaN for a row whose weights leave one class only.
    """
    y = np.asarray(y_true).astype(bool).ravel()
    score = np.asarray(score, float).ravel()
    order = np.argsort(score, kind="stable")
    sorted_score, y = score[order], y[order]
    new_score = np.r_[True, np.diff(sorted_score) != 0]  # first slice of each run of tied scores
    starts, tie = np.flatnonzero(new_score), np.cumsum(new_score) - 1
    w = np.asarray(weights, float)[:, order]
    pos, neg = np.where(y, w, 0.0), np.where(y, 0.0, w)
    neg_tied = np.add.reduceat(neg, starts, axis=1)  # negatives' weight per tied score
    neg_below = np.cumsum(neg_tied, axis=1) - neg_tied
    right = (pos * (neg_below + 0.5 * neg_tied)[:, tie]).sum(axis=1)
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, right / np.where(pairs > 0, pairs, 1.0), np.nan)


def _patient_bootstrap(y_true, groups, n_boot: int, seed: int, chunk: int = 256):
    """Per-slice weights of ``n_boot`` resamplings of whole patients, in chunks of rows.

    Yields nothing when fewer than two patients hold positive slices or fewer
    than two hold negative ones: with one, every replicate either drops the
    class or repeats one patient's slices, and the interval would look narrow
    for the wrong reason.
    """
    # Patients numbered in order of first appearance (the dataset's source order),
    # not by their salted ids, so every checkout resamples the same patients.
    names, first, patient = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
    rank = np.empty(len(names), int)
    rank[np.argsort(first, kind="stable")] = np.arange(len(names))
    patient = rank[np.asarray(patient).ravel()]
    y = np.asarray(y_true).astype(bool).ravel()
    if len(np.unique(patient[y])) < 2 or len(np.unique(patient[~y])) < 2:
        return
    rng = np.random.default_rng(seed)
    for start in range(0, int(n_boot), chunk):
        rows = min(chunk, int(n_boot) - start)
        draws = rng.integers(len(names), size=(rows, len(names)))
        counts = np.zeros((rows, len(names)))
        np.add.at(counts, (np.arange(rows)[:, None], draws), 1.0)
        yield counts[:, patient]


def _percentile_interval(values: list, level: float) -> list[float]:
    values = np.concatenate(values) if values else np.zeros(0)
    values = values[~np.isnan(values)]
    if not values.size:
        return [float("nan"), float("nan")]
    tail = 100 * (1 - level) / 2
    return [float(v) for v in np.percentile(values, [tail, 100 - tail])]


def auc_ci_by_patient(y_true: np.ndarray, score: np.ndarray, groups: np.ndarray, n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0) -> list[float]:
    """Bootstrap interval of the AUC, resampling patients, not slices.

    Slices of one patient are not independent (neighbouring slices of one
    lesion rise and fall together), so the slices' own bootstrap would give
    too narrow an interval; resampling whole patients (a cluster bootstrap)
    does not. It is still approximate: with a handful of patients a percentile
    bootstrap tends to be too narrow (6 patients allow only 462 distinct
    resamples), so read it as a lower bound on the uncertainty.

    Args:
        y_true: ``(N,)`` 0/1, tumor present in the slice.
        score: ``(N,)`` cancer score.
        groups: ``(N,)`` patient (case) id of each slice.
        n_boot: Bootstrap replicates (those with one class only are skipped).
        level: Coverage, e.g. 0.95.
        seed: Seed of the resampling.

    Returns:
        ``[low, high]`` percentile interval, e.g. ``[0.86, 0.99]``; ``[nan, nan]``
        unless at least two patients have positive slices and two have negative ones.
    """
    return _percentile_interval([weighted_auc(y_true, score, w) for w in _patient_bootstrap(
        y_true, groups, n_boot, seed)], level)


def auc_difference_ci_by_patient(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, groups: np.ndarray,
                                 n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> list[float]:
    """Bootstrap interval of ``AUC(score_a) - AUC(score_b)`` on the same slices, resampling patients.

    Both scores are ranked on the same resampled patients, so what the two
    share (hard patients, easy ones) cancels: whether one score beats the other
    is read off this interval (does it hold 0?), not off two separate ones.

    Args:
        y_true: ``(N,)`` 0/1.
        score_a: ``(N,)`` e.g. the fused 3D cancer score.
        score_b: ``(N,)`` e.g. the cancer head.
        groups: ``(N,)`` patient id of each slice.
        n_boot: Bootstrap replicates.
        level: Coverage.
        seed: Seed of the resampling.

    Returns:
        ``[low, high]``; ``[nan, nan]`` as :func:`auc_ci_by_patient`.
    """
    return _percentile_interval([weighted_auc(y_true, score_a, w) - weighted_auc(y_true, score_b, w)
                                 for w in _patient_bootstrap(y_true, groups, n_boot, seed)], level)
