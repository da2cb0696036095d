"""The GPU entry point, benchmarks/full_profile.py, run end to end on the smoke profile."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_full_profile_script_runs_every_stage_and_reports(tmp_path, capsys):
    script = load_script("full_profile")
    summary = script.main(["--profile", "smoke", "--data-root", str(tmp_path / "data"), "--run-dir",
                           str(tmp_path / "run"), "--workers", "1", "--train-workers", "1",
                           "--out", str(tmp_path / "summary.json")])
    assert set(summary["seconds"]) == {"decode_and_dataset", "training", "calibration", "evaluation"}
    assert summary["epochs_done"] == 1 and summary["stopped_by_time"] is None
    assert summary["counts"]["train"]["n"] > 0 and summary["counts"]["test"]["n"] > 0
    assert {"all views", "fused"} <= set(summary["headline"])
    assert json.loads((tmp_path / "summary.json").read_text())["profile"] == "smoke"
    out = capsys.readouterr().out
    assert "of which validation" in out and "seconds: decode_and_dataset" in out
    assert (tmp_path / "run" / "metrics.json").exists() and (tmp_path / "run" / "calibration.json").exists()
