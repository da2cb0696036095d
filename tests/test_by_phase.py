import math

import numpy as np
import pytest

from liverlib.by_phase import metrics_by_phase


def test_each_phase_is_scored_on_its_own_slices_and_studies():
    case_ids = np.array(["a", "a", "a", "b", "b", "c", "c", "d"])
    y = np.array([1, 0, 0, 1, 0, 1, 0, 0])
    score = np.array([0.9, 0.2, 0.1, 0.3, 0.6, 0.8, 0.1, 0.7])
    phases = {"a": "portal venous", "b": "unenhanced", "c": "portal venous"}  # d: not in cases.csv
    cases = [{"case_id": "a", "metrics": {"dice": {"fused": {"liver": 0.9, "tumor": 0.5}}}},
             {"case_id": "b", "metrics": {"dice": {"fused": {"liver": 0.8, "tumor": None}}}},
             {"case_id": "c", "metrics": {"dice": {"fused": {"liver": 0.7, "tumor": 0.7}}}}]
    rows = {r["contrast phase"]: r for r in metrics_by_phase(phases, case_ids, y, {"s": score}, cases)}
    assert list(rows) == ["portal venous", "unenhanced", "unknown"]  # PHASES order, unknown last
    pv, un, unknown = rows["portal venous"], rows["unenhanced"], rows["unknown"]
    assert (pv["studies"], pv["slices"], pv["slices with tumor"]) == (2, 5, 2)
    assert pv["s AUC"] == 1.0  # 0.9 and 0.8 above 0.2, 0.1, 0.1
    assert un["s AUC"] == 0.0  # its tumor slice (0.3) under its tumor-free one (0.6): pooled it would hide
    assert math.isnan(unknown["s AUC"]) and unknown["studies in 3D"] == 0  # one kind of slice only
    assert pv["mean liver Dice (3D)"] == pytest.approx(0.8) and pv["mean tumor Dice (3D)"] == pytest.approx(0.6)
    assert un["mean liver Dice (3D)"] == 0.8 and math.isnan(un["mean tumor Dice (3D)"])
    assert pv["s AUC 95 % by patient"] == [1.0, 1.0]  # two patients, each ranked perfectly
    assert all(math.isnan(v) for v in un["s AUC 95 % by patient"])  # one patient: no interval
    assert "s slices" not in pv
    fused = score.copy()
    fused[2] = np.nan  # a slice of a study not predicted in 3D
    again = {r["contrast phase"]: r for r in metrics_by_phase(phases, case_ids, y, {"fused": fused}, cases)}
    assert again["portal venous"]["fused slices"] == 4 and again["portal venous"]["slices"] == 5
