"""The evaluation split by contrast phase: how the model does on each kind of scan.

A model trained mostly on portal venous studies may call a hepatic vein of an
unenhanced scan (as dark as a lesion there) a tumor; pooled figures hide it
when such scans are few. :func:`metrics_by_phase` gives, for each contrast
phase in the evaluated split (``cases.csv``'s ``contrast_phase``, read from
the DICOM descriptions by ``liverlib.contrast_phase``), the slice-level cancer
AUC within that phase and the mean per-study 3D Dice of its fused labels.
Example (the demo model on the 48 held-out phantoms, 2026-11-30): fused AUC
0.960 on the 29 portal venous studies, 0.853 on the 13 arterial, 0.775 on the
6 unenhanced, each with a wide interval (few patients per phase). In the phantoms the phase
also sets the lesions' HU, so phase and lesion contrast go together.
"""

from __future__ import annotations

import numpy as np

from liverlib import intervals
from liverlib.contrast_phase import phase_order


def metrics_by_phase(case_phase: dict, case_ids: np.ndarray, cancer_true: np.ndarray, scores: dict,
                     cases: list[dict] | None = None) -> list[dict]:
    """One row per contrast phase present among the slices' studies.

    Args:
        case_phase: case_id -> phase (``cases.csv``); a study it lacks counts as ``"unknown"``.
        case_ids: ``(N,)`` study of each slice.
        cancer_true: ``(N,)`` 0/1 per slice.
        scores: Name -> ``(N,)`` cancer scores (NaN entries left out),
            e.g. ``{"cancer head": ..., "fused 3D": ...}``.
        cases: The 3D results of ``evaluate_run`` (``case_id`` and
            ``metrics["dice"]["fused"]``, the fused label's Dice), or None.

    Returns:
        Rows in ``contrast_phase.PHASES`` order (others after): ``{"contrast phase",
        "studies", "slices", "slices with tumor", "<score> AUC", "<score> AUC
        95 % by patient" ([low, high], ``intervals.auc_ci_by_patient``), "studies
        in 3D", "mean liver Dice (3D)", "mean tumor Dice (3D)"}``, plus
        ``"<score> slices"`` where NaN scores leave fewer; an AUC is NaN
        where the phase has slices of one kind only, a Dice NaN where none of
        its studies was predicted in 3D (the tumor Dice counts the studies with
        a tumor Dice, i.e. those with tumor in the reference or the prediction).
    """
    from sklearn.metrics import roc_auc_score

    case_ids = np.asarray(case_ids).astype(str)
    y = np.asarray(cancer_true).astype(bool)
    phase_of = np.array([case_phase.get(c) or "unknown" for c in case_ids], dtype=object)
    dice = {c["case_id"]: (c.get("metrics") or {}).get("dice", {}).get("fused", {}) for c in cases or []}
    rows = []
    for phase in phase_order(phase_of):
        sel = phase_of == phase
        studies = sorted(set(case_ids[sel]))
        row = {"contrast phase": phase, "studies": len(studies), "slices": int(sel.sum()),
               "slices with tumor": int((sel & y).sum())}
        for name, score in scores.items():
            score = np.asarray(score, float)
            ok = sel & ~np.isnan(score)
            both = (y[ok]).any() and (~y[ok]).any()
            row[f"{name} AUC"] = float(roc_auc_score(y[ok], score[ok])) if both else float("nan")
            # Few patients per phase: the interval says how little a phase's AUC may mean.
            row[f"{name} AUC 95 % by patient"] = (
                intervals.auc_ci_by_patient(y[ok], score[ok], case_ids[ok]) if both else [float("nan")] * 2)
            if int(ok.sum()) != row["slices"]:  # studies not predicted in 3D have no fused score
                row[f"{name} slices"] = int(ok.sum())
        in_3d = [dice[c] for c in studies if c in dice]
        row["studies in 3D"] = len(in_3d)
        for label in ("liver", "tumor"):
            values = [d[label] for d in in_3d if d.get(label) is not None and np.isfinite(d[label])]
            row[f"mean {label} Dice (3D)"] = float(np.mean(values)) if values else float("nan")
        rows.append(row)
    return rows
